/* kifmm__interact, the one entry point of every particle operator, against the exact reference
   kifmm__direct_one: every kernel (Laplace, Yukawa, Stokes, a user kernel), every combination of
   what sources carry (charges, dipoles, both) and what targets want (potential, + gradient,
   + Hessian), density sets nd = 1 .. 9 (the register passes of 4 and the single ones), target
   counts that leave partial SIMD blocks, coincident pairs (excluded), in the plane layouts the
   operators use. Also the vector exp of the Yukawa kernel over its whole range. Built once per
   instruction set into test_kernel's body (tests/meson.build), whose baseline main calls
   test_interact_run after test_kernel_run; KIFMM_STATIC keeps its copy of kifmm private. */
#define KIFMM_STATIC
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include "testutil.h"

enum { NS = 37, NT = 29, MAXND = 9 };

/* sources at random in [-1, 1]^3, targets too, the first three targets on sources */
static double src[3 * NS], tgt[3 * NT], q[NS * 3 * MAXND], dip[NS * 3 * MAXND];


/* relative difference of a against b: max |a - b| / max |b| */
static double reldiff(const double *a, const double *b, size_t n) {
    double e = 0, m = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        e = fmax(e, fabs(a[i] - b[i]));
        m = fmax(m, fabs(b[i]));
    }
    return m > 0 ? e / m : e;
}

static void one_case(const kifmm__kernel *k, int nd, int hq, int hd, int wg, int wh, double *worst) {
    int sdim = k->sdim, tdim = k->tdim, d, a, c;
    size_t i, j, np = (size_t)NT * tdim * nd, ng = np * 3, nh = (size_t)NT * 6 * nd;
    double sx[NS], sy[NS], sz[NS], tx[NT], ty[NT], tz[NT];
    static double qp[NS * 3 * MAXND], dp[NS * 3 * MAXND], pot[NT * 3 * MAXND], grad[NT * 9 * MAXND],
        hess[NT * 6 * MAXND], rp[NT * 3 * MAXND], rg[NT * 9 * MAXND], rh[NT * 6 * MAXND], gp[NT * 9 * MAXND],
        hp[NT * 6 * MAXND], scratch[KIFMM__INTERACT_SCRATCH];
    kifmm__src s;
    kifmm__tgt t;
    kifmm__kernel lap = *k;                   /* the user kernel here is Laplace by callback */
    lap.kind = KIFMM_KERNEL_LAPLACE;
    for (j = 0; j < NS; j++) { sx[j] = src[3 * j]; sy[j] = src[3 * j + 1]; sz[j] = src[3 * j + 2]; }
    for (i = 0; i < NT; i++) { tx[i] = tgt[3 * i]; ty[i] = tgt[3 * i + 1]; tz[i] = tgt[3 * i + 2]; }
    /* planes: density b of set d at (d sdim + b) NS; dipole c of set d at (3 d + c) NS */
    for (j = 0; j < NS; j++)
        for (d = 0; d < nd; d++) {
            for (a = 0; a < sdim; a++) qp[((size_t)d * sdim + a) * NS + j] = q[(j * sdim + a) * nd + d];
            for (c = 0; c < 3; c++) dp[((size_t)d * 3 + c) * NS + j] = dip[(3 * j + c) * nd + d];
        }
    memset(&s, 0, sizeof s);
    s.x = sx; s.y = sy; s.z = sz; s.n = NS;
    s.q = hq ? qp : NULL; s.q_b = NS; s.q_d = (size_t)sdim * NS;
    s.dip = hd ? dp : NULL; s.dip_c = NS; s.dip_d = 3 * NS;
    memset(&t, 0, sizeof t);
    t.x = tx; t.y = ty; t.z = tz; t.n = NT;
    t.pot = pot; t.pot_a = NT; t.pot_d = (size_t)tdim * NT;
    t.grad = wg ? grad : NULL; t.grad_a = NT; t.grad_d = 3 * (size_t)tdim * NT;
    t.hess = wh ? hess : NULL; t.hess_a = NT; t.hess_d = 6 * NT;
    for (i = 0; i < np; i++) pot[i] = 0.25;          /* results are added */
    for (i = 0; i < ng; i++) grad[i] = -0.5;
    for (i = 0; i < nh; i++) hess[i] = 0.125;
    kifmm__interact(k, nd, &s, &t, scratch);
    /* the reference, target by target, in the caller's layout, then into planes */
    memset(rp, 0, sizeof rp); memset(rg, 0, sizeof rg); memset(rh, 0, sizeof rh);
    for (i = 0; i < NT; i++)
        kifmm__direct_one(k->kind == KIFMM_KERNEL_USER ? &lap : k, nd, src, NS, hq ? q : NULL, hd ? dip : NULL, tgt + 3 * i, 0.0, rp + i * tdim * nd,
                          wg ? rg + i * 3 * tdim * nd : NULL, wh ? rh + i * 6 * nd : NULL);
    for (i = 0; i < NT; i++)
        for (d = 0; d < nd; d++) {
            for (a = 0; a < tdim; a++) {
                pot[((size_t)d * tdim + a) * NT + i] -= 0.25;
                for (c = 0; c < 3; c++) {
                    gp[i * 3 * tdim * nd + (3 * a + c) * nd + d] = grad[((size_t)d * 3 * tdim + 3 * a + c) * NT + i] + 0.5;
                }
            }
            for (c = 0; c < 6; c++) hp[i * 6 * nd + c * nd + d] = hess[((size_t)d * 6 + c) * NT + i] - 0.125;
        }
    {
        double pp[NT * 3 * MAXND];
        for (i = 0; i < NT; i++)
            for (d = 0; d < nd; d++)
                for (a = 0; a < tdim; a++) pp[(i * tdim + a) * nd + d] = pot[((size_t)d * tdim + a) * NT + i];
        worst[0] = fmax(worst[0], reldiff(pp, rp, np));
    }
    if (wg) worst[1] = fmax(worst[1], reldiff(gp, rg, ng));
    if (wh) worst[2] = fmax(worst[2], reldiff(hp, rh, nh));
}

static kifmm__kernel make_kernel(int kind, double param) {
    kifmm__kernel k;
    memset(&k, 0, sizeof k);
    k.kind = kind;
    k.sdim = k.tdim = kind == KIFMM_KERNEL_STOKES ? 3 : 1;
    k.lambda = kind == KIFMM_KERNEL_YUKAWA ? param : 0;
    k.c = kind == KIFMM_KERNEL_STOKES ? 1.0 / (8 * 3.14159265358979323846 * param) : KIFMM_INV_4PI;
    k.h = kind == KIFMM_KERNEL_YUKAWA ? NAN : -1;
    if (kind == KIFMM_KERNEL_USER) { k.eval = tu_user_laplace; k.c = KIFMM_INV_4PI; }
    return k;
}

static void test_kernels(void) {
    static const int nds[] = {1, 2, 3, 4, 5, 8, 9};
    static const struct { int kind; double param; const char *name; } ks[] = {
        {KIFMM_KERNEL_LAPLACE, 0, "laplace"}, {KIFMM_KERNEL_YUKAWA, 0.5, "yukawa 0.5"},
        {KIFMM_KERNEL_YUKAWA, 20, "yukawa 20"}, {KIFMM_KERNEL_STOKES, 1.5, "stokes"}, {KIFMM_KERNEL_USER, 0, "user"}};
    size_t ik, id;
    int src_kind, out;
    for (ik = 0; ik < sizeof ks / sizeof ks[0]; ik++) {
        kifmm__kernel k = make_kernel(ks[ik].kind, ks[ik].param);
        int radial = k.kind == KIFMM_KERNEL_LAPLACE || k.kind == KIFMM_KERNEL_YUKAWA;
        double worst[3] = {0, 0, 0};
        for (id = 0; id < sizeof nds / sizeof nds[0]; id++)
            for (src_kind = 0; src_kind < (radial ? 3 : 1); src_kind++)       /* q, dipoles, both */
                for (out = 0; out < (radial ? 3 : k.kind == KIFMM_KERNEL_STOKES ? 2 : 1); out++)
                    one_case(&k, nds[id], src_kind != 1, src_kind >= 1, out >= 1, out >= 2, worst);
        printf("%-10s against the exact sum, relative: potential %.2e, gradient %.2e, Hessian %.2e\n", ks[ik].name,
               worst[0], worst[1], worst[2]);
        CHECK(worst[0] <= 1e-13 && worst[1] <= 1e-13 && worst[2] <= 1e-13, "%s: %.2e %.2e %.2e", ks[ik].name,
              worst[0], worst[1], worst[2]);
    }
}

/* e^x over [-745, 0] (and below: 0) in every lane against exp() */
static void test_exp(void) {
    double worst = 0, xs[KIFMM__VW], ys[KIFMM__VW];
    int i, l;
    for (i = 0; i <= 20000; i++) {
        for (l = 0; l < KIFMM__VW; l++) xs[l] = -750.0 * (i * KIFMM__VW + l) / (20001.0 * KIFMM__VW);
        kifmm__vstore(ys, kifmm__vexp_neg(kifmm__vload(xs)));
        for (l = 0; l < KIFMM__VW; l++) {
            double want = exp(xs[l]), err;
            if (want < DBL_MIN) {        /* subnormal results: within 4 of their units (4.9e-324) */
                err = fabs(ys[l] - want) > 2e-323 ? 1 : 0;
            } else
                err = fabs(ys[l] - want) / want;
            worst = fmax(worst, err);
        }
    }
    printf("exp over [-750, 0], %d lanes: relative error %.2e\n", KIFMM__VW, worst);
    CHECK(worst <= 4 * DBL_EPSILON, "exp %.2e", worst);
}

int test_interact_run(void);
int test_interact_run(void) {
    size_t i;
    for (i = 0; i < 3 * NS; i++) src[i] = 2 * tu_rand() - 1;
    for (i = 0; i < 3 * NT; i++) tgt[i] = 2 * tu_rand() - 1;
    for (i = 0; i < 9; i++) tgt[i] = src[3 * 5 + i];          /* targets 0-2 on sources 5-7 */
    for (i = 0; i < NS * 3 * MAXND; i++) { q[i] = tu_rand() - 0.5; dip[i] = tu_rand() - 0.5; }
    printf("SIMD width %d doubles\n", KIFMM__VW);
    test_exp();
    test_kernels();
    printf("%s: %d failures\n", tu_failures ? "FAIL" : "OK", tu_failures);
    return tu_failures != 0;
}
