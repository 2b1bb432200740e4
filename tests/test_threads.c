/* Thread safety:
   1. two independent kifmm objects driven from two pthreads at the same time (create, evaluate,
      set_points, evaluate, destroy) give bitwise the results each gives when run alone;
   2. kifmm_evaluate called from inside the caller's own OpenMP parallel region, one object per
      caller thread: kifmm's regions are nested, run on one thread each (nesting off, the OpenMP
      default) and give bitwise the results of config.threads = 1; with nesting switched on by
      the caller they run config.threads threads each and agree to rounding. Neither deadlocks.
   Argument "quick": smaller N (sanitizer build). */
#ifndef KIFMM_TEST_LINKED   /* meson links this test against one compiled copy: tests/impl.c */
#define KIFMM_IMPLEMENTATION
#endif
#include "kifmm.h"
#include "testutil.h"
#include <pthread.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct job {
    int order, threads;
    size_t n1, n2;
    double *x1, *x2, *q;          /* first point set, the set after set_points, charges */
    double *pot1, *grad1, *pot2;  /* results */
    kifmm_status status;
} job;

static void job_init(job *j, int order, int threads, size_t n, int dist1, int dist2) {
    size_t i;
    memset(j, 0, sizeof *j);
    j->order = order;
    j->threads = threads;
    j->n1 = n;
    j->n2 = n / 2 + 7;
    j->x1 = tu_new_points(j->n1, dist1);
    j->x2 = tu_new_points(j->n2, dist2);
    j->q = (double *)malloc(n * sizeof *j->q);
    for (i = 0; i < n; i++) j->q[i] = tu_rand() - 0.5;
    j->pot1 = (double *)calloc(j->n1, sizeof *j->pot1);
    j->grad1 = (double *)calloc(3 * j->n1, sizeof *j->grad1);
    j->pot2 = (double *)calloc(j->n2, sizeof *j->pot2);
}

static void job_free(job *j) {
    free(j->x1); free(j->x2); free(j->q); free(j->pot1); free(j->grad1); free(j->pot2);
}

/* the whole life of one object */
static void *job_run(void *arg) {
    job *j = (job *)arg;
    kifmm *f = NULL;
    kifmm_config c;
    memset(&c, 0, sizeof c);
    c.order = j->order;
    c.threads = j->threads;
    c.leaf_size = 40;
    j->status = kifmm_create(&f, &c, j->x1, j->n1, j->x1, j->n1);
    if (j->status == KIFMM_OK) j->status = kifmm_evaluate(f, j->q, j->pot1, j->grad1);
    if (j->status == KIFMM_OK) j->status = kifmm_set_points(f, j->x2, j->n2, j->x2, j->n2);
    if (j->status == KIFMM_OK) j->status = kifmm_evaluate(f, j->q, j->pot2, NULL);
    kifmm_destroy(f);
    return NULL;
}

static int same_bits(const double *a, const double *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

static double max_rel_diff(const double *a, const double *b, size_t n) {
    double num = 0, den = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > num) num = fabs(a[i] - b[i]);
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return den > 0 ? num / den : num;
}

/* two objects, two pthreads, compared with each run alone */
static void test_two_pthreads(size_t n) {
    job alone[2], both[2];
    pthread_t th[2];
    int k, round;
    tu_seed(21);
    job_init(&alone[0], 4, 2, n, TU_PLUMMER, TU_CUBE);
    job_init(&alone[1], 3, 1, n + 333, TU_SPHERE, TU_TWO_CLUSTERS);
    for (k = 0; k < 2; k++) {
        job_run(&alone[k]);
        CHECK(alone[k].status == KIFMM_OK, "alone %d: %s", k, kifmm_status_string(alone[k].status));
    }
    for (round = 0; round < 2; round++) {     /* twice: the second run starts with warm pools */
        double t0 = tu_now();
        for (k = 0; k < 2; k++) {
            job *a = &alone[k], *b = &both[k];
            memset(b, 0, sizeof *b);
            *b = *a;
            b->pot1 = (double *)calloc(a->n1, sizeof *b->pot1);
            b->grad1 = (double *)calloc(3 * a->n1, sizeof *b->grad1);
            b->pot2 = (double *)calloc(a->n2, sizeof *b->pot2);
        }
        for (k = 0; k < 2; k++) CHECK(pthread_create(&th[k], NULL, job_run, &both[k]) == 0, "pthread_create");
        for (k = 0; k < 2; k++) pthread_join(th[k], NULL);
        for (k = 0; k < 2; k++) {
            job *a = &alone[k], *b = &both[k];
            CHECK(b->status == KIFMM_OK, "thread %d: %s", k, kifmm_status_string(b->status));
            CHECK(same_bits(a->pot1, b->pot1, a->n1) && same_bits(a->grad1, b->grad1, 3 * a->n1) &&
                      same_bits(a->pot2, b->pot2, a->n2),
                  "object %d differs when run next to another: %.2e %.2e %.2e", k,
                  max_rel_diff(b->pot1, a->pot1, a->n1), max_rel_diff(b->grad1, a->grad1, 3 * a->n1),
                  max_rel_diff(b->pot2, a->pot2, a->n2));
            free(b->pot1); free(b->grad1); free(b->pot2);
        }
        printf("two pthreads, round %d: p=4 (2 OpenMP threads) n=%zu and p=3 (1 thread) n=%zu, bitwise equal to "
               "alone (%.2f s)\n", round, n, n + 333, tu_now() - t0);
    }
    for (k = 0; k < 2; k++) job_free(&alone[k]);
}

/* kifmm_evaluate inside the caller's parallel region: one object per caller thread */
static void test_inside_omp(size_t n) {
#ifdef _OPENMP
    enum { T = 2 };
    kifmm *f[T];
    double *x[T], *q, *ref[T], *refg[T], *pot[T], *grad[T];
    int k, nested, inner_threads[T];
    kifmm_config c;
    tu_seed(33);
    q = (double *)malloc(n * sizeof *q);
    for (k = 0; k < (int)n; k++) q[k] = tu_rand() - 0.5;
    for (k = 0; k < T; k++) {
        x[k] = tu_new_points(n, k ? TU_PLUMMER : TU_CUBE);
        ref[k] = (double *)malloc(n * sizeof(double));
        refg[k] = (double *)malloc(3 * n * sizeof(double));
        pot[k] = (double *)malloc(n * sizeof(double));
        grad[k] = (double *)malloc(3 * n * sizeof(double));
    }
    for (nested = 0; nested < 2; nested++) {
        int ref_threads = nested ? 2 : 1, levels = omp_get_max_active_levels();
        double t0;
        /* references: outside any parallel region, config.threads = 1 (nesting off: what the
           nested regions will effectively get) or 2 (nesting on) */
        memset(&c, 0, sizeof c);
        c.order = 4;
        c.leaf_size = 40;
        c.threads = ref_threads;
        for (k = 0; k < T; k++) {
            CHECK(kifmm_create(&f[k], &c, x[k], n, x[k], n) == KIFMM_OK, "create");
            CHECK(kifmm_evaluate(f[k], q, ref[k], refg[k]) == KIFMM_OK, "reference evaluate");
            kifmm_destroy(f[k]);
        }
        /* the objects the caller's threads use ask for 2 threads each */
        c.threads = 2;
        for (k = 0; k < T; k++) CHECK(kifmm_create(&f[k], &c, x[k], n, x[k], n) == KIFMM_OK, "create");
        omp_set_max_active_levels(nested ? 2 : 1);
        t0 = tu_now();
#pragma omp parallel num_threads(T)
        {
            int me = omp_get_thread_num();
            if (me < T) {
                int i;
                for (i = 0; i < 3; i++)   /* repeated: a pool left in a bad state would show */
                    if (kifmm_evaluate(f[me], q, pot[me], grad[me]) != KIFMM_OK) pot[me][0] = NAN;
#pragma omp parallel
                inner_threads[me] = omp_get_num_threads();   /* what a nested region gets here */
            }
        }
        omp_set_max_active_levels(levels);
        for (k = 0; k < T; k++) {
            if (nested) {
                double dp = max_rel_diff(pot[k], ref[k], n), dg = max_rel_diff(grad[k], refg[k], 3 * n);
                CHECK(dp < 1e-12 && dg < 1e-12, "nesting on, caller thread %d: differs from 2 threads alone by "
                      "%.2e / %.2e", k, dp, dg);
            } else {
                CHECK(same_bits(pot[k], ref[k], n) && same_bits(grad[k], refg[k], 3 * n),
                      "nesting off, caller thread %d: differs from config.threads = 1: %.2e / %.2e", k,
                      max_rel_diff(pot[k], ref[k], n), max_rel_diff(grad[k], refg[k], 3 * n));
            }
            kifmm_destroy(f[k]);
        }
        printf("inside the caller's parallel region (%d threads), nesting %s: inner regions get %d thread(s); "
               "results %s the %d-thread run alone (%.2f s)\n", T, nested ? "on" : "off", inner_threads[0],
               nested ? "agree to 1e-12 with" : "bitwise equal", ref_threads, tu_now() - t0);
    }
    for (k = 0; k < T; k++) { free(x[k]); free(ref[k]); free(refg[k]); free(pot[k]); free(grad[k]); }
    free(q);
#else
    (void)n;
    printf("built without OpenMP: the caller's-parallel-region test does not apply\n");
#endif
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    double t0 = tu_now();
    test_two_pthreads(quick ? 1500 : 4000);
    test_inside_omp(quick ? 1500 : 4000);
    printf("%s: %d failures (%.1f s)\n", tu_failures ? "FAIL" : "OK", tu_failures, tu_now() - t0);
    return tu_failures != 0;
}
