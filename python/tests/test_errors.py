"""Bad input raises, with the library's message; a failed call leaves the object usable."""
import numpy as np
import pytest

import kifmm


@pytest.fixture(scope="module")
def pts():
    rng = np.random.default_rng(1)
    return rng.random((500, 3)), rng.random(500) - 0.5


def test_hierarchy():
    assert issubclass(kifmm.KifmmError, RuntimeError)
    for cls in (kifmm.InvalidArgumentError, kifmm.NonFiniteInputError):
        assert issubclass(cls, kifmm.KifmmError) and issubclass(cls, ValueError)
    assert issubclass(kifmm.OutOfMemoryError, MemoryError)
    assert kifmm.InvalidArgumentError.status == 1 and kifmm.NonFiniteInputError.status == 2


@pytest.mark.parametrize("where,what", [("sources", "sources"), ("targets", "targets")])
def test_nan_coordinate_names_the_point(pts, where, what):
    x, _ = pts
    bad = x.copy()
    bad[123, 2] = np.nan
    args = (bad, None) if where == "sources" else (x, bad)
    with pytest.raises(kifmm.KifmmError) as ei:
        kifmm.Fmm(*args)
    e = ei.value
    assert isinstance(e, kifmm.NonFiniteInputError) and isinstance(e, ValueError)
    assert e.status == kifmm._kifmm.ERR_NONFINITE_INPUT and e.status_name.startswith("non-finite")
    assert "point 123 of the %s" % what in str(e) and "z = nan" in str(e)
    assert "point 123" in e.log
    with pytest.raises(kifmm.NonFiniteInputError, match="point 123"):
        kifmm.direct(*args, charges=np.ones(500))


def test_inf_charge_and_failed_call_keeps_object(pts):
    x, q = pts
    with kifmm.Fmm(x, order=4) as f:
        good = f.evaluate(q).pot
        bad = q.copy()
        bad[7] = np.inf
        with pytest.raises(kifmm.NonFiniteInputError, match="charge of source 7"):
            f.evaluate(bad)
        x2 = x.copy()
        x2[3, 0] = np.nan
        with pytest.raises(kifmm.NonFiniteInputError, match="point 3 of the sources"):
            f.set_points(x2)
        assert np.array_equal(f.evaluate(q).pot, good)        # still the old points, same bits
        assert f.nsources == 500


def test_wrong_shapes(pts):
    x, q = pts
    for bad in (x[:, :2], x.T, x.ravel(), x[None]):
        with pytest.raises(kifmm.InvalidArgumentError, match=r"\(n, 3\)"):
            kifmm.Fmm(bad)
    with pytest.raises(ValueError, match=r"pass x\.T"):
        kifmm.Fmm(np.random.rand(3, 50))
    with kifmm.Fmm(x, order=4) as f:
        with pytest.raises(kifmm.InvalidArgumentError, match="charges has shape"):
            f.evaluate(q[:-1])
        with pytest.raises(ValueError, match="dipoles has shape"):
            f.evaluate(dipoles=np.ones((500, 2)))
        with pytest.raises(ValueError, match="no input"):
            f.evaluate()
        with pytest.raises(ValueError, match="no output"):
            f.evaluate(q, potential=False)


def test_nd_mismatch(pts):
    x, q = pts
    with kifmm.Fmm(x, order=4, nd=2) as f:
        with pytest.raises(kifmm.InvalidArgumentError, match="nd mismatch"):
            f.evaluate(np.ones((500, 2)), np.ones((500, 3, 3)))
        with pytest.raises(kifmm.InvalidArgumentError, match="nd=2"):
            f.evaluate(np.ones((500, 3)))
        assert f.evaluate(np.ones((500, 2))).pot.shape == (500, 2)


def test_dtypes(pts):
    x, q = pts
    with pytest.raises(TypeError, match="complex"):
        kifmm.Fmm(x.astype(complex))
    with pytest.raises(TypeError):
        kifmm.Fmm(np.array([["a", "b", "c"]]))
    with kifmm.Fmm((x * 100).astype(np.int64), order=4) as f:     # integers convert
        with pytest.raises(TypeError, match="complex"):
            f.evaluate(q + 1j)
        assert f.evaluate(q.astype(np.float32)).pot.dtype == np.float64
        assert f.evaluate(np.ones(500, dtype=bool)).pot.shape == (500,)


def test_config_errors(pts):
    x, _ = pts
    with pytest.raises(kifmm.InvalidArgumentError, match="order"):
        kifmm.Fmm(x, order=1)
    with pytest.raises(kifmm.InvalidArgumentError, match="tolerance"):
        kifmm.Fmm(x, tolerance=-1.0)
    with pytest.raises(kifmm.InvalidArgumentError, match="lambda"):
        kifmm.Fmm(x, kernel="yukawa")
    with pytest.raises(kifmm.InvalidArgumentError, match="kernel"):
        kifmm.Fmm(x, kernel="helmholtz")
    with pytest.raises(NotImplementedError, match="C only"):
        kifmm.Fmm(x, kernel=lambda t, s: 1.0)
    with pytest.raises(TypeError):
        kifmm.Fmm(x, order=6.5)
    with pytest.raises(kifmm.InvalidArgumentError, match="outside config.box"):
        kifmm.Fmm(x, box=(0.5, 0.5, 0.5, 0.1))


def test_kernel_capabilities(pts):
    x, _ = pts
    f3 = np.ones((500, 3))
    with pytest.raises(kifmm.InvalidArgumentError, match="Stokes takes none"):
        kifmm.direct(x, x[:5], charges=f3, dipoles=f3, kernel="stokes")
    with pytest.raises(kifmm.InvalidArgumentError, match="Stokes gives none"):
        kifmm.direct(x, x[:5], charges=f3, hessian=True, kernel="stokes")
    with pytest.raises(kifmm.InvalidArgumentError, match=r"Stokes forces"):
        kifmm.direct(x, x[:5], charges=np.ones(500), kernel="stokes")


def test_closed(pts):
    x, q = pts
    f = kifmm.Fmm(x, order=4)
    f.close()
    f.close()
    assert f.closed and "closed" in repr(f)
    with pytest.raises(ValueError, match="closed"):
        f.evaluate(q)
    with pytest.raises(ValueError, match="closed"):
        f.stats


def test_empty_sets():
    e = np.empty((0, 3))
    x = np.random.rand(10, 3)
    with kifmm.Fmm(e, x, order=4) as f:
        r = f.evaluate(np.empty(0))
        assert r.pot.shape == (10,) and np.all(r.pot == 0)
    with kifmm.Fmm(x, e, order=4) as f:
        assert f.evaluate(np.ones(10)).pot.shape == (0,)
