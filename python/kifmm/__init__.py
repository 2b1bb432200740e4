"""kifmm: the kernel-independent fast multipole method in 3D, from Python.

NumPy arrays in and out over the header-only C library kifmm (kifmm.h):

    import numpy as np, kifmm
    x = np.random.rand(100000, 3)                  # points: float64, shape (n, 3)
    q = np.random.rand(100000) - 0.5               # charges: shape (n,)
    fmm = kifmm.Fmm(x, tolerance=1e-6)             # tree + operators, built once
    r = fmm.evaluate(q, gradient=True)             # r.pot (n,), r.grad (n, 3), r.hess None
    ref = kifmm.direct(x, x[:100], charges=q)      # O(N M) reference: ref.pot (100,)

Laplace G = 1 / (4 pi r), Yukawa exp(-lambda r) / (4 pi r), Stokes (the Stokeslet
(delta_ab / r + r_a r_b / r^3) / (8 pi mu)). A source at exactly a target's position contributes
nothing (self-interaction excluded). User kernels (KIFMM_KERNEL_USER) are C-only: not available
from Python.

fmm3dpy's call shape: lfmm3d, l3ddir, stfmm3d (Stokeslets), st3ddir, comperr and Output, so that
`import kifmm as fmm3dpy` runs fmm3dpy code for what kifmm supports; the rest (Helmholtz,
Maxwell, stresslets, ...) raises NotImplementedError.

Errors: a failed library call raises kifmm.KifmmError (a RuntimeError) or one of its subclasses,
with .status (the int kifmm_status), .status_name, and .log, the library's logger message, which
names the offending item ("point 12 of the sources has a non-finite coordinate (y = nan)").
InvalidArgumentError and NonFiniteInputError are also ValueErrors, OutOfMemoryError also a
MemoryError; wrong shapes detected here raise InvalidArgumentError too. Non-numeric dtypes
(complex, object, strings) raise TypeError; other real dtypes are converted to float64.

Threads: every call that computes releases the GIL. Two Fmm objects may run at once from two
threads; calls on one Fmm object from two threads run one after the other (a per-object lock).
threads=None means OpenMP's default (OMP_NUM_THREADS). In a process forked after kifmm ran
(multiprocessing's default on Linux) GNU OpenMP cannot start threads: kifmm runs on one thread
there (with a RuntimeWarning), and an Fmm inherited from the parent with several threads raises
instead of hanging; the 'spawn' and 'forkserver' start methods have no such limit.
"""
import collections
import importlib
import numbers
import operator
import os
import warnings

import numpy as np

from . import _kifmm as _baseline


def _load():
    """The extension compiled for the best instruction set this CPU runs: x86-64-v4 (AVX-512),
    x86-64-v3 (AVX2, FMA) or the baseline module (see setup.py). KIFMM_ISA=baseline|v3|v4 in the
    environment, read here at import, caps the choice (for comparisons; the C library itself never
    reads the environment)."""
    level = _baseline.isa_level()
    cap = os.environ.get("KIFMM_ISA", "").strip().lower()
    caps = {"": 4, "v4": 4, "x86-64-v4": 4, "v3": 3, "x86-64-v3": 3, "baseline": 1, "v1": 1, "x86-64": 1}
    if cap not in caps:
        raise ImportError("KIFMM_ISA=%r: expected baseline, v3 or v4" % cap)
    for v in (4, 3):
        if v <= min(level, caps[cap]):
            try:
                return importlib.import_module("._kifmm_v%d" % v, __name__)
            except ImportError:      # not built (KIFMM_DISPATCH=0, KIFMM_NATIVE=1, not x86-64)
                pass
    return _baseline


_kifmm = _load()
InternalError, InvalidArgumentError, KifmmError = _kifmm.InternalError, _kifmm.InvalidArgumentError, _kifmm.KifmmError
NonFiniteInputError, NumericalError = _kifmm.NonFiniteInputError, _kifmm.NumericalError
OutOfMemoryError = _kifmm.OutOfMemoryError

__version__ = _kifmm.version()

__all__ = ["Fmm", "direct", "Result", "KifmmError", "InvalidArgumentError", "NonFiniteInputError",
           "OutOfMemoryError", "NumericalError", "InternalError", "order_for_tolerance", "build_info",
           "lfmm3d", "l3ddir", "stfmm3d", "st3ddir", "comperr", "Output", "hfmm3d", "h3ddir", "emfmm3d",
           "em3ddir", "__version__"]

# class-level defaults, so that the errors raised from Python carry the same attributes
KifmmError.status, KifmmError.status_name, KifmmError.log = None, "", ""
for _cls, _st in ((InvalidArgumentError, _kifmm.ERR_INVALID_ARGUMENT), (NonFiniteInputError, _kifmm.ERR_NONFINITE_INPUT),
                  (OutOfMemoryError, _kifmm.ERR_OUT_OF_MEMORY), (NumericalError, _kifmm.ERR_NUMERICAL),
                  (InternalError, _kifmm.ERR_INTERNAL)):
    _cls.status, _cls.status_name = _st, _kifmm.status_string(_st)
del _cls, _st

KERNELS = {"laplace": _kifmm.KERNEL_LAPLACE, "yukawa": _kifmm.KERNEL_YUKAWA, "stokes": _kifmm.KERNEL_STOKES}
_DIMS = {_kifmm.KERNEL_LAPLACE: (1, 1), _kifmm.KERNEL_YUKAWA: (1, 1), _kifmm.KERNEL_STOKES: (3, 3)}

Result = collections.namedtuple("Result", ["pot", "grad", "hess"])
Result.__doc__ = """What Fmm.evaluate and direct return: (pot, grad, hess); an output not asked for is None.

With nt targets, nd density sets and the kernel's target dimension tdim (1 for Laplace and Yukawa,
3 for Stokes), and the nd axis present only when the densities were given with one:
    pot  (nt,) | (nt, nd) | (nt, 3) | (nt, 3, nd)            potentials / Stokes velocities
    grad (nt, 3) | (nt, 3, nd) | (nt, 3, 3) | (nt, 3, 3, nd)  d pot[..a..] / d target[c], c last before nd
    hess (nt, 6) | (nt, 6, nd)                                xx, yy, zz, xy, xz, yz (Laplace, Yukawa)
These are the C library's kifmm_eval_desc layouts (the density set index fastest), without a copy."""


# ---- fork: GNU OpenMP's thread pool does not survive fork(); a forked child that starts an
# OpenMP region with more than one thread after the parent ran one hangs. Children forked after
# kifmm was used (multiprocessing's default start method on Linux) therefore run on one thread.
_used = False        # this process has called into the library (OpenMP threads may exist)
_forked = False      # this process was forked after that


def _after_fork_in_child():
    global _forked
    if _used:
        _forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _threads(threads):
    """the threads argument for the library: 0 = OpenMP's default, and 1 in a child forked after
    kifmm ran (with a warning, once)"""
    global _used
    t = _int_arg(threads, "threads", 0, 0)
    _used = True
    if _forked and t != 1 and (t > 1 or _kifmm.max_threads() > 1):
        if not getattr(_threads, "warned", False):
            _threads.warned = True
            warnings.warn("kifmm: this process was forked after kifmm ran, and GNU OpenMP cannot start threads "
                          "in it (it would hang): kifmm runs on one thread here. For parallel children use "
                          "multiprocessing's 'spawn' or 'forkserver' start method.", RuntimeWarning, stacklevel=3)
        return 1
    return t


def order_for_tolerance(tolerance):
    """The expansion order kifmm picks for a tolerance (kifmm_order_for_tolerance)."""
    return _kifmm.order_for_tolerance(float(tolerance))


def build_info():
    """How the loaded extension was compiled: {'isa': 'x86-64-v4' | 'x86-64-v3' | 'baseline' | 'native',
    'cblas': bool (OpenBLAS through CBLAS), 'openmp': bool, 'native': bool (KIFMM_NATIVE=1)}, and
    'cpu_level': the x86-64 level of this CPU (1..4)."""
    info = _kifmm.build_info()
    info["cpu_level"] = _baseline.isa_level()
    return info


# ---- input checking ---------------------------------------------------------------------------
def _invalid(message):
    return InvalidArgumentError(message)


def _f64(x, name):
    """x as a float64 ndarray (no copy when it is one): real dtypes convert, others raise TypeError."""
    a = np.asarray(x)
    if a.dtype != np.float64:
        if a.dtype.kind not in "biuf":
            raise TypeError("%s: expected real numbers (float64), got an array of dtype %s" % (name, a.dtype))
        a = a.astype(np.float64)
    return a


def _points(x, name):
    """points of shape (n, 3) as a C-contiguous float64 array (no copy when it is one)"""
    if x is None:
        raise _invalid("%s: points are required (a float64 array of shape (n, 3))" % name)
    a = _f64(x, name)
    if a.ndim != 2 or a.shape[1] != 3:
        hint = " (fmm3dpy's (3, n) layout is taken by kifmm.lfmm3d only: pass x.T here)" if (
            a.ndim == 2 and a.shape[0] == 3) else ""
        raise _invalid("%s has shape %s: expected (n, 3)%s" % (name, a.shape, hint))
    return np.ascontiguousarray(a)


def _int_arg(v, name, default, lo=None, hi=None):
    if v is None:
        return default
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError("%s must be an integer or None, not %r" % (name, v)) from None
    if (lo is not None and i < lo) or (hi is not None and i > hi):
        raise _invalid("%s = %d is out of range" % (name, i))
    return i


def _float_arg(v, name, default):
    if v is None:
        return default
    if not isinstance(v, numbers.Real):
        raise TypeError("%s must be a real number or None, not %r" % (name, v))
    return float(v)


def _kernel_kind(kernel):
    if callable(kernel):
        raise NotImplementedError("user kernels (KIFMM_KERNEL_USER) are available from C only; from Python the "
                                  "kernel is one of %s" % ", ".join(sorted(KERNELS)))
    if not isinstance(kernel, str) or kernel.lower() not in KERNELS:
        raise _invalid("kernel = %r: expected one of %s" % (kernel, ", ".join(repr(k) for k in KERNELS)))
    return KERNELS[kernel.lower()]


def _fmt(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _densities(charges, dipoles, ns, sdim):
    """charges / dipoles as C-contiguous float64 arrays in kifmm's layout, their nd, and whether they
    carried an explicit nd axis"""
    nds, axis, q, d = [], False, None, None
    if charges is not None:
        q = _f64(charges, "charges")
        base = (ns,) if sdim == 1 else (ns, sdim)
        if q.shape == base:
            nds.append(("charges", 1))
        elif q.ndim == len(base) + 1 and q.shape[:-1] == base and q.shape[-1] >= 1:
            nds.append(("charges", q.shape[-1]))
            axis = True
        else:
            raise _invalid("charges%s has shape %s: expected %s or %s" % (
                " (Stokes forces)" if sdim > 1 else "", q.shape, _fmt(base), _fmt(base + ("nd",))))
        q = np.ascontiguousarray(q)
    if dipoles is not None:
        d = _f64(dipoles, "dipoles")
        if d.shape == (ns, 3):
            nds.append(("dipoles", 1))
        elif d.ndim == 3 and d.shape[:2] == (ns, 3) and d.shape[2] >= 1:
            nds.append(("dipoles", d.shape[2]))
            axis = True
        else:
            raise _invalid("dipoles has shape %s: expected (%d, 3) or (%d, 3, nd)" % (d.shape, ns, ns))
        d = np.ascontiguousarray(d)
    if len(nds) == 2 and nds[0][1] != nds[1][1]:
        raise _invalid("nd mismatch: charges carry %d density sets, dipoles %d" % (nds[0][1], nds[1][1]))
    nd = nds[0][1] if nds else 1
    return q, d, nd, axis


def _shape_outputs(raw, nt, tdim, nd, axis):
    pot, grad, hess = raw
    ax = (nd,) if axis else ()
    vec = (tdim,) if tdim > 1 else ()
    if pot is not None:
        pot = pot.reshape((nt,) + vec + ax)
    if grad is not None:
        grad = grad.reshape((nt,) + vec + (3,) + ax)
    if hess is not None:
        hess = hess.reshape((nt, 6) + ax)
    return Result(pot, grad, hess)


# ---- the FMM object -----------------------------------------------------------------------------
class Fmm:
    """A kifmm object: the octree over sources and targets and every precomputed operator.

    Fmm(sources, targets=None, order=None, tolerance=None, leaf_size=None, threads=None,
        kernel="laplace", kernel_param=None, nd=1, *, max_depth=None, m2l_tolerance=None,
        m2l_rank=None, seed=None, box=None)

    sources, targets: float64 arrays of shape (n, 3) (C-contiguous float64 is used without a copy;
        anything else real is converted). targets=None evaluates at the sources themselves (the
        same array is handed to kifmm_create; the self-interaction is excluded).
    order: expansion order 2..16; default chosen from tolerance, else 6.
    tolerance: wanted relative error of the potential (used when order is None).
    leaf_size: points per leaf (default: by order, kifmm_default_leaf_size). threads: OpenMP threads (None = OpenMP's default).
    kernel: "laplace" (1 / (4 pi r)), "yukawa" (exp(-lambda r) / (4 pi r), kernel_param = lambda > 0)
        or "stokes" (Stokeslet, kernel_param = viscosity mu, default 1). User kernels are C-only.
    nd: the most density sets one evaluate takes (FMM3D's nd).
    max_depth, m2l_tolerance, m2l_rank, seed, box: kifmm_config's fields of the same names
        (box = (x, y, z, half width), a fixed root cube).

    Use as a context manager, or call close(), to free the C object's memory at once.
    """

    def __init__(self, sources, targets=None, order=None, tolerance=None, leaf_size=None, threads=None,
                 kernel="laplace", kernel_param=None, nd=1, *, max_depth=None, m2l_tolerance=None,
                 m2l_rank=None, seed=None, box=None):
        kind = _kernel_kind(kernel)
        self._kind = kind
        self._kernel = kernel.lower()
        self._sdim, self._tdim = _DIMS[kind]
        self._nd = _int_arg(nd, "nd", 1, 1, _kifmm.MAX_ND)
        s = _points(sources, "sources")
        t = None if targets is None else _points(targets, "targets")
        nthreads = _threads(threads)
        self._pid = os.getpid()
        self._nthreads = nthreads or _kifmm.max_threads()      # what the library resolves 0 to
        self._core = _kifmm.Core(
            s, t, order=_int_arg(order, "order", 0, 2, 16), tolerance=_float_arg(tolerance, "tolerance", 0.0),
            leaf_size=_int_arg(leaf_size, "leaf_size", 0, 1), threads=nthreads,
            kind=kind, param=_float_arg(kernel_param, "kernel_param", 0.0), nd=self._nd,
            max_depth=_int_arg(max_depth, "max_depth", 0, 1), m2l_tolerance=_float_arg(m2l_tolerance, "m2l_tolerance", 0.0),
            m2l_rank=_int_arg(m2l_rank, "m2l_rank", 0, 0), seed=_int_arg(seed, "seed", 0, 0, 2**64 - 1),
            box=None if box is None else tuple(float(b) for b in box))

    # -- properties
    @property
    def nsources(self):
        return self._core.nsources

    @property
    def ntargets(self):
        return self._core.ntargets

    @property
    def kernel(self):
        return self._kernel

    @property
    def nd(self):
        """the most density sets one evaluate takes"""
        return self._nd

    @property
    def stats(self):
        """kifmm_get_stats as a dict: depth, leaves, boxes, bytes, seconds_tree, seconds_precompute,
        seconds_evaluate (the last evaluate, timed inside the C library), seconds_op (a dict by
        operator: P2M M2M M2L L2L L2P M2P P2L P2P), order, m2l_rank."""
        return self._core.stats()

    @property
    def closed(self):
        return self._core.closed

    def __repr__(self):
        if self.closed:
            return "<kifmm.Fmm closed>"
        st = self.stats
        return "<kifmm.Fmm %s: %d sources, %d targets, order %d, depth %d, nd %d>" % (
            self._kernel, self.nsources, self.ntargets, st["order"], st["depth"], self._nd)

    def close(self):
        """Free the C object now (it is freed with the Python object otherwise). Idempotent."""
        self._core.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- work
    def evaluate(self, charges=None, dipoles=None, gradient=False, hessian=False, *, potential=True):
        """Potentials (and gradients, Hessians) at every target due to all sources.

        charges: (ns,) or (ns, nd); Stokes: forces (ns, 3) or (ns, 3, nd).
        dipoles: (ns, 3) or (ns, 3, nd) (Laplace, Yukawa): a dipole v at y gives v . (x - y) / (4 pi
            |x - y|^3) at x for Laplace (FMM3D's convention, v . grad_y G).
        gradient, hessian: also return them (Hessians: Laplace and Yukawa only).
        potential=False: skip the potentials (then pot is None).

        Returns Result(pot, grad, hess), a namedtuple (see kifmm.Result for the shapes): always the
        same type, so `r = fmm.evaluate(q)` then r.pot, or `pot, grad, hess = fmm.evaluate(q, gradient=True)`.
        The nd axis of the outputs is there exactly when the inputs had one. Results are in the
        caller's point order.
        """
        self._check_process()
        q, d, nd, axis = _densities(charges, dipoles, self.nsources, self._sdim)
        if nd > self._nd:
            raise _invalid("the densities carry %d sets but this Fmm was created with nd=%d (Fmm(..., nd=%d))"
                           % (nd, self._nd, nd))
        raw = self._core.evaluate(q, d, nd=nd, potential=bool(potential), gradient=bool(gradient),
                                  hessian=bool(hessian))
        return _shape_outputs(raw, self.ntargets, self._tdim, nd, axis)

    def set_points(self, sources, targets=None):
        """Replace the points (counts may change); the precomputed operators are kept.
        targets=None: evaluate at the new sources."""
        self._check_process()
        s = _points(sources, "sources")
        t = None if targets is None else _points(targets, "targets")
        self._core.set_points(s, t)

    def _check_process(self):
        if self._pid != os.getpid() and self._nthreads > 1:
            raise RuntimeError("kifmm: this Fmm was created in another process with %d threads and this process "
                               "is a fork of it: GNU OpenMP cannot run threads here (it would hang). Create the Fmm "
                               "in this process (it then runs on one thread), pass threads=1 when creating it, or "
                               "use multiprocessing's 'spawn' or 'forkserver' start method." % self._nthreads)


def direct(sources, targets=None, charges=None, dipoles=None, gradient=False, hessian=False, kernel="laplace",
           kernel_param=None, threads=None, *, potential=True):
    """The O(ns nt) direct sum (kifmm_direct_ex) with the same kernel, conventions, arguments and
    Result as Fmm(sources, targets, kernel=..., kernel_param=...).evaluate(charges, dipoles, ...).
    targets=None: at the sources (self-interaction excluded). For tests and small problems."""
    kind = _kernel_kind(kernel)
    sdim, tdim = _DIMS[kind]
    s = _points(sources, "sources")
    t = None if targets is None else _points(targets, "targets")
    q, d, nd, axis = _densities(charges, dipoles, s.shape[0], sdim)
    raw = _kifmm.direct(s, t, q, d, nd=nd, potential=bool(potential), gradient=bool(gradient),
                        hessian=bool(hessian), kind=kind, param=_float_arg(kernel_param, "kernel_param", 0.0),
                        threads=_threads(threads))
    return _shape_outputs(raw, s.shape[0] if t is None else t.shape[0], tdim, nd, axis)


from ._fmm3d import (Output, comperr, em3ddir, emfmm3d, h3ddir, hfmm3d, l3ddir, lfmm3d, st3ddir,  # noqa: E402
                     stfmm3d)
