/* kifmm.h - kernel-independent fast multipole method in 3D, header-only C.

   phi(y_j) = sum_i q_i / (4 pi |x_i - y_j|) and its gradient at millions of targets in O(N);
   also dipoles, Hessians and several density sets at once (FMM3D's nd), and other kernels:
   Yukawa, Stokes, or the caller's own.

   USAGE
     #define KIFMM_IMPLEMENTATION   (in exactly one .c file)
     #include "kifmm.h"             (pulls in kifmm_tree.h and kifmm_ops.h)

     kifmm *fmm;
     kifmm_config cfg = {0};                 // zero = defaults: Laplace, order 6, leaf_size by order
     cfg.tolerance = 1e-6;                   // or cfg.order = 8
     kifmm_create(&fmm, &cfg, sources, ns, targets, nt);   // xyz interleaved
     kifmm_evaluate(fmm, charges, potentials, gradients);  // gradients may be NULL
     kifmm_destroy(fmm);

   Everything else goes through kifmm_evaluate_ex and a kifmm_eval_desc: charges and/or dipoles
   in, any of potentials / gradients / Hessians out, up to config.nd density sets, in FMM3D's
   layouts (the set index fastest). config.kernel picks the kernel (see kifmm_ops.h).

   Optional macros before the include: KIFMM_STATIC (private copy per translation unit),
   KIFMM_USE_CBLAS (default GEMM = cblas_dgemm; link -lopenblas), KIFMM_ASSERT(x), KIFMM_DEF
   (the storage class of every public function). Build with -fopenmp for threads; without it
   everything runs on one thread. It compiles as C99 and as C++11 or later.

   Implementations: KIFMM_IMPLEMENTATION gives the kifmm_* functions of this header, with the
   tree and the operators compiled in privately (static). The octree's own public functions
   (kifmm_tree_build, kifmm_key_*, ...) come with KIFMM_TREE_IMPLEMENTATION, in the same file or
   another one. Any mix of the two, in one or several files, links; each once in the program.
   With KIFMM_STATIC a file gets a private copy of everything, the tree's functions included.

   Threads: config.threads (0 = the OpenMP default) bounds every parallel region. Called from
   inside the caller's own OpenMP parallel region, kifmm's regions are nested and run on one
   thread each unless the caller enabled nested parallelism (no deadlock, no oversubscription;
   results bitwise those of config.threads = 1). With nesting enabled each call runs
   config.threads threads of its own: set config.threads = 1 there to avoid oversubscription.
   Two objects may be used from two threads at once; one object from two threads may not.

   Root cube: by default the tree's root is the bounding cube of the sources and targets, taken
   anew by every kifmm_set_points. config.box = {x, y, z, half width} fixes it instead: a domain
   that stays put while particles move, or a root larger than the points. The second changes
   where the leaf grid falls: uniform points per leaf jump 8x from one depth to the next
   (10^6 points in the unit cube: 244 at depth 4, 31 at depth 5), and a root 1.6x the points'
   cube gives depth-5 leaves of about 110 (README "Performance": at order 8 the evaluation of
   10^6 + 10^6 points went from 2.42 to 2.01 s; 1.5x gave nothing, so measure).
   Points outside the box are an error (KIFMM_ERR_INVALID_ARGUMENT, the logger names the point).

   Operators: a kernel with a homogeneity degree (Laplace, Stokes, a user kernel with a finite
   homogeneity) has one operator set for every level, precomputed once by kifmm_create. Yukawa
   and user kernels without one have a set per level of the tree: kifmm_set_points builds them
   again only when the root cube's size changed (a fixed config.box never does), and adds the
   levels a deeper tree needs.

   Failures: every entry validates its input before touching any state and returns a status
   (README "Failure behaviour"); a logger, if set, gets a message naming the offending item.

   Nothing is read from the environment or written to disk; there is no global state.
   MIT licence at the end of kifmm_tree.h.

   WHERE THINGS ARE (grep the markers)
     ==== API            config, descriptor, functions
     ==== CONFIG         defaults, validation of config and points, the tolerance table
     ==== OBJECT         create, set_points, destroy, stats; the operator sets per level
     ==== EVALUATE       kifmm_evaluate(_ex): checks, sorted inputs, the passes
     ==== DIRECT         kifmm_direct(_ex): the O(N^2) references
*/
#ifndef KIFMM_H
#define KIFMM_H

#include "kifmm_tree.h"
#include "kifmm_ops.h"

#define KIFMM_VERSION_MAJOR 0
#define KIFMM_VERSION_MINOR 2
#define KIFMM_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* ==== API ===================================================================================== */
typedef struct kifmm_config {  /* zero means default for every field */
    int    order;              /* expansion order p, 2..16; default: chosen from tolerance, else 6 */
    double tolerance;          /* wanted relative error of the potential; used when order == 0 */
    int    leaf_size;          /* max points per leaf (ncrit); default by order, kifmm_default_leaf_size */
    int    max_depth;          /* deepest tree level, 1..KIFMM_MAX_DEPTH; 0 = the default, KIFMM_MAX_DEPTH */
    double m2l_tolerance;      /* relative singular-value cut-off of the M2L compression; default tied to order */
    int    m2l_rank;           /* fixed compression rank k; 0 = chosen from the tolerance */
    int    threads;            /* 0 = OpenMP default */
    unsigned long long seed;   /* seed of the randomized SVD; 0 = a fixed default (results are reproducible) */
    double box[4];             /* root cube {x, y, z, half width}; half width 0 = the points' bounding cube.
                                  every point must lie in it (see "Root cube" above) */
    int    nd;                 /* the most density sets one evaluation takes (FMM3D's nd), 1..KIFMM_MAX_ND; 0 = 1 */
    kifmm_kernel kernel;       /* all-zero = Laplace (kifmm_ops.h) */
    kifmm_allocator allocator;
    kifmm_blas      blas;
    kifmm_logger    logger;
} kifmm_config;

#define KIFMM_MAX_ND 4096      /* config.nd above this is taken for a mistake */

typedef struct kifmm kifmm;    /* opaque: tree, precomputed operators, work buffers */

typedef struct kifmm_stats {   /* filled by kifmm_get_stats after create / evaluate */
    int    depth;              /* deepest level of the tree */
    size_t leaves, boxes;      /* leaf count, all boxes */
    size_t bytes;              /* bytes currently held from the allocator */
    double seconds_tree;       /* tree + interaction lists */
    double seconds_precompute; /* operators (surfaces, pseudo-inverses, M2M/L2L, M2L + SVD) */
    double seconds_evaluate;   /* the last kifmm_evaluate, total */
    double seconds_op[8];      /* last evaluate per operator, indexed by kifmm_op (kifmm_ops.h) */
    int    order;              /* expansion order actually used */
    int    m2l_rank;           /* compression rank actually used (the largest over the levels' sets) */
    int    leaf_size;          /* the leaf size used (config.leaf_size, or the order's default) */
    double m2l_tolerance;      /* the M2L tolerance used */
} kifmm_stats;

/* One evaluation (kifmm_evaluate_ex, kifmm_direct_ex): zero-initialise; an unset pointer is not
   given / not wanted. sdim / tdim are the kernel's dimensions (1 and 1 for Laplace and Yukawa, 3
   and 3 for Stokes); with nd = 1 and sdim = tdim = 1 every layout is the plain one. */
typedef struct kifmm_eval_desc {
    int           nd;              /* density sets in this call, 1..config.nd; 0 = 1 */
    const double *charges;         /* charges[(i*sdim + b)*nd + d], i < nsources, b < sdim, d < nd */
    const double *dipoles;         /* Laplace and Yukawa only: dipoles[(3*i + c)*nd + d], c = x, y, z */
    double       *potentials;      /* potentials[(j*tdim + a)*nd + d], j < ntargets, a < tdim */
    double       *gradients;       /* gradients[((j*tdim + a)*3 + c)*nd + d]: d(potential a)/d(target c) */
    double       *hessians;        /* Laplace and Yukawa only: hessians[(6*j + c)*nd + d],
                                      c in the order xx, yy, zz, xy, xz, yz */
} kifmm_eval_desc;

KIFMM_DEF const char  *kifmm_status_string(kifmm_status s);   /* never NULL */
KIFMM_DEF const char  *kifmm_version(void);
KIFMM_DEF kifmm_status kifmm_create(kifmm **out, const kifmm_config *config,
                          const double *sources, size_t nsources,
                          const double *targets, size_t ntargets);
KIFMM_DEF kifmm_status kifmm_evaluate(kifmm *fmm, const double *charges, double *potentials, double *gradients);
/* Outputs are overwritten. At least one input when there are sources, one output when there are
   targets. A dipole of moment v at y gives v . (x - y) / (4 pi |x - y|^3) at x (Laplace; = v .
   grad_y G). A source at exactly a target's position contributes nothing, whatever it carries. */
KIFMM_DEF kifmm_status kifmm_evaluate_ex(kifmm *fmm, const kifmm_eval_desc *desc);
KIFMM_DEF kifmm_status kifmm_set_points(kifmm *fmm, const double *sources, size_t nsources,
                              const double *targets, size_t ntargets);
KIFMM_DEF kifmm_status kifmm_get_stats(const kifmm *fmm, kifmm_stats *stats);
KIFMM_DEF void         kifmm_destroy(kifmm *fmm);
KIFMM_DEF kifmm_status kifmm_direct(const double *sources, size_t nsources, const double *charges,
                          const double *targets, size_t ntargets, double *potentials, double *gradients);
/* the O(ns nt) sum of kifmm_evaluate_ex; config: its kernel, nd, threads and logger (NULL: Laplace) */
KIFMM_DEF kifmm_status kifmm_direct_ex(const kifmm_config *config,
                             const double *sources, size_t nsources,
                             const double *targets, size_t ntargets,
                             const kifmm_eval_desc *desc);

/* extras beyond API.md */
/* kifmm_direct_ex that adds into the outputs (FMM3D's direct routines) and also skips the pairs
   closer than thresh (at most thresh apart; a user kernel skips only coincident ones) */
KIFMM_DEF kifmm_status kifmm_direct_add(const kifmm_config *config,
                             const double *sources, size_t nsources,
                             const double *targets, size_t ntargets,
                             const kifmm_eval_desc *desc, double thresh);
KIFMM_DEF int          kifmm_order_for_tolerance(double tolerance);  /* the calibrated table, see README */
KIFMM_DEF double       kifmm_default_m2l_tolerance(int order);
KIFMM_DEF int          kifmm_default_leaf_size(int order, kifmm_kernel_kind kind);   /* leaf_size == 0 */

#ifdef __cplusplus
}
#endif
#endif /* KIFMM_H */

/* =========================================================================================== */
#if defined(KIFMM_IMPLEMENTATION) && !defined(KIFMM_IMPLEMENTED)
#define KIFMM_IMPLEMENTED
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

struct kifmm {
    kifmm_config  cfg;                 /* resolved: every default filled in */
    kifmm__kernel kern;                /* the kernel at the points' scale */
    kifmm__kernel far;                 /* the operators' kernel: kern, or Laplace for Stokes (four
                                          harmonic densities per set carry its far field) */
    kifmm_tree    tree;
    kifmm__ops   *ops;                 /* nops operator sets: one, or one per level */
    int           nops, per_level;
    double        ops_hw;              /* per level: the root half-width the sets were built for */
    kifmm__eval   eval;
    kifmm_stats   stats;
    /* a distributed object (kifmm_mpi.h): its own entry points, its state, and the exchange run
       between the upward and the downward pass; all NULL on one node */
    const struct kifmm__dist_vt *dist;
    void         *dist_state;
    void        (*mid)(kifmm *f);
};

typedef struct kifmm__dist_vt {
    kifmm_status (*evaluate)(kifmm *f, const kifmm_eval_desc *desc);
    kifmm_status (*set_points)(kifmm *f, const double *s, size_t ns, const double *t, size_t nt);
    kifmm_status (*stats)(const kifmm *f, kifmm_stats *s);
    void (*destroy)(kifmm *f);
} kifmm__dist_vt;

KIFMM_DEF const char *kifmm_status_string(kifmm_status s) {
    switch (s) {
    case KIFMM_OK: return "ok";
    case KIFMM_ERR_INVALID_ARGUMENT: return "invalid argument";
    case KIFMM_ERR_NONFINITE_INPUT: return "non-finite input (NaN or Inf)";
    case KIFMM_ERR_OUT_OF_MEMORY: return "out of memory";
    case KIFMM_ERR_NUMERICAL: return "numerical failure";
    case KIFMM_ERR_INTERNAL: return "internal error (a bound or invariant was violated: please report)";
    }
    return "unknown status";
}

/* ==== CONFIG ================================================================================== */
KIFMM_DEF const char *kifmm_version(void) { return "0.2.0"; }

/* the lowest order of 3 .. 15 whose measured reach (reach[p - 3]) is at most tol, else 16 */
static int kifmm__order_from_reach(const double reach[13], double tol) {
    int i;
    for (i = 0; i < 13; i++)
        if (reach[i] <= tol) return i + 3;
    return 16;
}

/* measured (bench/order_table.c, README "Choosing the settings"): the lowest order whose worst
   relative L2 potential error over the test distributions is at most the tolerance */
KIFMM_DEF int kifmm_order_for_tolerance(double tol) {
    /* the worst error measured at orders 3 .. 15 (rounded up to two digits), with no further
       margin: the worst distribution is the margin; two held-back distributions, and 10^6 points
       of the cube and the sphere at the default leaf sizes, stay below it at every order */
    static const double reach[13] = {2.1e-3, 2.2e-4, 2.3e-5, 2.9e-6, 3.5e-7, 5.1e-8, 7.9e-9,
                                     2.2e-9, 1.6e-10, 3.0e-11, 5.0e-12, 2.1e-12, 3.7e-13};
    return kifmm__order_from_reach(reach, tol);
}

/* Stokes's own (bench/order_table.c ... stokes, README "Kernels"): the velocity's worst error
   over the same distributions, held back ones included, and over 10^6 cube points at orders 3-8;
   its velocity and gradient are derivatives of harmonic densities, so it reaches 10-45 times
   Laplace's error at one order */
static int kifmm__stokes_order_for_tolerance(double tol) {
    static const double reach[13] = {1.1e-2, 2.2e-3, 2.4e-4, 3.4e-5, 4.6e-6, 9.0e-7, 1.3e-7,
                                     6.9e-8, 3.8e-9, 7.4e-10, 4.4e-10, 2.0e-10, 5.3e-11};
    return kifmm__order_from_reach(reach, tol);
}

KIFMM_DEF double kifmm_default_m2l_tolerance(int order) {
    return pow(10.0, -(double)order);
}

/* measured (bench/tune.sh, README "Choosing the settings"): the fastest leaf size of each order,
   where the M2L's cost, which grows with the order, is balanced against the near field's. Laplace
   only; the other kernels keep 150, where they were measured. */
KIFMM_DEF int kifmm_default_leaf_size(int order, kifmm_kernel_kind kind) {
    static const short leaf[17] = {0, 0, 100, 100, 100, 150, 150, 400, 400, 400, 400, 600, 600, 600, 900, 900, 900};
    if (kind != KIFMM_KERNEL_LAPLACE || order < 2 || order > 16) return 150;
    return leaf[order];
}

/* config.threads bounds every parallel region of a call, including the tree build and the
   precomputation: set the calling thread's own OpenMP thread count and give it back after */
static int kifmm__threads_begin(int threads) {
#ifdef _OPENMP
    int old = omp_get_max_threads();
    if (threads > 0) omp_set_num_threads(threads);
    return old;
#else
    (void)threads;
    return 1;
#endif
}

static void kifmm__threads_end(int old) {
#ifdef _OPENMP
    omp_set_num_threads(old);
#else
    (void)old;
#endif
}

static void kifmm__log(const kifmm_config *c, kifmm_status st, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    if (!c || !c->logger.log_fn) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->logger.log_fn(st, msg, c->logger.user);
}

/* Coordinates beyond +-KIFMM_MAX_COORDINATE are rejected: squared distances between such points
   would overflow to Inf (and 0 * Inf = NaN in the gradient), in kifmm and in kifmm_direct alike. */
#define KIFMM_MAX_COORDINATE 1e150
#define KIFMM_MAX_THREADS 4096           /* config.threads above this is taken for a mistake */

/* NULL with a non-zero count, counts whose 3 * n * 64 bytes overflow size_t, NaN / Inf, and
   coordinates beyond KIFMM_MAX_COORDINATE; the message names the first offending point */
static kifmm_status kifmm__check_points(const kifmm_config *c, const double *x, size_t n, const char *what) {
    size_t i;
    if (n && !x) {
        kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "%zu %s given but the array is NULL", n, what);
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    if (n > ((size_t)-1) / (3 * 64)) {
        kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "%zu %s: too many for size_t arithmetic", n, what);
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    for (i = 0; i < 3 * n; i++)
        if (!(x[i] - x[i] == 0)) {
            kifmm__log(c, KIFMM_ERR_NONFINITE_INPUT, "point %zu of the %s has a non-finite coordinate (%c = %g)",
                       i / 3, what, "xyz"[i % 3], x[i]);
            return KIFMM_ERR_NONFINITE_INPUT;
        }
    for (i = 0; i < 3 * n; i++)
        if (fabs(x[i]) > KIFMM_MAX_COORDINATE) {
            kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "point %zu of the %s has %c = %g, beyond +-%g (rescale the "
                       "problem: squared distances would overflow)", i / 3, what, "xyz"[i % 3], x[i],
                       KIFMM_MAX_COORDINATE);
            return KIFMM_ERR_INVALID_ARGUMENT;
        }
    return KIFMM_OK;
}

static kifmm_status kifmm__check_charges(const kifmm_config *c, const double *q, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!(q[i] - q[i] == 0)) {
            kifmm__log(c, KIFMM_ERR_NONFINITE_INPUT, "charge %zu is not finite (%g)", i, q[i]);
            return KIFMM_ERR_NONFINITE_INPUT;
        }
    return KIFMM_OK;
}

/* the kernel of config.kernel as data, or a message naming the field that is wrong */
static kifmm_status kifmm__resolve_kernel(const kifmm_config *c, kifmm__kernel *k) {
    const kifmm_kernel *in = &c->kernel;
    double p = in->param;
    memset(k, 0, sizeof *k);
    k->kind = (int)in->kind;
    k->sdim = k->tdim = 1;
    k->c = KIFMM_INV_4PI;
    switch (in->kind) {
    case KIFMM_KERNEL_LAPLACE: k->h = -1; return KIFMM_OK;
    case KIFMM_KERNEL_YUKAWA:
        if (!(p > 0) || p > 1e300) {
            kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "config.kernel.param: Yukawa's lambda must be finite and > 0 (is %g)", p);
            return KIFMM_ERR_INVALID_ARGUMENT;
        }
        k->lambda = p;
        k->h = NAN;
        return KIFMM_OK;
    case KIFMM_KERNEL_STOKES:
        if (p == 0) p = 1;
        if (!(p > 0) || p > 1e300) {
            kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "config.kernel.param: Stokes's viscosity mu must be finite and > 0 "
                       "(is %g; 0 means 1)", p);
            return KIFMM_ERR_INVALID_ARGUMENT;
        }
        k->sdim = k->tdim = 3;
        k->c = 1.0 / (8 * 3.14159265358979323846 * p);
        k->h = -1;
        return KIFMM_OK;
    case KIFMM_KERNEL_USER:
        if (!in->eval) {
            kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "config.kernel.eval is NULL (a user kernel needs its function)");
            return KIFMM_ERR_INVALID_ARGUMENT;
        }
        if (in->source_dim < 1 || in->source_dim > KIFMM__MAX_KDIM || in->target_dim < 1 ||
            in->target_dim > KIFMM__MAX_KDIM) {
            kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "config.kernel.%s = %d is outside 1..%d",
                       in->source_dim < 1 || in->source_dim > KIFMM__MAX_KDIM ? "source_dim" : "target_dim",
                       in->source_dim < 1 || in->source_dim > KIFMM__MAX_KDIM ? in->source_dim : in->target_dim,
                       KIFMM__MAX_KDIM);
            return KIFMM_ERR_INVALID_ARGUMENT;
        }
        if (in->homogeneity - in->homogeneity != 0 && in->homogeneity == in->homogeneity) {
            kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "config.kernel.homogeneity is infinite (a finite degree, or NAN "
                       "for none)");
            return KIFMM_ERR_INVALID_ARGUMENT;
        }
        k->sdim = in->source_dim;
        k->tdim = in->target_dim;
        k->c = 1;
        k->h = in->homogeneity;
        k->eval = in->eval;
        k->user = in->user;
        return KIFMM_OK;
    }
    kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "config.kernel.kind = %d is not a kifmm_kernel_kind", (int)in->kind);
    return KIFMM_ERR_INVALID_ARGUMENT;
}

static kifmm_status kifmm__resolve(const kifmm_config *in, kifmm_config *c, kifmm__kernel *k) {
    if (in) *c = *in; else memset(c, 0, sizeof *c);
#define KIFMM__BAD(cond, what, val)                                                            \
    if (cond) {                                                                                \
        kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "config." what ": %g is out of range", (double)(val)); \
        return KIFMM_ERR_INVALID_ARGUMENT;                                                     \
    }
    KIFMM__BAD(c->order != 0 && (c->order < 2 || c->order > 16), "order (2..16)", c->order);
    KIFMM__BAD(c->leaf_size < 0, "leaf_size (>= 0)", c->leaf_size);
    KIFMM__BAD(c->max_depth < 0 || c->max_depth > KIFMM_MAX_DEPTH, "max_depth (0..KIFMM_MAX_DEPTH = 19)", c->max_depth);
    KIFMM__BAD(c->m2l_rank < 0, "m2l_rank (>= 0)", c->m2l_rank);
    KIFMM__BAD(c->threads < 0 || c->threads > KIFMM_MAX_THREADS, "threads (0..4096)", c->threads);
    KIFMM__BAD(c->nd < 0 || c->nd > KIFMM_MAX_ND, "nd (0..KIFMM_MAX_ND = 4096)", c->nd);
    KIFMM__BAD(!(c->tolerance >= 0) || c->tolerance > 1e300, "tolerance (finite, >= 0)", c->tolerance);
    KIFMM__BAD(!(c->m2l_tolerance >= 0) || c->m2l_tolerance >= 1, "m2l_tolerance (0 <= t < 1)", c->m2l_tolerance);
    KIFMM__BAD((!c->allocator.alloc_fn) != (!c->allocator.free_fn), "allocator (set both functions or neither)", 0);
    KIFMM__BAD(!(c->box[3] >= 0) || c->box[3] > KIFMM_MAX_COORDINATE, "box[3], the half width (0..1e150)", c->box[3]);
    KIFMM__BAD(c->box[3] > 0 && (!kifmm__box_ok(c->box) || fabs(c->box[0]) > KIFMM_MAX_COORDINATE ||
                                 fabs(c->box[1]) > KIFMM_MAX_COORDINATE || fabs(c->box[2]) > KIFMM_MAX_COORDINATE),
               "box (centre finite and within +-1e150, half width >= 64 ulps of it)", c->box[3]);
#undef KIFMM__BAD
    if (kifmm__resolve_kernel(c, k) != KIFMM_OK) return KIFMM_ERR_INVALID_ARGUMENT;
    if (c->order == 0 && c->tolerance > 0)   /* Stokes has its own table, the others Laplace's */
        c->order = k->kind == KIFMM_KERNEL_STOKES ? kifmm__stokes_order_for_tolerance(c->tolerance)
                                                  : kifmm_order_for_tolerance(c->tolerance);
    if (c->order == 0) c->order = 6;
    if (c->leaf_size == 0) c->leaf_size = kifmm_default_leaf_size(c->order, c->kernel.kind);
    if (c->max_depth == 0) c->max_depth = KIFMM_MAX_DEPTH;
    if (c->m2l_tolerance == 0) c->m2l_tolerance = kifmm_default_m2l_tolerance(c->order);
    if (c->seed == 0) c->seed = 0x6b69666d6d2d3031ULL;
    if (c->nd == 0) c->nd = 1;
#ifdef _OPENMP
    if (c->threads == 0) c->threads = omp_get_max_threads();
#else
    c->threads = 1;
#endif
    return KIFMM_OK;
}

/* every check on a point set, before any expensive work: NULL with a count, NaN / Inf, range, and
   (with config.box) a point outside the root cube, each logged with the point it names */
static kifmm_status kifmm__validate_points(const kifmm_config *c, const double *s, size_t ns, const double *t,
                                           size_t nt) {
    kifmm_status st = kifmm__check_points(c, s, ns, "sources");
    size_t bad;
    if (st == KIFMM_OK) st = kifmm__check_points(c, t, nt, "targets");
    if (st != KIFMM_OK || !(c->box[3] > 0)) return st;
    bad = kifmm__outside(s, ns, t, nt, c->box);
    if (bad != (size_t)-1) {
        const double *p = bad < ns ? s + 3 * bad : t + 3 * (bad - ns);
        kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "point %zu of the %s (%g, %g, %g) lies outside config.box "
                   "(centre (%g, %g, %g), half width %g)", bad < ns ? bad : bad - ns, bad < ns ? "sources" : "targets",
                   p[0], p[1], p[2], c->box[0], c->box[1], c->box[2], c->box[3]);
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    return KIFMM_OK;
}

/* A user kernel's declared homogeneity, checked where it costs nothing: K(2 x) = 2^h K(x) at a few
   displacements x, for each source component. A wrong degree (a forgotten NAN: zero means degree
   0) would scale every operator set wrongly and give wrong results silently. */
static kifmm_status kifmm__check_homogeneity(const kifmm_config *c, const kifmm__kernel *k) {
    static const double xs[4][3] = {{1, 0.3, -0.2}, {-0.4, 0.9, 0.5}, {0.2, -0.7, 1.3}, {0.05, 0.04, 0.03}};
    double zero[3] = {0, 0, 0}, dens[KIFMM__MAX_KDIM], v1[KIFMM__MAX_KDIM], v2[KIFMM__MAX_KDIM], f;
    int i, b, a;
    if (k->kind != KIFMM_KERNEL_USER || k->h != k->h) return KIFMM_OK;
    f = pow(2.0, k->h);
    for (i = 0; i < 4; i++)
        for (b = 0; b < k->sdim; b++) {
            double x2[3];
            for (a = 0; a < 3; a++) x2[a] = 2 * xs[i][a];
            for (a = 0; a < k->sdim; a++) dens[a] = a == b;
            memset(v1, 0, sizeof v1);
            memset(v2, 0, sizeof v2);
            k->eval(xs[i], 1, zero, 1, dens, v1, k->user);
            k->eval(x2, 1, zero, 1, dens, v2, k->user);
            for (a = 0; a < k->tdim; a++) {
                if (!(v1[a] - v1[a] == 0) || !(v2[a] - v2[a] == 0)) {
                    kifmm__log(c, KIFMM_ERR_NUMERICAL, "config.kernel.eval gave a non-finite value at a distance of %g",
                               sqrt(xs[i][0] * xs[i][0] + xs[i][1] * xs[i][1] + xs[i][2] * xs[i][2]));
                    return KIFMM_ERR_NUMERICAL;
                }
                if (fabs(v2[a] - f * v1[a]) > 1e-9 * (fabs(v2[a]) + fabs(f * v1[a])) + 1e-300) {
                    kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, "config.kernel.homogeneity = %g does not hold: K(2x) = %g, "
                               "2^h K(x) = %g (component %d of source component %d); set it to NAN if the kernel has "
                               "none", k->h, v2[a], f * v1[a], a, b);
                    return KIFMM_ERR_INVALID_ARGUMENT;
                }
            }
        }
    return KIFMM_OK;
}

/* ==== OBJECT ================================================================================== */
static void kifmm__ops_array_free(const kifmm_allocator *al, kifmm__ops *ops, int n, int owned_from) {
    int i;
    if (!ops) return;
    for (i = owned_from; i < n; i++) kifmm__ops_free(&ops[i]);
    kifmm__free(al, ops, (size_t)n * sizeof *ops);
}

#ifdef KIFMM_USE_CBLAS
/* the built-in GEMM as a hook: the sets built side by side must not call a threaded cblas_dgemm
   from inside the parallel region (only there: kifmm_create inside the caller's parallel region
   keeps the CBLAS results of a one-thread run) */
static void kifmm__builtin_hook(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
                                const double *b, int ldb, double beta, double *c, int ldc, void *user) {
    (void)user;
    kifmm__dgemm_builtin(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#endif

/* Set l of a tree (l < 2 of a per-level kernel: no M2L, there are no V lists there) */
static kifmm_status kifmm__build_set(const kifmm *f, const kifmm_tree *t, kifmm__ops *o, int l,
                                     const kifmm_blas *blas) {
    const kifmm_config *c = &f->cfg;
    kifmm__kernel k = f->far;
    int per_level = f->per_level;
    double w = per_level ? t->half_width / (double)((uint64_t)1 << l) : 1.0, w0 = 1.0;
    if (per_level && k.kind == KIFMM_KERNEL_YUKAWA) k.lambda = f->far.lambda * w;   /* on the unit box */
    if (per_level && k.kind == KIFMM_KERNEL_USER) { w0 = w; k.h = 0; }
    return kifmm__ops_build(o, &c->allocator, blas, &k, w0, c->order, c->m2l_rank, c->m2l_tolerance, c->seed,
                            !per_level || l >= 2);
}

/* Sets reuse .. n-1 into ops. Several per-level sets are built side by side, one thread each (the
   M2L levels first, levels 0 and 1 are cheap): a set's build has many small parallel regions and
   serial stretches (the sector SVDs, the core recompression's tail), and one thread per set keeps
   both cores busy. Each set is then built exactly as with config.threads = 1 and no CBLAS (with
   CBLAS its GEMMs take the built-in one: a threaded cblas_dgemm must not run inside a parallel
   region). Only with the built-in allocator (a caller's is called from the calling thread only).
   On failure the sets built are freed. */
static kifmm_status kifmm__build_sets(const kifmm *f, const kifmm_tree *t, kifmm__ops *ops, int reuse, int n) {
    const kifmm_config *c = &f->cfg;
    kifmm_status st = KIFMM_OK;
    int order[KIFMM_MAX_DEPTH + 1], built[KIFMM_MAX_DEPTH + 1], l, m = 0, side = 0, i, nthr = 1;
    kifmm_blas side_blas = c->blas;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
#ifdef KIFMM_USE_CBLAS
    if (!side_blas.dgemm) side_blas.dgemm = kifmm__builtin_hook;
#endif
    if (f->per_level && nthr > 1 && n - reuse > 1 && !c->allocator.alloc_fn && !kifmm__in_parallel()) {
        int m2l = 0;
        for (l = reuse > 2 ? reuse : 2; l < n; l++) m2l++;
        side = m2l - m2l % nthr;         /* whole rounds of M2L sets side by side, then the cheap ones; */
        for (l = reuse > 2 ? reuse : 2; l < n && m < side; l++) order[m++] = l;
        for (l = reuse; l < 2 && l < n; l++) order[m++] = l;
        side = m;                        /* the M2L sets a last round would leave a thread idle beside */
        for (l = n - m2l % nthr; l < n; l++) order[m++] = l;   /* come after, with all the threads */
        if (side < 2) side = 0;          /* (one alone: with all the threads too) */
    } else
        for (l = reuse; l < n; l++) order[m++] = l;
    for (l = 0; l < n; l++) built[l] = 0;
    KIFMM__OMP(omp parallel for schedule(dynamic, 1) num_threads(nthr < side ? nthr : side) if (side >= 2))
    for (i = 0; i < side; i++) {
        kifmm_status si;
#ifdef _OPENMP
        omp_set_num_threads(1);                         /* (this thread's nested regions only) */
#endif
        si = kifmm__build_set(f, t, &ops[order[i]], order[i], &side_blas);
        built[order[i]] = si == KIFMM_OK ? 1 : -(int)si;
    }
    for (i = 0; i < side; i++) if (built[order[i]] < 0 && st == KIFMM_OK) st = (kifmm_status)-built[order[i]];
    for (i = side; i < m && st == KIFMM_OK; i++) {     /* the rest with all the threads, up to a failure */
        st = kifmm__build_set(f, t, &ops[order[i]], order[i], &c->blas);
        built[order[i]] = st == KIFMM_OK;
    }
    if (st != KIFMM_OK) {
        kifmm__log(c, st, "precomputing the operators of order %d%s failed: %s", c->order,
                   f->per_level ? " for a level" : "", kifmm_status_string(st));
        for (l = reuse; l < n; l++) if (built[l] > 0) kifmm__ops_free(&ops[l]);   /* (a failed one freed itself) */
    }
    return st;
}

/* The operator sets for a tree: one for every level (a homogeneous kernel), or one per level
   0 .. depth; sets the old array already has for the same root size are moved over, so
   kifmm_set_points builds only what changed. On failure nothing of the old array is touched. */
static kifmm_status kifmm__build_ops(kifmm *f, const kifmm_tree *t, kifmm__ops **out, int *nout, int *moved) {
    const kifmm_config *c = &f->cfg;
    int per_level = f->per_level, n = per_level ? t->depth + 1 : 1, reuse = 0;
    kifmm__ops *ops;
    kifmm_status st = KIFMM_OK;
    double t0 = kifmm__now();
    if (f->ops && per_level && f->ops_hw == t->half_width) reuse = f->nops < n ? f->nops : n;
    if (f->ops && !per_level) reuse = 1;
    if (f->ops && reuse == n && f->nops == n) { *out = f->ops; *nout = n; *moved = -1; return KIFMM_OK; }
    ops = (kifmm__ops *)kifmm__alloc(&c->allocator, (size_t)n * sizeof *ops);
    if (!ops) {
        kifmm__log(c, KIFMM_ERR_OUT_OF_MEMORY, "out of memory for %d operator sets", n);
        return KIFMM_ERR_OUT_OF_MEMORY;
    }
    memset(ops, 0, (size_t)n * sizeof *ops);
    if (reuse) memcpy(ops, f->ops, (size_t)reuse * sizeof *ops);
    st = kifmm__build_sets(f, t, ops, reuse, n);
    if (st != KIFMM_OK) {
        kifmm__free(&c->allocator, ops, (size_t)n * sizeof *ops); /* the moved ones stay the old array's */
        return st;
    }
    *out = ops;
    *nout = n;
    *moved = reuse;
    f->stats.seconds_precompute = kifmm__now() - t0;
    return KIFMM_OK;
}

static kifmm_status kifmm__build_on_tree(kifmm *f, kifmm_tree *tp, double seconds, const unsigned char *stored,
                                         int (*agree)(void *, int), void *user);

/* tree, operator sets and evaluation buffers for a validated point set, into new structs; the
   object changes only when everything succeeded */
static kifmm_status kifmm__build_points(kifmm *f, const double *s, size_t ns, const double *t, size_t nt) {
    kifmm_tree tree;
    kifmm_status st;
    double t0 = kifmm__now();
    st = kifmm__tree_build_ex(&tree, &f->cfg.allocator, s, ns, t, nt, f->cfg.leaf_size, f->cfg.max_depth,
                              KIFMM_TREE_PRUNE | KIFMM_TREE_RESOLUTION, f->cfg.box[3] > 0 ? f->cfg.box : NULL, NULL);
    if (st == KIFMM_ERR_OUT_OF_MEMORY) kifmm__log(&f->cfg, st, "out of memory building the tree for %zu points", ns + nt);
    else if (st != KIFMM_OK)
        kifmm__log(&f->cfg, st, "building the tree for %zu points failed: %s", ns + nt, kifmm_status_string(st));
    if (st != KIFMM_OK) return st;
    return kifmm__build_on_tree(f, &tree, kifmm__now() - t0, NULL, NULL, NULL);
}

/* operator sets and evaluation buffers for a built tree, which the object takes (or frees);
   distributed: stored, the boxes whose vectors the rank keeps (kifmm__eval_init), and agree,
   whether every rank got as far, asked once before anything is committed */
static kifmm_status kifmm__build_on_tree(kifmm *f, kifmm_tree *tp, double seconds, const unsigned char *stored,
                                         int (*agree)(void *, int), void *user) {
    kifmm_tree tree = *tp;
    kifmm__eval ev;
    kifmm__ops *ops = NULL;
    int nops = 0, moved = 0;
    size_t ns = tree.nsources, nt = tree.ntargets;
    kifmm_status st;
    double t0;
    memset(tp, 0, sizeof *tp);
    st = kifmm__build_ops(f, &tree, &ops, &nops, &moved);
    if (st != KIFMM_OK) {
        if (agree) agree(user, 0);
        kifmm__tree_free(&tree);
        return st;
    }
    t0 = kifmm__now();
    st = kifmm__eval_init(&ev, ops, nops, &tree, &f->far, &f->kern, &f->cfg.blas, f->cfg.threads, f->cfg.nd, stored);
    if (st != KIFMM_OK)
        kifmm__log(&f->cfg, st, st == KIFMM_ERR_OUT_OF_MEMORY ? "out of memory for the evaluation buffers of %zu points"
                                                               : "the tree of %zu points broke an invariant", ns + nt);
    if (agree && !agree(user, st == KIFMM_OK) && st == KIFMM_OK) {
        kifmm__eval_free(&ev, &f->cfg.allocator);
        st = KIFMM_ERR_INTERNAL;            /* (another rank's failure: the caller agrees on its status) */
    }
    if (st != KIFMM_OK) {
        if (moved >= 0) {                   /* new sets: give back those built here */
            kifmm__ops_array_free(&f->cfg.allocator, ops, nops, moved);
        }
        kifmm__tree_free(&tree);
        return st;
    }
    /* commit */
    kifmm__eval_free(&f->eval, &f->cfg.allocator);
    kifmm__tree_free(&f->tree);
    if (moved >= 0 && f->ops) {             /* the old array: the sets not moved, then itself */
        kifmm__ops_array_free(&f->cfg.allocator, f->ops, f->nops, moved);
    }
    f->ops = ops;
    f->nops = nops;
    f->ops_hw = tree.half_width;
    f->tree = tree;
    f->eval = ev;
    f->eval.tree = &f->tree;                /* the structs moved */
    f->eval.ops = f->ops;
    f->stats.seconds_tree = seconds + (kifmm__now() - t0);
    return KIFMM_OK;
}

/* an object without points for a resolved config and kernel */
static kifmm *kifmm__new(const kifmm_config *c, const kifmm__kernel *k) {
    kifmm *f = (kifmm *)kifmm__alloc(&c->allocator, sizeof *f);
    if (!f) {
        kifmm__log(c, KIFMM_ERR_OUT_OF_MEMORY, "out of memory for the kifmm object (%zu bytes)", sizeof *f);
        return NULL;
    }
    memset(f, 0, sizeof *f);
    f->cfg = *c;
    f->kern = f->far = *k;
    if (k->kind == KIFMM_KERNEL_STOKES) {   /* Laplace operators: 4 densities, not 3 x 3 blocks */
        f->far.kind = KIFMM_KERNEL_LAPLACE;
        f->far.sdim = f->far.tdim = 1;
        f->far.c = KIFMM_INV_4PI;
    }
    f->per_level = k->h != k->h;            /* no homogeneity: a set per level */
    return f;
}

KIFMM_DEF kifmm_status kifmm_create(kifmm **out, const kifmm_config *config, const double *sources,
                                     size_t nsources, const double *targets, size_t ntargets) {
    kifmm_config c;
    kifmm__kernel k;
    kifmm *f;
    kifmm_status st;
    int old;
    if (!out) {
        kifmm__log(config, KIFMM_ERR_INVALID_ARGUMENT, "kifmm_create: out (the kifmm ** to fill) is NULL");
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    st = kifmm__resolve(config, &c, &k);
    if (st == KIFMM_OK) st = kifmm__validate_points(&c, sources, nsources, targets, ntargets);
    if (st == KIFMM_OK) st = kifmm__check_homogeneity(&c, &k);
    if (st != KIFMM_OK) return st;
    if (!(f = kifmm__new(&c, &k))) return KIFMM_ERR_OUT_OF_MEMORY;
    old = kifmm__threads_begin(c.threads);
    st = kifmm__build_points(f, sources, nsources, targets, ntargets);
    kifmm__threads_end(old);
    if (st != KIFMM_OK) {
        kifmm__free(&c.allocator, f, sizeof *f);
        return st;
    }
    *out = f;
    return KIFMM_OK;
}

KIFMM_DEF kifmm_status kifmm_set_points(kifmm *f, const double *sources, size_t nsources,
                                         const double *targets, size_t ntargets) {
    kifmm_status st;
    int old;
    if (!f) return KIFMM_ERR_INVALID_ARGUMENT;
    if (f->dist) return f->dist->set_points(f, sources, nsources, targets, ntargets);
    st = kifmm__validate_points(&f->cfg, sources, nsources, targets, ntargets);
    if (st != KIFMM_OK) return st;
    old = kifmm__threads_begin(f->cfg.threads);
    st = kifmm__build_points(f, sources, nsources, targets, ntargets);
    kifmm__threads_end(old);
    return st;
}

KIFMM_DEF void kifmm_destroy(kifmm *f) {
    kifmm_allocator al;
    if (!f) return;
    if (f->dist) f->dist->destroy(f);
    al = f->cfg.allocator;
    kifmm__eval_free(&f->eval, &al);
    kifmm__tree_free(&f->tree);
    kifmm__ops_array_free(&al, f->ops, f->nops, 0);
    kifmm__free(&al, f, sizeof *f);
}

static kifmm_status kifmm__local_stats(const kifmm *f, kifmm_stats *s);

KIFMM_DEF kifmm_status kifmm_get_stats(const kifmm *f, kifmm_stats *s) {
    if (!f || !s) return KIFMM_ERR_INVALID_ARGUMENT;
    if (f->dist) return f->dist->stats(f, s);
    return kifmm__local_stats(f, s);
}

/* this object's (on MPI: this rank's) figures */
static kifmm_status kifmm__local_stats(const kifmm *f, kifmm_stats *s) {
    int i;
    *s = f->stats;
    s->depth = f->tree.depth;
    s->leaves = (size_t)f->tree.nleaves;
    s->boxes = (size_t)f->tree.nboxes;
    s->bytes = f->tree.bytes + f->eval.bytes + (sizeof *f < 64 ? 64 : sizeof *f);
    s->bytes += (size_t)f->nops * sizeof *f->ops < 64 ? 64 : (size_t)f->nops * sizeof *f->ops;
    s->order = f->cfg.order;
    s->leaf_size = f->cfg.leaf_size;
    s->m2l_tolerance = f->cfg.m2l_tolerance;
    s->m2l_rank = 0;
    for (i = 0; i < f->nops; i++) {
        s->bytes += f->ops[i].bytes;
        if (f->ops[i].k > s->m2l_rank) s->m2l_rank = f->ops[i].k;
    }
    return KIFMM_OK;
}

/* ==== EVALUATE ================================================================================ */
/* upward pass bottom-up, M2L and P2L, downward pass top-down, then the leaf pass */
static void kifmm__passes(kifmm *f) {
    kifmm__eval *e = &f->eval;
    const kifmm_tree *t = &f->tree;
    double *sec = f->stats.seconds_op, t0;
    int l;
    memset(sec, 0, 8 * sizeof *sec);
#define KIFMM__TIME(op, call) do { t0 = kifmm__now(); call; sec[op] += kifmm__now() - t0; } while (0)
    KIFMM__TIME(KIFMM_OP_P2M, kifmm__op_p2m(e));
    for (l = t->depth; l >= 1; l--) KIFMM__TIME(KIFMM_OP_M2M, kifmm__op_m2m(e, l));
    if (f->mid) f->mid(f);                  /* distributed: the remote multipoles and charges */
    for (l = 2; l <= t->depth; l++) KIFMM__TIME(KIFMM_OP_M2L, kifmm__op_m2l(e, l));
    KIFMM__TIME(KIFMM_OP_P2L, kifmm__op_p2l(e));
    for (l = 2; l < t->depth; l++) KIFMM__TIME(KIFMM_OP_L2L, kifmm__op_l2l(e, l));
#undef KIFMM__TIME
    kifmm__op_leaves(e, KIFMM__LEAF_ALL, sec);
}

/* the first non-finite value of n sets of width w in the caller's layout [(i w + b) nd + d] */
static kifmm_status kifmm__check_values(const kifmm_config *c, const double *v, size_t n, int w, int nd,
                                        const char *what) {
    size_t i, m = n * (size_t)w * (size_t)nd;
    for (i = 0; i < m; i++)
        if (!(v[i] - v[i] == 0)) {
            size_t pt = i / ((size_t)w * nd);
            int b = (int)(i / (size_t)nd % (size_t)w), d = (int)(i % (size_t)nd);
            kifmm__log(c, KIFMM_ERR_NONFINITE_INPUT, "%s of source %zu (component %d, set %d) is not finite (%g)", what, pt,
                       b, d, v[i]);
            return KIFMM_ERR_NONFINITE_INPUT;
        }
    return KIFMM_OK;
}

/* the checks every evaluation makes, kifmm_evaluate_ex and kifmm_direct_ex alike, before it
   writes anything */
static kifmm_status kifmm__check_desc(const kifmm_config *c, const kifmm__kernel *k, const kifmm_eval_desc *d,
                                      size_t ns, size_t nt, const char *who) {
    int nd = d ? (d->nd ? d->nd : 1) : 1, radial = k->kind == KIFMM_KERNEL_LAPLACE || k->kind == KIFMM_KERNEL_YUKAWA;
    static const char *const kname[] = {"Laplace", "Yukawa", "Stokes", "a user kernel"};
    kifmm_status st;
#define KIFMM__REFUSE(...) do { kifmm__log(c, KIFMM_ERR_INVALID_ARGUMENT, __VA_ARGS__); return KIFMM_ERR_INVALID_ARGUMENT; } while (0)
    if (!d) KIFMM__REFUSE("%s: desc is NULL", who);
    if (nd < 1 || nd > c->nd) KIFMM__REFUSE("%s: desc->nd = %d is outside 1..config.nd = %d", who, d->nd, c->nd);
    if (ns && !d->charges && !d->dipoles) KIFMM__REFUSE("%s: no input: desc->charges and desc->dipoles are both NULL", who);
    if (nt && !d->potentials && !d->gradients && !d->hessians)
        KIFMM__REFUSE("%s: no output: desc->potentials, gradients and hessians are all NULL", who);
    if (d->dipoles && !radial) KIFMM__REFUSE("%s: desc->dipoles given, but %s takes none", who, kname[k->kind]);
    if (d->hessians && !radial) KIFMM__REFUSE("%s: desc->hessians wanted, but %s gives none", who, kname[k->kind]);
    if (d->gradients && k->kind == KIFMM_KERNEL_USER) KIFMM__REFUSE("%s: desc->gradients wanted, but a user kernel "
                                                                    "gives values only", who);
#undef KIFMM__REFUSE
    if (d->charges && (st = kifmm__check_values(c, d->charges, ns, k->sdim, nd, "charge")) != KIFMM_OK) return st;
    if (d->dipoles && (st = kifmm__check_values(c, d->dipoles, ns, 3, nd, "dipole")) != KIFMM_OK) return st;
    return KIFMM_OK;
}

/* a non-finite output where the inputs were finite: only a user kernel can do that */
static kifmm_status kifmm__check_user_output(const kifmm_config *c, const double *v, size_t n, const char *who) {
    size_t i;
    for (i = 0; i < n; i++)
        if (!(v[i] - v[i] == 0)) {
            kifmm__log(c, KIFMM_ERR_NUMERICAL, "%s: the user kernel gave a non-finite value (%g) at potential %zu", who,
                       v[i], i);
            return KIFMM_ERR_NUMERICAL;
        }
    return KIFMM_OK;
}

/* the caller's sources whose index is in [lo, hi) into the sorted planes */
static void kifmm__pack(kifmm *f, const kifmm_eval_desc *desc, size_t lo, size_t hi) {
    const kifmm_tree *t = &f->tree;
    kifmm__eval *e = &f->eval;
    size_t ns = t->nsources, sd = (size_t)e->sdim, nd = (size_t)(desc->nd ? desc->nd : 1);
    ptrdiff_t j;
#define KIFMM__SKIP(j) (t->src_perm[j] < lo || t->src_perm[j] >= hi)
    KIFMM__OMP(omp parallel num_threads(e->nthreads))
    {
        size_t d, b;
        KIFMM__OMP(omp for schedule(static) nowait)
        for (j = 0; j < (ptrdiff_t)(desc->charges && e->harm ? ns : 0); j++) {
            /* per set: the three forces, then their moment (y - c) . f about the root's centre */
            const double *q = desc->charges + t->src_perm[j] * 3 * nd;
            if (KIFMM__SKIP(j)) continue;
            for (d = 0; d < nd; d++) {
                double m = 0;
                for (b = 0; b < 3; b++) {
                    e->q[(4 * d + b) * ns + (size_t)j] = q[b * nd + d];
                    m += (t->src[b * ns + (size_t)j] - e->harm_c[b]) * q[b * nd + d];
                }
                e->q[(4 * d + 3) * ns + (size_t)j] = m;
            }
        }
        KIFMM__OMP(omp for schedule(static) nowait)
        for (j = 0; j < (ptrdiff_t)(desc->charges && !e->harm ? ns : 0); j++) {
            const double *q = desc->charges + t->src_perm[j] * sd * nd;
            if (KIFMM__SKIP(j)) continue;
            for (d = 0; d < nd; d++)
                for (b = 0; b < sd; b++) e->q[(d * sd + b) * ns + (size_t)j] = q[b * nd + d];
        }
        KIFMM__OMP(omp for schedule(static) nowait)
        for (j = 0; j < (ptrdiff_t)(desc->dipoles ? ns : 0); j++) {
            const double *v = desc->dipoles + t->src_perm[j] * 3 * nd;
            if (KIFMM__SKIP(j)) continue;
            for (d = 0; d < nd; d++)
                for (b = 0; b < 3; b++) e->dip[(d * 3 + b) * ns + (size_t)j] = v[b * nd + d];
        }
    }
#undef KIFMM__SKIP
}

/* a checked evaluation: the inputs into sorted planes, the passes, results into the caller's
   arrays. Sources from pack_hi on are packed later (distributed: by the mid-pass exchange). */
static kifmm_status kifmm__evaluate(kifmm *f, const kifmm_eval_desc *desc, size_t pack_hi) {
    const kifmm_tree *t = &f->tree;
    kifmm__eval *e = &f->eval;
    size_t nt = t->ntargets, nd = (size_t)(desc->nd ? desc->nd : 1);
    size_t nchk = nd * (e->harm ? 4 : 1) * (size_t)e->nc * e->nslot;
    double t0 = kifmm__now();
    ptrdiff_t j;
    int old;
    e->call.nd = (int)nd * (e->harm ? 4 : 1);
    e->call.has_q = desc->charges != NULL;
    e->call.has_dip = desc->dipoles != NULL;
    e->call.pot = desc->potentials;
    e->call.grad = desc->gradients;
    e->call.hess = desc->hessians;
    e->call.want_grad = e->harm || desc->gradients || desc->hessians;
    e->call.want_hess = e->harm ? desc->gradients != NULL : desc->hessians != NULL;
    kifmm__pack(f, desc, 0, pack_hi);
    KIFMM__OMP(omp parallel for schedule(static) num_threads(e->nthreads))
    for (j = 0; j < (ptrdiff_t)nchk; j++) e->check[j] = 0;
    old = kifmm__threads_begin(f->cfg.threads);
    kifmm__passes(f);
    kifmm__threads_end(old);
    f->stats.seconds_evaluate = kifmm__now() - t0;
    if (f->kern.kind == KIFMM_KERNEL_USER && desc->potentials)
        return kifmm__check_user_output(&f->cfg, desc->potentials, nt * (size_t)e->tdim * nd, "kifmm_evaluate_ex");
    return KIFMM_OK;
}

KIFMM_DEF kifmm_status kifmm_evaluate_ex(kifmm *f, const kifmm_eval_desc *desc) {
    kifmm_status st;
    if (!f) return KIFMM_ERR_INVALID_ARGUMENT;
    if (f->dist) return f->dist->evaluate(f, desc);
    st = kifmm__check_desc(&f->cfg, &f->kern, desc, f->tree.nsources, f->tree.ntargets, "kifmm_evaluate_ex");
    return st != KIFMM_OK ? st : kifmm__evaluate(f, desc, (size_t)-1);
}

/* kifmm_evaluate_ex with nd = 1, charges, potentials and gradients: the same path, bitwise */
KIFMM_DEF kifmm_status kifmm_evaluate(kifmm *f, const double *charges, double *pot, double *grad) {
    kifmm_eval_desc d;
    size_t ns, nt;
    if (!f) return KIFMM_ERR_INVALID_ARGUMENT;
    ns = f->tree.nsources;
    nt = f->tree.ntargets;
    if (f->dist) ns = nt = 0;               /* (the caller's counts are the rank's own: its checks) */
    if ((ns && !charges) || (nt && !pot)) {
        kifmm__log(&f->cfg, KIFMM_ERR_INVALID_ARGUMENT, "kifmm_evaluate: the %s array is NULL",
                   (ns && !charges) ? "charges" : "potentials");
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    memset(&d, 0, sizeof d);
    d.nd = 1;
    d.charges = ns || f->dist ? charges : NULL;
    d.potentials = pot;
    d.gradients = grad;
    return kifmm_evaluate_ex(f, &d);
}

/* ==== DIRECT ================================================================================== */
/* validated like kifmm_create + kifmm_evaluate (same statuses; there is no logger to name the item) */
KIFMM_DEF kifmm_status kifmm_direct(const double *s, size_t ns, const double *q, const double *t, size_t nt,
                                     double *pot, double *grad) {
    ptrdiff_t i;
    kifmm_status st;
    if ((ns && (!s || !q)) || (nt && (!t || !pot))) return KIFMM_ERR_INVALID_ARGUMENT;
    if ((st = kifmm__check_points(NULL, s, ns, "sources")) != KIFMM_OK) return st;
    if ((st = kifmm__check_points(NULL, t, nt, "targets")) != KIFMM_OK) return st;
    if ((st = kifmm__check_charges(NULL, q, ns)) != KIFMM_OK) return st;
    KIFMM__OMP(omp parallel for schedule(dynamic, 64))
    for (i = 0; i < (ptrdiff_t)nt; i++) {
        double p = 0, gx = 0, gy = 0, gz = 0;
        size_t j;
        for (j = 0; j < ns; j++) {
            double dx = t[3 * i] - s[3 * j], dy = t[3 * i + 1] - s[3 * j + 1], dz = t[3 * i + 2] - s[3 * j + 2];
            double r2 = dx * dx + dy * dy + dz * dz, inv, qi;
            if (r2 == 0) continue;
            inv = 1.0 / sqrt(r2);
            qi = q[j] * inv;
            p += qi;
            qi *= inv * inv;
            gx -= qi * dx;
            gy -= qi * dy;
            gz -= qi * dz;
        }
        pot[i] = KIFMM_INV_4PI * p;
        if (grad) {
            grad[3 * i] = KIFMM_INV_4PI * gx;
            grad[3 * i + 1] = KIFMM_INV_4PI * gy;
            grad[3 * i + 2] = KIFMM_INV_4PI * gz;
        }
    }
    return KIFMM_OK;
}

/* a user kernel's direct sum: its own function on the caller's arrays, one density set at a time
   (the set's densities de-interleaved into w: ns sdim doubles), targets in blocks */
static void kifmm__direct_user(const kifmm__kernel *k, int nd, const double *s, size_t ns, const double *t, size_t nt,
                               const double *q, double *w, double *pot, int add) {
    int d, a;
    for (d = 0; d < nd; d++) {
        ptrdiff_t i0;
        size_t i;
        for (i = 0; i < ns * (size_t)k->sdim; i++) w[i] = q[i * (size_t)nd + d];
        KIFMM__OMP(omp parallel for schedule(dynamic, 1))
        for (i0 = 0; i0 < (ptrdiff_t)nt; i0 += KIFMM__UBLOCK_T) {
            double v[KIFMM__UBLOCK_T * KIFMM__MAX_KDIM];
            size_t m = nt - (size_t)i0 < KIFMM__UBLOCK_T ? nt - (size_t)i0 : KIFMM__UBLOCK_T, j;
            memset(v, 0, sizeof v);
            k->eval(t + 3 * (size_t)i0, m, s, ns, w, v, k->user);
            for (j = 0; j < m; j++)
                for (a = 0; a < k->tdim; a++) {
                    double *o = pot + (((size_t)i0 + j) * k->tdim + a) * nd + d;
                    *o = add ? *o + v[j * k->tdim + a] : v[j * k->tdim + a];
                }
        }
    }
}

/* kifmm_direct_ex (add = 0, thresh = 0) and kifmm_direct_add */
static kifmm_status kifmm__direct_impl(const kifmm_config *config, const double *s, size_t ns, const double *t,
                                       size_t nt, const kifmm_eval_desc *desc, double thresh, int add,
                                       const char *who) {
    kifmm_config c;
    kifmm__kernel k;
    kifmm_status st;
    int nd, old;
    ptrdiff_t i;
    if ((st = kifmm__resolve(config, &c, &k)) != KIFMM_OK) return st;
    if ((st = kifmm__check_points(&c, s, ns, "sources")) != KIFMM_OK) return st;
    if ((st = kifmm__check_points(&c, t, nt, "targets")) != KIFMM_OK) return st;
    if ((st = kifmm__check_desc(&c, &k, desc, ns, nt, who)) != KIFMM_OK) return st;
    if (!(thresh >= 0) || thresh > 1e150) {
        kifmm__log(&c, KIFMM_ERR_INVALID_ARGUMENT, "%s: thresh = %g (finite and >= 0)", who, thresh);
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    nd = desc->nd ? desc->nd : 1;
    old = kifmm__threads_begin(c.threads);
    if (k.kind == KIFMM_KERNEL_USER) {
        size_t bytes = ns * (size_t)k.sdim * sizeof(double);
        double *w = ns && desc->potentials ? (double *)kifmm__alloc(&c.allocator, bytes) : NULL;
        if (ns && desc->potentials && !w) {
            kifmm__threads_end(old);
            kifmm__log(&c, KIFMM_ERR_OUT_OF_MEMORY, "kifmm_direct_ex: out of memory (%zu bytes)", bytes);
            return KIFMM_ERR_OUT_OF_MEMORY;
        }
        if (desc->potentials) {
            if (ns) kifmm__direct_user(&k, nd, s, ns, t, nt, desc->charges, w, desc->potentials, add);
            else if (!add) memset(desc->potentials, 0, nt * (size_t)k.tdim * nd * sizeof(double));
        }
        kifmm__free(&c.allocator, w, bytes);
        kifmm__threads_end(old);
        return desc->potentials ? kifmm__check_user_output(&c, desc->potentials, nt * (size_t)k.tdim * nd, who)
                                : KIFMM_OK;
    }
    KIFMM__OMP(omp parallel for schedule(dynamic, 16))
    for (i = 0; i < (ptrdiff_t)nt; i++) {
        size_t np = (size_t)k.tdim * nd, u = (size_t)i, j;
        double *pp = desc->potentials ? desc->potentials + u * np : NULL;
        double *gp = desc->gradients ? desc->gradients + u * 3 * np : NULL;
        double *hp = desc->hessians ? desc->hessians + u * 6 * nd : NULL;
        if (!add) {
            if (pp) for (j = 0; j < np; j++) pp[j] = 0;
            if (gp) for (j = 0; j < 3 * np; j++) gp[j] = 0;
            if (hp) for (j = 0; j < 6 * (size_t)nd; j++) hp[j] = 0;
        }
        kifmm__direct_one(&k, nd, s, ns, desc->charges, desc->dipoles, t + 3 * u, thresh * thresh, pp, gp, hp);
    }
    kifmm__threads_end(old);
    return KIFMM_OK;
}

KIFMM_DEF kifmm_status kifmm_direct_ex(const kifmm_config *config, const double *s, size_t ns, const double *t,
                                        size_t nt, const kifmm_eval_desc *desc) {
    return kifmm__direct_impl(config, s, ns, t, nt, desc, 0.0, 0, "kifmm_direct_ex");
}

KIFMM_DEF kifmm_status kifmm_direct_add(const kifmm_config *config, const double *s, size_t ns, const double *t,
                                         size_t nt, const kifmm_eval_desc *desc, double thresh) {
    return kifmm__direct_impl(config, s, ns, t, nt, desc, thresh, 1, "kifmm_direct_add");
}

#endif /* KIFMM_IMPLEMENTATION */
