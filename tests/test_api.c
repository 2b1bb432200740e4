/* The public API's promises: statuses and their strings, validation with logger messages that
   name the offending item, the tolerance -> order table, and allocation failure at every
   allocation of create + evaluate + set_points + evaluate (clean status, nothing leaked, an
   existing object still usable). */
#define KIFMM_IMPLEMENTATION
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
    CHECK(kifmm_order_for_tolerance(5e-6) == 7 && kifmm_order_for_tolerance(1e-8) == 10, "fine");
    CHECK(kifmm_order_for_tolerance(1e-13) == 16, "finest");
    memset(&c, 0, sizeof c);
    c.tolerance = 1e-4;
    CHECK(kifmm_create(&f, &c, x, 1, x, 1) == KIFMM_OK, "create");
    kifmm_get_stats(f, &s);
    CHECK(s.order == 5, "tolerance 1e-4 gives order %d", s.order);
    kifmm_destroy(f);
    memset(&c, 0, sizeof c);
    CHECK(kifmm_create(&f, &c, x, 1, x, 1) == KIFMM_OK, "create");
    kifmm_get_stats(f, &s);
    CHECK(s.order == 6, "default order %d", s.order);
    kifmm_destroy(f);
}

/* allocation k fails, for every k of create + evaluate + set_points + evaluate */
static void test_alloc_failures(void) {
    size_t n = 400, i;
    double *x = tu_new_points(n, TU_PLUMMER), *y = tu_new_points(n / 2, TU_CUBE), q[400], p0[400], p1[400];
    long k, total = -1;
    tu_alloc probe;
    for (i = 0; i < n; i++) q[i] = tu_rand() - 0.5;
    {   /* reference run, counting the allocations */
        kifmm_config c = base_config();
        kifmm *f = NULL;
        c.allocator = tu_allocator(&probe, -1);
        CHECK(kifmm_create(&f, &c, x, n, x, n) == KIFMM_OK, "create");
        kifmm_evaluate(f, q, p0, NULL);
        kifmm_set_points(f, y, n / 2, y, n / 2);
        kifmm_evaluate(f, q, p1, NULL);
        kifmm_destroy(f);
        total = probe.calls;
        CHECK(probe.live_blocks == 0 && probe.bad_frees == 0, "reference run leaks");
    }
    for (k = 0; k < total; k++) {
        tu_alloc a;
        kifmm_config c = base_config();
        kifmm *f = NULL;
        kifmm_status st;
        double p[400];
        c.allocator = tu_allocator(&a, k);
        st = kifmm_create(&f, &c, x, n, x, n);
        if (st != KIFMM_OK) {
            CHECK(st == KIFMM_ERR_OUT_OF_MEMORY && f == NULL, "create at %ld: %d", k, (int)st);
        } else {
            CHECK(kifmm_evaluate(f, q, p, NULL) == KIFMM_OK, "evaluate allocates nothing (%ld)", k);
            st = kifmm_set_points(f, y, n / 2, y, n / 2);
            if (st != KIFMM_OK) {
                CHECK(st == KIFMM_ERR_OUT_OF_MEMORY, "set_points at %ld: %d", k, (int)st);
                /* the object keeps the old points */
                CHECK(kifmm_evaluate(f, q, p, NULL) == KIFMM_OK && memcmp(p, p0, n * sizeof *p) == 0,
                      "usable after a failed set_points (%ld)", k);
            } else {
                CHECK(kifmm_evaluate(f, q, p, NULL) == KIFMM_OK && memcmp(p, p1, n / 2 * sizeof *p) == 0,
                      "second evaluate (%ld)", k);
            }
            kifmm_destroy(f);
        }
        CHECK(a.live_blocks == 0 && a.bad_frees == 0, "failure at %ld: %ld blocks leaked, %ld bad frees", k,
              a.live_blocks, a.bad_frees);
    }
    printf("allocation failure: all %ld allocation points of create/evaluate/set_points/evaluate, no leaks\n",
           total);
    free(x);
    free(y);
}

int main(void) {
    test_strings();
    test_validation();
    test_order_table();
    test_alloc_failures();
    printf("%s: %d failures\n", tu_failures ? "FAIL" : "OK", tu_failures);
    return tu_failures != 0;
}
