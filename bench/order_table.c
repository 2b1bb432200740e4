/* order_table - the measurement behind kifmm_order_for_tolerance: for each order, the worst
   relative L2 error of the potential and of the gradient against kifmm_direct over the test
   distributions of tests/test_fmm.c (3000 points of cube, sphere surface, Plummer, line, plane, two
   far clusters, duplicated points; 2500 Plummer sources with 1700 separate targets; leaf 40, the
   default M2L tolerance), and over two distributions held back from that calibration (a torus
   surface and an anisotropic Gaussian blob, also at leaf 150), which must meet the table too.

     cc -O3 -march=native -fopenmp -I. bench/order_table.c -o bench/build/order_table -lm
     bench/build/order_table [first order] [last order] [stokes]

   With "stokes": the Stokeslet (mu = 1), forces in [-0.5, 0.5] per component, the velocity as the
   potential and its gradient: the measurement behind Stokes's own table (kifmm.h). */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include "../tests/testutil.h"

static int stokes = 0;   /* 1: the Stokeslet, 3 components in and out */

static void errors(kifmm *f, const double *s, size_t ns, const double *t, size_t nt, const double *q, double *ep,
                   double *eg) {
    size_t dim = stokes ? 3 : 1, i;
    double *pot = (double *)malloc(dim * nt * sizeof *pot), *grad = (double *)malloc(3 * dim * nt * sizeof *grad);
    double *rp = (double *)malloc(dim * nt * sizeof *rp), *rg = (double *)malloc(3 * dim * nt * sizeof *rg);
    double a = 0, b = 0, c = 0, d = 0;
    kifmm_eval_desc e;
    kifmm_config cfg;
    memset(&e, 0, sizeof e);
    memset(&cfg, 0, sizeof cfg);
    cfg.kernel.kind = stokes ? KIFMM_KERNEL_STOKES : KIFMM_KERNEL_LAPLACE;
    e.charges = q; e.potentials = pot; e.gradients = grad;
    if (kifmm_set_points(f, s, ns, t, nt) != KIFMM_OK || kifmm_evaluate_ex(f, &e) != KIFMM_OK) { printf("failed\n"); exit(1); }
    e.potentials = rp; e.gradients = rg;
    if (kifmm_direct_ex(&cfg, s, ns, t, nt, &e) != KIFMM_OK) { printf("failed\n"); exit(1); }
    for (i = 0; i < dim * nt; i++) { a += (pot[i] - rp[i]) * (pot[i] - rp[i]); b += rp[i] * rp[i]; }
    for (i = 0; i < 3 * dim * nt; i++) { c += (grad[i] - rg[i]) * (grad[i] - rg[i]); d += rg[i] * rg[i]; }
    *ep = sqrt(a / b);
    *eg = sqrt(c / d);
    free(pot); free(grad); free(rp); free(rg);
}

static double *held_back(size_t n, int which) {     /* 0: torus surface, 1: Gaussian blob 1 x 0.3 x 0.1 */
    double *x = (double *)malloc(3 * n * sizeof *x);
    size_t i;
    for (i = 0; i < n; i++) {
        double u = 2 * 3.141592653589793 * tu_rand(), v = 2 * 3.141592653589793 * tu_rand();
        if (which == 0) {
            x[3 * i] = (1 + 0.3 * cos(v)) * cos(u); x[3 * i + 1] = (1 + 0.3 * cos(v)) * sin(u); x[3 * i + 2] = 0.3 * sin(v);
        } else {   /* Box-Muller */
            double r1 = sqrt(-2 * log(1 - tu_rand())), r2 = sqrt(-2 * log(1 - tu_rand()));
            x[3 * i] = r1 * cos(u); x[3 * i + 1] = 0.3 * r1 * sin(u); x[3 * i + 2] = 0.1 * r2 * cos(v);
        }
    }
    return x;
}

int main(int argc, char **argv) {
    int p0 = argc > 1 ? atoi(argv[1]) : 3, p1 = argc > 2 ? atoi(argv[2]) : 16, p, d, h;
    size_t n = 3000, i;
    double *pts[TU_NDIST + 2], *q = (double *)malloc(3 * n * sizeof *q), *sep_s, *sep_t;
    stokes = argc > 3 && strcmp(argv[3], "stokes") == 0;
    tu_seed(11);
    for (d = 0; d < TU_NDIST; d++) pts[d] = tu_new_points(n, d);
    sep_s = tu_new_points(2500, TU_PLUMMER);
    sep_t = tu_new_points(1700, TU_PLUMMER);
    for (h = 0; h < 2; h++) pts[TU_NDIST + h] = held_back(n, h);
    for (i = 0; i < 3 * n; i++) q[i] = tu_rand() - 0.5;
    printf("order rank | worst pot  worst grad (test distributions, leaf 40) | held back pot / grad, leaf 40 and 150\n");
    for (p = p0; p <= p1; p++) {
        kifmm *f[2] = {NULL, NULL};
        kifmm_stats st;
        memset(&st, 0, sizeof st);
        double wp = 0, wg = 0, hp = 0, hg = 0, ep, eg;
        int l;
        for (l = 0; l < 2; l++) {
            kifmm_config c;
            memset(&c, 0, sizeof c);
            c.order = p;
            c.leaf_size = l ? 150 : 40;
            c.kernel.kind = stokes ? KIFMM_KERNEL_STOKES : KIFMM_KERNEL_LAPLACE;
            if (kifmm_create(&f[l], &c, NULL, 0, NULL, 0) != KIFMM_OK) { printf("create failed\n"); return 1; }
        }
        kifmm_get_stats(f[0], &st);
        for (d = 0; d < TU_NDIST; d++) {
            errors(f[0], pts[d], n, pts[d], n, q, &ep, &eg);
            if (ep > wp) wp = ep;
            if (eg > wg) wg = eg;
        }
        errors(f[0], sep_s, 2500, sep_t, 1700, q, &ep, &eg);
        if (ep > wp) wp = ep;
        if (eg > wg) wg = eg;
        for (l = 0; l < 2; l++)
            for (h = 0; h < 2; h++) {
                errors(f[l], pts[TU_NDIST + h], n, pts[TU_NDIST + h], n, q, &ep, &eg);
                if (ep > hp) hp = ep;
                if (eg > hg) hg = eg;
            }
        printf("%5d %4d | %.2e %.2e | %.2e %.2e\n", p, st.m2l_rank, wp, wg, hp, hg);
        fflush(stdout);
        kifmm_destroy(f[0]);
        kifmm_destroy(f[1]);
    }
    for (d = 0; d < TU_NDIST + 2; d++) free(pts[d]);
    free(sep_s); free(sep_t); free(q);
    return tu_failures;   /* (testutil's counter: 0) */
}
