/* _kifmm.c - the C half of the Python package kifmm: a thin layer over kifmm.h.

   Everything shape-related (which array means what, output shapes, fmm3dpy's layouts) is done in
   kifmm/__init__.py; this file takes C-contiguous float64 arrays in kifmm's own interleaved
   layouts, checks their sizes again (memory safety does not depend on the Python layer), releases
   the GIL around every call that does real work, and turns a failed status into an exception that
   carries the library's logger message.

   Logger: the library copies config.logger into the object at kifmm_create and logs only from
   serial code. Each Core object owns its message buffer (the logger's user pointer), and every call
   on a Core holds that object's lock, so no two threads ever write one buffer; kifmm_direct_ex gets
   a buffer on the calling C function's stack. There is no global buffer.

   The per-object lock also enforces the library's rule "one object from two threads may not": a
   second Python thread calling into the same Core waits (with the GIL released) until the first
   call returns. Two different Core objects run concurrently.

   Instruction sets: setup.py compiles this file up to three times, as kifmm._kifmm (baseline
   x86-64, or -march=native with KIFMM_NATIVE=1), kifmm._kifmm_v3 (-march=x86-64-v3: AVX2, FMA) and
   kifmm._kifmm_v4 (-march=x86-64-v4: AVX-512), through the one-line _kifmm_v3.c / _kifmm_v4.c that
   set KIFMM_PY_MODNAME; kifmm/__init__.py asks the baseline module's isa_level() which of them the
   CPU runs and imports the best. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <stdio.h>
#include <string.h>

#ifndef KIFMM_PY_MODNAME
#define KIFMM_PY_MODNAME _kifmm
#endif
#ifndef KIFMM_PY_ISA
#define KIFMM_PY_ISA "baseline"
#endif
#define KIFMM_PY_STR2(x) #x
#define KIFMM_PY_STR(x) KIFMM_PY_STR2(x)
#define KIFMM_PY_CAT2(a, b) a##b
#define KIFMM_PY_CAT(a, b) KIFMM_PY_CAT2(a, b)
#define KIFMM_PY_NAME "kifmm." KIFMM_PY_STR(KIFMM_PY_MODNAME)

/* built with -fvisibility=hidden: the extension exports PyInit__kifmm only */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"

/* ---- errors -------------------------------------------------------------------------------- */
static PyObject *KifmmError, *InvalidArgumentError, *NonFiniteInputError, *OutOfMemoryError, *NumericalError,
    *InternalError;

#define LOG_CAP 1024
typedef struct logbuf {
    char text[LOG_CAP];
    size_t len;
} logbuf;

static void logbuf_reset(logbuf *b) {
    b->len = 0;
    b->text[0] = 0;
}

/* the library's kifmm_logger: appends (a failure may log a cause and then its consequence) */
static void log_to_buffer(kifmm_status st, const char *message, void *user) {
    logbuf *b = (logbuf *)user;
    size_t room;
    int n;
    (void)st;
    if (!b || !message) return;
    if (b->len >= LOG_CAP - 1) return;
    room = LOG_CAP - b->len;
    n = snprintf(b->text + b->len, room, "%s%s", b->len ? "; " : "", message);
    if (n < 0) return;
    b->len = (size_t)n >= room ? LOG_CAP - 1 : b->len + (size_t)n;
}

static PyObject *class_for_status(kifmm_status st) {
    switch (st) {
    case KIFMM_ERR_INVALID_ARGUMENT: return InvalidArgumentError;
    case KIFMM_ERR_NONFINITE_INPUT: return NonFiniteInputError;
    case KIFMM_ERR_OUT_OF_MEMORY: return OutOfMemoryError;
    case KIFMM_ERR_NUMERICAL: return NumericalError;
    case KIFMM_ERR_INTERNAL: return InternalError;
    default: return KifmmError;
    }
}

/* raise the exception of st: "what: library message", with .status, .status_name, .log */
static PyObject *raise_status(kifmm_status st, const char *what, const logbuf *log) {
    PyObject *cls = class_for_status(st), *exc, *msg, *v;
    const char *lib = log && log->len ? log->text : "";
    msg = PyUnicode_FromFormat("%s: %s", what, lib[0] ? lib : kifmm_status_string(st));
    if (!msg) return NULL;
    exc = PyObject_CallFunctionObjArgs(cls, msg, NULL);
    Py_DECREF(msg);
    if (!exc) return NULL;
    if (!(v = PyLong_FromLong((long)st)) || PyObject_SetAttrString(exc, "status", v) < 0) goto bad;
    Py_DECREF(v);
    if (!(v = PyUnicode_FromString(kifmm_status_string(st))) || PyObject_SetAttrString(exc, "status_name", v) < 0)
        goto bad;
    Py_DECREF(v);
    if (!(v = PyUnicode_FromString(lib)) || PyObject_SetAttrString(exc, "log", v) < 0) goto bad;
    Py_DECREF(v);
    PyErr_SetObject(cls, exc);
    Py_DECREF(exc);
    return NULL;
bad:
    Py_XDECREF(v);
    Py_DECREF(exc);
    return NULL;
}

/* ---- arrays -------------------------------------------------------------------------------- */
/* obj as a C-contiguous, aligned float64 array of exactly `count` elements (a new reference, a copy
   only when obj is not one already); NULL with an exception otherwise */
/* obj as a C-contiguous, aligned float64 array (a copy only when obj is not one already) */
static PyArrayObject *as_float64(PyObject *obj, const char *name) {
    if (!PyArray_Check(obj) || PyArray_TYPE((PyArrayObject *)obj) != NPY_DOUBLE) {
        PyErr_Format(PyExc_TypeError, "%s must be a float64 NumPy array", name);
        return NULL;
    }
    return (PyArrayObject *)PyArray_FROMANY(obj, NPY_DOUBLE, 0, 0, NPY_ARRAY_IN_ARRAY);
}

static PyArrayObject *as_doubles(PyObject *obj, npy_intp count, const char *name) {
    PyArrayObject *a = as_float64(obj, name);
    if (!a) return NULL;
    if (PyArray_SIZE(a) != count) {
        PyErr_Format(InvalidArgumentError, "%s has %zd values, %zd expected", name, (Py_ssize_t)PyArray_SIZE(a),
                     (Py_ssize_t)count);
        Py_DECREF(a);
        return NULL;
    }
    return a;
}

/* points: a float64 array of 3 n values; sets *n */
static PyArrayObject *as_points(PyObject *obj, size_t *n, const char *name) {
    PyArrayObject *a = as_float64(obj, name);
    if (!a) return NULL;
    if (PyArray_SIZE(a) % 3) {
        PyErr_Format(InvalidArgumentError, "%s has %zd values, not a multiple of 3", name, (Py_ssize_t)PyArray_SIZE(a));
        Py_DECREF(a);
        return NULL;
    }
    *n = (size_t)(PyArray_SIZE(a) / 3);
    return a;
}

static PyArrayObject *new_output(size_t count) {
    npy_intp dim = (npy_intp)count;
    return (PyArrayObject *)PyArray_EMPTY(1, &dim, NPY_DOUBLE, 0);   /* the library overwrites every value */
}

/* ---- kernel helpers ------------------------------------------------------------------------ */
static int kernel_dims(int kind, int *sdim, int *tdim) {
    switch (kind) {
    case KIFMM_KERNEL_LAPLACE: case KIFMM_KERNEL_YUKAWA: *sdim = *tdim = 1; return 0;
    case KIFMM_KERNEL_STOKES: *sdim = *tdim = 3; return 0;
    default:
        PyErr_Format(InvalidArgumentError, "kernel kind %d is not supported from Python (laplace = 0, yukawa = 1, "
                     "stokes = 2)", kind);
        return -1;
    }
}

/* the evaluation shared by Core.evaluate and direct: outputs allocated, desc filled */
typedef struct eval_args {
    PyArrayObject *q, *dip, *pot, *grad, *hess;
    kifmm_eval_desc desc;
} eval_args;

static void eval_args_free(eval_args *e) {
    Py_XDECREF(e->q);
    Py_XDECREF(e->dip);
    Py_XDECREF(e->pot);
    Py_XDECREF(e->grad);
    Py_XDECREF(e->hess);
}

static int eval_args_fill(eval_args *e, PyObject *charges, PyObject *dipoles, int nd, int want_pot, int want_grad,
                          int want_hess, size_t ns, size_t nt, int sdim, int tdim) {
    memset(e, 0, sizeof *e);
    if (nd < 1) {
        PyErr_Format(InvalidArgumentError, "nd = %d: at least one density set", nd);
        return -1;
    }
    e->desc.nd = nd;
    if (charges != Py_None) {
        if (!(e->q = as_doubles(charges, (npy_intp)(ns * (size_t)sdim * (size_t)nd), "charges"))) return -1;
        e->desc.charges = (const double *)PyArray_DATA(e->q);
    }
    if (dipoles != Py_None) {
        if (!(e->dip = as_doubles(dipoles, (npy_intp)(ns * 3 * (size_t)nd), "dipoles"))) return -1;
        e->desc.dipoles = (const double *)PyArray_DATA(e->dip);
    }
    if (want_pot) {
        if (!(e->pot = new_output(nt * (size_t)tdim * (size_t)nd))) return -1;
        e->desc.potentials = (double *)PyArray_DATA(e->pot);
    }
    if (want_grad) {
        if (!(e->grad = new_output(nt * (size_t)tdim * 3 * (size_t)nd))) return -1;
        e->desc.gradients = (double *)PyArray_DATA(e->grad);
    }
    if (want_hess) {
        if (!(e->hess = new_output(nt * 6 * (size_t)nd))) return -1;
        e->desc.hessians = (double *)PyArray_DATA(e->hess);
    }
    return 0;
}

static PyObject *eval_args_result(eval_args *e) {
    PyObject *r = PyTuple_New(3);
    PyArrayObject *out[3];
    int i;
    if (!r) return NULL;
    out[0] = e->pot; out[1] = e->grad; out[2] = e->hess;
    for (i = 0; i < 3; i++) {
        PyObject *o = out[i] ? (PyObject *)out[i] : Py_None;
        Py_INCREF(o);
        PyTuple_SET_ITEM(r, i, o);
    }
    return r;
}

/* ---- Core: one kifmm object ---------------------------------------------------------------- */
typedef struct CoreObject {
    PyObject_HEAD
    kifmm *fmm;
    PyThread_type_lock lock;
    logbuf log;                 /* the logger's user pointer: stable, the object never moves */
    size_t ns, nt;
    int sdim, tdim, nd, kind;
} CoreObject;

/* the object's lock, waiting with the GIL released */
static void core_lock(CoreObject *self) {
    if (!PyThread_acquire_lock(self->lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
}

static void core_unlock(CoreObject *self) { PyThread_release_lock(self->lock); }

static PyObject *core_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    CoreObject *self;
    (void)args;
    (void)kw;
    self = (CoreObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->fmm = NULL;
    self->lock = PyThread_allocate_lock();
    if (!self->lock) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    logbuf_reset(&self->log);
    return (PyObject *)self;
}

static void core_dealloc(CoreObject *self) {
    kifmm_destroy(self->fmm);
    self->fmm = NULL;
    if (self->lock) PyThread_free_lock(self->lock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* the points of a create / set_points: sources, targets (None = the same array) */
static int get_points(PyObject *sources, PyObject *targets, PyArrayObject **sa, PyArrayObject **ta, size_t *ns,
                      size_t *nt) {
    *sa = *ta = NULL;
    if (!(*sa = as_points(sources, ns, "sources"))) return -1;
    if (targets == Py_None) {
        *nt = *ns;
        return 0;
    }
    if (!(*ta = as_points(targets, nt, "targets"))) {
        Py_CLEAR(*sa);
        return -1;
    }
    return 0;
}

static int core_init(CoreObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"sources", "targets", "order", "tolerance", "leaf_size", "threads", "kind", "param", "nd",
                            "max_depth", "m2l_tolerance", "m2l_rank", "seed", "box", NULL};
    PyObject *sources, *targets = Py_None, *box = Py_None;
    int order = 0, leaf_size = 0, threads = 0, kind = 0, nd = 1, max_depth = 0, m2l_rank = 0;
    double tolerance = 0, param = 0, m2l_tolerance = 0;
    unsigned long long seed = 0;
    PyArrayObject *sa = NULL, *ta = NULL;
    kifmm_config cfg;
    kifmm *fmm = NULL;
    kifmm_status st;
    size_t ns, nt;
    const double *s, *t;
    int sdim, tdim;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OidiiidiidiKO", names, &sources, &targets, &order, &tolerance,
                                     &leaf_size, &threads, &kind, &param, &nd, &max_depth, &m2l_tolerance, &m2l_rank,
                                     &seed, &box))
        return -1;
    if (self->fmm) {
        PyErr_SetString(PyExc_RuntimeError, "Core is already initialised");
        return -1;
    }
    if (kernel_dims(kind, &sdim, &tdim)) return -1;
    memset(&cfg, 0, sizeof cfg);
    cfg.order = order;
    cfg.tolerance = tolerance;
    cfg.leaf_size = leaf_size;
    cfg.threads = threads;
    cfg.nd = nd;
    cfg.max_depth = max_depth;
    cfg.m2l_tolerance = m2l_tolerance;
    cfg.m2l_rank = m2l_rank;
    cfg.seed = seed;
    cfg.kernel.kind = (kifmm_kernel_kind)kind;
    cfg.kernel.param = param;
    if (box != Py_None) {
        PyObject *seq = PySequence_Fast(box, "box must be a sequence of 4 numbers (x, y, z, half width)");
        Py_ssize_t i;
        if (!seq) return -1;
        if (PySequence_Fast_GET_SIZE(seq) != 4) {
            Py_DECREF(seq);
            PyErr_SetString(InvalidArgumentError, "box must be a sequence of 4 numbers (x, y, z, half width)");
            return -1;
        }
        for (i = 0; i < 4; i++) {
            cfg.box[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
            if (cfg.box[i] == -1.0 && PyErr_Occurred()) { Py_DECREF(seq); return -1; }
        }
        Py_DECREF(seq);
    }
    cfg.logger.log_fn = log_to_buffer;
    cfg.logger.user = &self->log;
    if (get_points(sources, targets, &sa, &ta, &ns, &nt)) return -1;
    s = (const double *)PyArray_DATA(sa);
    t = ta ? (const double *)PyArray_DATA(ta) : s;      /* targets = sources: the same pointer */
    core_lock(self);
    logbuf_reset(&self->log);
    Py_BEGIN_ALLOW_THREADS
    st = kifmm_create(&fmm, &cfg, s, ns, t, nt);
    Py_END_ALLOW_THREADS
    if (st == KIFMM_OK) {
        self->fmm = fmm;
        self->ns = ns;
        self->nt = nt;
        self->sdim = sdim;
        self->tdim = tdim;
        self->nd = nd;
        self->kind = kind;
    } else {
        raise_status(st, "kifmm_create", &self->log);
    }
    core_unlock(self);
    Py_DECREF(sa);
    Py_XDECREF(ta);
    return st == KIFMM_OK ? 0 : -1;
}

static int core_check_open(CoreObject *self) {
    if (!self->fmm) {
        PyErr_SetString(PyExc_ValueError, "this Fmm object is closed");
        return -1;
    }
    return 0;
}

static PyObject *core_evaluate(CoreObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"charges", "dipoles", "nd", "potential", "gradient", "hessian", NULL};
    PyObject *charges = Py_None, *dipoles = Py_None, *result = NULL;
    int nd = 1, want_pot = 1, want_grad = 0, want_hess = 0;
    eval_args e;
    kifmm_status st;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOippp", names, &charges, &dipoles, &nd, &want_pot, &want_grad,
                                     &want_hess))
        return NULL;
    core_lock(self);   /* ns / nt are read under the lock: a concurrent set_points cannot change them */
    if (core_check_open(self)) goto done;
    if (eval_args_fill(&e, charges, dipoles, nd, want_pot, want_grad, want_hess, self->ns, self->nt, self->sdim,
                       self->tdim))
        goto fail;
    logbuf_reset(&self->log);
    Py_BEGIN_ALLOW_THREADS
    st = kifmm_evaluate_ex(self->fmm, &e.desc);
    Py_END_ALLOW_THREADS
    if (st != KIFMM_OK) raise_status(st, "kifmm_evaluate_ex", &self->log);
    else result = eval_args_result(&e);
fail:
    eval_args_free(&e);
done:
    core_unlock(self);
    return result;
}

static PyObject *core_set_points(CoreObject *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"sources", "targets", NULL};
    PyObject *sources, *targets = Py_None;
    PyArrayObject *sa, *ta;
    size_t ns, nt;
    const double *s, *t;
    kifmm_status st = KIFMM_OK;
    int failed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O", names, &sources, &targets)) return NULL;
    if (get_points(sources, targets, &sa, &ta, &ns, &nt)) return NULL;
    s = (const double *)PyArray_DATA(sa);
    t = ta ? (const double *)PyArray_DATA(ta) : s;
    core_lock(self);
    if (core_check_open(self)) {
        failed = 1;
    } else {
        logbuf_reset(&self->log);
        Py_BEGIN_ALLOW_THREADS
        st = kifmm_set_points(self->fmm, s, ns, t, nt);
        Py_END_ALLOW_THREADS
        if (st == KIFMM_OK) {
            self->ns = ns;
            self->nt = nt;
        } else {
            raise_status(st, "kifmm_set_points", &self->log);
            failed = 1;
        }
    }
    core_unlock(self);
    Py_DECREF(sa);
    Py_XDECREF(ta);
    if (failed) return NULL;
    Py_RETURN_NONE;
}

static const char *const op_names[8] = {"P2M", "M2M", "M2L", "L2L", "L2P", "M2P", "P2L", "P2P"};

static int dict_set(PyObject *d, const char *key, PyObject *v) {
    int r;
    if (!v) return -1;
    r = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return r;
}

static PyObject *core_stats(CoreObject *self, PyObject *unused) {
    kifmm_stats s;
    kifmm_status st;
    PyObject *d = NULL, *ops;
    int i, bad = 0;
    (void)unused;
    core_lock(self);
    if (core_check_open(self)) { core_unlock(self); return NULL; }
    st = kifmm_get_stats(self->fmm, &s);
    core_unlock(self);
    if (st != KIFMM_OK) return raise_status(st, "kifmm_get_stats", NULL);
    if (!(d = PyDict_New())) return NULL;
    bad |= dict_set(d, "depth", PyLong_FromLong(s.depth));
    bad |= dict_set(d, "leaves", PyLong_FromSize_t(s.leaves));
    bad |= dict_set(d, "boxes", PyLong_FromSize_t(s.boxes));
    bad |= dict_set(d, "bytes", PyLong_FromSize_t(s.bytes));
    bad |= dict_set(d, "seconds_tree", PyFloat_FromDouble(s.seconds_tree));
    bad |= dict_set(d, "seconds_precompute", PyFloat_FromDouble(s.seconds_precompute));
    bad |= dict_set(d, "seconds_evaluate", PyFloat_FromDouble(s.seconds_evaluate));
    if (!(ops = PyDict_New())) { Py_DECREF(d); return NULL; }
    for (i = 0; i < 8; i++) bad |= dict_set(ops, op_names[i], PyFloat_FromDouble(s.seconds_op[i]));
    bad |= dict_set(d, "seconds_op", ops);
    bad |= dict_set(d, "order", PyLong_FromLong(s.order));
    bad |= dict_set(d, "m2l_rank", PyLong_FromLong(s.m2l_rank));
    bad |= dict_set(d, "leaf_size", PyLong_FromLong(s.leaf_size));
    bad |= dict_set(d, "m2l_tolerance", PyFloat_FromDouble(s.m2l_tolerance));
    if (bad) { Py_DECREF(d); return NULL; }
    return d;
}

static PyObject *core_close(CoreObject *self, PyObject *unused) {
    (void)unused;
    core_lock(self);
    kifmm_destroy(self->fmm);
    self->fmm = NULL;
    core_unlock(self);
    Py_RETURN_NONE;
}

static PyObject *core_get_ns(CoreObject *self, void *closure) { (void)closure; return PyLong_FromSize_t(self->ns); }
static PyObject *core_get_nt(CoreObject *self, void *closure) { (void)closure; return PyLong_FromSize_t(self->nt); }
static PyObject *core_get_closed(CoreObject *self, void *closure) { (void)closure; return PyBool_FromLong(!self->fmm); }

static PyGetSetDef core_getset[] = {
    {"nsources", (getter)core_get_ns, NULL, "number of sources", NULL},
    {"ntargets", (getter)core_get_nt, NULL, "number of targets", NULL},
    {"closed", (getter)core_get_closed, NULL, "True after close()", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMethodDef core_methods[] = {
    {"evaluate", (PyCFunction)(void (*)(void))core_evaluate, METH_VARARGS | METH_KEYWORDS,
     "evaluate(charges=None, dipoles=None, nd=1, potential=True, gradient=False, hessian=False) -> "
     "(pot, grad, hess), flat float64 arrays in kifmm's layouts or None"},
    {"set_points", (PyCFunction)(void (*)(void))core_set_points, METH_VARARGS | METH_KEYWORDS,
     "set_points(sources, targets=None)"},
    {"stats", (PyCFunction)core_stats, METH_NOARGS, "kifmm_get_stats as a dict"},
    {"close", (PyCFunction)core_close, METH_NOARGS, "kifmm_destroy now (idempotent)"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = KIFMM_PY_NAME ".Core",
    .tp_basicsize = sizeof(CoreObject),
    .tp_itemsize = 0,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Core(sources, targets=None, order=0, tolerance=0, leaf_size=0, threads=0, kind=0, param=0, nd=1, "
              "max_depth=0, m2l_tolerance=0, m2l_rank=0, seed=0, box=None): one kifmm object. Low level: use kifmm.Fmm.",
    .tp_methods = core_methods,
    .tp_getset = core_getset,
    .tp_init = (initproc)core_init,
    .tp_new = core_new,
};

/* ---- module functions ---------------------------------------------------------------------- */
static PyObject *mod_direct(PyObject *mod, PyObject *args, PyObject *kw) {
    static char *names[] = {"sources", "targets", "charges", "dipoles", "nd", "potential", "gradient", "hessian",
                            "kind", "param", "threads", NULL};
    PyObject *sources, *targets = Py_None, *charges = Py_None, *dipoles = Py_None, *result = NULL;
    int nd = 1, want_pot = 1, want_grad = 0, want_hess = 0, kind = 0, threads = 0, sdim, tdim;
    double param = 0;
    PyArrayObject *sa, *ta;
    size_t ns, nt;
    const double *s, *t;
    kifmm_config cfg;
    eval_args e;
    kifmm_status st;
    logbuf log;                                   /* this call's own message buffer */
    (void)mod;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOOipppidi", names, &sources, &targets, &charges, &dipoles, &nd,
                                     &want_pot, &want_grad, &want_hess, &kind, &param, &threads))
        return NULL;
    if (kernel_dims(kind, &sdim, &tdim)) return NULL;
    if (get_points(sources, targets, &sa, &ta, &ns, &nt)) return NULL;
    s = (const double *)PyArray_DATA(sa);
    t = ta ? (const double *)PyArray_DATA(ta) : s;
    if (eval_args_fill(&e, charges, dipoles, nd, want_pot, want_grad, want_hess, ns, nt, sdim, tdim)) goto fail;
    memset(&cfg, 0, sizeof cfg);
    cfg.kernel.kind = (kifmm_kernel_kind)kind;
    cfg.kernel.param = param;
    cfg.nd = nd;
    cfg.threads = threads;
    logbuf_reset(&log);
    cfg.logger.log_fn = log_to_buffer;
    cfg.logger.user = &log;
    Py_BEGIN_ALLOW_THREADS
    if (kind == KIFMM_KERNEL_LAPLACE && nd == 1 && e.desc.charges && !e.desc.dipoles && !e.desc.hessians &&
        e.desc.potentials) {
        /* Laplace charges, potentials (+ gradients): kifmm_direct's loop, measured 10x faster than
           kifmm_direct_ex's general one (the same sum); threads bounded as kifmm does it. On a
           failure kifmm_direct_ex below repeats the checks, to log which item was bad. */
#ifdef _OPENMP
        int old = omp_get_max_threads();
        if (threads > 0) omp_set_num_threads(threads);
#endif
        st = kifmm_direct(s, ns, e.desc.charges, t, nt, e.desc.potentials, e.desc.gradients);
#ifdef _OPENMP
        omp_set_num_threads(old);
#endif
        if (st != KIFMM_OK) st = kifmm_direct_ex(&cfg, s, ns, t, nt, &e.desc);
    } else {
        st = kifmm_direct_ex(&cfg, s, ns, t, nt, &e.desc);
    }
    Py_END_ALLOW_THREADS
    if (st != KIFMM_OK) raise_status(st, "kifmm_direct_ex", &log);
    else result = eval_args_result(&e);
fail:
    eval_args_free(&e);
    Py_DECREF(sa);
    Py_XDECREF(ta);
    return result;
}

static PyObject *mod_version(PyObject *mod, PyObject *unused) {
    (void)mod;
    (void)unused;
    return PyUnicode_FromString(kifmm_version());
}

static PyObject *mod_status_string(PyObject *mod, PyObject *arg) {
    long v = PyLong_AsLong(arg);
    (void)mod;
    if (v == -1 && PyErr_Occurred()) return NULL;
    return PyUnicode_FromString(kifmm_status_string((kifmm_status)v));
}

static PyObject *mod_order_for_tolerance(PyObject *mod, PyObject *arg) {
    double tol = PyFloat_AsDouble(arg);
    (void)mod;
    if (tol == -1.0 && PyErr_Occurred()) return NULL;
    return PyLong_FromLong(kifmm_order_for_tolerance(tol));
}

static PyObject *mod_build_info(PyObject *mod, PyObject *unused) {
    (void)mod;
    (void)unused;
    return Py_BuildValue("{s:s,s:N,s:N,s:N}", "isa", KIFMM_PY_ISA,
#ifdef KIFMM_USE_CBLAS
                         "cblas", PyBool_FromLong(1),
#else
                         "cblas", PyBool_FromLong(0),
#endif
#ifdef _OPENMP
                         "openmp", PyBool_FromLong(1),
#else
                         "openmp", PyBool_FromLong(0),
#endif
#ifdef KIFMM_PY_NATIVE
                         "native", PyBool_FromLong(1)
#else
                         "native", PyBool_FromLong(0)
#endif
    );
}

/* the x86-64 micro-architecture level this CPU (and OS) runs: 1 baseline, 2, 3 (AVX2, FMA, BMI2),
   4 (AVX-512 F, BW, CD, DQ, VL); 1 where it cannot tell or on other architectures */
static PyObject *mod_isa_level(PyObject *mod, PyObject *unused) {
    long level = 1;
    (void)mod;
    (void)unused;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
#if !defined(__clang__) && __GNUC__ >= 12
    if (__builtin_cpu_supports("x86-64-v2")) level = 2;
    if (level == 2 && __builtin_cpu_supports("x86-64-v3")) level = 3;
    if (level == 3 && __builtin_cpu_supports("x86-64-v4")) level = 4;
#else
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2")) level = 3;
    if (level == 3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        level = 4;
#endif
#endif
    return PyLong_FromLong(level);
}

/* omp_get_max_threads(): the thread count a call with threads = 0 runs */
static PyObject *mod_max_threads(PyObject *mod, PyObject *unused) {
    (void)mod;
    (void)unused;
#ifdef _OPENMP
    return PyLong_FromLong((long)omp_get_max_threads());
#else
    return PyLong_FromLong(1);
#endif
}

static PyMethodDef mod_methods[] = {
    {"max_threads", mod_max_threads, METH_NOARGS, "omp_get_max_threads() (1 without OpenMP)"},
    {"isa_level", mod_isa_level, METH_NOARGS, "x86-64 level the CPU runs: 1 (baseline) .. 4 (AVX-512)"},
    {"direct", (PyCFunction)(void (*)(void))mod_direct, METH_VARARGS | METH_KEYWORDS,
     "direct(sources, targets=None, charges=None, dipoles=None, nd=1, potential=True, gradient=False, hessian=False, "
     "kind=0, param=0, threads=0) -> (pot, grad, hess): kifmm_direct_ex, flat arrays"},
    {"version", mod_version, METH_NOARGS, "kifmm_version()"},
    {"status_string", mod_status_string, METH_O, "kifmm_status_string(status)"},
    {"order_for_tolerance", mod_order_for_tolerance, METH_O, "kifmm_order_for_tolerance(tolerance)"},
    {"build_info", mod_build_info, METH_NOARGS, "how this extension was compiled: {isa, cblas, openmp, native}"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT,
    .m_name = KIFMM_PY_NAME,
    .m_doc = "C layer of kifmm (kifmm.h): use the package kifmm",
    .m_size = -1,
    .m_methods = mod_methods,
};

/* an exception class kifmm.<name> with the given bases, added to the module */
static PyObject *new_error(PyObject *m, const char *name, PyObject *bases, const char *doc) {
    char full[64];
    PyObject *cls;
    snprintf(full, sizeof full, "kifmm.%s", name);
    cls = PyErr_NewExceptionWithDoc(full, doc, bases, NULL);
    if (!cls) return NULL;
    Py_INCREF(cls);
    if (PyModule_AddObject(m, name, cls) < 0) {
        Py_DECREF(cls);
        Py_DECREF(cls);
        return NULL;
    }
    return cls;
}

static PyObject *new_error2(PyObject *m, const char *name, PyObject *base2, const char *doc) {
    PyObject *bases = PyTuple_Pack(2, KifmmError, base2), *cls;
    if (!bases) return NULL;
    cls = new_error(m, name, bases, doc);
    Py_DECREF(bases);
    return cls;
}

PyMODINIT_FUNC KIFMM_PY_CAT(PyInit_, KIFMM_PY_MODNAME)(void) {
    PyObject *m;
    import_array();
    if (PyType_Ready(&CoreType) < 0) return NULL;
    m = PyModule_Create(&moddef);
    if (!m) return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(m);
        return NULL;
    }
    if (!(KifmmError = new_error(m, "KifmmError", PyExc_RuntimeError,
                                 "A kifmm call failed. .status is the library's kifmm_status (int), .status_name its "
                                 "text, .log the library's logger message (it names the offending item).")) ||
        !(InvalidArgumentError = new_error2(m, "InvalidArgumentError", PyExc_ValueError,
                                            "KIFMM_ERR_INVALID_ARGUMENT (also a ValueError)")) ||
        !(NonFiniteInputError = new_error2(m, "NonFiniteInputError", PyExc_ValueError,
                                           "KIFMM_ERR_NONFINITE_INPUT: NaN or Inf in points or densities (also a "
                                           "ValueError)")) ||
        !(OutOfMemoryError = new_error2(m, "OutOfMemoryError", PyExc_MemoryError,
                                        "KIFMM_ERR_OUT_OF_MEMORY (also a MemoryError)")) ||
        !(NumericalError = new_error(m, "NumericalError", KifmmError, "KIFMM_ERR_NUMERICAL")) ||
        !(InternalError = new_error(m, "InternalError", KifmmError, "KIFMM_ERR_INTERNAL: a bug, please report"))) {
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "OK", KIFMM_OK);
    PyModule_AddIntConstant(m, "ERR_INVALID_ARGUMENT", KIFMM_ERR_INVALID_ARGUMENT);
    PyModule_AddIntConstant(m, "ERR_NONFINITE_INPUT", KIFMM_ERR_NONFINITE_INPUT);
    PyModule_AddIntConstant(m, "ERR_OUT_OF_MEMORY", KIFMM_ERR_OUT_OF_MEMORY);
    PyModule_AddIntConstant(m, "ERR_NUMERICAL", KIFMM_ERR_NUMERICAL);
    PyModule_AddIntConstant(m, "ERR_INTERNAL", KIFMM_ERR_INTERNAL);
    PyModule_AddIntConstant(m, "KERNEL_LAPLACE", KIFMM_KERNEL_LAPLACE);
    PyModule_AddIntConstant(m, "KERNEL_YUKAWA", KIFMM_KERNEL_YUKAWA);
    PyModule_AddIntConstant(m, "KERNEL_STOKES", KIFMM_KERNEL_STOKES);
    PyModule_AddIntConstant(m, "MAX_ND", KIFMM_MAX_ND);
    return m;
}
