/* Stokes flow: the velocity u(x) = sum_i S(x - y_i) f_i / (8 pi mu), S_ab = delta_ab / r + r_a r_b / r^3
   (the Stokeslet), of point forces f_i, and its gradient, against the direct sum on a few targets.

     cc -O3 -march=native -fopenmp -I. examples/stokes.c -o stokes -lm && ./stokes [N] [order]

   Forces are 3 per source and velocities 3 per target (sdim = tdim = 3): charges[3 i + b],
   potentials[3 j + a], gradients[(3 j + a) 3 + c] = d u_a / d x_c. */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atof(argv[1]) : 100000, m = 200, i;
    double *x = malloc(3 * n * sizeof *x), *f = malloc(3 * n * sizeof *f), *u = malloc(3 * n * sizeof *u);
    double *du = malloc(9 * n * sizeof *du), ru[600], rdu[1800], eu = 0, nu = 0, eg = 0, ng = 0;
    kifmm_config cfg = {0};
    kifmm_eval_desc d = {0};
    kifmm_stats st;
    kifmm *fmm;
    srand(2);
    for (i = 0; i < 3 * n; i++) { x[i] = rand() / (double)RAND_MAX; f[i] = rand() / (double)RAND_MAX - 0.5; }
    cfg.order = argc > 2 ? atoi(argv[2]) : 6;
    cfg.kernel.kind = KIFMM_KERNEL_STOKES;
    cfg.kernel.param = 1.0;                   /* viscosity mu */
    if (kifmm_create(&fmm, &cfg, x, n, x, n) != KIFMM_OK) return 1;
    d.charges = f;
    d.potentials = u;
    d.gradients = du;
    if (kifmm_evaluate_ex(fmm, &d) != KIFMM_OK) return 1;
    kifmm_get_stats(fmm, &st);
    d.potentials = ru; d.gradients = rdu;
    if (kifmm_direct_ex(&cfg, x, n, x, m, &d) != KIFMM_OK) return 1;
    for (i = 0; i < 3 * m; i++) { eu += (u[i] - ru[i]) * (u[i] - ru[i]); nu += ru[i] * ru[i]; }
    for (i = 0; i < 9 * m; i++) { eg += (du[i] - rdu[i]) * (du[i] - rdu[i]); ng += rdu[i] * rdu[i]; }
    printf("Stokes, %zu points, order %d, M2L rank %d: precompute %.3f s, evaluate %.3f s\n", n, st.order, st.m2l_rank,
           st.seconds_precompute, st.seconds_evaluate);
    printf("relative error on %zu targets: velocity %.2e, velocity gradient %.2e\n", m, sqrt(eu / nu), sqrt(eg / ng));
    kifmm_destroy(fmm);
    free(x); free(f); free(u); free(du);
    return 0;
}
