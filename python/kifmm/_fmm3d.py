"""fmm3dpy's call shape over kifmm: `import kifmm as fmm3dpy`.

Argument names, defaults, input shapes and output attributes follow fmm3dpy (FMM3D's Python
package): points are (3, n) arrays, densities (n,) / (nd, n) / (3, n) / (nd, 3, n), outputs
Fortran-ordered arrays of FMM3D's shapes. FMM3D's (3, n) Fortran layout is kifmm's interleaved xyz
layout in memory: Fortran-ordered inputs go in without a copy, and every output is a transposed
view of kifmm's own result buffer (no copy either).

Supported: lfmm3d and l3ddir (everything: charges, dipoles, pg / pgt 1..3, nd), stfmm3d and
st3ddir with Stokeslets (velocity, pressure, velocity gradient). Not supported, raising
NotImplementedError: hfmm3d / h3ddir (Helmholtz, complex), emfmm3d / em3ddir (Maxwell), and
stresslets, rotlets and doublets in stfmm3d / st3ddir.

Differences, all on the side of doing more: pg and pgt may differ when both are set (fmm3dpy
asserts they are equal); invalid inputs raise kifmm.InvalidArgumentError (a ValueError) where
fmm3dpy asserts; a failure raises kifmm.KifmmError, so a returned out.ier is always 0.
"""
import numpy as np

from . import Fmm, _f64, _invalid, direct

_NOTHING = "Nothing to compute, set either pg or pgt to non-zero"


class Output:
    """fmm3dpy's result object: every attribute None until computed; ier = 0 (kifmm raises on error)."""
    pot = None
    grad = None
    hess = None
    pottarg = None
    gradtarg = None
    hesstarg = None
    E = None
    curlE = None
    divE = None
    Etarg = None
    curlEtarg = None
    divEtarg = None
    pre = None
    pretarg = None
    ier = 0

    def __repr__(self):
        got = ["%s%s" % (k, getattr(self, k).shape) for k in ("pot", "grad", "hess", "pottarg", "gradtarg",
               "hesstarg", "pre", "pretarg") if getattr(self, k) is not None]
        return "<kifmm.Output %s ier=%d>" % (" ".join(got) or "(empty)", self.ier)


# ---- fmm3dpy layouts -> kifmm layouts -----------------------------------------------------------
def _points3n(x, name):
    """fmm3dpy points (3, n) (or (3,) for one point) -> (n, 3) C-contiguous; no copy when x is
    Fortran-ordered float64"""
    a = _f64(x, name)
    if a.ndim == 1 and a.shape[0] == 3:
        a = a.reshape(3, 1)
    if a.ndim != 2 or a.shape[0] != 3:
        raise _invalid("%s has shape %s: fmm3dpy's layout is (3, n)" % (name, a.shape))
    return np.ascontiguousarray(a.T)


def _nd(nd):
    try:
        nd = int(nd)
    except (TypeError, ValueError):
        raise TypeError("nd must be an integer, not %r" % (nd,)) from None
    if nd < 1:
        raise _invalid("nd = %d: at least 1" % nd)
    return nd


_LAPLACE_LEVELS = "0 (nothing), 1 (potential), 2 (+ gradient) or 3 (+ Hessian)"
_STOKES_LEVELS = "0 (nothing), 1 (velocity), 2 (+ pressure) or 3 (+ velocity gradient)"


def _flag(v, name, levels=_LAPLACE_LEVELS):
    try:
        v = int(v)
    except (TypeError, ValueError):
        raise TypeError("%s must be an integer 0..3, not %r" % (name, v)) from None
    if not 0 <= v <= 3:
        raise _invalid("%s = %d: expected %s" % (name, v, levels))
    return v


def _scalar_density(c, nd, ns, name):
    """fmm3dpy charges: (n,) for nd = 1, (nd, n) for nd > 1 -> kifmm (n,) / (n, nd)"""
    a = _f64(c, name)
    if nd == 1:
        if a.shape not in ((ns,), (1, ns)):
            raise _invalid("%s has shape %s: expected (%d,) (nd = 1)" % (name, a.shape, ns))
        return np.ascontiguousarray(a.reshape(ns))
    if a.shape != (nd, ns):
        raise _invalid("%s has shape %s: expected (nd, ns) = (%d, %d)" % (name, a.shape, nd, ns))
    return np.ascontiguousarray(a.T)


def _vector_density(v, nd, ns, name):
    """fmm3dpy vectors: (3, n) for nd = 1, (nd, 3, n) -> kifmm (n, 3) / (n, 3, nd)"""
    a = _f64(v, name)
    if nd == 1:
        if ns == 1 and a.shape == (3,):
            a = a.reshape(3, 1)
        if a.shape == (1, 3, ns):
            a = a.reshape(3, ns)
        if a.shape != (3, ns):
            raise _invalid("%s has shape %s: expected (3, %d) (nd = 1)" % (name, a.shape, ns))
        return np.ascontiguousarray(a.T)
    if a.shape != (nd, 3, ns):
        raise _invalid("%s has shape %s: expected (nd, 3, ns) = (%d, 3, %d)" % (name, a.shape, nd, ns))
    return np.ascontiguousarray(a.transpose(2, 1, 0))


def _to_fmm3d(a, rows, inner, nd, keep_nd):
    """kifmm's C-ordered result (N, *inner, nd) (flat or shaped): rows `rows` as FMM3D's Fortran-ordered
    (nd, *reversed(inner), n), the nd axis dropped when nd == 1 and not keep_nd; a view, no copy"""
    if a is None:
        return None
    b = a.reshape((-1,) + tuple(inner) + (nd,))[rows]
    b = b.transpose(tuple(range(b.ndim - 1, -1, -1)))
    if nd == 1 and not keep_nd:
        b = b[0]
    return b


def _tolerance(eps):
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise TypeError("eps must be a number, not %r" % (eps,)) from None
    if not eps > 0:
        raise _invalid("eps = %g: the requested precision must be > 0" % eps)
    return eps


# eps -> kifmm's tolerance (the potential's relative error): gradient errors run about 3x the
# potential's and Hessian errors about 10x, so asking for those tightens the tolerance and every
# output's error stays below eps (the policy of the C interface kifmm_fmm3d.h)
_EPS_DIV = {1: 1.0, 2: 3.0, 3: 10.0, 4: 30.0}   # by level; dipoles count one level up


def _plan(src, tgt, want_src, want_tgt):
    """the point sets of one FMM giving values at the sources and/or targets: targets = sources,
    targets, or the concatenation (self-interaction: the library drops pairs at zero distance, as
    FMM3D does)"""
    ns = src.shape[0]
    if want_src and want_tgt:
        return np.concatenate([src, tgt]), slice(0, ns), slice(ns, None)
    if want_src:
        return None, slice(None), None
    return tgt, None, slice(None)


# ---- Laplace ------------------------------------------------------------------------------------
def lfmm3d(*, eps, sources, charges=None, dipvec=None, targets=None, pg=0, pgt=0, nd=1):
    r"""Laplace FMM, fmm3dpy's lfmm3d: u(x) = sum_j c_j / (4 pi |x - x_j|) + v_j . grad_j (1 / (4 pi |x - x_j|)),
    the term with x = x_j dropped.

    eps: requested precision: kifmm's tolerance is eps, eps / 3 with gradients, eps / 10 with
    Hessians (their errors run 3x and 10x the potential's), one step further with dipoles (eps / 3,
    eps / 10, eps / 30), as in kifmm_fmm3d.h. sources (3, n); charges (n,) or (nd, n); dipvec
    (3, n) or (nd, 3, n); targets (3, nt). pg / pgt at the sources / targets: 1 potential,
    2 + gradient, 3 + Hessian (xx, yy, zz, xy, xz, yz). nd: number of densities.

    Returns Output with pot (n,) | (nd, n), grad (3, n) | (nd, 3, n), hess (6, n) | (nd, 6, n) and
    pottarg, gradtarg, hesstarg likewise, ier = 0.
    """
    out = Output()
    nd = _nd(nd)
    pg, pgt = _flag(pg, "pg"), _flag(pgt, "pgt")
    src = _points3n(sources, "sources")
    ns = src.shape[0]
    if pg == 0 and pgt == 0:
        print(_NOTHING)
        return out
    q = None if charges is None else _scalar_density(charges, nd, ns, "charges")
    d = None if dipvec is None else _vector_density(dipvec, nd, ns, "dipvec")
    if q is None and d is None:
        raise _invalid("lfmm3d: give charges and/or dipvec")
    tgt = None if targets is None else _points3n(targets, "targets")
    want_src, want_tgt = pg > 0, pgt > 0 and tgt is not None
    if not (want_src or want_tgt):
        return out            # pgt without targets: fmm3dpy computes nothing either
    level = max(pg if want_src else 0, pgt if want_tgt else 0)
    t, rs, rt = _plan(src, tgt, want_src, want_tgt)
    with Fmm(src, t, tolerance=_tolerance(eps) / _EPS_DIV[level + (d is not None)], nd=nd) as fmm:
        pot, grad, hess = fmm._core.evaluate(q, d, nd=nd, potential=True, gradient=level >= 2, hessian=level >= 3)
    if want_src:
        out.pot = _to_fmm3d(pot, rs, (), nd, False)
        out.grad = _to_fmm3d(grad, rs, (3,), nd, False) if pg >= 2 else None
        out.hess = _to_fmm3d(hess, rs, (6,), nd, False) if pg >= 3 else None
    if want_tgt:
        out.pottarg = _to_fmm3d(pot, rt, (), nd, False)
        out.gradtarg = _to_fmm3d(grad, rt, (3,), nd, False) if pgt >= 2 else None
        out.hesstarg = _to_fmm3d(hess, rt, (6,), nd, False) if pgt >= 3 else None
    return out


def _thresh(thresh):
    if thresh is not None and float(thresh) > 1e-14:
        raise NotImplementedError("thresh = %g: kifmm drops only sources at exactly the target's position "
                                  "(thresh <= 1e-14 is accepted and means that)" % float(thresh))


def l3ddir(*, sources, targets, charges=None, dipvec=None, pgt=0, nd=1, thresh=1e-16):
    """Laplace direct sum, fmm3dpy's l3ddir: out.pottarg (nt,) | (nd, nt), gradtarg, hesstarg as in
    lfmm3d. Sources at exactly a target's position are dropped (thresh > 1e-14: NotImplementedError)."""
    out = Output()
    nd = _nd(nd)
    pgt = _flag(pgt, "pgt")
    _thresh(thresh)
    src = _points3n(sources, "sources")
    ns = src.shape[0]
    if pgt == 0:
        print(_NOTHING)
        return out
    q = None if charges is None else _scalar_density(charges, nd, ns, "charges")
    d = None if dipvec is None else _vector_density(dipvec, nd, ns, "dipvec")
    if q is None and d is None:
        raise _invalid("l3ddir: give charges and/or dipvec")
    tgt = _points3n(targets, "targets")
    # kifmm.direct's nd axis: present for nd > 1 (q / d then carry it)
    r = direct(src, tgt, charges=q, dipoles=d, gradient=pgt >= 2, hessian=pgt >= 3)
    every = slice(None)
    out.pottarg = _to_fmm3d(r.pot, every, (), nd, False)
    out.gradtarg = _to_fmm3d(r.grad, every, (3,), nd, False)
    out.hesstarg = _to_fmm3d(r.hess, every, (6,), nd, False)
    return out


# ---- Stokes -------------------------------------------------------------------------------------
def _stokes_inputs(fn, stoklet, strslet, strsvec, rotlet, rotvec, doublet, doubvec):
    if any(a is not None for a in (strslet, strsvec, rotlet, rotvec, doublet, doubvec)):
        raise NotImplementedError("%s: kifmm's Stokes kernel is the Stokeslet only; stresslets (strslet, strsvec), "
                                  "rotlets (rotlet, rotvec) and doublets (doublet, doubvec) are not supported" % fn)
    if stoklet is None:
        raise _invalid("%s: stoklet is required (the Stokeslet forces, (3, n) or (nd, 3, n))" % fn)


def _stokes(src, tgt, sigma, nd, want_src, want_tgt, level, tol, direct_sum):
    """velocity (+ gradient) from the Stokes kernel with mu = 1 (FMM3D's G = (delta/r + r r^T/r^3) / (8 pi)),
    pressure p = sum sigma . r / (4 pi r^3), which is kifmm's Laplace dipole potential with dipoles sigma"""
    t, rs, rt = _plan(src, tgt, want_src, want_tgt)
    if direct_sum:
        vel, vgrad, _ = direct(src, t, charges=sigma, gradient=level >= 3, kernel="stokes", kernel_param=1.0)
        pre = direct(src, t, dipoles=sigma).pot if level >= 2 else None
    else:
        with Fmm(src, t, tolerance=tol, kernel="stokes", kernel_param=1.0, nd=nd) as f:
            vel, vgrad, _ = f._core.evaluate(sigma, None, nd=nd, potential=True, gradient=level >= 3)
        pre = None
        if level >= 2:
            with Fmm(src, t, tolerance=tol, nd=nd) as f:
                pre = f._core.evaluate(None, sigma, nd=nd, potential=True)[0]
    return vel, vgrad, pre, rs, rt


def _stokes_out(out, vel, vgrad, pre, rs, rt, nd, ifppreg, ifppregtarg):
    # FMM3D: pot (nd, 3, n), pre (nd, n), grad (nd, 3, 3, n) with grad(l, i, j, k) = d u_j / d x_i,
    # the nd axis kept for nd = 1 too; kifmm's gradient is [(point, component j, derivative i, set)]
    if rs is not None:
        out.pot = _to_fmm3d(vel, rs, (3,), nd, True)
        out.pre = _to_fmm3d(pre, rs, (), nd, True) if ifppreg >= 2 else None
        out.grad = _to_fmm3d(vgrad, rs, (3, 3), nd, True) if ifppreg >= 3 else None
    if rt is not None:
        out.pottarg = _to_fmm3d(vel, rt, (3,), nd, True)
        out.pretarg = _to_fmm3d(pre, rt, (), nd, True) if ifppregtarg >= 2 else None
        out.gradtarg = _to_fmm3d(vgrad, rt, (3, 3), nd, True) if ifppregtarg >= 3 else None
    return out


def _stokes_call(fn, eps, sources, stoklet, strslet, strsvec, rotlet, rotvec, doublet, doubvec, targets, ifppreg,
                 ifppregtarg, nd, direct_sum):
    out = Output()
    nd = _nd(nd)
    ifppreg, ifppregtarg = _flag(ifppreg, "ifppreg", _STOKES_LEVELS), _flag(ifppregtarg, "ifppregtarg", _STOKES_LEVELS)
    if ifppreg == 0 and ifppregtarg == 0:
        print("Nothing to compute, set either ifppreg or ifppregtarg to non-zero")
        return out
    _stokes_inputs(fn, stoklet, strslet, strsvec, rotlet, rotvec, doublet, doubvec)
    src = _points3n(sources, "sources")
    ns = src.shape[0]
    a = _f64(stoklet, "stoklet")
    if nd == 1 and a.shape in ((3, ns), (3,)):
        a = a.reshape(1, 3, ns)
    if a.shape != (nd, 3, ns):
        raise _invalid("stoklet has shape %s: expected (3, %d) or (nd, 3, ns) = (%d, 3, %d)" % (a.shape, ns, nd, ns))
    sigma = np.ascontiguousarray(a.transpose(2, 1, 0))            # (ns, 3, nd): kifmm's [(i sdim + b) nd + d]
    if nd == 1:
        sigma = sigma.reshape(ns, 3)
    tgt = None if targets is None else _points3n(targets, "targets")
    want_src, want_tgt = ifppreg > 0, ifppregtarg > 0 and tgt is not None and tgt.shape[0] > 0
    if not (want_src or want_tgt):
        return out
    level = max(ifppreg if want_src else 0, ifppregtarg if want_tgt else 0)
    tol = None if direct_sum else _tolerance(eps) / (3.0 if level >= 3 else 1.0)   # the gradient: eps / 3
    vel, vgrad, pre, rs, rt = _stokes(src, tgt, sigma, nd, want_src, want_tgt, level, tol, direct_sum)
    return _stokes_out(out, vel, vgrad, pre, rs, rt, nd, ifppreg if want_src else 0, ifppregtarg)


def stfmm3d(*, eps, sources, stoklet=None, strslet=None, strsvec=None, rotlet=None, rotvec=None, doublet=None,
            doubvec=None, targets=None, ifppreg=0, ifppregtarg=0, nd=1):
    r"""Stokes FMM, fmm3dpy's stfmm3d, Stokeslets only (viscosity 1):
    u_i(x) = sum_m G_ij(x, y_m) sigma_m,j with G_ij = (delta_ij / r + r_i r_j / r^3) / (8 pi), the
    pressure p(x) = sum_m sigma_m . r / (4 pi r^3) and the velocity gradient, self-interaction dropped.

    ifppreg / ifppregtarg: 1 velocity, 2 + pressure, 3 + gradient. Output: pot (nd, 3, n),
    pre (nd, n), grad (nd, 3, 3, n) with grad[l, i, j, k] = d u_j / d x_i (FMM3D's), and the *targ
    ones likewise; the nd axis is there for nd = 1 too, as in fmm3dpy. Stresslets, rotlets and
    doublets raise NotImplementedError.
    """
    return _stokes_call("stfmm3d", eps, sources, stoklet, strslet, strsvec, rotlet, rotvec, doublet, doubvec,
                        targets, ifppreg, ifppregtarg, nd, False)


def st3ddir(*, eps, sources, stoklet=None, strslet=None, strsvec=None, rotlet=None, rotvec=None, doublet=None,
            doubvec=None, targets=None, ifppreg=0, ifppregtarg=0, nd=1, thresh=1e-16):
    """Stokes direct sum, fmm3dpy's st3ddir (Stokeslets only; outputs as stfmm3d)."""
    _thresh(thresh)
    return _stokes_call("st3ddir", eps, sources, stoklet, strslet, strsvec, rotlet, rotvec, doublet, doubvec,
                        targets, ifppreg, ifppregtarg, nd, True)


# ---- error measure ------------------------------------------------------------------------------
def comperr(*, ntest, out, outex, pg=0, pgt=0, nd=1):
    """fmm3dpy's comperr: the relative l2 error of out against outex over the first ntest points of
    every output that pg / pgt ask for (the point index is the last axis of each)."""
    names = []
    if pg > 0:
        names += ["pot"] + (["grad"] if pg >= 2 else []) + (["hess"] if pg >= 3 else [])
    if pgt > 0:
        names += ["pottarg"] + (["gradtarg"] if pgt >= 2 else []) + (["hesstarg"] if pgt >= 3 else [])
    r = err = 0.0
    for k in names:
        a = np.asarray(getattr(out, k))[..., :ntest]
        b = np.asarray(getattr(outex, k))[..., :ntest]
        r += float(np.sum(b * b))
        err += float(np.sum((a - b) ** 2))
    return float(np.sqrt(err / r)) if r > 0 else float(np.sqrt(err))


# ---- what kifmm does not have -------------------------------------------------------------------
def _unsupported(name, what):
    def f(*args, **kwargs):
        raise NotImplementedError("%s: %s is not supported by kifmm (its kernels: Laplace, Yukawa, Stokes; from "
                                  "fmm3dpy's interface: lfmm3d, l3ddir, stfmm3d, st3ddir with Stokeslets)" % (name, what))
    f.__name__ = name
    f.__doc__ = "Not supported by kifmm (%s): raises NotImplementedError." % what
    return f


hfmm3d = _unsupported("hfmm3d", "the Helmholtz kernel (complex wavenumber zk)")
h3ddir = _unsupported("h3ddir", "the Helmholtz kernel (complex wavenumber zk)")
emfmm3d = _unsupported("emfmm3d", "the Maxwell FMM")
em3ddir = _unsupported("em3ddir", "the Maxwell FMM")
