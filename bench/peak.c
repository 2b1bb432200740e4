/* peak - what this machine can do on the two kernels that carry the FMM's flops, measured in the
   same build (compiler flags, BLAS) as the FMM:
     - kifmm__p2p on cache-resident blocks (150 x 150 = one leaf pair, and 1024 x 1024),
       potential only and with gradient, 1 thread and all threads concurrently;
     - kifmm__dgemm (the configured BLAS) and, for comparison, the library's built-in GEMM, on
       the M2L's shapes for order p: core (k x k)(k x 256), compression U^T (k x n)(n x 4096),
       expansion (n x k)(k x 256); per thread concurrently (as the M2L runs them) and as one call.

     mkdir -p bench/build &&
     cc -O3 -march=native -fno-math-errno -c bench/p2p_ref.c -o bench/build/p2p_ref.o &&
     cc -O3 -march=native -fopenmp -I. -DKIFMM_USE_CBLAS bench/peak.c bench/build/p2p_ref.o -o bench/build/peak -lopenblas -lm
     bench/build/peak [--order 6] [--ranks 10,50,100,152] [--threads 2] [--quick] [--csv bench/build/peak.csv]

   Rates are the best of several trials (the machine may be shared). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include "peak.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KIFMM_USE_CBLAS
#define BENCH_BLAS "cblas"
#else
#define BENCH_BLAS "builtin"
#endif

static void builtin_gemm(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda, const double *b,
                         int ldb, double beta, double *c, int ldc, void *user) {
    (void)user;
    kifmm__dgemm_builtin(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void csv_row(FILE *f, const char *kernel, const char *shape, int m, int n, int k, int threads,
                    const char *mode, const char *impl, double value, const char *unit) {
    if (f) fprintf(f, "%s,%s,%d,%d,%d,%d,%s,%s,%.6g,%s\n", kernel, shape, m, n, k, threads, mode, impl, value, unit);
}

int main(int argc, char **argv) {
    int order = 6, threads, quick = 0, i, nr = 0, ranks[32], t, trials;
    const char *csv = NULL, *rank_list = "10,50,80,100,120,143,152";
    double scale;
    FILE *f = NULL;
    kifmm_blas builtin;
    memset(&builtin, 0, sizeof builtin);
    builtin.dgemm = builtin_gemm;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#else
    threads = 1;
#endif
    for (i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--order") && v) { order = atoi(v); i++; }
        else if (!strcmp(argv[i], "--ranks") && v) { rank_list = v; i++; }
        else if (!strcmp(argv[i], "--threads") && v) { threads = atoi(v); i++; }
        else if (!strcmp(argv[i], "--csv") && v) { csv = v; i++; }
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: peak [--order P] [--ranks k1,k2,...] [--threads T] [--quick] [--csv FILE]\n");
            return 2;
        }
    }
    if (order < 2 || order > 16 || threads < 1) { fprintf(stderr, "peak: bad order or threads\n"); return 2; }
    {
        int n = kifmm__surface_size(order);
        const char *p = rank_list;
        while (*p && nr < 32) {
            int k = atoi(p);
            if (k >= 1 && k <= n) ranks[nr++] = k;
            p = strchr(p, ',');
            if (!p) break;
            p++;
        }
        if (nr == 0) { fprintf(stderr, "peak: no rank in 1..%d\n", n); return 2; }
    }
    scale = quick ? 0.2 : 1.0;
    trials = quick ? 3 : 7;
    if (csv) {
        f = fopen(csv, "w");
        if (!f) { fprintf(stderr, "peak: cannot write %s\n", csv); return 1; }
        fprintf(f, "kernel,shape,m,n,k,threads,mode,impl,value,unit\n");
    }

    printf("peak: kifmm %s, BLAS %s, up to %d threads, best of %d trials\n\n", kifmm_version(), BENCH_BLAS, threads,
           trials);
    printf("P2P kernel kifmm__p2p, cache-resident blocks (pairs/s summed over concurrent threads); simd-ref =\n"
           "the same arithmetic with the loops swapped so that it vectorises (bench/peak.h, not the library)\n");
    printf("  %-6s %-9s %-9s", "block", "mode", "kernel");
    for (t = 1; t <= threads; t++) printf("  %9d thr  %8s", t, "GFLOP/s");
    printf("\n");
    {
        static const size_t blocks[2] = {150, 1024};
        int bi, g, kern;
        for (kern = 0; kern < 2; kern++)
            for (bi = 0; bi < 2; bi++)
                for (g = 0; g < 2; g++) {
                    const char *kname = kern ? "simd-ref" : "kifmm";
                    printf("  %-6zu %-9s %-9s", blocks[bi], g ? "pot+grad" : "pot", kname);
                    for (t = 1; t <= threads; t++) {
                        double rate = bench_peak_p2p_with(kern ? bench_p2p_simd : kifmm__p2p, t, blocks[bi], g,
                                                          1e8 * scale * (kern ? 4 : 1), trials);
                        double gf = rate * (g ? BENCH_P2P_FLOPS_GRAD : BENCH_P2P_FLOPS_POT) * 1e-9;
                        printf("  %13.4g  %8.2f", rate, gf);
                        csv_row(f, "p2p", g ? "grad" : "pot", (int)blocks[bi], (int)blocks[bi], 0, t, "concurrent",
                                kern ? "bench_p2p_simd" : "kifmm__p2p", rate, "pairs/s");
                    }
                    printf("\n");
                    fflush(stdout);
                }
    }

    printf("\nDGEMM on the M2L shapes, order %d (n = %d), GFLOP/s. conc T = T threads each running their own\n"
           "GEMMs at once (summed), as the M2L does; call = one call from outside any parallel region.\n",
           order, kifmm__surface_size(order));
    printf("  %-9s %5s %5s %5s  %-8s", "shape", "m", "n", "k", "impl");
    for (t = 1; t <= threads; t++) printf("  conc %-3d", t);
    printf("  %8s\n", "call");
    for (i = 0; i < nr; i++) {
        int k = ranks[i], n = kifmm__surface_size(order), s, impl;
        for (s = 0; s < 3; s++) {
            /* core: C(k x 256) = C_t(k x k) * gathered multipoles; compress: U^T(k x n) * multipoles
               of a level; expand: U(n x k) * a block's 256 compressed locals */
            int ta = s == 1, mm = s == 2 ? n : k, nn = s == 1 ? 4096 : 256, kk = s == 1 ? n : k;
            const char *shape = s == 0 ? "core" : s == 1 ? "compress" : "expand";
            for (impl = 0; impl < 2; impl++) {
                const kifmm_blas *b = impl ? &builtin : NULL;
                const char *iname = impl ? "builtin" : BENCH_BLAS;
                double gf;
                if (impl && !strcmp(BENCH_BLAS, "builtin")) continue;
                printf("  %-9s %5d %5d %5d  %-8s", shape, mm, nn, kk, iname);
                for (t = 1; t <= threads; t++) {
                    gf = bench_peak_dgemm(b, t, ta, mm, nn, kk, 2e8 * scale, trials);
                    printf("  %8.2f", gf);
                    csv_row(f, "dgemm", shape, mm, nn, kk, t, "concurrent", iname, gf, "GFLOP/s");
                }
                gf = bench_peak_dgemm_call(b, ta, mm, nn, kk, 4e8 * scale, trials);
                printf("  %8.2f\n", gf);
                csv_row(f, "dgemm", shape, mm, nn, kk, threads, "call", iname, gf, "GFLOP/s");
                fflush(stdout);
            }
        }
    }
    /* a large square GEMM: the BLAS's best case, for scale */
    {
        double gf = bench_peak_dgemm_call(NULL, 0, 1024, 1024, 1024, 4e9 * scale, trials);
        printf("\n  square 1024^3 one call (%s): %.2f GFLOP/s\n", BENCH_BLAS, gf);
        csv_row(f, "dgemm", "square", 1024, 1024, 1024, threads, "call", BENCH_BLAS, gf, "GFLOP/s");
    }
    /* what kifmm_bench --peak measures for one run (here: the first rank, potential + gradient) */
    {
        bench_peak pk;
        bench_peak_measure(&pk, NULL, order, ranks[0], 0, threads, 1);
        printf("  kifmm_bench --peak reference, k = %d, %d threads: P2P %.4g pairs/s (150 block, gradient), "
               "GEMM core %.2f, compress %.2f, expand %.2f GFLOP/s\n", ranks[0], threads, pk.p2p_pairs_per_s,
               pk.gemm_core_gflops, pk.gemm_compress_gflops, pk.gemm_expand_gflops);
    }
    if (f) fclose(f);
    return 0;
}
