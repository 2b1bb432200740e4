/* The public API's promises: statuses and their strings, validation with logger messages that
   name the offending item, the tolerance -> order table, and allocation failure at every
   allocation of create + evaluate + set_points + evaluate (clean status, nothing leaked, an
   existing object still usable). */
#ifndef KIFMM_TEST_LINKED   /* meson links this test against one compiled copy: tests/impl.c */
#define KIFMM_IMPLEMENTATION
#endif
#include "kifmm.h"
#include "testutil.h"

static char last_msg[512];
static kifmm_status last_status;
static void logger(kifmm_status st, const char *msg, void *user) {
    (void)user;
    last_status = st;
    snprintf(last_msg, sizeof last_msg, "%s", msg);
}

static kifmm_config base_config(void) {
    kifmm_config c;
    memset(&c, 0, sizeof c);
    c.order = 3;
    c.leaf_size = 16;
    c.logger.log_fn = logger;
    return c;
}

static void test_strings(void) {
    int s;
    for (s = KIFMM_OK; s <= KIFMM_ERR_NUMERICAL; s++) CHECK(kifmm_status_string((kifmm_status)s) != NULL, "%d", s);
    CHECK(kifmm_status_string((kifmm_status)99) != NULL, "unknown status");
    CHECK(strcmp(kifmm_version(), "0.2.0") == 0 && KIFMM_VERSION_MAJOR == 0 && KIFMM_VERSION_MINOR == 2, "version");
}

static void test_validation(void) {
    double x[3 * 20], q[20], pot[20];
    kifmm *f = (kifmm *)&f;                 /* must be reset to NULL on failure */
    kifmm_config c;
    int i;
    for (i = 0; i < 60; i++) x[i] = tu_rand();
    for (i = 0; i < 20; i++) q[i] = 1;
    c = base_config(); c.order = 17;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT && f == NULL, "order 17");
    CHECK(strstr(last_msg, "order") != NULL, "message names the field: %s", last_msg);
    c = base_config(); c.order = 1;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "order 1");
    c = base_config(); c.leaf_size = -1;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "leaf_size");
    c = base_config(); c.max_depth = KIFMM_MAX_DEPTH + 1;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "max_depth");
    c = base_config(); c.tolerance = -1;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "tolerance");
    c = base_config(); c.m2l_tolerance = NAN;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "m2l_tolerance");
    c = base_config(); c.m2l_rank = -3;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "m2l_rank");
    c = base_config(); c.threads = -1;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "threads");
    c = base_config(); c.allocator.alloc_fn = tu_alloc_fn;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "half an allocator");
    c = base_config(); c.box[3] = -1;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "box"), "box width < 0");
    c = base_config(); c.box[3] = NAN;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "box width NaN");
    c = base_config(); c.box[1] = INFINITY; c.box[3] = 1;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "box centre Inf");
    c = base_config(); c.box[0] = 1e3; c.box[3] = 1e-12;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "box narrower than rounding");
    c = base_config(); c.box[0] = c.box[1] = c.box[2] = 0.5; c.box[3] = 0.5;   /* x is in [0, 1)^3 */
    x[3 * 9] = 1.25;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT && f == NULL, "a point outside the box");
    CHECK(strstr(last_msg, "point 9 of the sources") && strstr(last_msg, "outside config.box"),
          "message names the point: %s", last_msg);
    CHECK(kifmm_create(&f, &c, x + 30, 10, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "a target outside the box");
    CHECK(strstr(last_msg, "point 9 of the targets"), "message names the target: %s", last_msg);
    x[3 * 9] = 0.25;
    c = base_config();
    CHECK(kifmm_create(NULL, &c, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "out NULL");
    CHECK(kifmm_create(&f, &c, NULL, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT, "sources NULL");
    CHECK(kifmm_create(&f, &c, x, 20, NULL, 3) == KIFMM_ERR_INVALID_ARGUMENT, "targets NULL");
    x[3 * 7 + 1] = NAN;
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_ERR_NONFINITE_INPUT && f == NULL, "NaN source");
    CHECK(last_status == KIFMM_ERR_NONFINITE_INPUT && strstr(last_msg, "7") && strstr(last_msg, "source"),
          "message names the point: %s", last_msg);
    x[3 * 7 + 1] = 0.5;
    x[3 * 12] = -INFINITY;
    CHECK(kifmm_create(&f, &c, x, 10, x + 30, 10) == KIFMM_ERR_NONFINITE_INPUT, "Inf target");
    CHECK(strstr(last_msg, "2") && strstr(last_msg, "target"), "message names the target: %s", last_msg);
    x[3 * 12] = 0.5;
    {   /* bad points are found before any work: no allocation at all, even at order 16 */
        tu_alloc counter;
        kifmm_config c16 = base_config();
        c16.order = 16;
        c16.allocator = tu_allocator(&counter, -1);
        x[3 * 5 + 2] = NAN;
        CHECK(kifmm_create(&f, &c16, x, 20, x, 20) == KIFMM_ERR_NONFINITE_INPUT && counter.calls == 0,
              "NaN point at order 16: %ld allocations before the check", counter.calls);
        x[3 * 5 + 2] = 0.5;
        c16.box[0] = c16.box[1] = c16.box[2] = 0.5; c16.box[3] = 0.25;
        CHECK(kifmm_create(&f, &c16, x, 20, x, 20) == KIFMM_ERR_INVALID_ARGUMENT && counter.calls == 0,
              "point outside the box at order 16: %ld allocations before the check", counter.calls);
    }
    CHECK(kifmm_create(&f, &c, x, 20, x, 20) == KIFMM_OK, "create");
    q[13] = NAN;
    CHECK(kifmm_evaluate(f, q, pot, NULL) == KIFMM_ERR_NONFINITE_INPUT, "NaN charge");
    CHECK(strstr(last_msg, "13") != NULL, "message names the charge: %s", last_msg);
    q[13] = 1;
    CHECK(kifmm_evaluate(f, NULL, pot, NULL) == KIFMM_ERR_INVALID_ARGUMENT, "charges NULL");
    CHECK(kifmm_evaluate(f, q, NULL, NULL) == KIFMM_ERR_INVALID_ARGUMENT, "potentials NULL");
    CHECK(kifmm_evaluate(NULL, q, pot, NULL) == KIFMM_ERR_INVALID_ARGUMENT, "object NULL");
    CHECK(kifmm_evaluate(f, q, pot, NULL) == KIFMM_OK, "still usable");
    CHECK(kifmm_get_stats(f, NULL) == KIFMM_ERR_INVALID_ARGUMENT, "stats NULL");
    kifmm_destroy(f);
    kifmm_destroy(NULL);
}

static void test_order_table(void) {
    kifmm *f = NULL;
    kifmm_config c;
    kifmm_stats s;
    double x[3] = {0, 0, 0};
    memset(&s, 0, sizeof s);
    CHECK(kifmm_order_for_tolerance(1e-2) == 3 && kifmm_order_for_tolerance(1e-3) == 4, "coarse");
    CHECK(kifmm_order_for_tolerance(5e-6) == 6 && kifmm_order_for_tolerance(1e-8) == 9, "fine");
    CHECK(kifmm_order_for_tolerance(2.9e-6) == 6 && kifmm_order_for_tolerance(2.8e-6) == 7, "edge");
    CHECK(kifmm_order_for_tolerance(4e-13) == 15 && kifmm_order_for_tolerance(1e-13) == 16, "finest");
    /* the leaf size follows the order unless given; the other kernels keep 150 */
    CHECK(kifmm_default_leaf_size(3, KIFMM_KERNEL_LAPLACE) == 100 && kifmm_default_leaf_size(6, KIFMM_KERNEL_LAPLACE) == 150 &&
          kifmm_default_leaf_size(9, KIFMM_KERNEL_LAPLACE) == 400 && kifmm_default_leaf_size(16, KIFMM_KERNEL_LAPLACE) == 900 &&
          kifmm_default_leaf_size(9, KIFMM_KERNEL_STOKES) == 150 && kifmm_default_leaf_size(99, KIFMM_KERNEL_LAPLACE) == 150,
          "leaf sizes");
    memset(&c, 0, sizeof c);
    c.tolerance = 1e-4;
    CHECK(kifmm_create(&f, &c, x, 1, x, 1) == KIFMM_OK, "create");
    kifmm_get_stats(f, &s);
    CHECK(s.order == 5 && s.leaf_size == 150 && s.m2l_tolerance == kifmm_default_m2l_tolerance(5),
          "tolerance 1e-4 gives order %d, leaf %d", s.order, s.leaf_size);
    kifmm_destroy(f);
    c.tolerance = 3e-9;                    /* order 10: leaf 400 */
    CHECK(kifmm_create(&f, &c, x, 1, x, 1) == KIFMM_OK, "create");
    kifmm_get_stats(f, &s);
    CHECK(s.order == 10 && s.leaf_size == 400, "tolerance 3e-9 gives order %d, leaf %d", s.order, s.leaf_size);
    kifmm_destroy(f);
    c.leaf_size = 40;                      /* a given leaf size is kept */
    CHECK(kifmm_create(&f, &c, x, 1, x, 1) == KIFMM_OK, "create");
    kifmm_get_stats(f, &s);
    CHECK(s.leaf_size == 40, "leaf %d", s.leaf_size);
    kifmm_destroy(f);
    memset(&c, 0, sizeof c);
    CHECK(kifmm_create(&f, &c, x, 1, x, 1) == KIFMM_OK, "create");
    kifmm_get_stats(f, &s);
    CHECK(s.order == 6 && s.leaf_size == 150, "default order %d, leaf %d", s.order, s.leaf_size);
    kifmm_destroy(f);
}

/* the descriptor and the kernel: every bad value refused with a message naming it, the outputs
   untouched */
static void test_desc(void) {
    enum { N = 40 };
    double x[3 * N], q[3 * N * 2], v[3 * N * 2], pot[3 * N * 2], grad[9 * N * 2], hess[6 * N * 2];   /* (nd 2) */
    kifmm *f = NULL;
    kifmm_config c;
    kifmm_eval_desc d;
    int i;
    for (i = 0; i < 3 * N; i++) x[i] = tu_rand();
    for (i = 0; i < 6 * N; i++) { q[i] = tu_rand() - 0.5; v[i] = tu_rand() - 0.5; }
    c = base_config();
    c.nd = 2;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_OK, "create nd 2");
    if (!f) return;
    for (i = 0; i < 6 * N; i++) pot[i] = 7;
    memset(&d, 0, sizeof d);
    d.charges = q; d.potentials = pot;
    CHECK(kifmm_evaluate_ex(f, NULL) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "desc"), "desc NULL: %s", last_msg);
    CHECK(kifmm_evaluate_ex(NULL, &d) == KIFMM_ERR_INVALID_ARGUMENT, "object NULL");
    d.nd = 3;
    CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "nd = 3"), "nd above config.nd: %s",
          last_msg);
    d.nd = -1;
    CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "desc->nd"), "nd < 0: %s", last_msg);
    d.nd = 2;
    d.charges = NULL;
    CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "no input"), "no input: %s",
          last_msg);
    d.charges = q;
    d.potentials = NULL;
    CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "no output"), "no output: %s",
          last_msg);
    d.potentials = pot;
    d.dipoles = v;
    v[3 * 2 * 5 + 2 * 1 + 1] = NAN;          /* source 5, component y, set 1 */
    CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_ERR_NONFINITE_INPUT && strstr(last_msg, "dipole of source 5") &&
              strstr(last_msg, "component 1, set 1"), "NaN dipole: %s", last_msg);
    v[3 * 2 * 5 + 2 * 1 + 1] = 0.25;
    q[2 * 7] = INFINITY;
    CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_ERR_NONFINITE_INPUT && strstr(last_msg, "charge of source 7"),
          "Inf charge: %s", last_msg);
    q[2 * 7] = 0.25;
    for (i = 0; i < 2 * N; i++) CHECK(pot[i] == 7, "outputs untouched by failed calls");
    d.gradients = grad; d.hessians = hess;
    CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_OK, "charges + dipoles, all outputs");
    kifmm_destroy(f);

    /* the kernel */
    c = base_config(); c.nd = KIFMM_MAX_ND + 1;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "nd"), "config.nd: %s", last_msg);
    c = base_config(); c.kernel.kind = (kifmm_kernel_kind)9;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "kind"), "kind: %s", last_msg);
    c = base_config(); c.kernel.kind = KIFMM_KERNEL_YUKAWA;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "lambda"), "lambda 0: %s",
          last_msg);
    c.kernel.param = NAN;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT, "lambda NaN");
    c.kernel.param = -2;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT, "lambda < 0");
    c = base_config(); c.kernel.kind = KIFMM_KERNEL_STOKES; c.kernel.param = -1;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "mu"), "mu < 0: %s", last_msg);
    c.kernel.param = INFINITY;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT, "mu Inf");
    c = base_config(); c.kernel.kind = KIFMM_KERNEL_USER; c.kernel.source_dim = c.kernel.target_dim = 1;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "eval"), "no eval: %s",
          last_msg);
    c.kernel.eval = tu_user_laplace; c.kernel.source_dim = 0;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "source_dim"),
          "source_dim 0: %s", last_msg);
    c.kernel.source_dim = 1; c.kernel.target_dim = 10;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "target_dim"),
          "target_dim 10: %s", last_msg);
    c.kernel.target_dim = 1; c.kernel.homogeneity = 0;      /* forgotten (zero-initialised): Laplace is -1 */
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "does not hold"),
          "a wrong homogeneity: %s", last_msg);
    c.kernel.homogeneity = INFINITY;
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "homogeneity"),
          "homogeneity Inf: %s", last_msg);
    /* what a kernel cannot give: refused by the direct sum as by the FMM */
    memset(&d, 0, sizeof d);
    d.charges = q; d.potentials = pot; d.dipoles = v;
    c = base_config(); c.kernel.kind = KIFMM_KERNEL_STOKES;
    CHECK(kifmm_direct_ex(&c, x, N, x, N, &d) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "dipoles"),
          "Stokes takes no dipoles: %s", last_msg);
    d.dipoles = NULL; d.hessians = hess;
    CHECK(kifmm_direct_ex(&c, x, N, x, N, &d) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "hessians"),
          "Stokes gives no Hessians: %s", last_msg);
    d.hessians = NULL; d.gradients = grad;
    c = base_config(); c.kernel.kind = KIFMM_KERNEL_USER; c.kernel.source_dim = c.kernel.target_dim = 1;
    c.kernel.homogeneity = -1; c.kernel.eval = tu_user_laplace;
    CHECK(kifmm_direct_ex(&c, x, N, x, N, &d) == KIFMM_ERR_INVALID_ARGUMENT && strstr(last_msg, "gradients"),
          "a user kernel gives no gradients: %s", last_msg);
    CHECK(kifmm_create(&f, &c, x, N, x, N) == KIFMM_OK, "user kernel create");
    if (f) {
        CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_ERR_INVALID_ARGUMENT, "user kernel: gradients refused by the FMM");
        kifmm_destroy(f);
    }
}

/* allocation k fails, for every k of create + evaluate + set_points + evaluate, for each kind of
   object: Laplace with one charge set, Laplace with two sets and dipoles, Hessians (nd 2),
   Yukawa (a set per level, rebuilt by set_points for the new root size), Stokes, a user kernel */
enum { AK_LAPLACE, AK_ND2, AK_YUKAWA, AK_STOKES, AK_USER, AK_N };
static int quick = 0;          /* sanitizer builds: 150 points for every kind */
static const char *const ak_name[AK_N] = {"Laplace", "Laplace nd 2 + dipoles + Hessians", "Yukawa", "Stokes", "user"};

static kifmm_config alloc_config(int kind) {
    kifmm_config c = base_config();
    c.threads = 1;                 /* (hundreds of short runs: no thread team to wake each time) */
    if (kind == AK_ND2) c.nd = 2;
    if (kind == AK_YUKAWA) { c.kernel.kind = KIFMM_KERNEL_YUKAWA; c.kernel.param = 2; }
    if (kind == AK_STOKES) { c.kernel.kind = KIFMM_KERNEL_STOKES; }
    if (kind == AK_USER) {
        c.kernel.kind = KIFMM_KERNEL_USER; c.kernel.source_dim = c.kernel.target_dim = 1;
        c.kernel.homogeneity = -1; c.kernel.eval = tu_user_laplace;   /* (per level: Yukawa's path) */
    }
    return c;
}

static kifmm_status alloc_eval(kifmm *f, int kind, const double *q, double *p, double *scratch) {
    kifmm_eval_desc d;
    memset(&d, 0, sizeof d);
    d.charges = q;
    d.potentials = p;
    if (kind == AK_ND2) { d.nd = 2; d.dipoles = q; d.gradients = scratch; d.hessians = scratch + 3 * 2 * 400; }
    if (kind == AK_LAPLACE || kind == AK_YUKAWA) d.gradients = scratch;
    return kifmm_evaluate_ex(f, &d);
}

static void test_alloc_failures(int kind) {
    size_t n = (kind == AK_LAPLACE || kind == AK_ND2) && !quick ? 400 : 150, i, np = 3 * 2 * n;
    double *x = tu_new_points(n, TU_PLUMMER), *y = tu_new_points(n / 2, TU_CUBE), q[3 * 2 * 400], p0[3 * 2 * 400];
    double p1[3 * 2 * 400], scratch[9 * 2 * 400];
    long k, total = -1;
    tu_alloc probe;
    for (i = 0; i < 3 * 2 * n; i++) q[i] = tu_rand() - 0.5;
    for (i = 0; i < 3 * (n / 2); i++) y[i] *= 3;             /* another root size */
    {   /* reference run, counting the allocations */
        kifmm_config c = alloc_config(kind);
        kifmm *f = NULL;
        c.allocator = tu_allocator(&probe, -1);
        CHECK(kifmm_create(&f, &c, x, n, x, n) == KIFMM_OK, "create");
        CHECK(alloc_eval(f, kind, q, p0, scratch) == KIFMM_OK, "evaluate");
        kifmm_set_points(f, y, n / 2, y, n / 2);
        alloc_eval(f, kind, q, p1, scratch);
        kifmm_destroy(f);
        total = probe.calls;
        CHECK(probe.live_blocks == 0 && probe.bad_frees == 0, "reference run leaks");
    }
    for (k = 0; k < total; k++) {
        tu_alloc a;
        kifmm_config c = alloc_config(kind);
        kifmm *f = NULL;
        kifmm_status st;
        double p[3 * 2 * 400];
        c.allocator = tu_allocator(&a, k);
        st = kifmm_create(&f, &c, x, n, x, n);
        if (st != KIFMM_OK) {
            CHECK(st == KIFMM_ERR_OUT_OF_MEMORY && f == NULL, "create at %ld: %d", k, (int)st);
        } else {
            CHECK(alloc_eval(f, kind, q, p, scratch) == KIFMM_OK, "evaluate allocates nothing (%ld)", k);
            st = kifmm_set_points(f, y, n / 2, y, n / 2);
            if (st != KIFMM_OK) {
                CHECK(st == KIFMM_ERR_OUT_OF_MEMORY, "set_points at %ld: %d", k, (int)st);
                /* the object keeps the old points */
                CHECK(alloc_eval(f, kind, q, p, scratch) == KIFMM_OK && memcmp(p, p0, n * sizeof *p) == 0,
                      "usable after a failed set_points (%ld)", k);
            } else {
                CHECK(alloc_eval(f, kind, q, p, scratch) == KIFMM_OK && memcmp(p, p1, n / 2 * sizeof *p) == 0,
                      "second evaluate (%ld)", k);
            }
            kifmm_destroy(f);
        }
        CHECK(a.live_blocks == 0 && a.bad_frees == 0, "%s: failure at %ld: %ld blocks leaked, %ld bad frees",
              ak_name[kind], k, a.live_blocks, a.bad_frees);
    }
    (void)np;
    printf("allocation failure, %s: all %ld allocation points of create/evaluate/set_points/evaluate, no leaks\n",
           ak_name[kind], total);
    free(x);
    free(y);
}

int main(int argc, char **argv) {
    quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    test_strings();
    test_validation();
    test_order_table();
    test_desc();
    {
        int kind;
        for (kind = 0; kind < AK_N; kind++) test_alloc_failures(kind);
    }
    printf("%s: %d failures\n", tu_failures ? "FAIL" : "OK", tu_failures);
    return tu_failures != 0;
}
