/* Degenerate geometry that must work and keep the accuracy the order promises (relative L2 error
   of potential / gradient against kifmm_direct; p = 6: 1e-5 / 1e-4, p = 4: 1e-3 / 1e-2):
   all points coincident, points closer than 1e-12, a single source far from all targets, clouds
   at |x| ~ 1e8 (scaled and offset) and at 1e-8 scale, 10^5 points on a line, more coincident
   points in one spot than leaf_size at max_depth. Argument "quick": smaller N (sanitizer build). */
#ifndef KIFMM_TEST_LINKED   /* meson links this test against one compiled copy: tests/impl.c */
#define KIFMM_IMPLEMENTATION
#endif
#include "kifmm.h"
#include "testutil.h"

static int quick = 0;

static const double lim_pot[17] = {0, 0, 0, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 5e-7, 1e-7, 1e-8};
static const double lim_grad[17] = {0, 0, 0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 5e-6, 1e-6, 1e-7};

/* one kifmm object per (order, leaf_size, max_depth), reused through kifmm_set_points: the
   precomputation of order 6 costs more than most of these evaluations */
static struct { int order, leaf, depth; kifmm *f; } cache[16];
static int ncache = 0;

static kifmm_status get_object(kifmm **f, int order, int leaf, int max_depth, const double *src, size_t ns,
                               const double *tgt, size_t nt) {
    kifmm_config c;
    kifmm_status s;
    int i;
    for (i = 0; i < ncache; i++)
        if (cache[i].order == order && cache[i].leaf == leaf && cache[i].depth == max_depth) {
            *f = cache[i].f;
            return kifmm_set_points(*f, src, ns, tgt, nt);
        }
    memset(&c, 0, sizeof c);
    c.order = order;
    c.leaf_size = leaf;
    c.max_depth = max_depth;
    c.threads = 1;                 /* geometry, not threads, is under test here; robust on a busy machine */
    s = kifmm_create(f, &c, src, ns, tgt, nt);
    if (s == KIFMM_OK && ncache < 16) {
        cache[ncache].order = order; cache[ncache].leaf = leaf; cache[ncache].depth = max_depth;
        cache[ncache++].f = *f;
    }
    return s;
}

/* evaluate with kifmm, compare with kifmm_direct on every target or on 1000 sampled ones;
   returns the depth of the tree */
static int run(const char *name, const double *src, size_t ns, const double *tgt, size_t nt, const double *q,
               int order, int leaf, int max_depth) {
    kifmm *f = NULL;
    kifmm_stats st;
    size_t m = nt > 1500 ? 1000 : nt, i, d;
    double *pot = (double *)malloc((nt + 1) * sizeof *pot), *grad = (double *)malloc((3 * nt + 1) * sizeof *grad);
    double *sub = (double *)malloc((3 * m + 1) * sizeof *sub), *ref = (double *)malloc((m + 1) * sizeof *ref);
    double *refg = (double *)malloc((3 * m + 1) * sizeof *refg);
    size_t *pick = (size_t *)malloc((m + 1) * sizeof *pick);
    double a = 0, b = 0, cc = 0, dd = 0, ep, eg, t0;
    int finite = 1;
    kifmm_status s;
    memset(&st, 0, sizeof st);
    t0 = tu_now();
    s = get_object(&f, order, leaf, max_depth, src, ns, tgt, nt);
    CHECK(s == KIFMM_OK, "%s: create / set_points: %s", name, kifmm_status_string(s));
    if (s != KIFMM_OK) goto out;
    s = kifmm_evaluate(f, q, pot, grad);
    CHECK(s == KIFMM_OK, "%s: evaluate: %s", name, kifmm_status_string(s));
    kifmm_get_stats(f, &st);
    t0 = tu_now() - t0;
    for (i = 0; i < nt; i++) finite &= isfinite(pot[i]) && isfinite(grad[3 * i]) && isfinite(grad[3 * i + 1]) &&
                                        isfinite(grad[3 * i + 2]);
    CHECK(finite, "%s: non-finite results", name);
    for (i = 0; i < m; i++) {
        pick[i] = m == nt ? i : (size_t)(tu_rand() * (double)nt);
        memcpy(sub + 3 * i, tgt + 3 * pick[i], 3 * sizeof *sub);
    }
    kifmm_direct(src, ns, q, sub, m, ref, refg);
    for (i = 0; i < m; i++) {
        a += (pot[pick[i]] - ref[i]) * (pot[pick[i]] - ref[i]);
        b += ref[i] * ref[i];
        for (d = 0; d < 3; d++) {
            cc += (grad[3 * pick[i] + d] - refg[3 * i + d]) * (grad[3 * pick[i] + d] - refg[3 * i + d]);
            dd += refg[3 * i + d] * refg[3 * i + d];
        }
    }
    /* an all-zero reference (every source coincides with the target) must come back exactly zero */
    ep = b > 0 ? sqrt(a / b) : sqrt(a);
    eg = dd > 0 ? sqrt(cc / dd) : sqrt(cc);
    printf("%-36s p=%d ns %6zu nt %6zu depth %2d leaves %6zu: error %.2e / %.2e  (%.2f s)\n", name, order, ns, nt,
           st.depth, st.leaves, ep, eg, t0);
    CHECK(ep <= lim_pot[order] && eg <= lim_grad[order], "%s p=%d: error %.2e / %.2e above %.0e / %.0e", name,
          order, ep, eg, lim_pot[order], lim_grad[order]);
out:
    free(pot); free(grad); free(sub); free(ref); free(refg); free(pick);
    return s == KIFMM_OK ? st.depth : -1;
}

static double *charges(size_t n) {
    double *q = (double *)malloc((n + 1) * sizeof *q);
    size_t i;
    for (i = 0; i < n; i++) q[i] = tu_rand() - 0.5;
    return q;
}

/* every point at one spot: sources = targets gives exactly zero (self-interaction excluded);
   coincident sources seen from separate targets are one big charge */
static void test_coincident(void) {
    size_t n = quick ? 500 : 3000, i;
    double *x = (double *)malloc(3 * n * sizeof *x), *y = tu_new_points(n, TU_CUBE), *q = charges(n);
    for (i = 0; i < n; i++) { x[3 * i] = 0.25; x[3 * i + 1] = -1.5; x[3 * i + 2] = 3; }
    run("coincident, sources = targets", x, n, x, n, q, 6, 0, 0);
    run("coincident sources, cube targets", x, n, y, n, q, 6, 0, 0);
    run("coincident sources, cube targets", x, n, y, n, q, 4, 20, 0);
    free(x); free(y); free(q);
}

/* pairs of points 1e-13 apart (and a triple at 5e-13): the pair's own field dominates and must
   be summed directly, not through an expansion */
static void test_close_pairs(void) {
    size_t n = quick ? 2000 : 8000, i;
    double *x = tu_new_points(n, TU_PLUMMER), *y = tu_new_points(n, TU_PLUMMER), *q = charges(n);
    for (i = 1; i < n; i += 2) {
        x[3 * i] = x[3 * (i - 1)] + 1e-13;
        x[3 * i + 1] = x[3 * (i - 1) + 1];
        x[3 * i + 2] = x[3 * (i - 1) + 2] - 5e-13;
    }
    run("pairs 1e-13 apart", x, n, x, n, q, 6, 0, 0);
    run("pairs 1e-13 apart", x, n, x, n, q, 4, 32, 0);
    /* seen from other targets the pairs' own terms do not dominate the error norm */
    run("pairs 1e-13 apart, plummer targets", x, n, y, n, q, 6, 0, 0);
    run("pairs 1e-13 apart, plummer targets", x, n, y, n, q, 4, 32, 0);
    free(x); free(y); free(q);
}

/* one source far from every target: the targets' field is smooth and comes from far away */
static void test_single_far_source(void) {
    size_t n = quick ? 2000 : 10000, i;
    double s[3] = {0.977, 0.977, 0.977}, q = 1.5, *y = (double *)malloc(3 * n * sizeof *y), far[3] = {40, -25, 60};
    for (i = 0; i < 3 * n; i++) y[i] = (tu_rand() - 0.5) * 0.018;
    run("one source at the corner", s, 1, y, n, &q, 6, 0, 0);
    run("one source at the corner, leaf 4", s, 1, y, n, &q, 4, 4, 0);
    run("one source 60 away", far, 1, y, n, &q, 6, 0, 0);
    free(y);
}

/* the same Plummer cloud at scale 1e8, at scale 1e-8, and a unit cloud centred at (1e8, -1e8, 1e8) */
static void test_scales(void) {
    size_t n = quick ? 3000 : 10000, i;
    double *base = tu_new_points(n, TU_PLUMMER), *x = (double *)malloc(3 * n * sizeof *x), *q = charges(n);
    for (i = 0; i < 3 * n; i++) x[i] = base[i] * 1e8;
    run("plummer scaled by 1e8", x, n, x, n, q, 6, 0, 0);
    for (i = 0; i < 3 * n; i++) x[i] = base[i] * 1e-8;
    run("plummer scaled by 1e-8", x, n, x, n, q, 6, 0, 0);
    for (i = 0; i < 3 * n; i++) x[i] = base[i] * 1e-8 + 1;
    run("1e-8 plummer at (1, 1, 1)", x, n, x, n, q, 4, 0, 0);
    tu_points(base, n, TU_CUBE);
    for (i = 0; i < 3 * n; i++) x[i] = base[i] + (i % 3 == 1 ? -1e8 : 1e8);
    run("unit cube at |x| ~ 1e8", x, n, x, n, q, 6, 0, 0);
    run("unit cube at |x| ~ 1e8, leaf 32", x, n, x, n, q, 4, 32, 0);
    free(base); free(x); free(q);
}

/* 10^5 points on a line (y, z fixed): a one-dimensional tree, deep and thin */
static void test_line(void) {
    size_t n = quick ? 10000 : 100000;
    double *x = tu_new_points(n, TU_LINE), *q = charges(n);
    run("points on a line", x, n, x, n, q, 6, 0, 0);
    free(x); free(q);
}

/* more points in one spot than leaf_size, even at max_depth: a leaf that cannot split */
static void test_overfull_leaf(void) {
    size_t n = quick ? 2000 : 5000, k = 400, i;
    double *x = tu_new_points(n, TU_CUBE), *y = tu_new_points(n, TU_CUBE), *q = charges(n);
    int depth;
    for (i = 0; i < k; i++) {                              /* 400 points within 1e-10 */
        x[3 * i] = 0.3 + 1e-10 * tu_rand();
        x[3 * i + 1] = 0.6 + 1e-10 * tu_rand();
        x[3 * i + 2] = 0.1;
    }
    depth = run("400 points within 1e-10 (leaf 150)", x, n, x, n, q, 6, 0, 0);
    CHECK(depth >= 1 && depth <= KIFMM_MAX_DEPTH, "depth %d", depth);
    run("400 points within 1e-10, cube targets", x, n, y, n, q, 6, 0, 0);
    depth = run("400 points within 1e-10, depth 6", x, n, x, n, q, 4, 16, 6);
    CHECK(depth >= 1 && depth <= 6, "max_depth 6 honoured: %d", depth);
    run("400 points within 1e-10, depth 6", x, n, y, n, q, 4, 16, 6);
    for (i = 0; i < k; i++) { x[3 * i] = 0.3; x[3 * i + 1] = 0.6; x[3 * i + 2] = 0.1; }
    run("400 coincident points (leaf 150)", x, n, x, n, q, 6, 0, 0);
    run("400 coincident points, leaf 16", x, n, x, n, q, 4, 16, 0);
    run("400 coincident points, depth 19", x, n, x, n, q, 4, 16, KIFMM_MAX_DEPTH);
    free(x); free(y); free(q);
}

/* validation beyond tests/test_api.c: kifmm_direct, set_points, counts that overflow, coordinates
   too large to square, absurd thread counts; a failure leaves outputs and the object untouched */
static char last_msg[512];
static int nlogs = 0;
static void logger(kifmm_status st, const char *msg, void *user) {
    (void)st; (void)user;
    nlogs++;
    snprintf(last_msg, sizeof last_msg, "%s", msg);
}

static void test_validation(void) {
    size_t n = 300, i, huge = ((size_t)-1) / 2;
    double *x = tu_new_points(n, TU_CUBE), *y = tu_new_points(n, TU_SPHERE), *q = charges(n);
    double pot[300], pot0[300], grad[900];
    kifmm *f = NULL;
    kifmm_config c;
    memset(&c, 0, sizeof c);
    c.order = 3;
    c.logger.log_fn = logger;
    /* kifmm_direct: the statuses of create + evaluate */
    CHECK(kifmm_direct(NULL, 3, q, x, 3, pot, NULL) == KIFMM_ERR_INVALID_ARGUMENT, "direct NULL sources");
    CHECK(kifmm_direct(x, 3, q, x, 3, NULL, grad) == KIFMM_ERR_INVALID_ARGUMENT, "direct NULL potentials");
    CHECK(kifmm_direct(x, huge, q, x, 3, pot, NULL) == KIFMM_ERR_INVALID_ARGUMENT, "direct overflowing count");
    CHECK(kifmm_direct(x, 0, NULL, NULL, 0, NULL, NULL) == KIFMM_OK, "direct empty");
    x[3 * 5 + 2] = NAN;
    for (i = 0; i < n; i++) pot[i] = -7;
    CHECK(kifmm_direct(x, n, q, y, n, pot, grad) == KIFMM_ERR_NONFINITE_INPUT && pot[0] == -7, "direct NaN source");
    x[3 * 5 + 2] = 0.5;
    q[9] = INFINITY;
    CHECK(kifmm_direct(x, n, q, y, n, pot, grad) == KIFMM_ERR_NONFINITE_INPUT, "direct Inf charge");
    q[9] = 0.25;
    y[4] = 1e200;
    CHECK(kifmm_direct(x, n, q, y, n, pot, grad) == KIFMM_ERR_INVALID_ARGUMENT, "direct coordinate 1e200");
    /* create: huge coordinate, overflowing counts, absurd thread count, out NULL */
    f = (kifmm *)&f;
    CHECK(kifmm_create(&f, &c, x, n, y, n) == KIFMM_ERR_INVALID_ARGUMENT && f == NULL, "create coordinate 1e200");
    CHECK(strstr(last_msg, "target") && strstr(last_msg, "1 ") && strstr(last_msg, "y = 1e+200"),
          "message names the point: %s", last_msg);
    y[4] = 0.5;
    CHECK(kifmm_create(&f, &c, x, huge, y, n) == KIFMM_ERR_INVALID_ARGUMENT, "create overflowing count");
    CHECK(strstr(last_msg, "sources") != NULL, "message: %s", last_msg);
    c.threads = 100000;
    CHECK(kifmm_create(&f, &c, x, n, y, n) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "threads"),
          "threads 100000: %s", last_msg);
    c.threads = 0;
    nlogs = 0;
    CHECK(kifmm_create(NULL, &c, x, n, y, n) == KIFMM_ERR_INVALID_ARGUMENT && nlogs == 1, "out NULL is logged");
    /* set_points: every bad input leaves the object as it was */
    CHECK(kifmm_create(&f, &c, x, n, y, n) == KIFMM_OK, "create");
    CHECK(kifmm_evaluate(f, q, pot0, NULL) == KIFMM_OK, "evaluate");
    y[3 * 17] = -INFINITY;
    CHECK(kifmm_set_points(f, y, n, x, n) == KIFMM_ERR_NONFINITE_INPUT && strstr(last_msg, "17"),
          "set_points Inf: %s", last_msg);
    y[3 * 17] = 0.5;
    CHECK(kifmm_set_points(f, y, huge, x, n) == KIFMM_ERR_INVALID_ARGUMENT, "set_points overflowing count");
    CHECK(kifmm_set_points(f, NULL, n, x, n) == KIFMM_ERR_INVALID_ARGUMENT, "set_points NULL");
    x[7] = -3e151;
    CHECK(kifmm_set_points(f, y, n, x, n) == KIFMM_ERR_INVALID_ARGUMENT, "set_points coordinate -3e151");
    x[7] = 0.5;
    CHECK(kifmm_set_points(NULL, y, n, x, n) == KIFMM_ERR_INVALID_ARGUMENT, "set_points NULL object");
    for (i = 0; i < n; i++) pot[i] = -7;
    {
        double q3 = q[3];
        q[3] = NAN;
        CHECK(kifmm_evaluate(f, q, pot, grad) == KIFMM_ERR_NONFINITE_INPUT && pot[0] == -7 && pot[n - 1] == -7,
              "a failed evaluate writes nothing");
        q[3] = q3;
    }
    /* after all the failed calls the object still holds the first points: bitwise the same result */
    CHECK(kifmm_evaluate(f, q, pot, NULL) == KIFMM_OK && memcmp(pot, pot0, n * sizeof *pot) == 0,
          "usable as before after the failed calls");
    kifmm_destroy(f);
    printf("validation: kifmm_direct, set_points, overflowing counts, |x| > 1e150, threads: ok\n");
    free(x); free(y); free(q);
}

int main(int argc, char **argv) {
    double t0 = tu_now();
    quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    tu_seed(11);
    test_validation();
    test_coincident();
    test_close_pairs();
    test_single_far_source();
    test_scales();
    test_line();
    test_overfull_leaf();
    while (ncache > 0) kifmm_destroy(cache[--ncache].f);
    printf("%s: %d failures (%.1f s)\n", tu_failures ? "FAIL" : "OK", tu_failures, tu_now() - t0);
    return tu_failures != 0;
}
