/* kifmm quickstart: potentials and gradients of 10^6 random charges, timed, checked against
   direct summation on 1000 sampled targets.
     cc -O3 -march=native -fopenmp -I. examples/quickstart.c -o quickstart -lm && ./quickstart
   With OpenBLAS for the GEMMs: add -DKIFMM_USE_CBLAS and link -lopenblas. Arguments: [N] [order]. */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

static double uniform(unsigned long long *s) {        /* [0, 1) */
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atof(argv[1]) : 1000000, i, m = 1000;
    unsigned long long seed = 2026;
    double *x = malloc(3 * n * sizeof *x), *q = malloc(n * sizeof *q);
    double *pot = malloc(n * sizeof *pot), *grad = malloc(3 * n * sizeof *grad);
    double *y = malloc(3 * m * sizeof *y), *ref = malloc(m * sizeof *ref), *refg = malloc(3 * m * sizeof *refg);
    size_t *pick = malloc(m * sizeof *pick);
    double ep = 0, np = 0, eg = 0, ng = 0;
    static const char *names[8] = {"P2M", "M2M", "M2L", "L2L", "L2P", "M2P", "P2L", "P2P"};
    kifmm_config cfg = {0};               /* zero = defaults */
    kifmm_stats st = {0};
    kifmm *fmm = NULL;
    kifmm_status s;
    if (!x || !q || !pot || !grad || !y || !ref || !refg || !pick) return 1;
    for (i = 0; i < 3 * n; i++) x[i] = uniform(&seed);
    for (i = 0; i < n; i++) q[i] = uniform(&seed) - 0.5;
    cfg.order = argc > 2 ? atoi(argv[2]) : 6;

    s = kifmm_create(&fmm, &cfg, x, n, x, n);                  /* tree + operators */
    if (s == KIFMM_OK) s = kifmm_evaluate(fmm, q, pot, grad);  /* the sums */
    if (s != KIFMM_OK) { printf("kifmm: %s\n", kifmm_status_string(s)); return 1; }
    kifmm_get_stats(fmm, &st);

    printf("kifmm %s: %zu points, order %d, M2L rank %d, %d levels, %zu leaves, %.0f MiB\n", kifmm_version(), n,
           st.order, st.m2l_rank, st.depth, st.leaves, st.bytes / 1048576.0);
    printf("time: tree %.3f s, precompute %.3f s, evaluate %.3f s, total %.3f s\n", st.seconds_tree,
           st.seconds_precompute, st.seconds_evaluate, st.seconds_tree + st.seconds_precompute + st.seconds_evaluate);
    printf("evaluate:");
    for (i = 0; i < 8; i++) printf(" %s %.3f", names[i], st.seconds_op[i]);
    printf("\n");

    for (i = 0; i < m; i++) {                                    /* sampled targets */
        pick[i] = (size_t)(uniform(&seed) * n);
        memcpy(y + 3 * i, x + 3 * pick[i], 3 * sizeof *y);
    }
    kifmm_direct(x, n, q, y, m, ref, refg);
    for (i = 0; i < m; i++) {
        int d;
        ep += (pot[pick[i]] - ref[i]) * (pot[pick[i]] - ref[i]);
        np += ref[i] * ref[i];
        for (d = 0; d < 3; d++) {
            eg += (grad[3 * pick[i] + d] - refg[3 * i + d]) * (grad[3 * pick[i] + d] - refg[3 * i + d]);
            ng += refg[3 * i + d] * refg[3 * i + d];
        }
    }
    printf("relative L2 error on %zu targets vs kifmm_direct: potential %.2e, gradient %.2e\n", m, sqrt(ep / np),
           sqrt(eg / ng));
    kifmm_destroy(fmm);
    free(x); free(q); free(pot); free(grad); free(y); free(ref); free(refg); free(pick);
    return 0;
}
