"""fmm3dpy's call shape: `import kifmm as fmm3dpy`, checked against NumPy direct sums."""
import numpy as np
import pytest

import kifmm as fmm3dpy
from conftest import laplace, rel, stokes

NS, NT, NTEST = 2500, 700, 60
EPS = 1e-6


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    return dict(src=rng.uniform(0, 1, (3, NS)), targ=rng.uniform(0, 1, (3, NT)), q=rng.uniform(0, 1, NS),
                dip=rng.uniform(0, 1, (3, NS)), q3=rng.uniform(0, 1, (3, NS)), dip3=rng.uniform(0, 1, (3, 3, NS)))


def ref_laplace(points, src, q, dip, nd):
    """NumPy reference in fmm3dpy's layout for the first NTEST points: pot (nd, n), grad (nd, 3, n), hess (nd, 6, n)"""
    x, t = src.T, points[:, :NTEST].T
    pots, grads, hesss = [], [], []
    for d in range(nd):
        qd = None if q is None else (q if nd == 1 else q[d])
        vd = None if dip is None else (dip.T if nd == 1 else dip[d].T)
        p, g, h = laplace(t, x, qd, vd)
        pots.append(p)
        grads.append(g.T)
        hesss.append(h.T)
    pots, grads, hesss = np.array(pots), np.array(grads), np.array(hesss)
    if nd == 1:
        return pots[0], grads[0], hesss[0]
    return pots, grads, hesss


@pytest.mark.parametrize("pg,pgt,nd,inputs", [
    (1, 0, 1, "c"), (2, 0, 1, "d"), (3, 0, 1, "cd"),
    (0, 1, 1, "c"), (0, 2, 1, "cd"), (0, 3, 1, "d"),
    (2, 2, 1, "c"), (3, 3, 1, "cd"), (1, 2, 1, "c"),
    (2, 0, 3, "c"), (0, 3, 3, "cd"), (3, 3, 3, "d")])
def test_lfmm3d(data, pg, pgt, nd, inputs):
    src, targ = data["src"], data["targ"]
    q = (data["q"] if nd == 1 else data["q3"]) if "c" in inputs else None
    dip = (data["dip"] if nd == 1 else data["dip3"]) if "d" in inputs else None
    out = fmm3dpy.lfmm3d(eps=EPS, sources=src, charges=q, dipvec=dip, targets=targ if pgt else None, pg=pg, pgt=pgt,
                         nd=nd)
    assert out.ier == 0
    lead = () if nd == 1 else (nd,)
    for flag, points, n, names in ((pg, src, NS, ("pot", "grad", "hess")), (pgt, targ, NT, ("pottarg", "gradtarg",
                                                                                              "hesstarg"))):
        if flag == 0:
            assert all(getattr(out, k) is None for k in names)
            continue
        refs = ref_laplace(points, src, q, dip, nd)
        for level, (k, ref, inner) in enumerate(zip(names, refs, ((), (3,), (6,))), start=1):
            a = getattr(out, k)
            if level > flag:
                assert a is None, k
                continue
            assert a.shape == lead + inner + (n,), (k, a.shape)
            assert a.flags.f_contiguous                 # as f2py's outputs
            assert rel(a[..., :NTEST], ref) < (1e-5, 1e-4, 1e-3)[level - 1], k
    # fmm3dpy's own error measure against fmm3dpy's direct routine
    if pgt:
        ex = fmm3dpy.l3ddir(sources=src, targets=targ[:, :NTEST], charges=q, dipvec=dip, pgt=pgt, nd=nd)
        assert fmm3dpy.comperr(ntest=NTEST, out=out, outex=ex, pgt=pgt, nd=nd) < 1e-4


def test_l3ddir_matches_numpy(data):
    src, targ, q, dip = data["src"], data["targ"], data["q"], data["dip"]
    out = fmm3dpy.l3ddir(sources=src, targets=targ[:, :NTEST], charges=q, dipvec=dip, pgt=3)
    p, g, h = ref_laplace(targ, src, q, dip, 1)
    assert out.pottarg.shape == (NTEST,) and out.gradtarg.shape == (3, NTEST) and out.hesstarg.shape == (6, NTEST)
    assert rel(out.pottarg, p) < 1e-12 and rel(out.gradtarg, g) < 1e-12 and rel(out.hesstarg, h) < 1e-12


def test_fmm3dpy_test_style(data):
    """the shape of FMM3D's python/test/test_lfmm.py: sources to sources, compared with l3ddir at
    the first ntest sources through comperr"""
    src, q = data["src"], data["q"]
    stmp = src[:, :NTEST]
    out = fmm3dpy.lfmm3d(eps=1e-5, sources=src, charges=q, pg=2)
    out2 = fmm3dpy.l3ddir(sources=src, targets=stmp, charges=q, pgt=2)
    out2.pot, out2.grad = out2.pottarg, out2.gradtarg
    assert fmm3dpy.comperr(ntest=NTEST, out=out, outex=out2, pg=2) < 1e-5


def test_no_copy_layout(data):
    """a Fortran-ordered (3, n) array is the interleaved layout: the values are the same either way"""
    src, q = data["src"], data["q"]
    a = fmm3dpy.lfmm3d(eps=1e-4, sources=src, charges=q, pg=1).pot
    b = fmm3dpy.lfmm3d(eps=1e-4, sources=np.asfortranarray(src), charges=q, pg=1).pot
    assert np.array_equal(a, b)


def test_nothing_to_compute(data, capsys):
    out = fmm3dpy.lfmm3d(eps=EPS, sources=data["src"], charges=data["q"])
    assert out.pot is None and out.pottarg is None and out.ier == 0
    assert "Nothing to compute" in capsys.readouterr().out


def test_stfmm3d(data):
    rng = np.random.default_rng(5)
    n, nt = 2000, 100
    src, targ = rng.uniform(0, 1, (3, n)), rng.uniform(0, 1, (3, nt))
    sig = rng.uniform(-1, 1, (3, n))
    out = fmm3dpy.stfmm3d(eps=5e-3, sources=src, stoklet=sig, targets=targ, ifppreg=1, ifppregtarg=3)
    assert out.pot.shape == (1, 3, n) and out.pottarg.shape == (1, 3, nt)
    assert out.pretarg.shape == (1, nt) and out.gradtarg.shape == (1, 3, 3, nt)
    assert out.pre is None and out.grad is None
    u = stokes(targ.T, src.T, sig.T)                       # mu = 1: FMM3D's (delta/r + r r^T/r^3) / (8 pi)
    assert rel(out.pottarg[0].T, u) < 5e-2                 # eps 5e-3: order 3 (Stokes precomputation is slow)
    assert rel(out.pot[0].T, stokes(src.T, src.T, sig.T)) < 5e-2
    # pressure sum sigma . r / (4 pi r^3) and the gradient from the direct routine
    ex = fmm3dpy.st3ddir(eps=1e-3, sources=src, stoklet=sig, targets=targ, ifppreg=0, ifppregtarg=3)
    assert rel(ex.pottarg[0].T, u) < 1e-12
    d = targ.T[:, None, :] - src.T[None, :, :]
    r = np.linalg.norm(d, axis=2)
    p = (np.einsum("jik,ik->ji", d, sig.T) / (4 * np.pi * r ** 3)).sum(1)
    assert rel(ex.pretarg[0], p) < 1e-12
    assert rel(out.pretarg, ex.pretarg) < 5e-2 and rel(out.gradtarg, ex.gradtarg) < 5e-2
    # grad[l, i, j, k] = d u_j / d x_i (FMM3D's): central differences of u
    h = 1e-6
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        fd = (stokes(targ.T + e, src.T, sig.T) - stokes(targ.T - e, src.T, sig.T)) / (2 * h)   # (nt, j)
        assert rel(ex.gradtarg[0, i].T, fd) < 1e-4             # a transposed gradient would be O(1) off


def test_unsupported():
    x = np.random.rand(3, 10)
    for fn in (fmm3dpy.hfmm3d, fmm3dpy.h3ddir, fmm3dpy.emfmm3d, fmm3dpy.em3ddir):
        with pytest.raises(NotImplementedError):
            fn(eps=1e-6, zk=1.0, sources=x, charges=np.ones(10), pg=1)
    with pytest.raises(NotImplementedError, match="stresslet"):
        fmm3dpy.stfmm3d(eps=1e-6, sources=x, stoklet=x, strslet=x, strsvec=x, ifppreg=1)
    with pytest.raises(NotImplementedError, match="thresh"):
        fmm3dpy.l3ddir(sources=x, targets=x, charges=np.ones(10), pgt=1, thresh=1e-3)


def test_bad_fmm3d_input(data):
    with pytest.raises(ValueError, match=r"\(3, n\)"):
        fmm3dpy.lfmm3d(eps=EPS, sources=data["src"].T, charges=data["q"], pg=1)
    with pytest.raises(ValueError, match="charges"):
        fmm3dpy.lfmm3d(eps=EPS, sources=data["src"], charges=data["q"][:-1], pg=1)
    with pytest.raises(ValueError, match="nd"):
        fmm3dpy.lfmm3d(eps=EPS, sources=data["src"], charges=data["q3"], pg=1, nd=2)
    with pytest.raises(ValueError, match="eps"):
        fmm3dpy.lfmm3d(eps=0, sources=data["src"], charges=data["q"], pg=1)
    with pytest.raises(ValueError, match="pg"):
        fmm3dpy.lfmm3d(eps=EPS, sources=data["src"], charges=data["q"], pg=4)
