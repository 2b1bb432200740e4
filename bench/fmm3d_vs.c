/* fmm3d_vs - kifmm against FMM3D in one process, on the same points and the same direct sum: N
   sources = targets uniform in the unit cube, charges in [-0.5, 0.5], potential + gradient, for
   each eps: FMM3D's lfmm3d_s_c_g_ at eps, then kifmm with only config.tolerance set, from the
   errors FMM3D reached: the smaller of its potential error and a third of its gradient error
   (kifmm's tolerance is on the potential, and its gradient errors run up to 3x that: the rule of
   kifmm_fmm3d.h, which sets eps / 3 when gradients are wanted); the two alternate REPS times (FMM3D, kifmm, FMM3D, ...), the
   median of each is printed with the errors of both on the first NCHECK targets against one
   direct sum. Built by bench/fmm3d_compare.sh against FMM3D's lib-static/libfmm3d.a:

     cc -O3 -march=native -fopenmp -I. bench/fmm3d_vs.c FMM3D/lib-static/libfmm3d.a \
        -o bench/build/fmm3d_vs -lgfortran -lstdc++ -lm -ldl

     bench/build/fmm3d_vs [N=1e6] [reps=3] [ncheck=1000] eps...                          */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <omp.h>

/* FMM3D's Laplace routine (libfmm3d), declared as in its c/lfmm3d_c.h */
void lfmm3d_s_c_g_(double *eps, int64_t *nsource, double *source, double *charge, double *pot, double *grad,
                   int64_t *ier);

static uint64_t rng = 1;
static double urand(void) {
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (double)((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
}

static void errs(const double *p, const double *g, const double *rp, const double *rg, size_t m, double e[2]) {
    double a = 0, b = 0, c = 0, d = 0;
    size_t i;
    for (i = 0; i < m; i++) { a += (p[i] - rp[i]) * (p[i] - rp[i]); b += rp[i] * rp[i]; }
    for (i = 0; i < 3 * m; i++) { c += (g[i] - rg[i]) * (g[i] - rg[i]); d += rg[i] * rg[i]; }
    e[0] = sqrt(a / b);
    e[1] = sqrt(c / d);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atof(argv[1]) : 1000000, m, i;
    int reps = argc > 2 ? atoi(argv[2]) : 3, a, r;
    size_t ncheck = argc > 3 ? (size_t)atof(argv[3]) : 1000;
    double *x = (double *)malloc(3 * n * sizeof *x), *q = (double *)malloc(n * sizeof *q);
    double *pot = (double *)malloc(n * sizeof *pot), *grad = (double *)malloc(3 * n * sizeof *grad);
    double *rp, *rg, *all;
    m = ncheck < n ? ncheck : n;
    rp = (double *)calloc(m, sizeof *rp);
    rg = (double *)calloc(3 * m, sizeof *rg);
    for (i = 0; i < 3 * n; i++) x[i] = urand();
    for (i = 0; i < n; i++) q[i] = urand() - 0.5;
    /* one direct sum on the first m targets (sources = targets: self excluded) */
    if (kifmm_direct(x, n, q, x, m, rp, rg) != KIFMM_OK) return 1;
    printf("N = %zu, sources = targets, potential + gradient, %d threads, %d alternating reps, errors on %zu targets\n",
           n, omp_get_max_threads(), reps, m);
    printf("| FMM3D eps | FMM3D total (s) | FMM3D error pot / grad | kifmm tolerance | kifmm order, leaf | kifmm total (s) "
           "| kifmm error pot / grad | ratio |\n|---|---|---|---|---|---|---|---|\n");
    all = (double *)malloc(2 * (size_t)reps * sizeof *all);
    for (a = 4; a < argc; a++) {
        double eps = atof(argv[a]), ef[2] = {0, 0}, ek[2] = {0, 0}, *tf = all, *tk = all + reps, tol = 0;
        kifmm_stats st;
        memset(&st, 0, sizeof st);
        for (r = 0; r < reps; r++) {
            int64_t nn = (int64_t)n, ier = 0;
            kifmm_config c;
            kifmm *f = NULL;
            double t0 = omp_get_wtime();
            memset(pot, 0, n * sizeof *pot);
            memset(grad, 0, 3 * n * sizeof *grad);
            lfmm3d_s_c_g_(&eps, &nn, x, q, pot, grad, &ier);
            tf[r] = omp_get_wtime() - t0;
            if (ier) { printf("FMM3D ier %lld\n", (long long)ier); return 1; }
            errs(pot, grad, rp, rg, m, ef);
            tol = ef[0] < ef[1] / 3 ? ef[0] : ef[1] / 3;   /* what FMM3D reached, in both outputs */
            memset(&c, 0, sizeof c);
            c.tolerance = tol;
            t0 = omp_get_wtime();             /* total: tree + precompute + evaluate */
            if (kifmm_create(&f, &c, x, n, x, n) != KIFMM_OK || kifmm_evaluate(f, q, pot, grad) != KIFMM_OK) return 1;
            tk[r] = omp_get_wtime() - t0;
            kifmm_get_stats(f, &st);
            kifmm_destroy(f);
            errs(pot, grad, rp, rg, m, ek);
            fprintf(stderr, "eps %g rep %d: FMM3D %.3f s, kifmm %.3f s\n", eps, r, tf[r], tk[r]);
        }
        qsort(tf, (size_t)reps, sizeof *tf, cmp);
        qsort(tk, (size_t)reps, sizeof *tk, cmp);
        printf("| %g | %.2f [%.2f-%.2f] | %.1e / %.1e | %.1e | %d, %d | %.2f [%.2f-%.2f] | %.1e / %.1e | %.2f |\n", eps,
               tf[reps / 2], tf[0], tf[reps - 1], ef[0], ef[1], tol, st.order, st.leaf_size, tk[reps / 2], tk[0],
               tk[reps - 1], ek[0], ek[1], tk[reps / 2] / tf[reps / 2]);
        fflush(stdout);
    }
    free(x); free(q); free(pot); free(grad); free(rp); free(rg); free(all);
    return 0;
}
