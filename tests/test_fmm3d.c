/* FMM3D's Laplace interface (kifmm_fmm3d.h) through FMM3D's own test matrix (c/test_lfmm3d.c):
   sources, targets, both x charges, dipoles, both x potential, gradient, Hessian = 27 routines at
   eps = 0.51e-3 and 0.51e-6, the combined relative error on the first 10 points against the
   direct routines below eps; the _vec_ forms with nd = 2 and points scaled by 1e10 and 1e-9
   (test_lfmm3d_scale.f) at 0.51e-3; the general lfmm3d_; and the ier values for bad input,
   outputs untouched. (quick, for the sanitizer build: 0.51e-3 and the _vec_ forms.)
   FMM3D's layout: source(3, ns) with sources = rand()^2 in each coordinate, targets uniform. */
#ifndef KIFMM_TEST_LINKED   /* meson links this test against one compiled copy: tests/impl.c */
#define KIFMM_IMPLEMENTATION
#define KIFMM_FMM3D_IMPLEMENTATION
#endif
#include "kifmm_fmm3d.h"
#include "kifmm.h"
#include "testutil.h"

enum { NS = 700, NT = 699, NTEST = 10, ND = 2 };
static double src[3 * NS], targ[3 * NT], charge[ND * NS], dipvec[ND * 3 * NS];
static double pot[ND * NS], grad[ND * 3 * NS], hess[ND * 6 * NS], pt[ND * NT], gt[ND * 3 * NT], ht[ND * 6 * NT];
static double potex[ND * NTEST], gradex[ND * 3 * NTEST], hessex[ND * 6 * NTEST];
static double ptex[ND * NTEST], gtex[ND * 3 * NTEST], htex[ND * 6 * NTEST];

static void acc(double *e, double *r, const double *a, const double *b, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) { *e += (a[i] - b[i]) * (a[i] - b[i]); *r += b[i] * b[i]; }
}

/* FMM3D's comp_err_lap: one relative L2 error over every output asked for */
static double comp_err(int64_t nd, int pg, int pgt) {
    double e = 0, r = 0;
    size_t n = (size_t)(nd * NTEST);
    if (pg >= 1) acc(&e, &r, pot, potex, n);
    if (pg >= 2) acc(&e, &r, grad, gradex, 3 * n);
    if (pg >= 3) acc(&e, &r, hess, hessex, 6 * n);
    if (pgt >= 1) acc(&e, &r, pt, ptex, n);
    if (pgt >= 2) acc(&e, &r, gt, gtex, 3 * n);
    if (pgt >= 3) acc(&e, &r, ht, htex, 6 * n);
    return sqrt(e / r);
}

/* the exact values at the first NTEST sources and targets, by FMM3D's direct routines */
static void exact(int64_t nd, int c, int d, int pg, int pgt) {
    int64_t ns = NS, nt = NTEST;
    double th = 1e-15;
    double *q = c ? charge : NULL, *v = d ? dipvec : NULL;
    memset(potex, 0, sizeof potex); memset(gradex, 0, sizeof gradex); memset(hessex, 0, sizeof hessex);
    memset(ptex, 0, sizeof ptex); memset(gtex, 0, sizeof gtex); memset(htex, 0, sizeof htex);
#define KIFMM__EX(P, G, H, T)                                                                                  \
    do {                                                                                                       \
        int lvl = (T) ? pgt : pg;                                                                              \
        double *x = (T) ? targ : src;                                                                          \
        if (!lvl) break;                                                                                       \
        if (q && v) {                                                                                          \
            if (lvl == 1) l3ddirectcdp_(&nd, src, q, v, &ns, x, &nt, P, &th);                                 \
            if (lvl == 2) l3ddirectcdg_(&nd, src, q, v, &ns, x, &nt, P, G, &th);                              \
            if (lvl == 3) l3ddirectcdh_(&nd, src, q, v, &ns, x, &nt, P, G, H, &th);                           \
        } else if (q) {                                                                                        \
            if (lvl == 1) l3ddirectcp_(&nd, src, q, &ns, x, &nt, P, &th);                                     \
            if (lvl == 2) l3ddirectcg_(&nd, src, q, &ns, x, &nt, P, G, &th);                                  \
            if (lvl == 3) l3ddirectch_(&nd, src, q, &ns, x, &nt, P, G, H, &th);                               \
        } else {                                                                                               \
            if (lvl == 1) l3ddirectdp_(&nd, src, v, &ns, x, &nt, P, &th);                                     \
            if (lvl == 2) l3ddirectdg_(&nd, src, v, &ns, x, &nt, P, G, &th);                                  \
            if (lvl == 3) l3ddirectdh_(&nd, src, v, &ns, x, &nt, P, G, H, &th);                               \
        }                                                                                                      \
    } while (0)
    KIFMM__EX(potex, gradex, hessex, 0);
    KIFMM__EX(ptex, gtex, htex, 1);
#undef KIFMM__EX
}

/* routine (where 0 s, 1 t, 2 st; what 0 c, 1 d, 2 cd; out 1 p, 2 g, 3 h), nd 1 (scalar names) or ND (_vec_) */
static int64_t call(int where, int what, int out, double eps, int64_t nd) {
    int64_t ns = NS, nt = NT, ier = -1;
    double *q = charge, *v = dipvec;
    int vec = nd > 1;
    switch (((where * 3 + what) * 3 + out - 1) * 2 + vec) {
#define KIFMM__C(i, call1, callv) case 2 * (i): call1; break; case 2 * (i) + 1: callv; break;
    KIFMM__C(0, lfmm3d_s_c_p_(&eps, &ns, src, q, pot, &ier), lfmm3d_s_c_p_vec_(&nd, &eps, &ns, src, q, pot, &ier))
    KIFMM__C(1, lfmm3d_s_c_g_(&eps, &ns, src, q, pot, grad, &ier), lfmm3d_s_c_g_vec_(&nd, &eps, &ns, src, q, pot, grad, &ier))
    KIFMM__C(2, lfmm3d_s_c_h_(&eps, &ns, src, q, pot, grad, hess, &ier),
             lfmm3d_s_c_h_vec_(&nd, &eps, &ns, src, q, pot, grad, hess, &ier))
    KIFMM__C(3, lfmm3d_s_d_p_(&eps, &ns, src, v, pot, &ier), lfmm3d_s_d_p_vec_(&nd, &eps, &ns, src, v, pot, &ier))
    KIFMM__C(4, lfmm3d_s_d_g_(&eps, &ns, src, v, pot, grad, &ier), lfmm3d_s_d_g_vec_(&nd, &eps, &ns, src, v, pot, grad, &ier))
    KIFMM__C(5, lfmm3d_s_d_h_(&eps, &ns, src, v, pot, grad, hess, &ier),
             lfmm3d_s_d_h_vec_(&nd, &eps, &ns, src, v, pot, grad, hess, &ier))
    KIFMM__C(6, lfmm3d_s_cd_p_(&eps, &ns, src, q, v, pot, &ier), lfmm3d_s_cd_p_vec_(&nd, &eps, &ns, src, q, v, pot, &ier))
    KIFMM__C(7, lfmm3d_s_cd_g_(&eps, &ns, src, q, v, pot, grad, &ier),
             lfmm3d_s_cd_g_vec_(&nd, &eps, &ns, src, q, v, pot, grad, &ier))
    KIFMM__C(8, lfmm3d_s_cd_h_(&eps, &ns, src, q, v, pot, grad, hess, &ier),
             lfmm3d_s_cd_h_vec_(&nd, &eps, &ns, src, q, v, pot, grad, hess, &ier))
    KIFMM__C(9, lfmm3d_t_c_p_(&eps, &ns, src, q, &nt, targ, pt, &ier),
             lfmm3d_t_c_p_vec_(&nd, &eps, &ns, src, q, &nt, targ, pt, &ier))
    KIFMM__C(10, lfmm3d_t_c_g_(&eps, &ns, src, q, &nt, targ, pt, gt, &ier),
             lfmm3d_t_c_g_vec_(&nd, &eps, &ns, src, q, &nt, targ, pt, gt, &ier))
    KIFMM__C(11, lfmm3d_t_c_h_(&eps, &ns, src, q, &nt, targ, pt, gt, ht, &ier),
             lfmm3d_t_c_h_vec_(&nd, &eps, &ns, src, q, &nt, targ, pt, gt, ht, &ier))
    KIFMM__C(12, lfmm3d_t_d_p_(&eps, &ns, src, v, &nt, targ, pt, &ier),
             lfmm3d_t_d_p_vec_(&nd, &eps, &ns, src, v, &nt, targ, pt, &ier))
    KIFMM__C(13, lfmm3d_t_d_g_(&eps, &ns, src, v, &nt, targ, pt, gt, &ier),
             lfmm3d_t_d_g_vec_(&nd, &eps, &ns, src, v, &nt, targ, pt, gt, &ier))
    KIFMM__C(14, lfmm3d_t_d_h_(&eps, &ns, src, v, &nt, targ, pt, gt, ht, &ier),
             lfmm3d_t_d_h_vec_(&nd, &eps, &ns, src, v, &nt, targ, pt, gt, ht, &ier))
    KIFMM__C(15, lfmm3d_t_cd_p_(&eps, &ns, src, q, v, &nt, targ, pt, &ier),
             lfmm3d_t_cd_p_vec_(&nd, &eps, &ns, src, q, v, &nt, targ, pt, &ier))
    KIFMM__C(16, lfmm3d_t_cd_g_(&eps, &ns, src, q, v, &nt, targ, pt, gt, &ier),
             lfmm3d_t_cd_g_vec_(&nd, &eps, &ns, src, q, v, &nt, targ, pt, gt, &ier))
    KIFMM__C(17, lfmm3d_t_cd_h_(&eps, &ns, src, q, v, &nt, targ, pt, gt, ht, &ier),
             lfmm3d_t_cd_h_vec_(&nd, &eps, &ns, src, q, v, &nt, targ, pt, gt, ht, &ier))
    KIFMM__C(18, lfmm3d_st_c_p_(&eps, &ns, src, q, pot, &nt, targ, pt, &ier),
             lfmm3d_st_c_p_vec_(&nd, &eps, &ns, src, q, pot, &nt, targ, pt, &ier))
    KIFMM__C(19, lfmm3d_st_c_g_(&eps, &ns, src, q, pot, grad, &nt, targ, pt, gt, &ier),
             lfmm3d_st_c_g_vec_(&nd, &eps, &ns, src, q, pot, grad, &nt, targ, pt, gt, &ier))
    KIFMM__C(20, lfmm3d_st_c_h_(&eps, &ns, src, q, pot, grad, hess, &nt, targ, pt, gt, ht, &ier),
             lfmm3d_st_c_h_vec_(&nd, &eps, &ns, src, q, pot, grad, hess, &nt, targ, pt, gt, ht, &ier))
    KIFMM__C(21, lfmm3d_st_d_p_(&eps, &ns, src, v, pot, &nt, targ, pt, &ier),
             lfmm3d_st_d_p_vec_(&nd, &eps, &ns, src, v, pot, &nt, targ, pt, &ier))
    KIFMM__C(22, lfmm3d_st_d_g_(&eps, &ns, src, v, pot, grad, &nt, targ, pt, gt, &ier),
             lfmm3d_st_d_g_vec_(&nd, &eps, &ns, src, v, pot, grad, &nt, targ, pt, gt, &ier))
    KIFMM__C(23, lfmm3d_st_d_h_(&eps, &ns, src, v, pot, grad, hess, &nt, targ, pt, gt, ht, &ier),
             lfmm3d_st_d_h_vec_(&nd, &eps, &ns, src, v, pot, grad, hess, &nt, targ, pt, gt, ht, &ier))
    KIFMM__C(24, lfmm3d_st_cd_p_(&eps, &ns, src, q, v, pot, &nt, targ, pt, &ier),
             lfmm3d_st_cd_p_vec_(&nd, &eps, &ns, src, q, v, pot, &nt, targ, pt, &ier))
    KIFMM__C(25, lfmm3d_st_cd_g_(&eps, &ns, src, q, v, pot, grad, &nt, targ, pt, gt, &ier),
             lfmm3d_st_cd_g_vec_(&nd, &eps, &ns, src, q, v, pot, grad, &nt, targ, pt, gt, &ier))
    KIFMM__C(26, lfmm3d_st_cd_h_(&eps, &ns, src, q, v, pot, grad, hess, &nt, targ, pt, gt, ht, &ier),
             lfmm3d_st_cd_h_vec_(&nd, &eps, &ns, src, q, v, pot, grad, hess, &nt, targ, pt, gt, ht, &ier))
#undef KIFMM__C
    }
    return ier;
}

static void points(double scale) {
    size_t i;
    for (i = 0; i < 3 * NS; i++) src[i] = scale * tu_rand() * tu_rand();   /* FMM3D: rand01()^2 */
    for (i = 0; i < 3 * NT; i++) targ[i] = scale * tu_rand();
    for (i = 0; i < ND * NS; i++) charge[i] = tu_rand();
    for (i = 0; i < 3 * ND * NS; i++) dipvec[i] = tu_rand();
}

static void matrix(double eps, int64_t nd, const char *label, int *passed, int *total) {
    static const char *const wn[3] = {"s", "t", "st"}, *const qn[3] = {"c", "d", "cd"}, *const on[4] = {"", "p", "g", "h"};
    int where, what, out;
    for (where = 0; where < 3; where++)
        for (what = 0; what < 3; what++)
            for (out = 1; out <= 3; out++) {
                int pg = where != 1 ? out : 0, pgt = where != 0 ? out : 0;
                int64_t ier = call(where, what, out, eps, nd);
                double err;
                exact(nd, what != 1, what != 0, pg, pgt);
                err = comp_err(nd, pg, pgt);
                (*total)++;
                if (ier == 0 && err < eps) (*passed)++;
                else printf("lfmm3d_%s_%s_%s_%s %s eps %.2g: ier %lld error %.2e\n", wn[where], qn[what], on[out],
                            nd > 1 ? "vec" : "", label, eps, (long long)ier, err);
                CHECK(ier == 0 && err < eps, "lfmm3d_%s_%s_%s %s nd %lld eps %.2g: ier %lld, error %.2e",
                      wn[where], qn[what], on[out], label, (long long)nd, eps, (long long)ier, err);
            }
}

/* the general routine with different levels at sources and targets */
static void test_general(void) {
    int64_t nd = 1, ns = NS, nt = NT, ic = 1, id = 1, per = 0, pg = 1, pgt = 3, ier = -1;
    double eps = 0.51e-6, err;
    lfmm3d_(&nd, &eps, &ns, src, &ic, charge, &id, dipvec, &per, &pg, pot, grad, hess, &nt, targ, &pgt, pt, gt, ht,
            &ier);
    exact(1, 1, 1, 1, 3);
    err = comp_err(1, 1, 3);
    printf("lfmm3d_ (charges and dipoles, potential at sources, Hessian at targets): ier %lld, error %.2e\n",
           (long long)ier, err);
    CHECK(ier == 0 && err < eps, "lfmm3d_: %lld %.2e", (long long)ier, err);
}

static void test_ier(void) {
    int64_t ns = NS, bad = -3, nd0 = 0, ier = 0, ic = 1, id = 0, per = 0, pg = 4, pgt = 0, nt = NT;
    double eps = 1e-6, zero = 0, nan = NAN;
    size_t i;
    for (i = 0; i < NS; i++) pot[i] = 5;
    lfmm3d_s_c_p_(&eps, &bad, src, charge, pot, &ier);
    CHECK(ier == KIFMM_FMM3D_IER_ARGUMENT, "negative count: %lld", (long long)ier);
    lfmm3d_s_c_p_(&zero, &ns, src, charge, pot, &ier);
    CHECK(ier == KIFMM_FMM3D_IER_ARGUMENT, "eps 0: %lld", (long long)ier);
    lfmm3d_s_c_p_(&nan, &ns, src, charge, pot, &ier);
    CHECK(ier == KIFMM_FMM3D_IER_ARGUMENT, "eps NaN: %lld", (long long)ier);
    lfmm3d_s_c_p_(&eps, &ns, NULL, charge, pot, &ier);
    CHECK(ier == KIFMM_FMM3D_IER_ARGUMENT, "sources NULL: %lld", (long long)ier);
    lfmm3d_s_c_p_(&eps, &ns, src, NULL, pot, &ier);
    CHECK(ier == KIFMM_FMM3D_IER_ARGUMENT, "charges NULL: %lld", (long long)ier);
    lfmm3d_s_c_p_vec_(&nd0, &eps, &ns, src, charge, pot, &ier);
    CHECK(ier == KIFMM_FMM3D_IER_ARGUMENT, "nd 0: %lld", (long long)ier);
    lfmm3d_(&nd0, &eps, &ns, src, &ic, charge, &id, dipvec, &per, &pg, pot, grad, hess, &nt, targ, &pgt, pt, gt, ht, &ier);
    CHECK(ier == KIFMM_FMM3D_IER_ARGUMENT, "ifpgh 4: %lld", (long long)ier);
    src[3 * 17 + 1] = NAN;
    lfmm3d_s_c_p_(&eps, &ns, src, charge, pot, &ier);
    CHECK(ier == KIFMM_FMM3D_IER_NONFINITE, "NaN source: %lld", (long long)ier);
    src[3 * 17 + 1] = 0.5;
    dipvec[3 * 5] = INFINITY;
    lfmm3d_s_d_p_(&eps, &ns, src, dipvec, pot, &ier);
    CHECK(ier == KIFMM_FMM3D_IER_NONFINITE, "Inf dipole: %lld", (long long)ier);
    dipvec[3 * 5] = 0.5;
    for (i = 0; i < NS; i++) CHECK(pot[i] == 5, "outputs untouched on failure");
    lfmm3d_s_c_p_(&eps, &ns, src, charge, pot, NULL);          /* no ier: nothing happens, no crash */
}

int main(int argc, char **argv) {
    int passed = 0, total = 0, quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    tu_seed(1);
    points(1.0);
    matrix(0.51e-3, 1, "", &passed, &total);
    if (!quick) {
        matrix(0.51e-6, 1, "", &passed, &total);
        printf("Number of tests out of %d passed: %d (FMM3D's matrix: 27 routines x 2 eps)\n", total, passed);
    }
    matrix(0.51e-3, ND, "", &passed, &total);
    test_general();
    if (!quick) {
        points(1e10);
        matrix(0.51e-3, 1, "x1e10", &passed, &total);
        points(1e-9);
        matrix(0.51e-3, 1, "x1e-9", &passed, &total);
        points(1.0);
    }
    printf("all: %d of %d passed\n", passed, total);
    test_ier();
    printf("%s: %d failures\n", tu_failures ? "FAIL" : "OK", tu_failures);
    return tu_failures != 0;
}
