/* test_linalg.c - the dense linear algebra of kifmm_ops.h against known answers: GEMM (built-in,
   dispatch, hook), blocked Householder QR, one-sided Jacobi SVD, pseudo-inverse, randomized SVD,
   the random number generator, and clean failure when the allocator runs dry.

   cc -std=c99 -O2 -Wall -Wextra -fopenmp -I. tests/test_linalg.c -lm            (built-in GEMM)
   cc -std=c99 -O2 -Wall -Wextra -fopenmp -DKIFMM_USE_CBLAS -I. tests/test_linalg.c -lopenblas -lm
   ./a.out [bench]      (bench: also time QR of 50000 x 160)
   Prints one line per check with the measured error; returns non-zero on failure. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 199309L
#endif
#define KIFMM_OPS_IMPLEMENTATION
#include "kifmm_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

static int failures = 0;

static void check(const char *what, double err, double tol) {
    int ok = err <= tol;                       /* NaN fails */
    if (!ok) failures++;
    printf("%s %-58s err %.3e (tol %.1e)\n", ok ? "ok  " : "FAIL", what, err, tol);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double *dalloc(size_t n) {
    double *p = (double *)calloc(n ? n : 1, sizeof(double));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}

static void randn(kifmm__rng *g, int m, int n, double *a, int lda) {
    int i, j;
    for (j = 0; j < n; ++j)
        for (i = 0; i < m; ++i) a[i + (size_t)j * lda] = kifmm__rng_normal(g);
}

static double fro(int m, int n, const double *a, int lda) {
    double s = 0;
    int i, j;
    for (j = 0; j < n; ++j)
        for (i = 0; i < m; ++i) s += a[i + (size_t)j * lda] * a[i + (size_t)j * lda];
    return sqrt(s);
}

/* ||Q^T Q - I||_F for the m x n Q */
static double orth_err(int m, int n, const double *q, int ldq) {
    double *g = dalloc((size_t)n * n), e = 0;
    int i;
    kifmm__dgemm_builtin(1, 0, n, n, m, 1.0, q, ldq, q, ldq, 0.0, g, n);
    for (i = 0; i < n; ++i) g[i + (size_t)i * n] -= 1.0;
    e = fro(n, n, g, n);
    free(g);
    return e;
}

/* m x n matrix with orthonormal columns, from the QR of a Gaussian one */
static void rand_orth(kifmm__rng *g, int m, int n, double *q) {
    randn(g, m, n, q, m);
    if (kifmm__qr(NULL, NULL, m, n, q, m, NULL, 0) != KIFMM_OK) { printf("qr failed\n"); exit(2); }
}

/* ||A - U diag(s) V^T||_F / ||A||_F, U m x r, V n x r */
static double recon_err(int m, int n, int r, const double *a, int lda, const double *u, int ldu,
                        const double *s, const double *v, int ldv) {
    double *us = dalloc((size_t)m * r), *d = dalloc((size_t)m * n), e;
    int i, j;
    for (j = 0; j < r; ++j)
        for (i = 0; i < m; ++i) us[i + (size_t)j * m] = u[i + (size_t)j * ldu] * s[j];
    for (j = 0; j < n; ++j) memcpy(d + (size_t)j * m, a + (size_t)j * lda, (size_t)m * sizeof(double));
    kifmm__dgemm_builtin(0, 1, m, n, r, -1.0, us, m, v, ldv, 1.0, d, m);
    e = fro(m, n, d, m) / fro(m, n, a, lda);
    free(us); free(d);
    return e;
}

/* ---- rng --------------------------------------------------------------------------------- */
static void test_rng(void) {
    kifmm__rng a, b;
    int i, same = 1, differ = 0, inrange = 1, n = 100000;
    double mean = 0, var = 0;
    kifmm__rng_seed(&a, 12345); kifmm__rng_seed(&b, 12345);
    for (i = 0; i < 1000; ++i) same &= kifmm__rng_next(&a) == kifmm__rng_next(&b);
    kifmm__rng_seed(&b, 12346);
    for (i = 0; i < 1000; ++i) differ += kifmm__rng_next(&a) != kifmm__rng_next(&b);
    for (i = 0; i < n; ++i) { double u = kifmm__rng_uniform(&a); inrange &= u >= 0.0 && u < 1.0; }
    check("rng: same seed gives the same stream (1 = no)", same ? 0 : 1, 0);
    check("rng: different seed, fraction of equal outputs", 1.0 - differ / 1000.0, 0);
    check("rng: uniform in [0, 1) (1 = no)", inrange ? 0 : 1, 0);
    kifmm__rng_seed(&a, 7);
    for (i = 0; i < n; ++i) { double x = kifmm__rng_normal(&a); mean += x; var += x * x; }
    mean /= n; var = var / n - mean * mean;
    check("rng: |mean| of 1e5 normals", fabs(mean), 0.015);
    check("rng: |variance - 1| of 1e5 normals", fabs(var - 1.0), 0.02);
}

/* ---- GEMM -------------------------------------------------------------------------------- */
static void gemm_ref(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
                     const double *b, int ldb, double beta, double *c, int ldc) {
    int i, j, p;
    for (j = 0; j < n; ++j)
        for (i = 0; i < m; ++i) {
            long double s = 0;
            for (p = 0; p < k; ++p)
                s += (long double)(ta ? a[p + (size_t)i * lda] : a[i + (size_t)p * lda]) *
                     (tb ? b[j + (size_t)p * ldb] : b[p + (size_t)j * ldb]);
            c[i + (size_t)j * ldc] = (double)(alpha * s + (beta == 0 ? 0.0L : (long double)beta * c[i + (size_t)j * ldc]));
        }
}

/* max |C - Cref| / max(1, max |Cref|) over one case; padding rows of C must be untouched */
static double gemm_case(kifmm__rng *g, int ta, int tb, int m, int n, int k, double alpha, double beta) {
    int lda = (ta ? k : m) + 3, ldb = (tb ? n : k) + 2, ldc = m + 5, i;
    int acols = ta ? m : k, bcols = tb ? k : n;
    double *a = dalloc((size_t)lda * (acols ? acols : 1)), *b = dalloc((size_t)ldb * (bcols ? bcols : 1));
    double *c = dalloc((size_t)ldc * n), *r = dalloc((size_t)ldc * n), err = 0, mx = 1;
    randn(g, lda, acols, a, lda);
    randn(g, ldb, bcols, b, ldb);
    randn(g, ldc, n, c, ldc);
    if (beta == 0) for (i = 0; i < ldc * n; ++i) c[i] = (i % ldc < m) ? NAN : c[i];
    memcpy(r, c, (size_t)ldc * n * sizeof(double));
    kifmm__dgemm_builtin(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    gemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, r, ldc);
    for (i = 0; i < ldc * n; ++i) mx = fabs(r[i]) > mx ? fabs(r[i]) : mx;
    for (i = 0; i < ldc * n; ++i) {
        double d = fabs(c[i] - r[i]);
        if (!(d <= err)) err = d;              /* keeps NaN */
    }
    free(a); free(b); free(c); free(r);
    return err / mx;
}

static void counting_dgemm(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
                           const double *b, int ldb, double beta, double *c, int ldc, void *user) {
    (*(int *)user)++;
    kifmm__dgemm_builtin(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void gemm_speed(void) {
    int n = 512, i, rep;
    double *a = dalloc((size_t)n * n), *b = dalloc((size_t)n * n), *c = dalloc((size_t)n * n), best = 1e30;
    kifmm__rng g;
    kifmm__rng_seed(&g, 3);
    for (i = 0; i < n * n; ++i) { a[i] = kifmm__rng_uniform(&g); b[i] = kifmm__rng_uniform(&g); }
    for (rep = 0; rep < 3; ++rep) {
        double t = now();
        kifmm__dgemm_builtin(0, 0, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
        t = now() - t;
        best = t < best ? t : best;
    }
    printf("info built-in dgemm 512^3: %.2f GFLOP/s (single thread, best of 3)\n", 2.0 * n * n * n / best * 1e-9);
#ifdef KIFMM_USE_CBLAS
    best = 1e30;
    for (rep = 0; rep < 3; ++rep) {
        double t = now();
        kifmm__dgemm(NULL, 0, 0, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
        t = now() - t;
        best = t < best ? t : best;
    }
    printf("info cblas dgemm 512^3 via dispatch: %.2f GFLOP/s\n", 2.0 * n * n * n / best * 1e-9);
#endif
    free(a); free(b); free(c);
}

static void test_gemm(void) {
    static const int ms[] = {1, 3, 17, 65, 130}, ns[] = {1, 5, 66, 131}, ks[] = {1, 17, 300};
    static const double ab[][2] = {{1, 0}, {-0.5, 1}, {2, -1.5}, {0, 0.5}};
    kifmm__rng g;
    int t, im, in, ik, iab, calls = 0;
    kifmm_blas hook;
    double c[6] = {1, 2, 3, 4, 5, 6}, a[6] = {1, 2, 3, 4, 5, 6}, e;
    kifmm__rng_seed(&g, 11);
    for (t = 0; t < 4; ++t) {
        double worst = 0;
        char name[80];
        for (im = 0; im < 5; ++im)
            for (in = 0; in < 4; ++in)
                for (ik = 0; ik < 3; ++ik)
                    for (iab = 0; iab < 4; ++iab) {
                        /* cycle the alpha/beta combos instead of running all of them everywhere */
                        if ((im + in + ik) % 2 && iab > 1) continue;
                        e = gemm_case(&g, t & 1, t >> 1, ms[im], ns[in], ks[ik], ab[iab][0], ab[iab][1]);
                        if (!(e <= worst)) worst = e;
                    }
        sprintf(name, "dgemm builtin vs reference, op(A)=%c op(B)=%c", t & 1 ? 'T' : 'N', t >> 1 ? 'T' : 'N');
        check(name, worst, 5e-15);
    }
    e = gemm_case(&g, 0, 0, 17, 9, 0, 1.0, 0.0);
    check("dgemm k = 0, beta = 0 (C zeroed over NaN)", e, 0);
    e = gemm_case(&g, 1, 0, 33, 7, 0, 1.0, 2.5);
    check("dgemm k = 0, beta = 2.5 (C scaled)", e, 1e-16);
    kifmm__dgemm(NULL, 0, 0, 0, 3, 2, 1.0, a, 1, a, 2, 0.0, c, 1);
    kifmm__dgemm(NULL, 0, 0, 2, 0, 2, 1.0, a, 2, a, 2, 0.0, c, 2);
    check("dgemm m = 0 / n = 0 leave C alone", fabs(c[0] - 1) + fabs(c[5] - 6), 0);
    {   /* columns by pointer (the M2L's in-place GEMM): B's gathered and C's scattered in a
           shuffled order, with beta = 1 and 0, against gather + GEMM + scatter-add by hand */
        int m = 37, n = 21, k = 150, i, j, perm[21];
        double *big = dalloc((size_t)k * 30), *cb = dalloc((size_t)m * 30), *bg = dalloc((size_t)k * n);
        double *cr = dalloc((size_t)m * n), *cref = dalloc((size_t)m * 30), *am = dalloc((size_t)m * k), w = 0;
        const double *bcols[21];
        double *ccols[21];
        randn(&g, k, 30, big, k); randn(&g, m, 30, cb, m); randn(&g, m, k, am, m);
        memcpy(cref, cb, (size_t)m * 30 * sizeof *cref);
        for (j = 0; j < n; ++j) perm[j] = (j * 7 + 3) % 30;        /* distinct, out of order */
        for (j = 0; j < n; ++j) {
            bcols[j] = big + (size_t)perm[(j + 5) % n] * k;
            ccols[j] = cb + (size_t)perm[j] * m;
            memcpy(bg + (size_t)j * k, bcols[j], (size_t)k * sizeof *bg);
        }
        kifmm__dgemm_builtin(0, 0, m, n, k, 1.0, am, m, bg, k, 0.0, cr, m);
        for (j = 0; j < n; ++j)
            for (i = 0; i < m; ++i) cref[i + (size_t)perm[j] * m] += cr[i + (size_t)j * m];
        kifmm__la_gemm(0, 0, m, n, k, 1.0, am, m, NULL, 0, bcols, 1.0, NULL, 0, ccols);
        for (i = 0; i < m * 30; ++i) w = fmax(w, fabs(cb[i] - cref[i]) / (1 + fabs(cref[i])));
        check("dgemm by column pointers, beta = 1, against gather / GEMM / scatter-add", w, 1e-14);
        kifmm__la_gemm(0, 0, m, n, k, 1.0, am, m, NULL, 0, bcols, 0.0, cr, m, NULL);   /* into a plain C */
        kifmm__dgemm_builtin(0, 0, m, n, k, 1.0, am, m, bg, k, 0.0, cref, m);
        w = 0;
        for (i = 0; i < m * n; ++i) w = fmax(w, fabs(cr[i] - cref[i]));
        check("dgemm by column pointers into a plain C, bitwise", w, 0);
        free(big); free(cb); free(bg); free(cr); free(cref); free(am);
    }
    hook.dgemm = counting_dgemm; hook.user = &calls;
    kifmm__dgemm(&hook, 0, 0, 2, 2, 3, 1.0, a, 2, a, 3, 0.0, c, 2);
    /* [1 3 5; 2 4 6] * [1 4; 2 5; 3 6] = [22 49; 28 64] */
    check("dgemm dispatch calls the hook once, right result",
          fabs(calls - 1.0) + fabs(c[0] - 22) + fabs(c[1] - 28) + fabs(c[2] - 49) + fabs(c[3] - 64), 0);
    gemm_speed();
}

/* ---- QR ---------------------------------------------------------------------------------- */
static void qr_case(kifmm__rng *g, const kifmm_blas *blas, int m, int n, int lda, const char *name) {
    double *a = dalloc((size_t)lda * n), *q = dalloc((size_t)lda * n), *r = dalloc((size_t)n * n + 1);
    double e1, e2, low = 0, t;
    char buf[120];
    int i, j;
    kifmm_status st;
    randn(g, lda, n, a, lda);
    memcpy(q, a, (size_t)lda * n * sizeof(double));
    t = now();
    st = kifmm__qr(NULL, blas, m, n, q, lda, r, n);
    t = now() - t;
    for (j = 0; j < n; ++j)
        for (i = j + 1; i < n; ++i) low += fabs(r[i + (size_t)j * n]);
    e2 = orth_err(m, n, q, lda);
    for (j = 0; j < n; ++j)                     /* a <- a - q r */
        for (i = m; i < lda; ++i) q[i + (size_t)j * lda] = 0;
    e1 = fro(m, n, a, lda);
    kifmm__dgemm_builtin(0, 0, m, n, n, -1.0, q, lda, r, n, 1.0, a, lda);
    e1 = fro(m, n, a, lda) / e1;
    sprintf(buf, "qr %s %d x %d: ||A - QR|| / ||A||", name, m, n);
    check(buf, st == KIFMM_OK ? e1 : 1, 5e-15);
    sprintf(buf, "qr %s %d x %d: ||Q^T Q - I||", name, m, n);
    check(buf, e2, 2e-13);
    sprintf(buf, "qr %s %d x %d: R strictly lower part", name, m, n);
    check(buf, low, 0);
    if (m * (double)n > 1e6) printf("info qr %d x %d took %.3f s\n", m, n, t);
    free(a); free(q); free(r);
}

/* R alone by groups (kifmm__la_tsqr_r, what the SVD of the tall shell matrix uses): the same R
   as the direct QR up to the signs of its rows, a remainder group included (m not a multiple of
   4n). (The recursion on the stacked R's needs them above 2^21 entries: the order-8 and -9 shell
   matrices take it, in test_ops.) */
static void tsqr_case(kifmm__rng *g, int m, int n, int lda) {
    double *a = dalloc((size_t)lda * n), *b = dalloc((size_t)lda * n), *r = dalloc((size_t)n * n);
    double *rt = dalloc((size_t)n * n), e = 0, nr;
    char buf[120];
    int i, j;
    kifmm_status st;
    randn(g, lda, n, a, lda);
    memcpy(b, a, (size_t)lda * n * sizeof(double));
    st = kifmm__qr(NULL, NULL, m, n, a, lda, r, n);
    st = st == KIFMM_OK ? kifmm__la_tsqr_r(NULL, NULL, m, n, b, lda, rt, n) : st;
    nr = fro(n, n, r, n);
    for (i = 0; i < n; ++i) {
        double sg = r[i + (size_t)i * n] * rt[i + (size_t)i * n] < 0 ? -1.0 : 1.0;
        for (j = 0; j < n; ++j) e = fmax(e, fabs(rt[i + (size_t)j * n] - sg * r[i + (size_t)j * n]) / nr);
    }
    sprintf(buf, "tsqr %d x %d: R against the direct QR's, rows up to sign", m, n);
    check(buf, st == KIFMM_OK ? e : 1, 1e-14);
    free(a); free(b); free(r); free(rt);
}

static void test_qr(int bench) {
    kifmm__rng g;
    int calls = 0;
    kifmm_blas hook;
    kifmm__rng_seed(&g, 21);
    qr_case(&g, NULL, 1, 1, 1, "random");
    qr_case(&g, NULL, 50, 5, 53, "random");
    qr_case(&g, NULL, 64, 64, 64, "square");
    qr_case(&g, NULL, 97, 97, 100, "square");
    qr_case(&g, NULL, 300, 97, 305, "random");
    qr_case(&g, NULL, 20000, 150, 20000, "tall");
    hook.dgemm = counting_dgemm; hook.user = &calls;
    qr_case(&g, &hook, 200, 70, 200, "via hook");
    check("qr routes its GEMMs through the hook (0 = yes)", calls > 0 ? 0 : 1, 0);
    if (bench) qr_case(&g, NULL, 50000, 160, 50000, "bench");
    tsqr_case(&g, 8 * 30, 30, 8 * 30 + 3);        /* two groups */
    tsqr_case(&g, 1000, 23, 1000);              /* ten groups, the last with 80 more rows */
    tsqr_case(&g, 64 * 40 * 4 + 7, 40, 64 * 40 * 4 + 7);   /* 64 groups */
}

/* ---- SVD --------------------------------------------------------------------------------- */
/* A = U0 diag(s0) V0^T with random orthonormal U0 (m x r), V0 (n x r); compare the SVD */
static void svd_case(kifmm__rng *g, int m, int n, const double *s0, const char *name) {
    int r = m < n ? m : n, i, j, lda = m + 1, desc = 1;
    double *u0 = dalloc((size_t)m * r), *v0 = dalloc((size_t)n * r), *a = dalloc((size_t)lda * n);
    double *u = dalloc((size_t)m * r), *v = dalloc((size_t)n * r), *s = dalloc(r), *s2 = dalloc(r), es = 0;
    char buf[120];
    kifmm_status st;
    rand_orth(g, m, r, u0);
    rand_orth(g, n, r, v0);
    for (j = 0; j < r; ++j)
        for (i = 0; i < m; ++i) u0[i + (size_t)j * m] *= s0[j];
    kifmm__dgemm_builtin(0, 1, m, n, r, 1.0, u0, m, v0, n, 0.0, a, lda);
    st = kifmm__svd(NULL, NULL, m, n, a, lda, u, m, s, v, n);
    for (i = 0; i < r; ++i) es = fmax(es, fabs(s[i] - s0[i]) / s0[0]);
    for (i = 1; i < r; ++i) desc &= s[i] <= s[i - 1];
    sprintf(buf, "svd %s %d x %d: max |s - s0| / s0_max", name, m, n);
    check(buf, st == KIFMM_OK ? es : 1, 1e-14);
    sprintf(buf, "svd %s %d x %d: ||A - U S V^T|| / ||A||", name, m, n);
    check(buf, recon_err(m, n, r, a, lda, u, m, s, v, n), 3e-14);
    sprintf(buf, "svd %s %d x %d: ||U^T U - I||, ||V^T V - I||", name, m, n);
    check(buf, fmax(orth_err(m, r, u, m), orth_err(n, r, v, n)), 3e-13);
    /* exact zeros come back as zeros: below sqrt(n) eps s_max the Jacobi does not resolve values,
       and a pseudo-inverse must not invert what it returns there */
    for (es = 0, i = 0; i < r; ++i) if (s0[i] == 0.0) es = fmax(es, s[i] / s0[0]);
    sprintf(buf, "svd %s %d x %d: max s_i where s0_i = 0", name, m, n);
    check(buf, es, 0);
    sprintf(buf, "svd %s %d x %d: descending (0 = yes)", name, m, n);
    check(buf, desc ? 0 : 1, 0);
    st = kifmm__svd(NULL, NULL, m, n, a, lda, NULL, 0, s2, NULL, 0);   /* values only */
    for (es = 0, i = 0; i < r; ++i) es = fmax(es, fabs(s2[i] - s[i]) / s[0]);
    sprintf(buf, "svd %s %d x %d: values-only run agrees", name, m, n);
    check(buf, st == KIFMM_OK ? es : 1, 1e-15);
    free(u0); free(v0); free(a); free(u); free(v); free(s); free(s2);
}

static void test_hilbert(void) {
    enum { N = 10 };
    double h[N * N], u[N * N], v[N * N], s[N], h2[N * N], s2[N], x[N], y[N], lam = 0, c10 = 1, c20 = 1, f = 1;
    double prod = 1;
    int i, j, it;
    for (j = 0; j < N; ++j)
        for (i = 0; i < N; ++i) h[i + j * N] = 1.0 / (i + j + 1);
    kifmm__svd(NULL, NULL, N, N, h, N, u, N, s, v, N);
    check("svd hilbert 10: ||H - U S V^T|| / ||H||", recon_err(N, N, N, h, N, u, N, s, v, N), 1e-14);
    check("svd hilbert 10: ||U^T U - I||, ||V^T V - I||", fmax(orth_err(N, N, u, N), orth_err(N, N, v, N)), 1e-14);
    /* the singular values of the reconstruction agree with those of H */
    for (j = 0; j < N; ++j)
        for (i = 0; i < N; ++i) u[i + j * N] *= s[j];
    kifmm__dgemm_builtin(0, 1, N, N, N, 1.0, u, N, v, N, 0.0, h2, N);
    kifmm__svd(NULL, NULL, N, N, h2, N, NULL, 0, s2, NULL, 0);
    for (lam = 0, i = 0; i < N; ++i) lam = fmax(lam, fabs(s2[i] - s[i]) / s[0]);
    check("svd hilbert 10: s(U S V^T) vs s(H), relative to s_max", lam, 1e-14);
    /* s_max by power iteration (H is symmetric positive definite, gap ~ 5) */
    for (i = 0; i < N; ++i) x[i] = 1;
    for (it = 0; it < 100; ++it) {
        double nrm = 0;
        for (i = 0; i < N; ++i) { y[i] = 0; for (j = 0; j < N; ++j) y[i] += h[i + j * N] * x[j]; }
        for (i = 0; i < N; ++i) nrm += y[i] * y[i];
        nrm = sqrt(nrm);
        for (i = 0; i < N; ++i) x[i] = y[i] / nrm;
        lam = nrm;
    }
    check("svd hilbert 10: s_max vs power iteration (relative)", fabs(s[0] - lam) / lam, 5e-15);
    /* product of the singular values = det(H_10) = c_10^4 / c_20, c_n = prod_{i<n} i! */
    for (i = 1; i < 20; ++i) { f *= i; if (i < 10) c10 *= f; c20 *= f; }
    for (i = 0; i < N; ++i) prod *= s[i];
    printf("info hilbert 10: s_min = %.6e, cond = %.4e, prod(s)/det - 1 = %.2e (s_min is only good to "
           "~eps s_max)\n", s[N - 1], s[0] / s[N - 1], prod / (c10 * c10 * c10 * c10 / c20) - 1);
    check("svd hilbert 10: prod(s) vs det (relative, loose)", fabs(prod / (c10 * c10 * c10 * c10 / c20) - 1), 1e-2);
}

static void test_svd(void) {
    kifmm__rng g;
    double s0[80];
    int i, sz[3][2] = {{80, 50}, {50, 80}, {60, 60}}, c;
    kifmm__rng_seed(&g, 31);
    for (c = 0; c < 3; ++c) {
        int m = sz[c][0], n = sz[c][1], r = m < n ? m : n;
        for (i = 0; i < r; ++i) s0[i] = 10.0 - 9.0 * i / (r - 1);
        svd_case(&g, m, n, s0, "well-conditioned");
        for (i = 0; i < r; ++i) s0[i] = pow(10.0, -14.0 * i / (r - 1));
        svd_case(&g, m, n, s0, "graded 1..1e-14");
        for (i = 0; i < r; ++i) s0[i] = i < 2 * r / 3 ? 2 * r / 3 - i : 0.0;
        svd_case(&g, m, n, s0, "rank-deficient");
    }
    {   /* rank 40 of 192 (weights 1..1e-12) over noise at 1e-17, like the randomized sketches of
           the order-13..16 cores: the Jacobi kept rotating a column just above eps |w|_max against
           the noise columns and gave up after 80 sweeps (13 of 20 such seeds failed) */
        enum { NJ = 192, RJ = 40 };
        double *aj = dalloc((size_t)NJ * NJ), *uj = dalloc((size_t)NJ * NJ), *vj = dalloc((size_t)NJ * NJ);
        double sj[NJ], x[NJ], y[NJ], worst = 0;
        int seed, bad = 0, k, jj, ii;
        for (seed = 0; seed < 6; ++seed) {
            kifmm__rng gj;
            kifmm__rng_seed(&gj, 100 + seed);
            for (ii = 0; ii < NJ * NJ; ++ii) aj[ii] = 1e-17 * kifmm__rng_normal(&gj);
            for (k = 0; k < RJ; ++k) {
                double wk = pow(10.0, -12.0 * k / RJ);
                for (ii = 0; ii < NJ; ++ii) { x[ii] = kifmm__rng_normal(&gj); y[ii] = kifmm__rng_normal(&gj); }
                for (jj = 0; jj < NJ; ++jj)
                    for (ii = 0; ii < NJ; ++ii) aj[ii + jj * NJ] += wk * x[ii] * y[jj] / NJ;
            }
            if (kifmm__svd(NULL, NULL, NJ, NJ, aj, NJ, uj, NJ, sj, vj, NJ) != KIFMM_OK) { bad++; continue; }
            worst = fmax(worst, recon_err(NJ, NJ, NJ, aj, NJ, uj, NJ, sj, vj, NJ));
        }
        check("svd rank 40 of 192 over noise: seeds not converged", bad, 0);
        check("svd rank 40 of 192 over noise: ||A - U S V^T|| / ||A||", worst, 3e-14);
        free(aj); free(uj); free(vj);
    }
    {   /* exact zero columns: the completed basis must stay orthonormal */
        double a[6 * 4] = {0}, u[24], v[16], s[4];
        a[0] = 3; a[6 + 1] = 2;
        kifmm__svd(NULL, NULL, 6, 4, a, 6, u, 6, s, v, 4);
        check("svd with exactly zero singular values: ||U^T U - I||", orth_err(6, 4, u, 6), 1e-15);
        check("svd with exactly zero singular values: values", fabs(s[0] - 3) + fabs(s[1] - 2) + s[2] + s[3], 0);
    }
    {   /* exactly rank 1 (all ones, 300 x 200): the pivoted R's trailing part sits near 1e-170,
           whose squares underflow; this failed with KIFMM_ERR_NUMERICAL (and at 210 x 160 lost
           V's orthogonality) before tiny pairs were left alone. Also the same matrix at 1e-200
           and 1e200: the scaling keeps squared norms in range. */
        int m = 300, n = 200, sc;
        double *a = (double *)malloc(sizeof(double) * m * n), *u = (double *)malloc(sizeof(double) * m * n);
        double *v = (double *)malloc(sizeof(double) * n * n), s[200], scale[3] = {1, 1e-200, 1e200};
        for (sc = 0; sc < 3; ++sc) {
            kifmm_status st;
            char buf[120];
            for (i = 0; i < m * n; ++i) a[i] = scale[sc];
            st = kifmm__svd(NULL, NULL, m, n, a, m, u, m, s, v, n);
            sprintf(buf, "svd all-ones x %.0e 300 x 200: status (1 = bad)", scale[sc]);
            check(buf, st == KIFMM_OK ? 0 : 1, 0);
            if (st != KIFMM_OK) continue;
            /* backward stable: s_1 within ~100 eps of s_0; Q from 300-row Householder QR is
               orthonormal to ~m eps */
            sprintf(buf, "svd all-ones x %.0e: |s_0 / (sqrt(m n) x) - 1|, s_1 / s_0", scale[sc]);
            check(buf, fmax(fabs(s[0] / (sqrt((double)m * n) * scale[sc]) - 1), s[1] / s[0]), 1e-13);
            sprintf(buf, "svd all-ones x %.0e: ||U^T U - I||, ||V^T V - I||", scale[sc]);
            check(buf, fmax(orth_err(m, n, u, m), orth_err(n, n, v, n)), 1e-12);
            if (sc > 0) continue;              /* the helper's norms would under/overflow */
            sprintf(buf, "svd all-ones x %.0e: ||A - U S V^T|| / ||A|| (~100 eps)", scale[sc]);
            check(buf, recon_err(m, n, n, a, m, u, m, s, v, n), 1e-13);
        }
        free(a); free(u); free(v);
    }
    {   /* NaN input: Jacobi cannot converge, the status says so (and nothing crashes) */
        double a[5 * 3], s[3];
        int i;
        for (i = 0; i < 15; ++i) a[i] = i + 1;
        a[7] = NAN;
        check("svd with NaN input returns KIFMM_ERR_NUMERICAL (1 = no)",
              kifmm__svd(NULL, NULL, 5, 3, a, 5, NULL, 0, s, NULL, 0) == KIFMM_ERR_NUMERICAL ? 0 : 1, 0);
    }
    test_hilbert();
}

/* ---- pinv -------------------------------------------------------------------------------- */
/* the four Penrose conditions: AXA = A, XAX = X, AX and XA symmetric (worst relative error) */
static double penrose(int m, int n, const double *a, int rank, const double *x1, const double *x2) {
    double *x = dalloc((size_t)n * m), *ax = dalloc((size_t)m * m), *xa = dalloc((size_t)n * n);
    double *t = dalloc((size_t)m * n), *t2 = dalloc((size_t)n * m), e = 0, d;
    int i, j;
    kifmm__dgemm_builtin(0, 0, n, m, rank, 1.0, x1, n, x2, rank, 0.0, x, n);
    kifmm__dgemm_builtin(0, 0, m, m, n, 1.0, a, m, x, n, 0.0, ax, m);
    kifmm__dgemm_builtin(0, 0, n, n, m, 1.0, x, n, a, m, 0.0, xa, n);
    memcpy(t, a, (size_t)m * n * sizeof(double));
    kifmm__dgemm_builtin(0, 0, m, n, m, 1.0, ax, m, a, m, -1.0, t, m);
    e = fmax(e, fro(m, n, t, m) / fro(m, n, a, m));
    memcpy(t2, x, (size_t)n * m * sizeof(double));
    kifmm__dgemm_builtin(0, 0, n, m, n, 1.0, xa, n, x, n, -1.0, t2, n);
    e = fmax(e, fro(n, m, t2, n) / fro(n, m, x, n));
    for (d = 0, j = 0; j < m; ++j)
        for (i = 0; i < m; ++i) d = fmax(d, fabs(ax[i + j * m] - ax[j + i * m]));
    e = fmax(e, d);
    for (d = 0, j = 0; j < n; ++j)
        for (i = 0; i < n; ++i) d = fmax(d, fabs(xa[i + j * n] - xa[j + i * n]));
    e = fmax(e, d);
    free(x); free(ax); free(xa); free(t); free(t2);
    return e;
}

static void pinv_case(kifmm__rng *g, int m, int n, int rank0, double tiny, const char *name) {
    int r = m < n ? m : n, rank = -1, i, j;
    double *u0 = dalloc((size_t)m * r), *v0 = dalloc((size_t)n * r), *a = dalloc((size_t)m * n);
    double *x1 = dalloc((size_t)n * r), *x2 = dalloc((size_t)r * m);
    char buf[120];
    kifmm_status st;
    rand_orth(g, m, r, u0);
    rand_orth(g, n, r, v0);
    for (j = 0; j < r; ++j)                    /* s = 1 .. 0.1 for j < rank0, then tiny */
        for (i = 0; i < m; ++i) u0[i + (size_t)j * m] *= j < rank0 ? 1.0 - 0.9 * j / r : tiny;
    kifmm__dgemm_builtin(0, 1, m, n, r, 1.0, u0, m, v0, n, 0.0, a, m);
    st = kifmm__pinv(NULL, NULL, m, n, a, m, 1e-10, x1, x2, &rank);
    sprintf(buf, "pinv %s %d x %d: rank found (expected %d)", name, m, n, rank0);
    check(buf, st == KIFMM_OK ? fabs((double)(rank - rank0)) : 1, 0);
    sprintf(buf, "pinv %s %d x %d: Penrose conditions", name, m, n);
    check(buf, penrose(m, n, a, rank, x1, x2), 2e-14 + 10 * tiny);   /* AXA = A up to the cut tail */
    free(u0); free(v0); free(a); free(x1); free(x2);
}

static void test_pinv(void) {
    kifmm__rng g;
    kifmm__rng_seed(&g, 41);
    pinv_case(&g, 40, 25, 25, 0.0, "full rank");
    pinv_case(&g, 25, 40, 25, 0.0, "full rank");
    pinv_case(&g, 30, 20, 12, 0.0, "rank-deficient (zeros)");
    pinv_case(&g, 20, 35, 9, 1e-13, "rank-deficient (1e-13 tail)");
}

/* ---- randomized SVD ---------------------------------------------------------------------- */
/* A = U0 diag(s) V0^T, 200 x 60000, V0 = H_1 H_2 H_3 H_4 [I; 0] with random Householder
   reflectors: orthonormal columns at O(n) cost per application. */
typedef struct { int m, n, nh; const double *u0, *s, *hv; double *work; } rs_ctx;

/* x (n x ncols, ld) <- H x with H = I - 2 h h^T / (h^T h) */
static void reflect(int n, const double *h, int ncols, double *x, int ldx) {
    double hh = 0;
    int i, j;
    for (i = 0; i < n; ++i) hh += h[i] * h[i];
    for (j = 0; j < ncols; ++j) {
        double *xj = x + (size_t)j * ldx, d = 0;
        for (i = 0; i < n; ++i) d += h[i] * xj[i];
        d *= 2 / hh;
        for (i = 0; i < n; ++i) xj[i] -= d * h[i];
    }
}

static void rs_apply(int trans, int ncols, const double *x, int ldx, double *y, int ldy, void *vctx) {
    rs_ctx *c = (rs_ctx *)vctx;
    int m = c->m, n = c->n, i, j, h;
    double *w = c->work;                       /* n x ncols */
    if (!trans) {                              /* y = U0 S [I 0] H4 H3 H2 H1 x */
        for (j = 0; j < ncols; ++j) memcpy(w + (size_t)j * n, x + (size_t)j * ldx, (size_t)n * sizeof(double));
        for (h = 0; h < c->nh; ++h) reflect(n, c->hv + (size_t)h * n, ncols, w, n);
        for (j = 0; j < ncols; ++j)
            for (i = 0; i < m; ++i) w[i + (size_t)j * n] *= c->s[i];
        kifmm__dgemm_builtin(0, 0, m, ncols, m, 1.0, c->u0, m, w, n, 0.0, y, ldy);
    } else {                                   /* y = H1 H2 H3 H4 [S U0^T x; 0] */
        kifmm__dgemm_builtin(1, 0, m, ncols, m, 1.0, c->u0, m, x, ldx, 0.0, y, ldy);
        for (j = 0; j < ncols; ++j) {
            for (i = 0; i < m; ++i) y[i + (size_t)j * ldy] *= c->s[i];
            for (i = m; i < n; ++i) y[i + (size_t)j * ldy] = 0;
        }
        for (h = c->nh - 1; h >= 0; --h) reflect(n, c->hv + (size_t)h * n, ncols, y, ldy);
    }
}

static void test_rsvd(void) {
    enum { M = 200, NN = 60000, K = 30, OS = 15, Q = 2 };
    kifmm__rng g;
    rs_ctx c;
    double *u0 = dalloc((size_t)M * M), *s0 = dalloc(M), *hv = dalloc((size_t)4 * NN);
    double *u = dalloc((size_t)M * K), *s = dalloc(K), *u2 = dalloc((size_t)M * K), *s2 = dalloc(K);
    double *res = dalloc((size_t)M * M), *p = dalloc((size_t)K * M), *rs = dalloc(M), es = 0, t;
    int i, j;
    kifmm_status st;
    kifmm__rng_seed(&g, 51);
    rand_orth(&g, M, M, u0);
    for (i = 0; i < M; ++i) s0[i] = pow(10.0, -i / 10.0);
    randn(&g, NN, 4, hv, NN);
    c.m = M; c.n = NN; c.nh = 4; c.u0 = u0; c.s = s0; c.hv = hv;
    c.work = dalloc((size_t)NN * (K + OS));
    t = now();
    st = kifmm__rsvd(NULL, NULL, M, NN, rs_apply, &c, K, OS, Q, 42, u, s);
    t = now() - t;
    for (i = 0; i < K; ++i) es = fmax(es, fabs(s[i] - s0[i]) / s0[i]);
    check("rsvd 200 x 60000: top-30 singular values, max relative error", st == KIFMM_OK ? es : 1, 1e-10);
    check("rsvd 200 x 60000: ||U^T U - I||", orth_err(M, K, u, M), 1e-13);
    /* ||(I - U U^T) A|| = ||(I - U U^T) U0 S|| since V0 has orthonormal columns */
    for (j = 0; j < M; ++j)
        for (i = 0; i < M; ++i) res[i + (size_t)j * M] = u0[i + (size_t)j * M] * s0[j];
    kifmm__dgemm_builtin(1, 0, K, M, M, 1.0, u, M, res, M, 0.0, p, K);
    kifmm__dgemm_builtin(0, 0, M, M, K, -1.0, u, M, p, K, 1.0, res, M);
    kifmm__svd(NULL, NULL, M, M, res, M, NULL, 0, rs, NULL, 0);
    check("rsvd: | ||(I - UU^T) A|| / s_{k+1} - 1 |", fabs(rs[0] / s0[K] - 1), 1e-6);
    printf("info rsvd 200 x 60000, k %d, l %d, %d power iterations: %.3f s\n", K, K + OS, Q, t);
    kifmm__rsvd(NULL, NULL, M, NN, rs_apply, &c, K, OS, Q, 42, u2, s2);
    check("rsvd: same seed, bitwise same u and s (1 = no)",
          memcmp(u, u2, sizeof(double) * M * K) || memcmp(s, s2, sizeof(double) * K) ? 1 : 0, 0);
    kifmm__rsvd(NULL, NULL, M, NN, rs_apply, &c, K, OS, Q, 43, u2, s2);
    for (es = 0, i = 0; i < K; ++i) es = fmax(es, fabs(s[i] - s2[i]) / s[i]);
    check("rsvd: other seed changes the bits (1 = no)", memcmp(s, s2, sizeof(double) * K) ? 0 : 1, 0);
    check("rsvd: other seed, same values to rounding (relative)", es, 1e-10);
    check("rsvd: k > min(m, n) is rejected (1 = no)",
          kifmm__rsvd(NULL, NULL, M, NN, rs_apply, &c, M + 1, OS, Q, 1, u, s) == KIFMM_ERR_INVALID_ARGUMENT ? 0 : 1, 0);
    free(u0); free(s0); free(hv); free(u); free(s); free(u2); free(s2); free(res); free(p); free(rs); free(c.work);
}

typedef struct { int m, n; const double *a; } dense_ctx;
static void dense_apply(int trans, int ncols, const double *x, int ldx, double *y, int ldy, void *vctx) {
    dense_ctx *c = (dense_ctx *)vctx;
    if (!trans) kifmm__dgemm_builtin(0, 0, c->m, ncols, c->n, 1.0, c->a, c->m, x, ldx, 0.0, y, ldy);
    else kifmm__dgemm_builtin(1, 0, c->n, ncols, c->m, 1.0, c->a, c->m, x, ldx, 0.0, y, ldy);
}

/* k = min(m, n) on a tall matrix: the range is captured exactly, so rSVD = SVD to rounding */
static void test_rsvd_full(void) {
    enum { M = 90, N = 40 };
    double a[M * N], u[M * N], s[N], v[N * N], ur[M * N], sr[N], e = 0, pr = 0;
    kifmm__rng g;
    dense_ctx dc;
    int i, j, l;
    kifmm__rng_seed(&g, 71);
    randn(&g, M, N, a, M);
    dc.m = M; dc.n = N; dc.a = a;
    kifmm__svd(NULL, NULL, M, N, a, M, u, M, s, v, N);
    check("rsvd tall 90 x 40, k = 40, no power iteration: status (1 = bad)",
          kifmm__rsvd(NULL, NULL, M, N, dense_apply, &dc, N, 10, 0, 5, ur, sr) == KIFMM_OK ? 0 : 1, 0);
    for (i = 0; i < N; ++i) e = fmax(e, fabs(sr[i] - s[i]) / s[0]);
    for (j = 0; j < N; ++j) {                  /* |u_j . ur_j| = 1 for simple singular values */
        double d = 0;
        for (l = 0; l < M; ++l) d += u[l + j * M] * ur[l + j * M];
        pr = fmax(pr, fabs(fabs(d) - 1));
    }
    check("rsvd tall 90 x 40, k = 40: singular values vs svd", e, 1e-14);
    check("rsvd tall 90 x 40, k = 40: max | |u_j . ur_j| - 1 |", pr, 1e-11);
}

/* ---- allocation failure: every k-th allocation fails in turn -> clean status, no leak ------- */
typedef struct { int count, fail_at; long long live; } fail_alloc;
static void *fa_alloc(size_t size, size_t align, void *user) {
    fail_alloc *f = (fail_alloc *)user;
    void *p;
    (void)align;
    if (++f->count == f->fail_at) return NULL;
    p = malloc(size);
    if (p) f->live += (long long)size;
    return p;
}
static void fa_free(void *p, size_t size, void *user) {
    fail_alloc *f = (fail_alloc *)user;
    if (p) { f->live -= (long long)size; free(p); }
}

static void test_alloc_failure(void) {
    enum { M = 70, N = 45 };
    double a[M * N], w[M * N], u[M * N], s[N], v[M * N];
    kifmm__rng g;
    dense_ctx dc;
    int which, k, bad = 0, leaks = 0, rank;
    kifmm__rng_seed(&g, 61);
    randn(&g, M, N, a, M);
    dc.m = M; dc.n = N; dc.a = a;
    for (which = 0; which < 5; ++which)
        for (k = 1;; ++k) {
            fail_alloc f = {0, 0, 0};
            kifmm_allocator al;
            kifmm_status st;
            f.fail_at = k;
            al.alloc_fn = fa_alloc; al.free_fn = fa_free; al.user = &f;
            memcpy(w, a, sizeof a);
            if (which == 0) st = kifmm__qr(&al, NULL, M, N, w, M, NULL, 0);
            else if (which == 1) st = kifmm__svd(&al, NULL, N, M, a, N, u, N, s, v, M);
            else if (which == 2) st = kifmm__pinv(&al, NULL, M, N, a, M, 1e-12, u, v, &rank);
            else if (which == 3) st = kifmm__rsvd(&al, NULL, M, N, dense_apply, &dc, 10, 5, 2, 9, u, s);
            else st = kifmm__la_tsqr_r(&al, NULL, M, 8, w, M, v, 8);     /* two groups of 32 rows */
            leaks += f.live != 0;
            if (f.count < k) { bad += st != KIFMM_OK; break; }   /* ran without hitting the failure */
            bad += st != KIFMM_ERR_OUT_OF_MEMORY;
        }
    check("failing allocator: wrong status count (qr, svd, pinv, rsvd, tsqr)", bad, 0);
    check("failing allocator: leaking runs", leaks, 0);
}

int main(int argc, char **argv) {
    double t = now();
    int bench = argc > 1 && strcmp(argv[1], "bench") == 0;
    test_rng();
    test_gemm();
    test_qr(bench);
    test_svd();
    test_pinv();
    test_rsvd();
    test_rsvd_full();
    test_alloc_failure();
    printf("%s: %d failure(s), %.2f s\n", failures ? "FAILED" : "PASSED", failures, now() - t);
    return failures != 0;
}
