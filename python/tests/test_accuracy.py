"""FMM against kifmm.direct, and kifmm.direct against independent NumPy sums."""
import numpy as np
import pytest

import kifmm
from conftest import laplace, rel, stokes, yukawa

N = 3000          # sources; leaf_size 40 gives a depth-3 tree, so every FMM operator runs
NT = 150          # sampled targets for the NumPy references


@pytest.fixture(scope="module")
def prob():
    rng = np.random.default_rng(7)
    return dict(x=rng.random((N, 3)), y=rng.random((1000, 3)) * 1.2 - 0.1, q=rng.random(N) - 0.5,
                v=rng.random((N, 3)) - 0.5, q2=rng.random((N, 2)) - 0.5, v2=rng.random((N, 3, 2)) - 0.5,
                f=rng.random((N, 3)) - 0.5)


@pytest.fixture(scope="module")
def lap(prob):
    with kifmm.Fmm(prob["x"], order=8, leaf_size=40, nd=2) as f:
        yield f


def test_version_and_build():
    assert kifmm.__version__.count(".") == 2
    info = kifmm.build_info()
    assert set(info) == {"isa", "cblas", "openmp", "native", "cpu_level"}


def test_direct_matches_numpy_laplace(prob):
    x, q, v = prob["x"], prob["q"], prob["v"]
    t = x[:NT]                                   # targets at sources: the self term must be dropped
    r = kifmm.direct(x, t, charges=q, dipoles=v, gradient=True, hessian=True)
    pot, grad, hess = laplace(t, x, q, v)
    assert rel(r.pot, pot) < 1e-12 and rel(r.grad, grad) < 1e-12 and rel(r.hess, hess) < 1e-12
    assert r.pot.shape == (NT,) and r.grad.shape == (NT, 3) and r.hess.shape == (NT, 6)
    # charges only: the kifmm_direct fast path, the same sum
    p, g, _ = laplace(t, x, q)
    for threads in (None, 1):
        r = kifmm.direct(x, t, charges=q, gradient=True, threads=threads)
        assert rel(r.pot, p) < 1e-12 and rel(r.grad, g) < 1e-12


def test_laplace_charges_self(prob, lap):
    x, q = prob["x"], prob["q"]
    r = lap.evaluate(q, gradient=True, hessian=True)
    assert r.pot.shape == (N,) and r.grad.shape == (N, 3) and r.hess.shape == (N, 6)
    pot, grad, hess = laplace(x[:NT], x, q)              # independent of kifmm
    assert rel(r.pot[:NT], pot) < 1e-6
    assert rel(r.grad[:NT], grad) < 1e-5
    assert rel(r.hess[:NT], hess) < 1e-4
    ref = kifmm.direct(x, charges=q, gradient=True, hessian=True)   # all targets
    assert rel(r.pot, ref.pot) < 1e-6 and rel(r.grad, ref.grad) < 1e-5 and rel(r.hess, ref.hess) < 1e-4


def test_laplace_dipoles_and_both(prob, lap):
    x, q, v = prob["x"], prob["q"], prob["v"]
    rd = lap.evaluate(dipoles=v, gradient=True, hessian=True)
    pot, grad, hess = laplace(x[:NT], x, None, v)
    assert rel(rd.pot[:NT], pot) < 1e-5 and rel(rd.grad[:NT], grad) < 1e-4 and rel(rd.hess[:NT], hess) < 1e-3
    rb = lap.evaluate(q, v, gradient=True)
    assert rb.hess is None
    pot, grad, _ = laplace(x[:NT], x, q, v)
    assert rel(rb.pot[:NT], pot) < 1e-5 and rel(rb.grad[:NT], grad) < 1e-4


def test_laplace_separate_targets(prob):
    x, y, q = prob["x"], prob["y"], prob["q"]
    with kifmm.Fmm(x, y, tolerance=1e-6, leaf_size=40) as f:
        assert (f.nsources, f.ntargets) == (N, 1000)
        assert f.stats["order"] == kifmm.order_for_tolerance(1e-6)
        r = f.evaluate(q, gradient=True)
    pot, grad, _ = laplace(y[:NT], x, q)
    assert rel(r.pot[:NT], pot) < 1e-5 and rel(r.grad[:NT], grad) < 1e-4


def test_laplace_nd2(prob, lap):
    x, q2, v2 = prob["x"], prob["q2"], prob["v2"]
    r = lap.evaluate(q2, v2, gradient=True, hessian=True)
    assert r.pot.shape == (N, 2) and r.grad.shape == (N, 3, 2) and r.hess.shape == (N, 6, 2)
    for d in range(2):                       # each set equals its own nd = 1 evaluation
        r1 = lap.evaluate(q2[:, d], v2[:, :, d], gradient=True, hessian=True)
        assert rel(r.pot[:, d], r1.pot) < 1e-12 and rel(r.grad[:, :, d], r1.grad) < 1e-12
        assert rel(r.hess[:, :, d], r1.hess) < 1e-12
        pot, grad, hess = laplace(x[:NT], x, q2[:, d], v2[:, :, d])
        assert rel(r.pot[:NT, d], pot) < 1e-5 and rel(r.grad[:NT, :, d], grad) < 1e-4
    ref = kifmm.direct(x, x[:NT], charges=q2, dipoles=v2, gradient=True)
    assert ref.pot.shape == (NT, 2) and ref.grad.shape == (NT, 3, 2)
    assert rel(r.pot[:NT], ref.pot) < 1e-5
    # an explicit nd axis of length 1 keeps the axis
    r1 = lap.evaluate(q2[:, :1])
    assert r1.pot.shape == (N, 1)


def test_potential_false(prob, lap):
    r = lap.evaluate(prob["q"], gradient=True, potential=False)
    assert r.pot is None and r.grad.shape == (N, 3)


def test_set_points(prob, lap):
    rng = np.random.default_rng(3)
    x2 = rng.random((2000, 3))
    q = rng.random(2000) - 0.5
    with kifmm.Fmm(prob["x"], order=6, leaf_size=40) as f:
        f.set_points(x2)
        assert (f.nsources, f.ntargets) == (2000, 2000)
        r = f.evaluate(q)
        with kifmm.Fmm(x2, order=6, leaf_size=40) as g:
            assert rel(r.pot, g.evaluate(q).pot) < 1e-12
        f.set_points(x2, x2[:10])
        assert f.evaluate(q).pot.shape == (10,)


def test_stats(lap, prob):
    lap.evaluate(prob["q"])
    s = lap.stats
    for k in ("depth", "leaves", "boxes", "bytes", "seconds_tree", "seconds_precompute", "seconds_evaluate",
              "order", "m2l_rank", "leaf_size", "m2l_tolerance"):
        assert k in s
    assert set(s["seconds_op"]) == {"P2M", "M2M", "M2L", "L2L", "L2P", "M2P", "P2L", "P2P"}
    assert s["order"] == 8 and s["depth"] >= 2 and s["seconds_evaluate"] > 0 and s["m2l_rank"] > 0
    assert s["leaf_size"] == 40 and abs(s["m2l_tolerance"] - 1e-8) < 1e-20


def test_conversion_and_layouts(prob, lap):
    x, q = prob["x"], prob["q"]
    with kifmm.Fmm(x, order=4, leaf_size=40) as f:
        base = f.evaluate(q).pot
    # Fortran-ordered points, float32 charges, a list: converted, same numbers
    with kifmm.Fmm(np.asfortranarray(x), order=4, leaf_size=40) as f:
        assert rel(f.evaluate(q).pot, base) == 0
        assert rel(f.evaluate(q.astype(np.float32)).pot, f.evaluate(q.astype(np.float32).astype(float)).pot) == 0
    small = kifmm.direct([[0, 0, 0], [1, 0, 0]], charges=[1, 2])
    assert np.allclose(small.pot, [2 / (4 * np.pi), 1 / (4 * np.pi)])


def test_yukawa(prob):
    x, q = prob["x"], prob["q"]
    lam = 3.0
    with kifmm.Fmm(x, order=6, leaf_size=40, kernel="yukawa", kernel_param=lam) as f:
        r = f.evaluate(q, gradient=True)
    pot, grad = yukawa(x[:NT], x, q, lam)
    d = kifmm.direct(x, x[:NT], charges=q, gradient=True, kernel="yukawa", kernel_param=lam)
    assert rel(d.pot, pot) < 1e-12 and rel(d.grad, grad) < 1e-12
    assert rel(r.pot[:NT], pot) < 1e-4 and rel(r.grad[:NT], grad) < 1e-4


def test_stokes(prob):
    x, f = prob["x"], prob["f"]
    u = stokes(x[:NT], x, f, mu=2.0)
    d = kifmm.direct(x, x[:NT], charges=f, gradient=True, kernel="stokes", kernel_param=2.0)
    assert d.pot.shape == (NT, 3) and d.grad.shape == (NT, 3, 3)
    assert rel(d.pot, u) < 1e-12
    # the velocity gradient against central differences of the NumPy sum, at targets off the sources
    y, h = prob["y"][:20], 1e-6
    dy = kifmm.direct(x, y, charges=f, gradient=True, kernel="stokes", kernel_param=2.0)
    for c in range(3):
        e = np.zeros(3)
        e[c] = h
        fd = (stokes(y + e, x, f, 2.0) - stokes(y - e, x, f, 2.0)) / (2 * h)
        assert rel(dy.grad[:, :, c], fd) < 1e-4        # grad[j, a, c] = d u_a / d y_c (transposed: O(1))
    # Stokes precomputation is costly (seconds at order 4 on 2 cores, dense SVDs): order 3 keeps the
    # test short; its error is about 1.5e-2, a wrong layout would be O(1)
    with kifmm.Fmm(x, order=3, leaf_size=40, kernel="stokes", kernel_param=2.0, nd=2) as fm:
        r = fm.evaluate(f, gradient=True)
        assert r.pot.shape == (N, 3) and r.grad.shape == (N, 3, 3)
        assert rel(r.pot[:NT], u) < 5e-2
        assert rel(r.grad[:NT], d.grad) < 5e-2
        f2 = np.stack([f, -2 * f], axis=2)                       # (N, 3, 2)
        r2 = fm.evaluate(f2)
        assert r2.pot.shape == (N, 3, 2)
        assert rel(r2.pot[:, :, 1], -2 * r.pot) < 1e-12
