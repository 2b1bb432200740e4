/* The caller's own kernel: kifmm needs nothing but its values. Here a Gaussian-regularised Laplace
   kernel erf(r / s) / (4 pi r), whose far field is Laplace's (so the kernel-independent method
   applies) but whose near field is smooth; it has no homogeneity (NAN), so kifmm builds an operator
   set per level from calls to this function, and evaluates the near field through it too.

     cc -O3 -march=native -fopenmp -I. examples/user_kernel.c -o user_kernel -lm && ./user_kernel [N] [order]

   The function adds into values[j * tdim + a] the sum over sources of K_ab(t_j - s_i) densities[i * sdim + b],
   must give 0 for a pair at zero distance, and is called from several threads at once. */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include <stdio.h>
#include <stdlib.h>

typedef struct blob { double width; } blob;

static void regularised_laplace(const double *t, size_t nt, const double *s, size_t ns, const double *q, double *v,
                                void *user) {
    const blob *b = (const blob *)user;
    size_t i, j;
    for (i = 0; i < nt; i++) {
        double acc = 0;
        for (j = 0; j < ns; j++) {
            double dx = t[3 * i] - s[3 * j], dy = t[3 * i + 1] - s[3 * j + 1], dz = t[3 * i + 2] - s[3 * j + 2];
            double r = sqrt(dx * dx + dy * dy + dz * dz);
            if (r > 0) acc += q[j] * erf(r / b->width) / r;
        }
        v[i] += acc / (4 * 3.14159265358979323846);
    }
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atof(argv[1]) : 50000, m = 200, i;
    double *x = malloc(3 * n * sizeof *x), *q = malloc(n * sizeof *q), *pot = malloc(n * sizeof *pot), ref[200];
    double e = 0, r = 0;
    blob b = {0.01};
    kifmm_config cfg = {0};
    kifmm_eval_desc d = {0};
    kifmm_stats st;
    kifmm *fmm;
    srand(3);
    for (i = 0; i < 3 * n; i++) x[i] = rand() / (double)RAND_MAX;
    for (i = 0; i < n; i++) q[i] = rand() / (double)RAND_MAX - 0.5;
    cfg.order = argc > 2 ? atoi(argv[2]) : 6;
    cfg.kernel.kind = KIFMM_KERNEL_USER;
    cfg.kernel.source_dim = cfg.kernel.target_dim = 1;
    cfg.kernel.homogeneity = NAN;           /* erf(r / s) / r: none */
    cfg.kernel.eval = regularised_laplace;
    cfg.kernel.user = &b;
    if (kifmm_create(&fmm, &cfg, x, n, x, n) != KIFMM_OK) return 1;
    d.charges = q;
    d.potentials = pot;
    if (kifmm_evaluate_ex(fmm, &d) != KIFMM_OK) return 1;
    kifmm_get_stats(fmm, &st);
    d.potentials = ref;
    if (kifmm_direct_ex(&cfg, x, n, x, m, &d) != KIFMM_OK) return 1;
    for (i = 0; i < m; i++) { e += (pot[i] - ref[i]) * (pot[i] - ref[i]); r += ref[i] * ref[i]; }
    printf("a user kernel, %zu points, order %d, %d levels: precompute %.3f s, evaluate %.3f s\n", n, st.order,
           st.depth, st.seconds_precompute, st.seconds_evaluate);
    printf("relative error on %zu targets: %.2e\n", m, sqrt(e / r));
    kifmm_destroy(fmm);
    free(x); free(q); free(pot);
    return 0;
}
