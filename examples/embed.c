/* kifmm inside a time-stepping loop: particles move, the operators stay.
     cc -O3 -march=native -fopenmp -I. examples/embed.c -o embed -lm && ./embed
   kifmm_create precomputes the operators once; every step calls kifmm_set_points (new tree only)
   and kifmm_evaluate. The printout shows precompute paid once and the per-step cost. */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atof(argv[1]) : 100000, i;
    int step, steps = 5;
    double *x = malloc(3 * n * sizeof *x), *v = malloc(3 * n * sizeof *v), *q = malloc(n * sizeof *q);
    double *pot = malloc(n * sizeof *pot), *grad = malloc(3 * n * sizeof *grad), dt = 1e-3;
    unsigned long long s = 7;
    kifmm_config cfg = {0};
    kifmm_stats st = {0};
    kifmm *fmm = NULL;
    if (!x || !v || !q || !pot || !grad) return 1;
    for (i = 0; i < 3 * n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (double)(s >> 11) / 9007199254740992.0;
        v[i] = 0;
    }
    for (i = 0; i < n; i++) q[i] = i % 2 ? 1.0 / n : -1.0 / n;   /* a neutral plasma */
    cfg.tolerance = 1e-5;                                      /* picks the order */
    if (kifmm_create(&fmm, &cfg, x, n, x, n) != KIFMM_OK) return 1;
    kifmm_get_stats(fmm, &st);
    printf("%zu particles, order %d: precompute %.3f s (once)\n", n, st.order, st.seconds_precompute);
    for (step = 0; step < steps; step++) {
        kifmm_status rc = step ? kifmm_set_points(fmm, x, n, x, n) : KIFMM_OK;
        if (rc == KIFMM_OK) rc = kifmm_evaluate(fmm, q, pot, grad);
        if (rc != KIFMM_OK) { printf("step %d: %s\n", step, kifmm_status_string(rc)); return 1; }
        kifmm_get_stats(fmm, &st);
        /* force on charge i is -q_i grad phi; like charges repel */
        for (i = 0; i < n; i++) {
            int d;
            for (d = 0; d < 3; d++) {
                v[3 * i + d] -= dt * q[i] * grad[3 * i + d] * n;
                x[3 * i + d] += dt * v[3 * i + d];
            }
        }
        printf("step %d: tree %.3f s, evaluate %.3f s, potential at particle 0: %+.6e\n", step, st.seconds_tree,
               st.seconds_evaluate, pot[0]);
    }
    kifmm_destroy(fmm);
    free(x); free(v); free(q); free(pot); free(grad);
    return 0;
}
