/* Yukawa (screened Coulomb, modified Helmholtz): phi(x) = sum_i q_i exp(-lambda |x - y_i|) / (4 pi |x - y_i|),
   with potentials, gradients and Hessians, against the direct sum on a few targets.

     cc -O3 -march=native -fopenmp -I. examples/yukawa.c -o yukawa -lm && ./yukawa [N] [lambda] [order]

   lambda is in the units of the coordinates (here the unit cube): 1 is nearly Laplace, 100 screens
   everything beyond a few hundredths. Yukawa has no homogeneity, so kifmm_create builds an operator
   set per level of the tree; kifmm_set_points keeps them while the root cube's size stays. */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atof(argv[1]) : 200000, m = 200, i;
    double lambda = argc > 2 ? atof(argv[2]) : 10, e[3] = {0, 0, 0}, r[3] = {0, 0, 0};
    double *x = malloc(3 * n * sizeof *x), *q = malloc(n * sizeof *q), *pot = malloc(n * sizeof *pot);
    double *grad = malloc(3 * n * sizeof *grad), *hess = malloc(6 * n * sizeof *hess);
    double rp[200], rg[600], rh[1200];
    kifmm_config cfg = {0};
    kifmm_eval_desc d = {0};
    kifmm_stats st;
    kifmm *fmm;
    srand(1);
    for (i = 0; i < 3 * n; i++) x[i] = rand() / (double)RAND_MAX;
    for (i = 0; i < n; i++) q[i] = rand() / (double)RAND_MAX - 0.5;
    cfg.order = argc > 3 ? atoi(argv[3]) : 6;
    cfg.kernel.kind = KIFMM_KERNEL_YUKAWA;
    cfg.kernel.param = lambda;
    if (kifmm_create(&fmm, &cfg, x, n, x, n) != KIFMM_OK) return 1;
    d.charges = q;
    d.potentials = pot;
    d.gradients = grad;
    d.hessians = hess;
    if (kifmm_evaluate_ex(fmm, &d) != KIFMM_OK) return 1;
    kifmm_get_stats(fmm, &st);
    /* the direct sum at the first m points (all sources) */
    d.potentials = rp; d.gradients = rg; d.hessians = rh;
    if (kifmm_direct_ex(&cfg, x, n, x, m, &d) != KIFMM_OK) return 1;
    for (i = 0; i < 6 * m; i++) {
        if (i < m) { e[0] += (pot[i] - rp[i]) * (pot[i] - rp[i]); r[0] += rp[i] * rp[i]; }
        if (i < 3 * m) { e[1] += (grad[i] - rg[i]) * (grad[i] - rg[i]); r[1] += rg[i] * rg[i]; }
        e[2] += (hess[i] - rh[i]) * (hess[i] - rh[i]); r[2] += rh[i] * rh[i];
    }
    printf("Yukawa lambda %g, %zu points, order %d, %d levels: precompute %.3f s, evaluate %.3f s\n", lambda, n,
           st.order, st.depth, st.seconds_precompute, st.seconds_evaluate);
    printf("relative error on %zu targets: potential %.2e, gradient %.2e, Hessian %.2e\n", m, sqrt(e[0] / r[0]),
           sqrt(e[1] / r[1]), sqrt(e[2] / r[2]));
    kifmm_destroy(fmm);
    free(x); free(q); free(pot); free(grad); free(hess);
    return 0;
}
