/* The instruction-set paths of the kernel and the built-in GEMM, each on its own: meson builds this
   file three times (plain, -mavx2 -mfma, -mavx512f), each into a static library linked with
   tests/test_kernel_main.c, which is compiled for the baseline ISA and skips (exit 77) when the
   CPU lacks what this file was compiled for. The check must run before any code of this file:
   compiled with -mavx512f, even the prologue of a function may use zmm registers (the sanitizers'
   stack set-up does), which is SIGILL on an AVX2-only CPU. The other tests build for the baseline
   ISA, so without this the SIMD paths would only ever run in the benchmarks. */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include "testutil.h"

/* what this file was compiled for, as data (no code of this file runs before the CPU check) */
#if defined(__AVX512F__)
const char test_kernel_isa[] = "avx512f";
#elif defined(__AVX2__) && defined(__FMA__)
const char test_kernel_isa[] = "avx2+fma";
#else
const char test_kernel_isa[] = "baseline";
#endif

int test_kernel_run(void);   /* called by test_kernel_main.c once the CPU has test_kernel_isa */

int test_kernel_run(void) {
    double worst = 0, gworst = 0, sx[1] = {0}, sy[1] = {0}, sz[1] = {0}, one[1] = {1}, tx[13], ty[13], tz[13], pt[13];
    double gr[39];
    int e2, lane, i, j;
    printf("kernel and GEMM paths compiled for %s\n", test_kernel_isa);
    /* 1/r of single pairs from r = 1e-150 to 1e150 against 1 / (4 pi sqrt(r2)); 13 targets so
       that the last SIMD block is partial (masked) */
    for (e2 = -300; e2 <= 300; e2++) {
        for (lane = 0; lane < 13; lane++) {
            double r = pow(10.0, 0.5 * e2) * (1 + 0.0731 * lane);
            tx[lane] = r * 0.6; ty[lane] = -r * 0.48; tz[lane] = r * 0.64; pt[lane] = 0;
        }
        /* with the gradient at every other step of r = 1e-100..1e100 (its 1 / r^2 stays finite) */
        memset(gr, 0, sizeof gr);
        if (e2 % 2 == 0 && e2 >= -200 && e2 <= 200)
            kifmm__p2p(sx, sy, sz, one, 1, tx, ty, tz, 13, pt, gr, gr + 13, gr + 26);
        else
            kifmm__p2p(sx, sy, sz, one, 1, tx, ty, tz, 13, pt, NULL, NULL, NULL);
        for (lane = 0; lane < 13; lane++) {
            double r2 = tx[lane] * tx[lane] + ty[lane] * ty[lane] + tz[lane] * tz[lane];
            double want = KIFMM_INV_4PI / sqrt(r2), rel = fabs(pt[lane] - want) / want;
            worst = rel > worst ? rel : worst;
            if (e2 % 2 == 0 && e2 >= -200 && e2 <= 200) {   /* grad = -x / (4 pi r^3) */
                double gw = want / r2, ge = fabs(gr[lane] + tx[lane] * gw) + fabs(gr[13 + lane] + ty[lane] * gw) +
                                            fabs(gr[26 + lane] + tz[lane] * gw);
                ge /= gw * sqrt(r2);
                gworst = ge > gworst || ge != ge ? (ge != ge ? 1e300 : ge) : gworst;
            }
        }
    }
    printf("1/r of single pairs, r = 1e-150..1e150, relative: %.2e (gradient, r = 1e-100..1e100: %.2e)\n", worst, gworst);
    CHECK(worst <= 4 * DBL_EPSILON && gworst <= 16 * DBL_EPSILON, "1/r %.2e, gradient %.2e", worst, gworst);
    /* r2 subnormal (r = 1e-158 .. 1e-155): finite and right to the precision r2 itself has there,
       r2 / 2^-1074 >= 2e7 units, so 1/r to ~3e-8 (an estimate squared overflowed here once) */
    for (worst = 0, e2 = -316; e2 <= -310; e2++) {
        for (lane = 0; lane < 13; lane++) {
            tx[lane] = pow(10.0, 0.5 * e2) * (1 + 0.0731 * lane); ty[lane] = tz[lane] = 0; pt[lane] = 0;
        }
        kifmm__p2p(sx, sy, sz, one, 1, tx, ty, tz, 13, pt, NULL, NULL, NULL);
        for (lane = 0; lane < 13; lane++) {
            double want = KIFMM_INV_4PI / fabs(tx[lane]), rel = fabs(pt[lane] - want) / want;
            worst = rel > worst || rel != rel ? (rel != rel ? 1e300 : rel) : worst;
        }
    }
    printf("1/r of single pairs, r = 1e-158..1e-155 (r2 subnormal), relative: %.2e\n", worst);
    CHECK(worst <= 1e-6, "1/r subnormal %.2e", worst);

    {   /* potential and gradient against kifmm_direct: 301 points, 20 coincident pairs (r = 0) */
        size_t m = 301;
        double *s = tu_new_points(m, TU_CUBE), *q = (double *)malloc(m * sizeof *q);
        double *soa = (double *)malloc(3 * m * sizeof *soa), *p1 = (double *)calloc(m, sizeof *p1);
        double *gs = (double *)calloc(3 * m, sizeof *gs), *p2 = (double *)malloc(m * sizeof *p2);
        double *g2 = (double *)malloc(3 * m * sizeof *g2), ep = 0, np = 0, eg = 0, ng = 0;
        size_t k;
        for (k = 0; k < 20; k++) memcpy(s + 3 * (k + 100), s + 3 * k, 3 * sizeof *s);
        for (k = 0; k < m; k++) {
            q[k] = tu_rand() - 0.5;
            soa[k] = s[3 * k]; soa[m + k] = s[3 * k + 1]; soa[2 * m + k] = s[3 * k + 2];
        }
        kifmm__p2p(soa, soa + m, soa + 2 * m, q, m, soa, soa + m, soa + 2 * m, m, p1, gs, gs + m, gs + 2 * m);
        kifmm_direct(s, m, q, s, m, p2, g2);
        for (k = 0; k < m; k++) {
            ep += (p1[k] - p2[k]) * (p1[k] - p2[k]); np += p2[k] * p2[k];
            for (i = 0; i < 3; i++) {
                eg += (gs[i * m + k] - g2[3 * k + i]) * (gs[i * m + k] - g2[3 * k + i]);
                ng += g2[3 * k + i] * g2[3 * k + i];
            }
        }
        printf("kernel vs kifmm_direct (coincident points excluded): %.2e / %.2e\n", sqrt(ep / np), sqrt(eg / ng));
        CHECK(sqrt(ep / np) <= 1e-14 && sqrt(eg / ng) <= 1e-14, "kernel %.2e / %.2e", sqrt(ep / np), sqrt(eg / ng));
        free(s); free(q); free(soa); free(p1); free(gs); free(p2); free(g2);
    }

    {   /* pairs closer than float's range among ordinary ones (the AVX2 path's estimate fails there
           and its target vector is summed again): 40 sources, 13 targets, target 5 at 1e-25 and
           target 9 at 3e-21 from a source, target 6 on one; each target against its own sum */
        double s4[4 * 40], t3[3 * 13], p[13], g[39], worst_p = 0, worst_g = 0;
        int a;
        for (i = 0; i < 4 * 40; i++) s4[i] = tu_rand() - 0.5;
        for (i = 0; i < 3 * 13; i++) t3[i] = tu_rand() - 0.5;
        for (a = 0; a < 3; a++) {   /* (near the origin, where such distances are representable) */
            s4[a * 40 + 7] = (a - 1) * 1e-24;
            t3[a * 13 + 5] = s4[a * 40 + 7] + (a == 0 ? 1e-25 : 0);
            t3[a * 13 + 6] = s4[a * 40 + 3];
            s4[a * 40 + 30] = a == 2 ? 1e-20 : 0;
            t3[a * 13 + 9] = s4[a * 40 + 30] + (a == 2 ? 3e-21 : 0);
        }
        memset(p, 0, sizeof p);
        memset(g, 0, sizeof g);
        kifmm__p2p(s4, s4 + 40, s4 + 80, s4 + 120, 40, t3, t3 + 13, t3 + 26, 13, p, g, g + 13, g + 26);
        for (i = 0; i < 13; i++) {
            double wp = 0, wg[3] = {0, 0, 0}, gn, ge = 0;
            for (j = 0; j < 40; j++) {
                double d[3], r2 = 0;
                for (a = 0; a < 3; a++) { d[a] = t3[a * 13 + i] - s4[a * 40 + j]; r2 += d[a] * d[a]; }
                if (r2 == 0) continue;
                wp += KIFMM_INV_4PI * s4[120 + j] / sqrt(r2);
                for (a = 0; a < 3; a++) wg[a] -= KIFMM_INV_4PI * s4[120 + j] * d[a] / (r2 * sqrt(r2));
            }
            gn = sqrt(wg[0] * wg[0] + wg[1] * wg[1] + wg[2] * wg[2]);
            for (a = 0; a < 3; a++) ge += (g[a * 13 + i] - wg[a]) * (g[a * 13 + i] - wg[a]);
            worst_p = fmax(worst_p, fabs(p[i] - wp) / fabs(wp));
            worst_g = fmax(worst_g, sqrt(ge) / gn);
            if (p[i] != p[i] || sqrt(ge) != sqrt(ge)) worst_p = 1e300;
        }
        printf("near pairs (r = 1e-25, 3e-21, 0) among 40 sources, relative per target: %.2e / %.2e\n", worst_p, worst_g);
        CHECK(worst_p <= 1e-14 && worst_g <= 1e-14, "near pairs %.2e / %.2e", worst_p, worst_g);
    }
    {   /* the precompute's kernel matrices (kifmm__kernel_matrix, and the M2L blocks through the same
           kifmm__inv_dist) against 1/(4 pi sqrt(r2)) entry by entry: 21 targets (a partial SIMD
           block), one of them on a source (entry 0), distances 1e-3..1e3 */
        enum { NT = 21, NS = 5 };
        double t[3 * NT], src[3 * NS], km[NT * NS], kerr = 0;
        int zero_ok = 1;
        for (i = 0; i < 3 * NT; i++) t[i] = (tu_rand() - 0.5) * pow(10.0, 6 * tu_rand() - 3);
        for (i = 0; i < 3 * NS; i++) src[i] = tu_rand() - 0.5;
        for (i = 0; i < 3; i++) t[i * NT + 7] = src[i * NS + 2];      /* target 7 on source 2 */
        kifmm__kernel_matrix(t, NT, src, NS, km, NT);
        for (j = 0; j < NS; j++)
            for (i = 0; i < NT; i++) {
                double dx = t[i] - src[j], dy = t[NT + i] - src[NS + j], dz = t[2 * NT + i] - src[2 * NS + j];
                double r2 = dx * dx + dy * dy + dz * dz, got = km[i + j * NT];
                if (r2 == 0) { zero_ok &= got == 0; continue; }
                kerr = fmax(kerr, fabs(got - KIFMM_INV_4PI / sqrt(r2)) * sqrt(r2) / KIFMM_INV_4PI);
            }
        printf("kernel matrix vs 1/(4 pi r), relative: %.2e; coincident entry 0: %s\n", kerr, zero_ok ? "yes" : "no");
        CHECK(kerr <= 2 * DBL_EPSILON && zero_ok, "kernel matrix %.2e, zero %d", kerr, zero_ok);
    }

    {   /* built-in GEMM (its micro-kernel is the ISA's) against a plain triple loop, all transposes,
           sizes off the register tiles */
        int dims[3][3] = {{37, 29, 131}, {8, 6, 1}, {67, 97, 70}}, d, ta, tb;
        double werr = 0;
        for (d = 0; d < 3; d++)
            for (ta = 0; ta < 2; ta++)
                for (tb = 0; tb < 2; tb++) {
                    int m = dims[d][0], n = dims[d][1], kk = dims[d][2], l;
                    double *a = (double *)malloc(sizeof(double) * m * kk), *b = (double *)malloc(sizeof(double) * kk * n);
                    double *c = (double *)malloc(sizeof(double) * m * n), *r = (double *)malloc(sizeof(double) * m * n);
                    for (i = 0; i < m * kk; i++) a[i] = tu_rand() - 0.5;
                    for (i = 0; i < kk * n; i++) b[i] = tu_rand() - 0.5;
                    for (i = 0; i < m * n; i++) c[i] = r[i] = tu_rand() - 0.5;
                    kifmm__dgemm_builtin(ta, tb, m, n, kk, 0.7, a, ta ? kk : m, b, tb ? n : kk, -0.3, c, m);
                    for (j = 0; j < n; j++)
                        for (i = 0; i < m; i++) {
                            double acc = 0, mag = 0;
                            for (l = 0; l < kk; l++) {
                                double x = (ta ? a[l + i * kk] : a[i + l * m]) * (tb ? b[j + l * n] : b[l + j * kk]);
                                acc += x; mag += fabs(x);
                            }
                            acc = 0.7 * acc - 0.3 * r[i + j * m];
                            werr = fmax(werr, fabs(c[i + j * m] - acc) / (0.7 * mag + 0.3 * fabs(r[i + j * m]) + 1e-300));
                        }
                    free(a); free(b); free(c); free(r);
                }
        printf("built-in GEMM vs triple loop, worst relative to sum |terms|: %.2e\n", werr);
        CHECK(werr <= 64 * DBL_EPSILON, "gemm %.2e", werr);
    }
    printf("%s: %d failures\n", tu_failures ? "FAIL" : "OK", tu_failures);
    return tu_failures != 0;
}
