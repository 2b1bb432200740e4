/* bench/peak.h - this machine's measured limits for the two kernels that carry the FMM's flops:
   the P2P kernel (kifmm__p2p) on cache-resident blocks and the DGEMM (kifmm__dgemm, i.e. the
   configured BLAS) on the shapes the M2L uses. Shared by peak.c and kifmm_bench.c.

   Include after kifmm.h (with KIFMM_IMPLEMENTATION defined in the same file). Every function is
   static; the only state is what the caller passes in.

   "Concurrent" means what the FMM does: `threads` OpenMP threads, each running the kernel on its
   own private data at the same time; the rate reported is the sum over the threads. Each
   measurement is repeated `trials` times and the best is kept (the machine is shared, so the
   best trial is the one least disturbed by other processes). */
#ifndef KIFMM_BENCH_PEAK_H
#define KIFMM_BENCH_PEAK_H

#include <stdlib.h>
#include <string.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#define BENCH_OMP(x) _Pragma(#x)
#else
#define BENCH_OMP(x)
#endif

#define BENCH_P2P_FLOPS_POT 20.0    /* flops per source-target pair: potential */
#define BENCH_P2P_FLOPS_GRAD 28.0   /* potential and gradient */

/* splitmix64: the benchmark's own seeded generator */
static unsigned long long bench_splitmix(unsigned long long *s) {
    unsigned long long z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double bench_uniform(unsigned long long *s) {    /* [0, 1) */
    return (double)(bench_splitmix(s) >> 11) / 9007199254740992.0;
}

static int bench_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int bench_team_size(void) {     /* threads of the current parallel region */
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

typedef void (*bench_p2p_fn)(const double *sx, const double *sy, const double *sz, const double *q, size_t ns,
                             const double *tx, const double *ty, const double *tz, size_t nt,
                             double *pot, double *gx, double *gy, double *gz);

/* bench_p2p_simd (bench/p2p_ref.c, its own translation unit compiled with -fno-math-errno):
   the same arithmetic and conventions as kifmm__p2p with the loops swapped, so that it vectorises.
   Not part of the library; it shows what the same pair count could cost on this machine. */
void bench_p2p_simd(const double *sx, const double *sy, const double *sz, const double *q, size_t ns,
                    const double *tx, const double *ty, const double *tz, size_t nt,
                    double *pot, double *gx, double *gy, double *gz);

/* Pairs per second of kifmm__p2p with nb sources x nb targets (uniform in the unit cube, SoA,
   private to each thread), summed over `threads` concurrent threads. grad: with gradient.
   Each trial runs about `pairs_per_trial` pairs per thread. Returns 0 on allocation failure. */
static double bench_peak_p2p_with(bench_p2p_fn kernel, int threads, size_t nb, int grad, double pairs_per_trial,
                                  int trials) {
    int reps = (int)(pairs_per_trial / ((double)nb * nb)), failed = 0;
    double best = 0, t0 = 0, t1 = 0;
    if (reps < 1) reps = 1;
    if (threads < 1) threads = 1;
    BENCH_OMP(omp parallel num_threads(threads))
    {
        unsigned long long seed = 0x70656b32ULL + 7919ULL * (unsigned long long)bench_thread_id();
        /* 3 source coordinates, charges, 3 target coordinates, potential, 3 gradient components */
        double *buf = (double *)malloc(11 * nb * sizeof *buf);
        double *sx = buf, *sy = sx + nb, *sz = sy + nb, *q = sz + nb, *tx = q + nb, *ty = tx + nb, *tz = ty + nb;
        double *pot = tz + nb, *gx = pot + nb, *gy = gx + nb, *gz = gy + nb;
        size_t i;
        int r, tr;
        if (!buf) {
            BENCH_OMP(omp atomic write)
            failed = 1;
        } else {
            for (i = 0; i < 7 * nb; i++) buf[i] = bench_uniform(&seed);
            for (i = 0; i < nb; i++) q[i] -= 0.5;
            memset(pot, 0, 4 * nb * sizeof *pot);
        }
        for (tr = 0; tr < trials; tr++) {
            BENCH_OMP(omp barrier)
            BENCH_OMP(omp master)
            t0 = kifmm__now();
            BENCH_OMP(omp barrier)
            if (buf)
                for (r = 0; r < reps; r++)
                    kernel(sx, sy, sz, q, nb, tx, ty, tz, nb, pot, grad ? gx : NULL, gy, gz);
            BENCH_OMP(omp barrier)
            BENCH_OMP(omp master)
            {
                double rate;
                t1 = kifmm__now();
                rate = (double)bench_team_size() * reps * (double)nb * nb / (t1 - t0 > 1e-9 ? t1 - t0 : 1e-9);
                if (rate > best) best = rate;
            }
        }
        free(buf);
    }
    return failed ? 0 : best;
}

static double bench_peak_p2p(int threads, size_t nb, int grad, double pairs_per_trial, int trials) {
    return bench_peak_p2p_with(kifmm__p2p, threads, nb, grad, pairs_per_trial, trials);
}

/* GFLOP/s of C (m x n) = op(A) (m x k) * B (k x n) through kifmm__dgemm (blas may be NULL =
   the configured default): `threads` threads each run their own GEMMs at once (as in the M2L's
   task loop), rate summed over the threads. ta = 1: A is stored k x m and transposed (the M2L's
   compression U^T * multipoles). Each trial is about flops_per_trial per thread. Returns 0 on
   allocation failure. */
static double bench_peak_dgemm(const kifmm_blas *blas, int threads, int ta, int m, int n, int k,
                               double flops_per_trial, int trials) {
    double flops = 2.0 * m * n * k, best = 0, t0 = 0, t1 = 0;
    int reps = (int)(flops_per_trial / flops), failed = 0, nthr = threads;
    size_t na = (size_t)m * k, nbb = (size_t)k * n, nc = (size_t)m * n;
    if (reps < 1) reps = 1;
    if (nthr < 1) nthr = 1;
    BENCH_OMP(omp parallel num_threads(nthr))
    {
        unsigned long long seed = 0x67656d6dULL + 104729ULL * (unsigned long long)bench_thread_id();
        double *a = (double *)malloc((na + nbb + nc) * sizeof *a), *b = a ? a + na : NULL, *c = a ? b + nbb : NULL;
        size_t i;
        int r, tr;
        if (!a) {
            BENCH_OMP(omp atomic write)
            failed = 1;
        } else {
            for (i = 0; i < na + nbb + nc; i++) a[i] = bench_uniform(&seed) - 0.5;
        }
        for (tr = 0; tr < trials; tr++) {
            BENCH_OMP(omp barrier)
            BENCH_OMP(omp master)
            t0 = kifmm__now();
            BENCH_OMP(omp barrier)
            if (a)
                for (r = 0; r < reps; r++)
                    kifmm__dgemm(blas, ta, 0, m, n, k, 1.0, a, ta ? k : m, b, k, 1.0 / 1024, c, m);
            BENCH_OMP(omp barrier)
            BENCH_OMP(omp master)
            {
                double rate;
                t1 = kifmm__now();
                rate = (double)bench_team_size() * reps * flops / (t1 - t0 > 1e-9 ? t1 - t0 : 1e-9) * 1e-9;
                if (rate > best) best = rate;
            }
        }
        free(a);
    }
    return failed ? 0 : best;
}

/* One call from outside a parallel region (the BLAS threads it as it likes; the built-in GEMM
   splits C into one slab per OpenMP thread). */
static double bench_peak_dgemm_call(const kifmm_blas *blas, int ta, int m, int n, int k, double flops_per_trial,
                                    int trials) {
    double flops = 2.0 * m * n * k, best = 0;
    int reps = (int)(flops_per_trial / flops), r, tr;
    size_t na = (size_t)m * k, nbb = (size_t)k * n, nc = (size_t)m * n, i;
    unsigned long long seed = 0x63616c6cULL;
    double *a = (double *)malloc((na + nbb + nc) * sizeof *a), *b, *c;
    if (!a) return 0;
    b = a + na;
    c = b + nbb;
    if (reps < 1) reps = 1;
    for (i = 0; i < na + nbb + nc; i++) a[i] = bench_uniform(&seed) - 0.5;
    for (tr = 0; tr < trials; tr++) {
        double t0 = kifmm__now(), dt, rate;
        for (r = 0; r < reps; r++) kifmm__dgemm(blas, ta, 0, m, n, k, 1.0, a, ta ? k : m, b, k, 1.0 / 1024, c, m);
        dt = kifmm__now() - t0;
        rate = reps * flops / (dt > 1e-9 ? dt : 1e-9) * 1e-9;
        if (rate > best) best = rate;
    }
    free(a);
    return best;
}

/* The limits that matter for one FMM run (order p, M2L rank k, `threads` threads, gradient or
   not), measured in a couple of seconds. The M2L reference is the time its three GEMM kinds
   would take at their measured rates: core (k x k) * (k x 256) concurrent per thread (a factored
   core: its two thin GEMMs at the typical rank r), compression U^T (k x n) * (n x boxes) and
   expansion U (n x k) * (k x 256) concurrent. */
typedef struct bench_peak {
    double p2p_pairs_per_s;    /* kifmm__p2p, 150 x 150 block, concurrent on `threads` */
    double p2p_simd_pairs_per_s; /* the same with bench_p2p_simd (what a vectorised kernel does) */
    double gemm_core_gflops;   /* k x k x 256, concurrent */
    double gemm_compress_gflops; /* one call: k x 4096 x n, A transposed */
    double gemm_expand_gflops; /* n x 256 x k, concurrent */
    /* a factored core A_t (B_t^T x), r the typical core rank (0: not measured): its two GEMMs,
       (r x k) (k x 256) (B_t^T is stored) and (k x r) (r x 256), concurrent */
    double gemm_lowrank_bt_gflops, gemm_lowrank_a_gflops;
} bench_peak;

static void bench_peak_measure(bench_peak *pk, const kifmm_blas *blas, int order, int k, int r, int threads,
                               int grad) {
    int n = 6 * (order - 1) * (order - 1) + 2;
    pk->gemm_lowrank_bt_gflops = r > 0 ? bench_peak_dgemm(blas, threads, 0, r, 256, k, 2e8, 5) : 0;
    pk->gemm_lowrank_a_gflops = r > 0 ? bench_peak_dgemm(blas, threads, 0, k, 256, r, 2e8, 5) : 0;
    pk->p2p_pairs_per_s = bench_peak_p2p(threads, 150, grad, 5e7, 5);
    pk->p2p_simd_pairs_per_s = bench_peak_p2p_with(bench_p2p_simd, threads, 150, grad, 2e8, 5);
    pk->gemm_core_gflops = bench_peak_dgemm(blas, threads, 0, k, 256, k, 2e8, 5);
    pk->gemm_compress_gflops = bench_peak_dgemm_call(blas, 1, k, 4096, n, 4e8, 5);
    pk->gemm_expand_gflops = bench_peak_dgemm(blas, threads, 0, n, 256, k, 2e8, 5);
}

#endif /* KIFMM_BENCH_PEAK_H */
