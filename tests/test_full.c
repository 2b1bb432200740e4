/* Laplace in full through kifmm_evaluate_ex, against kifmm_direct_ex: charges, dipoles and both;
   potential, gradient and Hessian (together and each alone); nd = 1, 3 and a call with fewer
   sets than config.nd; sources = targets (self excluded) and separate; cube, sphere, Plummer and
   two far clusters, each also scaled by 1e10 and 1e-9 (FMM3D's scale test); orders 4, 6, 8.
   kifmm_evaluate is kifmm_evaluate_ex with one charge set, bitwise. */
#ifndef KIFMM_TEST_LINKED   /* meson links this test against one compiled copy: tests/impl.c */
#define KIFMM_IMPLEMENTATION
#endif
#include "kifmm.h"
#include "testutil.h"

/* the bounds of test_fmm (potential, gradient), by order; a dipole's potential is a derivative
   of a charge's and is held to the gradient's bound, as are gradients and Hessians */
static const double bound_pot[9] = {0, 0, 0, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 5e-7};
static const double bound_der[9] = {0, 0, 0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 5e-6};

static double rel(const double *a, const double *b, size_t n) {
    double e = 0, r = 0;
    size_t i;
    for (i = 0; i < n; i++) { e += (a[i] - b[i]) * (a[i] - b[i]); r += b[i] * b[i]; }
    return r > 0 ? sqrt(e / r) : sqrt(e);
}

typedef struct prob { double *src, *tgt, *q, *v; size_t ns, nt; int nd; char name[64]; } prob;

static void make(prob *p, int dist, size_t ns, size_t nt, int same, double scale, int nd) {
    size_t i;
    p->ns = ns;
    p->nt = same ? ns : nt;
    p->nd = nd;
    p->src = tu_new_points(ns, dist);
    p->tgt = same ? p->src : tu_new_points(nt, dist);
    for (i = 0; i < 3 * ns; i++) p->src[i] *= scale;
    if (!same) for (i = 0; i < 3 * nt; i++) p->tgt[i] *= scale;
    p->q = (double *)malloc(ns * nd * sizeof *p->q);
    p->v = (double *)malloc(3 * ns * nd * sizeof *p->v);
    for (i = 0; i < ns * nd; i++) p->q[i] = tu_rand() - 0.5;
    for (i = 0; i < 3 * ns * nd; i++) p->v[i] = tu_rand() - 0.5;
    snprintf(p->name, sizeof p->name, "%s%s x%g nd %d", tu_dist_name[dist], same ? "" : " sep", scale, nd);
}

static void drop(prob *p) {
    if (p->tgt != p->src) free(p->tgt);
    free(p->src); free(p->q); free(p->v);
}

/* every source kind with all outputs at once, then each output alone, against the direct sum */
static void check(kifmm *f, const kifmm_config *c, const prob *p, int order, double worst[4]) {
    size_t nt = p->nt, nd = (size_t)p->nd;
    double *pot = (double *)malloc(nt * nd * sizeof(double)), *grad = (double *)malloc(3 * nt * nd * sizeof(double));
    double *hess = (double *)malloc(6 * nt * nd * sizeof(double)), *one = (double *)malloc(6 * nt * nd * sizeof(double));
    double *rp = (double *)malloc(nt * nd * sizeof(double)), *rg = (double *)malloc(3 * nt * nd * sizeof(double));
    double *rh = (double *)malloc(6 * nt * nd * sizeof(double));
    int src;
    CHECK(kifmm_set_points(f, p->src, p->ns, p->tgt, p->nt) == KIFMM_OK, "set_points");
    for (src = 0; src < 3; src++) {       /* charges, dipoles, both */
        kifmm_eval_desc d;
        double ep, eg, eh, bp = src == 0 ? bound_pot[order] : bound_der[order], bd = bound_der[order];
        memset(&d, 0, sizeof d);
        d.nd = p->nd;
        d.charges = src != 1 ? p->q : NULL;
        d.dipoles = src >= 1 ? p->v : NULL;
        d.potentials = rp; d.gradients = rg; d.hessians = rh;
        CHECK(kifmm_direct_ex(c, p->src, p->ns, p->tgt, p->nt, &d) == KIFMM_OK, "direct_ex");
        d.potentials = pot; d.gradients = grad; d.hessians = hess;
        CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_OK, "evaluate_ex");
        ep = rel(pot, rp, nt * nd);
        eg = rel(grad, rg, 3 * nt * nd);
        eh = rel(hess, rh, 6 * nt * nd);
        printf("p=%d %-26s %-7s pot %.2e grad %.2e hess %.2e\n", order, p->name,
               src == 0 ? "charge" : src == 1 ? "dipole" : "both", ep, eg, eh);
        CHECK(ep <= bp && eg <= bd && eh <= bd, "p=%d %s src %d: %.2e %.2e %.2e above %.0e / %.0e", order, p->name,
              src, ep, eg, eh, bp, bd);
        worst[src == 0 ? 0 : 1] = fmax(worst[src == 0 ? 0 : 1], ep);
        worst[2] = fmax(worst[2], eg);
        worst[3] = fmax(worst[3], eh);
        /* each output alone: the same accuracy through the other kernel specialisations */
        if (src != 2) continue;
        d.potentials = one; d.gradients = NULL; d.hessians = NULL;
        CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_OK && rel(one, rp, nt * nd) <= bp, "potential alone");
        d.potentials = NULL; d.gradients = one;
        CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_OK && rel(one, rg, 3 * nt * nd) <= bd, "gradient alone");
        d.gradients = NULL; d.hessians = one;
        CHECK(kifmm_evaluate_ex(f, &d) == KIFMM_OK && rel(one, rh, 6 * nt * nd) <= bd, "Hessian alone");
    }
    free(pot); free(grad); free(hess); free(one); free(rp); free(rg); free(rh);
}

static int quick = 0;

static void test_accuracy(void) {
    static const int dists[] = {TU_CUBE, TU_SPHERE, TU_PLUMMER, TU_TWO_CLUSTERS};
    static const double scales[] = {1, 1e10, 1e-9};
    int order;
    size_t di, si;
    double worst[9][4];
    memset(worst, 0, sizeof worst);
    for (order = 4; order <= 8; order += 2) {
        kifmm *f = NULL;
        kifmm_config c;
        if (quick && order == 8) continue;
        memset(&c, 0, sizeof c);
        c.order = order;
        c.leaf_size = 40;
        c.nd = 4;                          /* the calls use 1 and 3 */
        CHECK(kifmm_create(&f, &c, NULL, 0, NULL, 0) == KIFMM_OK, "create");
        if (!f) continue;
        for (di = 0; di < sizeof dists / sizeof dists[0]; di++)
            for (si = 0; si < sizeof scales / sizeof scales[0]; si++) {
                if (order == 8 && (di % 2 || si == 2)) continue;   /* (time: cube and Plummer at 1, 1e10) */
                prob p;
                size_t n = quick ? 600 : 1000;
                tu_seed(100 + di * 7 + si);
                make(&p, dists[di], n, 0, 1, scales[si], si == 0 ? 3 : 1);
                check(f, &c, &p, order, worst[order]);
                drop(&p);
                if (si == 0) {                   /* separate targets */
                    make(&p, dists[di], n, n / 2 + 17, 0, scales[si], 1);
                    check(f, &c, &p, order, worst[order]);
                    drop(&p);
                }
            }
        printf("p=%d worst: charge potential %.2e, dipole potential %.2e, gradient %.2e, Hessian %.2e\n", order,
               worst[order][0], worst[order][1], worst[order][2], worst[order][3]);
        kifmm_destroy(f);
    }
}

/* kifmm_evaluate == kifmm_evaluate_ex(nd = 1, charges, potentials, gradients), bitwise; and an
   object made for 4 sets gives one set's result to rounding */
static void test_same_path(void) {
    size_t n = 1500, i;
    double *x = tu_new_points(n, TU_PLUMMER), *q = (double *)malloc(n * sizeof *q), *p1, *p2, *g1, *g2, *p3, *g3;
    kifmm *f = NULL, *f4 = NULL;
    kifmm_config c;
    kifmm_eval_desc d;
    p1 = (double *)malloc(n * sizeof *p1); p2 = (double *)malloc(n * sizeof *p2); p3 = (double *)malloc(n * sizeof *p3);
    g1 = (double *)malloc(3 * n * sizeof *g1); g2 = (double *)malloc(3 * n * sizeof *g2); g3 = (double *)malloc(3 * n * sizeof *g3);
    for (i = 0; i < n; i++) q[i] = tu_rand() - 0.5;
    memset(&c, 0, sizeof c);
    c.order = 5;
    c.leaf_size = 30;
    CHECK(kifmm_create(&f, &c, x, n, x, n) == KIFMM_OK, "create");
    c.nd = 4;
    CHECK(kifmm_create(&f4, &c, x, n, x, n) == KIFMM_OK, "create nd 4");
    memset(&d, 0, sizeof d);
    d.charges = q; d.potentials = p2; d.gradients = g2;
    CHECK(kifmm_evaluate(f, q, p1, g1) == KIFMM_OK && kifmm_evaluate_ex(f, &d) == KIFMM_OK, "evaluate");
    CHECK(memcmp(p1, p2, n * sizeof *p1) == 0 && memcmp(g1, g2, 3 * n * sizeof *g1) == 0,
          "kifmm_evaluate and kifmm_evaluate_ex differ");
    d.potentials = p3; d.gradients = g3;
    CHECK(kifmm_evaluate_ex(f4, &d) == KIFMM_OK, "evaluate nd 4");
    /* (to rounding only: the batched GEMMs take fewer leaves at once for 4 sets, and a BLAS may
       round differently for other shapes) */
    CHECK(rel(p3, p1, n) < 1e-13 && rel(g3, g1, 3 * n) < 1e-13, "one set through an object made for 4: %.2e %.2e",
          rel(p3, p1, n), rel(g3, g1, 3 * n));
    kifmm_destroy(f); kifmm_destroy(f4);
    free(x); free(q); free(p1); free(p2); free(p3); free(g1); free(g2); free(g3);
}

int main(int argc, char **argv) {
    quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    test_same_path();
    test_accuracy();
    printf("%s: %d failures\n", tu_failures ? "FAIL" : "OK", tu_failures);
    return tu_failures != 0;
}
