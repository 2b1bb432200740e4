/* kifmm.h - kernel-independent fast multipole method for the 3D Laplace kernel, header-only C.

   phi(y_j) = sum_i q_i / (4 pi |x_i - y_j|) and its gradient at millions of targets in O(N).

   USAGE
     #define KIFMM_IMPLEMENTATION   (in exactly one .c file)
     #include "kifmm.h"             (pulls in kifmm_tree.h and kifmm_ops.h)

     kifmm *fmm;
     kifmm_config cfg = {0};                 // zero = defaults: order 6, leaf_size 150
     cfg.tolerance = 1e-6;                   // or cfg.order = 8
     kifmm_create(&fmm, &cfg, sources, ns, targets, nt);   // xyz interleaved
     kifmm_evaluate(fmm, charges, potentials, gradients);  // gradients may be NULL
     kifmm_destroy(fmm);

   Optional macros before the include: KIFMM_STATIC (private copy per translation unit),
   KIFMM_USE_CBLAS (default GEMM = cblas_dgemm; link -lopenblas), KIFMM_ASSERT(x).
   Build with -fopenmp for threads; without it everything runs on one thread.

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

   Failures: every entry validates its input before touching any state and returns a status
   (README "Failure behaviour"); a logger, if set, gets a message naming the offending item.

   Nothing is read from the environment or written to disk; there is no global state.
   MIT licence at the end of kifmm_tree.h.
*/
#ifndef KIFMM_H
#define KIFMM_H

#include "kifmm_tree.h"
#include "kifmm_ops.h"

#define KIFMM_VERSION_MAJOR 0
#define KIFMM_VERSION_MINOR 1
#define KIFMM_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kifmm_config {  /* zero means default for every field */
    int    order;              /* expansion order p, 2..16; default: chosen from tolerance, else 6 */
    double tolerance;          /* wanted relative error of the potential; used when order == 0 */
    int    leaf_size;          /* max points per leaf (ncrit); default 150 */
    int    max_depth;          /* deepest tree level, 1..KIFMM_MAX_DEPTH; default KIFMM_MAX_DEPTH */
    double m2l_tolerance;      /* relative singular-value cut-off of the M2L compression; default tied to order */
    int    m2l_rank;           /* fixed compression rank k; 0 = chosen from the tolerance */
    int    threads;            /* 0 = OpenMP default */
    unsigned long long seed;   /* seed of the randomized SVD; 0 = a fixed default (results are reproducible) */
    double box[4];             /* root cube {x, y, z, half width}; half width 0 = the points' bounding cube.
                                  every point must lie in it (see "Root cube" above) */
    kifmm_allocator allocator;
    kifmm_blas      blas;
    kifmm_logger    logger;
} kifmm_config;

typedef struct kifmm kifmm;    /* opaque: tree, precomputed operators, work buffers */

typedef struct kifmm_stats {   /* filled by kifmm_get_stats after create / evaluate */
    int    depth;              /* deepest level of the tree */
    size_t leaves, boxes;      /* leaf count, all boxes */
    size_t bytes;              /* bytes currently held from the allocator */
    double seconds_tree;       /* tree + interaction lists */
    double seconds_precompute; /* operators (surfaces, pseudo-inverses, M2M/L2L, M2L + SVD) */
    double seconds_evaluate;   /* the last kifmm_evaluate, total */
    double seconds_op[8];      /* last evaluate per operator, indexed by kifmm_op below */
    int    order;              /* expansion order actually used */
    int    m2l_rank;           /* compression rank actually used */
} kifmm_stats;

enum kifmm_op { KIFMM_OP_P2M, KIFMM_OP_M2M, KIFMM_OP_M2L, KIFMM_OP_L2L,
                KIFMM_OP_L2P, KIFMM_OP_M2P, KIFMM_OP_P2L, KIFMM_OP_P2P };

KIFMM_DEF const char  *kifmm_status_string(kifmm_status s);   /* never NULL */
KIFMM_DEF const char  *kifmm_version(void);
KIFMM_DEF kifmm_status kifmm_create(kifmm **out, const kifmm_config *config,
                          const double *sources, size_t nsources,
                          const double *targets, size_t ntargets);
KIFMM_DEF kifmm_status kifmm_evaluate(kifmm *fmm, const double *charges, double *potentials, double *gradients);
KIFMM_DEF kifmm_status kifmm_set_points(kifmm *fmm, const double *sources, size_t nsources,
                              const double *targets, size_t ntargets);
KIFMM_DEF kifmm_status kifmm_get_stats(const kifmm *fmm, kifmm_stats *stats);
KIFMM_DEF void         kifmm_destroy(kifmm *fmm);
KIFMM_DEF kifmm_status kifmm_direct(const double *sources, size_t nsources, const double *charges,
                          const double *targets, size_t ntargets, double *potentials, double *gradients);

/* extras beyond API.md */
KIFMM_DEF int          kifmm_order_for_tolerance(double tolerance);  /* the calibrated table, see README */
KIFMM_DEF double       kifmm_default_m2l_tolerance(int order);

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
    kifmm_config cfg;                  /* resolved: every default filled in */
    kifmm_tree   tree;
    kifmm__ops    ops;
    kifmm__eval   eval;
    kifmm_stats  stats;
};

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

KIFMM_DEF const char *kifmm_version(void) { return "0.1.0"; }

/* measured: the lowest order whose relative L2 potential error stays below the tolerance on
   every test distribution (README "Accuracy") */
KIFMM_DEF int kifmm_order_for_tolerance(double tol) {
    /* the worst relative L2 potential error measured at each order over the test distributions,
       times a margin of about 3 (README "Accuracy"); orders 13, 15 and 16 were not measured */
    static const struct { int order; double reach; } table[] = {
        {3, 5e-3}, {4, 1e-3}, {5, 1e-4}, {6, 1e-5}, {7, 1e-6}, {8, 2e-7}, {9, 3e-8}, {10, 1e-8},
        {11, 1e-9}, {12, 2e-10}, {14, 2e-11}};
    size_t i;
    for (i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].reach <= tol) return table[i].order;
    return 16;
}

KIFMM_DEF double kifmm_default_m2l_tolerance(int order) {
    return pow(10.0, -(double)order);
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

static kifmm_status kifmm__resolve(const kifmm_config *in, kifmm_config *c) {
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
    KIFMM__BAD(!(c->tolerance >= 0) || c->tolerance > 1e300, "tolerance (finite, >= 0)", c->tolerance);
    KIFMM__BAD(!(c->m2l_tolerance >= 0) || c->m2l_tolerance >= 1, "m2l_tolerance (0 <= t < 1)", c->m2l_tolerance);
    KIFMM__BAD((!c->allocator.alloc_fn) != (!c->allocator.free_fn), "allocator (set both functions or neither)", 0);
    KIFMM__BAD(!(c->box[3] >= 0) || c->box[3] > KIFMM_MAX_COORDINATE, "box[3], the half width (0..1e150)", c->box[3]);
    KIFMM__BAD(c->box[3] > 0 && (!kifmm__box_ok(c->box) || fabs(c->box[0]) > KIFMM_MAX_COORDINATE ||
                                 fabs(c->box[1]) > KIFMM_MAX_COORDINATE || fabs(c->box[2]) > KIFMM_MAX_COORDINATE),
               "box (centre finite and within +-1e150, half width >= 64 ulps of it)", c->box[3]);
#undef KIFMM__BAD
    if (c->order == 0) c->order = c->tolerance > 0 ? kifmm_order_for_tolerance(c->tolerance) : 6;
    if (c->leaf_size == 0) c->leaf_size = 150;
    if (c->max_depth == 0) c->max_depth = KIFMM_MAX_DEPTH;
    if (c->m2l_tolerance == 0) c->m2l_tolerance = kifmm_default_m2l_tolerance(c->order);
    if (c->seed == 0) c->seed = 0x6b69666d6d2d3031ULL;
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

/* tree and evaluation buffers for a validated point set, into new structs (the old ones stay valid) */
static kifmm_status kifmm__build_points(kifmm *f, kifmm_tree *tree, kifmm__eval *ev, const double *s, size_t ns,
                                        const double *t, size_t nt) {
    kifmm_status st;
    double t0 = kifmm__now();
    st = kifmm__tree_build_ex(tree, &f->cfg.allocator, s, ns, t, nt, f->cfg.leaf_size, f->cfg.max_depth,
                              KIFMM_TREE_PRUNE | KIFMM_TREE_RESOLUTION, f->cfg.box[3] > 0 ? f->cfg.box : NULL, NULL);
    if (st == KIFMM_OK) {
        st = kifmm__eval_init(ev, &f->ops, tree, &f->cfg.blas, f->cfg.threads, 1);
        if (st != KIFMM_OK) kifmm__tree_free(tree);
    }
    if (st == KIFMM_ERR_OUT_OF_MEMORY)
        kifmm__log(&f->cfg, st, "out of memory building the tree for %zu points", ns + nt);
    if (st == KIFMM_OK) f->stats.seconds_tree = kifmm__now() - t0;
    return st;
}

KIFMM_DEF kifmm_status kifmm_create(kifmm **out, const kifmm_config *config, const double *sources,
                                     size_t nsources, const double *targets, size_t ntargets) {
    kifmm_config c;
    kifmm *f;
    kifmm_status st;
    double t0;
    int old;
    if (!out) {
        kifmm__log(config, KIFMM_ERR_INVALID_ARGUMENT, "kifmm_create: out (the kifmm ** to fill) is NULL");
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    st = kifmm__resolve(config, &c);
    if (st == KIFMM_OK) st = kifmm__validate_points(&c, sources, nsources, targets, ntargets);
    if (st != KIFMM_OK) return st;
    f = (kifmm *)kifmm__alloc(&c.allocator, sizeof *f);
    if (!f) {
        kifmm__log(&c, KIFMM_ERR_OUT_OF_MEMORY, "out of memory for the kifmm object (%zu bytes)", sizeof *f);
        return KIFMM_ERR_OUT_OF_MEMORY;
    }
    memset(f, 0, sizeof *f);
    f->cfg = c;
    old = kifmm__threads_begin(c.threads);
    t0 = kifmm__now();
    st = kifmm__ops_build(&f->ops, &c.allocator, &c.blas, c.order, c.m2l_rank, c.m2l_tolerance, c.seed);
    if (st != KIFMM_OK) {
        kifmm__log(&c, st, "precomputing the operators of order %d failed: %s", c.order, kifmm_status_string(st));
        kifmm__free(&c.allocator, f, sizeof *f);
        kifmm__threads_end(old);
        return st;
    }
    f->stats.seconds_precompute = kifmm__now() - t0;
    st = kifmm__build_points(f, &f->tree, &f->eval, sources, nsources, targets, ntargets);
    kifmm__threads_end(old);
    if (st != KIFMM_OK) {
        kifmm__ops_free(&f->ops);
        kifmm__free(&c.allocator, f, sizeof *f);
        return st;
    }
    *out = f;
    return KIFMM_OK;
}

KIFMM_DEF kifmm_status kifmm_set_points(kifmm *f, const double *sources, size_t nsources,
                                         const double *targets, size_t ntargets) {
    kifmm_tree tree;
    kifmm__eval ev;
    kifmm_status st;
    int old;
    if (!f) return KIFMM_ERR_INVALID_ARGUMENT;
    st = kifmm__validate_points(&f->cfg, sources, nsources, targets, ntargets);
    if (st != KIFMM_OK) return st;
    old = kifmm__threads_begin(f->cfg.threads);
    st = kifmm__build_points(f, &tree, &ev, sources, nsources, targets, ntargets);
    kifmm__threads_end(old);
    if (st != KIFMM_OK) return st;
    kifmm__eval_free(&f->eval, &f->cfg.allocator);
    kifmm__tree_free(&f->tree);
    f->tree = tree;
    f->eval = ev;
    f->eval.tree = &f->tree;      /* the struct moved */
    return KIFMM_OK;
}

KIFMM_DEF void kifmm_destroy(kifmm *f) {
    kifmm_allocator al;
    if (!f) return;
    al = f->cfg.allocator;
    kifmm__eval_free(&f->eval, &al);
    kifmm__tree_free(&f->tree);
    kifmm__ops_free(&f->ops);
    kifmm__free(&al, f, sizeof *f);
}

KIFMM_DEF kifmm_status kifmm_get_stats(const kifmm *f, kifmm_stats *s) {
    if (!f || !s) return KIFMM_ERR_INVALID_ARGUMENT;
    *s = f->stats;
    s->depth = f->tree.depth;
    s->leaves = (size_t)f->tree.nleaves;
    s->boxes = (size_t)f->tree.nboxes;
    s->bytes = f->tree.bytes + f->ops.bytes + f->eval.bytes + (sizeof *f < 64 ? 64 : sizeof *f);
    s->order = f->ops.order;
    s->m2l_rank = f->ops.k;
    return KIFMM_OK;
}

/* upward pass bottom-up, M2L/P2L, downward pass top-down, then the leaf operators */
static void kifmm__passes(kifmm *f) {
    kifmm__eval *e = &f->eval;
    const kifmm_tree *t = &f->tree;
    double *sec = f->stats.seconds_op, t0;
    int l;
    memset(sec, 0, 8 * sizeof *sec);
#define KIFMM__TIME(op, call) do { t0 = kifmm__now(); call; sec[op] += kifmm__now() - t0; } while (0)
    KIFMM__TIME(KIFMM_OP_P2M, kifmm__op_p2m(e));
    for (l = t->depth; l >= 1; l--) KIFMM__TIME(KIFMM_OP_M2M, kifmm__op_m2m(e, l));
    for (l = 2; l <= t->depth; l++) KIFMM__TIME(KIFMM_OP_M2L, kifmm__op_m2l(e, l));
    KIFMM__TIME(KIFMM_OP_P2L, kifmm__op_p2l(e));
    for (l = 2; l < t->depth; l++) KIFMM__TIME(KIFMM_OP_L2L, kifmm__op_l2l(e, l));
    KIFMM__TIME(KIFMM_OP_L2P, kifmm__op_l2p(e));
    KIFMM__TIME(KIFMM_OP_M2P, kifmm__op_m2p(e));
    KIFMM__TIME(KIFMM_OP_P2P, kifmm__op_p2p(e));
#undef KIFMM__TIME
}

KIFMM_DEF kifmm_status kifmm_evaluate(kifmm *f, const double *charges, double *pot, double *grad) {
    const kifmm_tree *t;
    kifmm__eval *e;
    size_t ns, nt, n;
    double t0 = kifmm__now();
    ptrdiff_t j;
    int old;
    if (!f) return KIFMM_ERR_INVALID_ARGUMENT;
    t = &f->tree;
    e = &f->eval;
    ns = t->nsources;
    nt = t->ntargets;
    if ((ns && !charges) || (nt && !pot)) {
        kifmm__log(&f->cfg, KIFMM_ERR_INVALID_ARGUMENT, "kifmm_evaluate: the %s array is NULL",
                   (ns && !charges) ? "charges" : "potentials");
        return KIFMM_ERR_INVALID_ARGUMENT;
    }
    if (kifmm__check_charges(&f->cfg, charges, ns) != KIFMM_OK) return KIFMM_ERR_NONFINITE_INPUT;
    n = (size_t)f->ops.n;
    e->grad = grad ? e->grad_buf : NULL;
    KIFMM__OMP(omp parallel num_threads(e->nthreads))
    {
        KIFMM__OMP(omp for schedule(static) nowait)
        for (j = 0; j < (ptrdiff_t)ns; j++) e->q[j] = charges[t->src_perm[j]];
        KIFMM__OMP(omp for schedule(static) nowait)
        for (j = 0; j < (ptrdiff_t)nt; j++) e->pot[j] = 0;
        KIFMM__OMP(omp for schedule(static) nowait)
        for (j = 0; j < (ptrdiff_t)(grad ? 3 * nt : 0); j++) e->grad_buf[j] = 0;
        KIFMM__OMP(omp for schedule(static) nowait)
        for (j = 0; j < (ptrdiff_t)(n * t->nboxes); j++) e->check[j] = 0;
    }
    old = kifmm__threads_begin(f->cfg.threads);
    kifmm__passes(f);
    kifmm__threads_end(old);
    KIFMM__OMP(omp parallel for schedule(static) num_threads(e->nthreads))
    for (j = 0; j < (ptrdiff_t)nt; j++) {
        size_t d = t->tgt_perm[j];
        pot[d] = e->pot[j];
        if (grad) {
            grad[3 * d] = e->grad[j];
            grad[3 * d + 1] = e->grad[nt + j];
            grad[3 * d + 2] = e->grad[2 * nt + j];
        }
    }
    f->stats.seconds_evaluate = kifmm__now() - t0;
    return KIFMM_OK;
}

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

#endif /* KIFMM_IMPLEMENTATION */
