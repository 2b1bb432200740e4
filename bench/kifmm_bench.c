/* kifmm_bench - one FMM configuration per process: times, per-operator breakdown, peak memory,
   accuracy against direct summation, achieved rates and (with --peak) the fraction of this
   machine's measured kernel limits. Prints a readable report and appends one CSV row.

     mkdir -p bench/build &&
     cc -O3 -march=native -fno-math-errno -c bench/p2p_ref.c -o bench/build/p2p_ref.o &&
     cc -O3 -march=native -fopenmp -I. -DKIFMM_USE_CBLAS bench/kifmm_bench.c bench/build/p2p_ref.o -o bench/build/kifmm_bench -lopenblas -lm
     bench/build/kifmm_bench --n 1e6 --dist sphere --rank 50 --reps 3 --csv bench/build/results.csv

   (from the repository root; bench/p2p_ref.c is compiled on its own for its -fno-math-errno, see
   there; bench/common.sh builds both programs the same way, with OpenBLAS when pkg-config finds it.)

   Run one configuration per process: the peak resident set size (getrusage ru_maxrss) is the
   process's high-water mark. `--help` lists the options. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#define KIFMM_IMPLEMENTATION
#define KIFMM_TREE_IMPLEMENTATION      /* the tree's own kifmm_tree_* / kifmm_key_* entry points */
#include "kifmm.h"
#include "peak.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <sys/resource.h>

#ifdef KIFMM_USE_CBLAS
#define BENCH_BLAS "cblas"
#else
#define BENCH_BLAS "builtin"
#endif

static const char *const op_names[8] = {"P2M", "M2M", "M2L", "L2L", "L2P", "M2P", "P2L", "P2P"};

typedef struct options {
    double n;                 /* sources (and targets) */
    const char *dist;         /* cube, sphere, plummer */
    int order, leaf_size, max_depth, rank, threads, reps, grad, separate, samples, peak;
    double m2l_tol, box_scale;
    unsigned long long seed;
    const char *csv, *breakdown, *label;
} options;

static void usage(FILE *f) {
    fprintf(f,
            "usage: kifmm_bench [options]\n"
            "  --n N               sources (= targets unless --separate-targets); 1e6 notation ok [1e5]\n"
            "  --dist D            cube | sphere | plummer [cube]\n"
            "  --order P           expansion order [6]\n"
            "  --leaf L            leaf size (ncrit) [150]\n"
            "  --max-depth D       deepest tree level [library default]\n"
            "  --rank K            fixed M2L rank; 'full' = 6(p-1)^2+2 [0: from the tolerance]\n"
            "  --m2l-tol T         M2L singular-value cut-off [library default 10^-(p+1)]\n"
            "  --box-scale S       root cube (config.box) = the points' bounding cube scaled by S >= 1\n"
            "                      about its centre [0: the library's default, the bounding cube]\n"
            "  --threads T         threads for the FMM, the direct check and the peaks [OpenMP default]\n"
            "  --reps R            evaluations; times are the median [3]\n"
            "  --grad | --no-grad  with or without gradients [--grad]\n"
            "  --separate-targets  N further points from the same distribution as targets\n"
            "  --samples M         targets checked against kifmm_direct [1000]\n"
            "  --seed S            point generator seed [2024]\n"
            "  --peak              also measure this machine's P2P and DGEMM limits in this process\n"
            "  --csv FILE          append one row (header written when the file is new)\n"
            "  --breakdown FILE    append one row per operator (label, ..., op, seconds, share)\n"
            "  --label TEXT        tag of the CSV rows [run]\n");
}

static int parse(int argc, char **argv, options *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->n = 1e5; o->dist = "cube"; o->order = 6; o->leaf_size = 150; o->reps = 3; o->grad = 1;
    o->samples = 1000; o->seed = 2024; o->label = "run";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VAL() do { if (!v) { fprintf(stderr, "kifmm_bench: %s needs a value\n", a); return 0; } i++; } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); exit(0); }
        else if (!strcmp(a, "--n")) { VAL(); o->n = strtod(v, NULL); }
        else if (!strcmp(a, "--dist")) { VAL(); o->dist = v; }
        else if (!strcmp(a, "--order")) { VAL(); o->order = atoi(v); }
        else if (!strcmp(a, "--leaf")) { VAL(); o->leaf_size = atoi(v); }
        else if (!strcmp(a, "--max-depth")) { VAL(); o->max_depth = atoi(v); }
        else if (!strcmp(a, "--rank")) { VAL(); o->rank = strcmp(v, "full") ? atoi(v) : -1; }
        else if (!strcmp(a, "--m2l-tol")) { VAL(); o->m2l_tol = strtod(v, NULL); }
        else if (!strcmp(a, "--box-scale")) { VAL(); o->box_scale = strtod(v, NULL); }
        else if (!strcmp(a, "--threads")) { VAL(); o->threads = atoi(v); }
        else if (!strcmp(a, "--reps")) { VAL(); o->reps = atoi(v); }
        else if (!strcmp(a, "--grad")) o->grad = 1;
        else if (!strcmp(a, "--no-grad")) o->grad = 0;
        else if (!strcmp(a, "--separate-targets")) o->separate = 1;
        else if (!strcmp(a, "--samples")) { VAL(); o->samples = atoi(v); }
        else if (!strcmp(a, "--seed")) { VAL(); o->seed = strtoull(v, NULL, 0); }
        else if (!strcmp(a, "--peak")) o->peak = 1;
        else if (!strcmp(a, "--csv")) { VAL(); o->csv = v; }
        else if (!strcmp(a, "--breakdown")) { VAL(); o->breakdown = v; }
        else if (!strcmp(a, "--label")) { VAL(); o->label = v; }
        else { fprintf(stderr, "kifmm_bench: unknown option %s\n", a); usage(stderr); return 0; }
#undef VAL
    }
    if (!(o->n >= 1 && o->n < 1e11) || o->reps < 1 || o->samples < 1 || o->order < 2 || o->order > 16 ||
        o->leaf_size < 1 || o->threads < 0 || o->max_depth < 0 || !(o->box_scale == 0 || o->box_scale >= 1) ||
        (strcmp(o->dist, "cube") && strcmp(o->dist, "sphere") && strcmp(o->dist, "plummer"))) {
        fprintf(stderr, "kifmm_bench: bad option value (see --help)\n");
        return 0;
    }
    if (o->rank == -1) o->rank = kifmm__surface_size(o->order);
    return 1;
}

/* n points, interleaved xyz. cube: uniform in [0,1]^3. sphere: uniform in [-1,1]^3 pushed onto
   the unit sphere. plummer: Plummer-model radii r = (u^(-2/3) - 1)^(-1/2), redrawn above 50,
   in uniformly random directions. */
static void generate(const char *dist, double *x, size_t n, unsigned long long seed) {
    size_t i;
    for (i = 0; i < n; i++) {
        double *p = x + 3 * i;
        if (!strcmp(dist, "cube")) {
            p[0] = bench_uniform(&seed); p[1] = bench_uniform(&seed); p[2] = bench_uniform(&seed);
        } else if (!strcmp(dist, "sphere")) {
            double r;
            do {
                p[0] = 2 * bench_uniform(&seed) - 1; p[1] = 2 * bench_uniform(&seed) - 1;
                p[2] = 2 * bench_uniform(&seed) - 1;
                r = sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
            } while (r < 1e-12);
            p[0] /= r; p[1] /= r; p[2] /= r;
        } else {
            double r, z, phi, s;
            do {
                double u = bench_uniform(&seed);
                r = u > 0 ? 1.0 / sqrt(pow(u, -2.0 / 3.0) - 1.0) : 0.0;
            } while (!(r <= 50.0));
            z = 2 * bench_uniform(&seed) - 1;
            phi = 2 * 3.14159265358979323846 * bench_uniform(&seed);
            s = sqrt(1 - z * z);
            p[0] = r * s * cos(phi); p[1] = r * s * sin(phi); p[2] = r * z;
        }
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {   /* sorts v */
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return ru.ru_maxrss / 1024.0;   /* Linux: KiB */
}

/* the bounding cube of sources and targets, half width scaled by s about its centre */
static void bounding_cube(const double *src, size_t ns, const double *tgt, size_t nt, double s, double box[4]) {
    double lo[3] = {DBL_MAX, DBL_MAX, DBL_MAX}, hi[3] = {-DBL_MAX, -DBL_MAX, -DBL_MAX}, h = 0;
    size_t i;
    int d;
    for (i = 0; i < ns + nt; i++) {
        const double *p = i < ns ? src + 3 * i : tgt + 3 * (i - ns);
        for (d = 0; d < 3; d++) { lo[d] = p[d] < lo[d] ? p[d] : lo[d]; hi[d] = p[d] > hi[d] ? p[d] : hi[d]; }
    }
    for (d = 0; d < 3; d++) {
        box[d] = 0.5 * (lo[d] + hi[d]);
        if (0.5 * (hi[d] - lo[d]) > h) h = 0.5 * (hi[d] - lo[d]);
    }
    box[3] = s * h * (1 + 1e-12);     /* the extreme points stay inside after rounding */
}

/* Exact work of the evaluation, from the same (deterministic) tree the FMM built. */
typedef struct work {
    double p2p_pairs;                       /* sum over target leaves of targets x U-list sources */
    double m2l_core, m2l_compress, m2l_expand;   /* flops of the three GEMM kinds of the M2L */
    double m2l_core_lowrank;                      /* the part of m2l_core done by factored cores */
    int    rank_typ;                              /* median rank of the factored cores (0: none) */
} work;

static kifmm_status count_work(const options *o, const double *src, size_t ns, const double *tgt, size_t nt,
                               const double *box, int order, int k, const int *rank, work *w) {
    kifmm_tree t;
    kifmm_allocator al;
    kifmm_status st;
    int n = kifmm__surface_size(order), i, l, tv;
    double rank_flops = 0;
    memset(&al, 0, sizeof al);
    memset(w, 0, sizeof *w);
    st = kifmm_tree_build_ex(&t, &al, src, ns, tgt, nt, o->leaf_size, o->max_depth ? o->max_depth : KIFMM_MAX_DEPTH,
                             KIFMM_TREE_PRUNE | KIFMM_TREE_RESOLUTION, box, NULL);   /* as kifmm_create builds it */
    if (st != KIFMM_OK) return st;

    for (i = 0; i < t.nleaves; i++) {
        int b = t.leaf[i];
        double m = (double)(t.tgt_end[b] - t.tgt_begin[b]), s = 0;
        size_t j;
        if (m == 0) continue;
        for (j = t.u_off[b]; j < t.u_off[b + 1]; j++) s += (double)(t.src_end[t.u_idx[j]] - t.src_begin[t.u_idx[j]]);
        w->p2p_pairs += m * s;
    }
    for (l = 2; l <= t.depth; l++) {
        size_t base = (size_t)l * KIFMM_NUM_TRANSFER;
        double boxes = t.level_begin[l + 1] - t.level_begin[l];
        if (t.m2l_off[base + KIFMM_NUM_TRANSFER] == t.m2l_off[base]) continue;
        for (tv = 0; tv < KIFMM_NUM_TRANSFER; tv++)
        {
            double pairs = (double)(t.m2l_off[base + tv + 1] - t.m2l_off[base + tv]);
            w->m2l_core += (rank[tv] == k ? 2.0 * k * k : 4.0 * k * rank[tv]) * pairs;   /* dense, or A (B^T x) */
            if (rank[tv] < k) {
                w->m2l_core_lowrank += 4.0 * k * rank[tv] * pairs;
                rank_flops += 4.0 * k * rank[tv] * pairs * rank[tv];
            }
        }
        w->m2l_compress += 2.0 * k * n * boxes;
        w->m2l_expand += 2.0 * n * k * boxes;
    }
    /* the factored cores' typical rank, weighted by their flops (the thin GEMMs' rate grows with r) */
    w->rank_typ = w->m2l_core_lowrank > 0 ? (int)(rank_flops / w->m2l_core_lowrank + 0.5) : 0;
    kifmm_tree_free(&t);
    return KIFMM_OK;
}

/* 1-minute load average when the run started (-1 where /proc/loadavg does not exist): the
   machine may be shared, and this says how much */
static double load_average(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

static FILE *open_append(const char *path, int *is_new) {
    FILE *f = fopen(path, "a");
    if (!f) { fprintf(stderr, "kifmm_bench: cannot open %s\n", path); return NULL; }
    fseek(f, 0, SEEK_END);
    *is_new = ftell(f) == 0;
    return f;
}

int main(int argc, char **argv) {
    options o;
    kifmm_config cfg;
    kifmm_stats st;
    kifmm *fmm = NULL;
    int core_rank[KIFMM_NUM_TRANSFER];
    kifmm_status s;
    work w;
    bench_peak pk;
    size_t ns, nt, m, i;
    double *src, *tgt, *q, *pot, *grad = NULL, *ys, *ref, *refg, *tev, *top[8], op_med[8];
    size_t *pick;
    double rss_inputs, rss_peak, t_eval, t_min, t_max, ep = 0, np = 0, eg = 0, ng = 0, err_pot, err_grad = NAN;
    double p2p_rate, p2p_gflops, m2l_flops, m2l_gflops, p2p_frac = NAN, m2l_frac = NAN, m2l_ideal = NAN;
    double flops_pair, total_ops = 0, t_direct, load1 = load_average();
    int r, op, threads;
    char date[32];
    time_t now = time(NULL);

    if (!parse(argc, argv, &o)) return 2;
    memset(&st, 0, sizeof st);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", localtime(&now));
#ifdef _OPENMP
    if (o.threads > 0) omp_set_num_threads(o.threads);
    threads = omp_get_max_threads();
#else
    threads = 1;
#endif
    ns = (size_t)o.n;
    nt = ns;   /* --separate-targets: as many targets, drawn independently */
    m = (size_t)o.samples < nt ? (size_t)o.samples : nt;
    flops_pair = o.grad ? BENCH_P2P_FLOPS_GRAD : BENCH_P2P_FLOPS_POT;

    src = malloc(3 * ns * sizeof *src);
    tgt = o.separate ? malloc(3 * nt * sizeof *tgt) : src;
    q = malloc(ns * sizeof *q);
    pot = malloc(nt * sizeof *pot);
    if (o.grad) grad = malloc(3 * nt * sizeof *grad);
    ys = malloc(3 * m * sizeof *ys);
    ref = malloc(m * sizeof *ref);
    refg = malloc(3 * m * sizeof *refg);
    pick = malloc(m * sizeof *pick);
    tev = malloc((size_t)o.reps * 9 * sizeof *tev);
    if (!src || !tgt || !q || !pot || (o.grad && !grad) || !ys || !ref || !refg || !pick || !tev) {
        fprintf(stderr, "kifmm_bench: out of memory for the inputs\n");
        return 1;
    }
    for (op = 0; op < 8; op++) top[op] = tev + (size_t)o.reps * (op + 1);

    /* the problem: fixed seeds, so every run of a configuration sees the same points */
    {
        unsigned long long cs = o.seed ^ 0x6368617267657321ULL;
        generate(o.dist, src, ns, o.seed);
        if (o.separate) generate(o.dist, tgt, nt, o.seed ^ 0x7461726765747321ULL);
        for (i = 0; i < ns; i++) q[i] = bench_uniform(&cs) - 0.5;
        /* stratified sample of the targets: one in each of m equal index ranges */
        for (i = 0; i < m; i++) {
            size_t lo = i * nt / m, hi = (i + 1) * nt / m;
            pick[i] = lo + (size_t)(bench_uniform(&cs) * (double)(hi - lo));
            if (pick[i] >= hi) pick[i] = hi - 1;
            memcpy(ys + 3 * i, tgt + 3 * pick[i], 3 * sizeof *ys);
        }
    }
    t_direct = kifmm__now();
    kifmm_direct(src, ns, q, ys, m, ref, refg);
    t_direct = kifmm__now() - t_direct;
    rss_inputs = peak_rss_mib();

    memset(&cfg, 0, sizeof cfg);
    cfg.order = o.order;
    cfg.leaf_size = o.leaf_size;
    cfg.max_depth = o.max_depth;
    cfg.m2l_rank = o.rank;
    cfg.m2l_tolerance = o.m2l_tol;
    cfg.threads = threads;
    if (o.box_scale > 0) bounding_cube(src, ns, tgt, nt, o.box_scale, cfg.box);
    s = kifmm_create(&fmm, &cfg, src, ns, tgt, nt);
    for (r = 0; s == KIFMM_OK && r < o.reps; r++) {
        s = kifmm_evaluate(fmm, q, pot, grad);
        kifmm_get_stats(fmm, &st);
        tev[r] = st.seconds_evaluate;
        for (op = 0; op < 8; op++) top[op][r] = st.seconds_op[op];
    }
    if (s != KIFMM_OK) {
        fprintf(stderr, "kifmm_bench: %s\n", kifmm_status_string(s));
        return 1;
    }
    kifmm_get_stats(fmm, &st);
    rss_peak = peak_rss_mib();
    memcpy(core_rank, fmm->ops[fmm->nops - 1].m2l_r, sizeof core_rank);   /* each vector's recompressed rank (the finest level's set) */
    kifmm_destroy(fmm);

    t_eval = median(tev, o.reps);
    t_min = tev[0];
    t_max = tev[o.reps - 1];
    for (op = 0; op < 8; op++) total_ops += op_med[op] = median(top[op], o.reps);

    for (i = 0; i < m; i++) {
        int d;
        double e = pot[pick[i]] - ref[i];
        ep += e * e;
        np += ref[i] * ref[i];
        for (d = 0; o.grad && d < 3; d++) {
            e = grad[3 * pick[i] + d] - refg[3 * i + d];
            eg += e * e;
            ng += refg[3 * i + d] * refg[3 * i + d];
        }
    }
    err_pot = np > 0 ? sqrt(ep / np) : 0;
    if (o.grad) err_grad = ng > 0 ? sqrt(eg / ng) : 0;

    s = count_work(&o, src, ns, tgt, nt, o.box_scale > 0 ? cfg.box : NULL, st.order, st.m2l_rank, core_rank, &w);
    if (s != KIFMM_OK) {
        fprintf(stderr, "kifmm_bench: counting tree: %s\n", kifmm_status_string(s));
        return 1;
    }
    p2p_rate = op_med[KIFMM_OP_P2P] > 0 ? w.p2p_pairs / op_med[KIFMM_OP_P2P] : 0;
    p2p_gflops = p2p_rate * flops_pair * 1e-9;
    m2l_flops = w.m2l_core + w.m2l_compress + w.m2l_expand;
    m2l_gflops = op_med[KIFMM_OP_M2L] > 0 ? m2l_flops / op_med[KIFMM_OP_M2L] * 1e-9 : 0;

    memset(&pk, 0, sizeof pk);
    if (o.peak) {
        bench_peak_measure(&pk, NULL, st.order, st.m2l_rank, w.rank_typ, threads, o.grad);
        if (pk.p2p_pairs_per_s > 0) p2p_frac = p2p_rate / pk.p2p_pairs_per_s;
        if (pk.gemm_core_gflops > 0 && pk.gemm_compress_gflops > 0 && pk.gemm_expand_gflops > 0 &&
            (w.m2l_core_lowrank == 0 || (pk.gemm_lowrank_bt_gflops > 0 && pk.gemm_lowrank_a_gflops > 0))) {
            /* factored cores: half their flops in each thin GEMM */
            double lr = w.m2l_core_lowrank > 0 ? 0.5 * w.m2l_core_lowrank / pk.gemm_lowrank_bt_gflops +
                                                     0.5 * w.m2l_core_lowrank / pk.gemm_lowrank_a_gflops : 0;
            m2l_ideal = 1e-9 * ((w.m2l_core - w.m2l_core_lowrank) / pk.gemm_core_gflops + lr +
                                w.m2l_compress / pk.gemm_compress_gflops + w.m2l_expand / pk.gemm_expand_gflops);
            if (op_med[KIFMM_OP_M2L] > 0) m2l_frac = m2l_ideal / op_med[KIFMM_OP_M2L];
        }
    }

    /* ---- readable report ---- */
    printf("kifmm %s bench [%s]: %s, %zu sources, %zu %s targets, order %d, leaf %d, M2L rank %d%s, %d thread%s, "
           "%d rep%s, %s, BLAS %s\n",
           kifmm_version(), o.label, o.dist, ns, nt, o.separate ? "separate" : "same", st.order, o.leaf_size,
           st.m2l_rank, o.rank ? " (fixed)" : " (from tolerance)", threads, threads == 1 ? "" : "s", o.reps,
           o.reps == 1 ? "" : "s", o.grad ? "potential + gradient" : "potential only", BENCH_BLAS);
    printf("tree: depth %d, %zu leaves, %zu boxes", st.depth, st.leaves, st.boxes);
    if (o.box_scale > 0) printf(", root cube %g x the points' bounding cube", o.box_scale);
    printf("; load average at start %.2f on this machine\n", load1);
    printf("  %-22s %9.3f s\n", "tree + lists", st.seconds_tree);
    printf("  %-22s %9.3f s\n", "precompute", st.seconds_precompute);
    printf("  %-22s %9.3f s   (median of %d; min %.3f, max %.3f)\n", "evaluate", t_eval, o.reps, t_min, t_max);
    printf("  %-22s %9.3f s   (%zu targets, not part of the FMM)\n", "direct check", t_direct, m);
    printf("  operator   median s   share\n");
    for (op = 0; op < 8; op++)
        printf("  %-8s %10.4f %6.1f%%\n", op_names[op], op_med[op], total_ops > 0 ? 100 * op_med[op] / total_ops : 0);
    printf("  %-8s %10.4f         (evaluate minus the operators: permutations, zeroing)\n", "other",
           t_eval - total_ops);
    printf("memory: peak RSS %.1f MiB (inputs and check data alone %.1f MiB), kifmm bytes %.1f MiB\n", rss_peak,
           rss_inputs, st.bytes / 1048576.0);
    printf("error on %zu sampled targets vs kifmm_direct (relative L2): potential %.3e", m, err_pot);
    if (o.grad) printf(", gradient %.3e", err_grad);
    printf("\n");
    printf("P2P: %.4g pairs, %.4g pairs/s, %.2f GFLOP/s (%g flop/pair)", w.p2p_pairs, p2p_rate, p2p_gflops,
           flops_pair);
    if (o.peak)
        printf(" = %.0f%% of the kernel's %.4g pairs/s on a 150 x 150 block (a vectorised kernel: %.4g pairs/s)",
               100 * p2p_frac, pk.p2p_pairs_per_s, pk.p2p_simd_pairs_per_s);
    printf("\n");
    printf("M2L: %.4g GFLOP (core %.3g, compress %.3g, expand %.3g), %.2f GFLOP/s", m2l_flops * 1e-9,
           w.m2l_core * 1e-9, w.m2l_compress * 1e-9, w.m2l_expand * 1e-9, m2l_gflops);
    if (o.peak)
        printf(" = %.0f%% of DGEMM speed (%.3f s at the measured GEMM rates: core %.1f, factored core at rank %d "
               "%.1f + %.1f, compress %.1f, expand %.1f GFLOP/s)", 100 * m2l_frac, m2l_ideal, pk.gemm_core_gflops,
               w.rank_typ, pk.gemm_lowrank_bt_gflops, pk.gemm_lowrank_a_gflops, pk.gemm_compress_gflops,
               pk.gemm_expand_gflops);
    printf("\n");
    fflush(stdout);

    /* ---- CSV ---- */
    if (o.csv) {
        int is_new;
        FILE *f = open_append(o.csv, &is_new);
        if (!f) return 1;
        if (is_new)
            fprintf(f, "label,date,blas,dist,n_src,n_tgt,separate,order,leaf,max_depth,rank_req,m2l_tol,rank,threads,"
                       "reps,grad,depth,leaves,boxes,t_tree,t_pre,t_eval,t_eval_min,t_eval_max,t_p2m,t_m2m,t_m2l,"
                       "t_l2l,t_l2p,t_m2p,t_p2l,t_p2p,rss_mib,rss_inputs_mib,bytes_mib,err_pot,err_grad,p2p_pairs,"
                       "p2p_pairs_per_s,p2p_gflops,m2l_gflop,m2l_gflops,peak_p2p_pairs_per_s,peak_gemm_core_gflops,"
                       "peak_gemm_compress_gflops,peak_gemm_expand_gflops,p2p_frac,m2l_frac,t_direct,load1,"
                       "peak_p2p_simd_pairs_per_s,box_scale\n");
        fprintf(f, "%s,%s,%s,%s,%zu,%zu,%d,%d,%d,%d,%d,%g,%d,%d,%d,%d,%d,%zu,%zu,%.6f,%.6f,%.6f,%.6f,%.6f", o.label,
                date, BENCH_BLAS, o.dist, ns, nt, o.separate, st.order, o.leaf_size, o.max_depth, o.rank, o.m2l_tol,
                st.m2l_rank, threads, o.reps, o.grad, st.depth, st.leaves, st.boxes, st.seconds_tree,
                st.seconds_precompute, t_eval, t_min, t_max);
        for (op = 0; op < 8; op++) fprintf(f, ",%.6f", op_med[op]);
        fprintf(f, ",%.1f,%.1f,%.1f,%.4e,%.4e,%.6e,%.6e,%.4f,%.6f,%.4f,%.6e,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.2f,%.6e,%g\n", rss_peak,
                rss_inputs, st.bytes / 1048576.0, err_pot, err_grad, w.p2p_pairs, p2p_rate, p2p_gflops,
                m2l_flops * 1e-9, m2l_gflops, pk.p2p_pairs_per_s, pk.gemm_core_gflops, pk.gemm_compress_gflops,
                pk.gemm_expand_gflops, p2p_frac, m2l_frac, t_direct, load1,
                pk.p2p_simd_pairs_per_s, o.box_scale);
        fclose(f);
    }
    if (o.breakdown) {
        int is_new;
        FILE *f = open_append(o.breakdown, &is_new);
        if (!f) return 1;
        if (is_new) fprintf(f, "label,dist,n,order,rank,threads,grad,op,seconds,share\n");
        for (op = 0; op < 8; op++)
            fprintf(f, "%s,%s,%zu,%d,%d,%d,%d,%s,%.6f,%.4f\n", o.label, o.dist, ns, st.order, st.m2l_rank, threads,
                    o.grad, op_names[op], op_med[op], total_ops > 0 ? op_med[op] / total_ops : 0);
        fclose(f);
    }

    if (o.separate) free(tgt);
    free(src); free(q); free(pot); free(grad); free(ys); free(ref); free(refg); free(pick); free(tev);
    return 0;
}
