/* kernels_bench - one configuration of kifmm_evaluate_ex per process: kernel (Laplace, Yukawa,
   Stokes, Laplace by callback), density sets, dipoles, gradients, Hessians. Prints precompute and
   evaluate times (median of the repetitions), the per-operator breakdown, peak memory and the
   relative errors of every output on sampled targets against kifmm_direct_ex; appends a CSV row.

     cc -O3 -march=native -fopenmp -I. bench/kernels_bench.c -o bench/build/kernels_bench -lm
     bench/build/kernels_bench --n 1e6 --kernel yukawa --param 10 --order 6 --grad

   Run one configuration per process (peak RSS is the process's high-water mark). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include "../tests/testutil.h"   /* tu_user_laplace: the tests' Laplace callback */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/resource.h>

typedef struct opts {
    double n, param;
    const char *kernel, *dist, *csv;
    int order, leaf, nd, dip, charges, grad, hess, reps, samples, threads, separate;
} opts;

static double uni(unsigned long long *s) {           /* splitmix64 -> [0, 1) */
    unsigned long long z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double rel(const double *a, const double *b, size_t n) {
    double e = 0, r = 0;
    size_t i;
    for (i = 0; i < n; i++) { e += (a[i] - b[i]) * (a[i] - b[i]); r += b[i] * b[i]; }
    return r > 0 ? sqrt(e / r) : 0;
}

static void usage(void) {
    puts("usage: kernels_bench [--n N] [--kernel laplace|yukawa|stokes|user] [--param P] [--order P] [--leaf L]\n"
         "                     [--nd D] [--dipoles] [--no-charges] [--grad] [--hess] [--reps R] [--samples M]\n"
         "                     [--threads T] [--dist cube|sphere] [--separate-targets] [--csv FILE]");
}

int main(int argc, char **argv) {
    opts o = {1e5, 0, "laplace", "cube", NULL, 6, 150, 1, 0, 1, 0, 0, 3, 1000, 0, 0};
    kifmm_config c;
    kifmm_eval_desc d, r;
    kifmm_stats st;
    kifmm *f = NULL;
    size_t ns, nt, m, i, sd, td, nd;
    double *src, *tgt, *q = NULL, *v = NULL, *pot, *grad = NULL, *hess = NULL, *ys, *rp, *rg, *rh;
    double *sp, *sg, *sh, tev[64], top[8][64], med[8], e[3] = {0, 0, 0};
    unsigned long long seed = 2024;
    int a, k, ri;
    struct rusage ru;
    (void)tu_failures;   /* (testutil.h is here for its Laplace callback only) */
    for (a = 1; a < argc; a++) {
        const char *s = argv[a], *val = a + 1 < argc ? argv[a + 1] : "";
        if (!strcmp(s, "--n")) { o.n = atof(val); a++; }
        else if (!strcmp(s, "--kernel")) { o.kernel = val; a++; }
        else if (!strcmp(s, "--param")) { o.param = atof(val); a++; }
        else if (!strcmp(s, "--order")) { o.order = atoi(val); a++; }
        else if (!strcmp(s, "--leaf")) { o.leaf = atoi(val); a++; }
        else if (!strcmp(s, "--nd")) { o.nd = atoi(val); a++; }
        else if (!strcmp(s, "--reps")) { o.reps = atoi(val); a++; }
        else if (!strcmp(s, "--samples")) { o.samples = atoi(val); a++; }
        else if (!strcmp(s, "--threads")) { o.threads = atoi(val); a++; }
        else if (!strcmp(s, "--dist")) { o.dist = val; a++; }
        else if (!strcmp(s, "--csv")) { o.csv = val; a++; }
        else if (!strcmp(s, "--dipoles")) o.dip = 1;
        else if (!strcmp(s, "--no-charges")) o.charges = 0;
        else if (!strcmp(s, "--grad")) o.grad = 1;
        else if (!strcmp(s, "--hess")) o.hess = 1;
        else if (!strcmp(s, "--separate-targets")) o.separate = 1;
        else { usage(); return strcmp(s, "--help") ? 2 : 0; }
    }
    if (o.reps < 1 || o.reps > 64 || o.nd < 1) { usage(); return 2; }
    memset(&c, 0, sizeof c);
    c.order = o.order;
    c.leaf_size = o.leaf;
    c.nd = o.nd;
    c.threads = o.threads;
    if (!strcmp(o.kernel, "yukawa")) { c.kernel.kind = KIFMM_KERNEL_YUKAWA; c.kernel.param = o.param > 0 ? o.param : 1; }
    else if (!strcmp(o.kernel, "stokes")) { c.kernel.kind = KIFMM_KERNEL_STOKES; c.kernel.param = o.param; }
    else if (!strcmp(o.kernel, "user")) {
        c.kernel.kind = KIFMM_KERNEL_USER; c.kernel.source_dim = c.kernel.target_dim = 1;
        c.kernel.homogeneity = -1; c.kernel.eval = tu_user_laplace;
    } else if (strcmp(o.kernel, "laplace")) { usage(); return 2; }
    sd = td = !strcmp(o.kernel, "stokes") ? 3 : 1;
    nd = (size_t)o.nd;
    ns = (size_t)o.n;
    nt = ns;
    m = (size_t)o.samples < nt ? (size_t)o.samples : nt;
    src = malloc(3 * ns * sizeof *src);
    tgt = o.separate ? malloc(3 * nt * sizeof *tgt) : src;
    for (i = 0; i < 3 * ns; i++) src[i] = uni(&seed);
    if (o.separate) for (i = 0; i < 3 * nt; i++) tgt[i] = uni(&seed);
    if (!strcmp(o.dist, "sphere"))
        for (i = 0; i < ns + (o.separate ? nt : 0); i++) {
            double *p = i < ns ? src + 3 * i : tgt + 3 * (i - ns), rr;
            for (k = 0; k < 3; k++) p[k] = 2 * p[k] - 1;
            rr = sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
            for (k = 0; k < 3; k++) p[k] /= rr > 0 ? rr : 1;
        }
    if (o.charges) { q = malloc(ns * sd * nd * sizeof *q); for (i = 0; i < ns * sd * nd; i++) q[i] = uni(&seed) - 0.5; }
    if (o.dip) { v = malloc(3 * ns * nd * sizeof *v); for (i = 0; i < 3 * ns * nd; i++) v[i] = uni(&seed) - 0.5; }
    pot = malloc(nt * td * nd * sizeof *pot);
    if (o.grad) grad = malloc(3 * nt * td * nd * sizeof *grad);
    if (o.hess) hess = malloc(6 * nt * nd * sizeof *hess);
    ys = malloc(3 * m * sizeof *ys);
    rp = malloc(m * td * nd * sizeof *rp); rg = malloc(3 * m * td * nd * sizeof *rg); rh = malloc(6 * m * nd * sizeof *rh);
    sp = calloc(m * td * nd, sizeof *sp); sg = calloc(3 * m * td * nd, sizeof *sg); sh = calloc(6 * m * nd, sizeof *sh);
    for (i = 0; i < m; i++) memcpy(ys + 3 * i, tgt + 3 * (i * (nt / m)), 3 * sizeof *ys);
    if (kifmm_create(&f, &c, src, ns, tgt, nt) != KIFMM_OK) { fprintf(stderr, "create failed\n"); return 1; }
    memset(&d, 0, sizeof d);
    d.nd = o.nd; d.charges = q; d.dipoles = v; d.potentials = pot; d.gradients = grad; d.hessians = hess;
    for (ri = 0; ri < o.reps; ri++) {
        if (kifmm_evaluate_ex(f, &d) != KIFMM_OK) { fprintf(stderr, "evaluate failed\n"); return 1; }
        kifmm_get_stats(f, &st);
        tev[ri] = st.seconds_evaluate;
        for (k = 0; k < 8; k++) top[k][ri] = st.seconds_op[k];
    }
    kifmm_get_stats(f, &st);
    kifmm_destroy(f);
    getrusage(RUSAGE_SELF, &ru);
    /* the direct sum at the sampled targets */
    r = d;
    r.potentials = rp; r.gradients = grad ? rg : NULL; r.hessians = hess ? rh : NULL;
    if (kifmm_direct_ex(&c, src, ns, ys, m, &r) != KIFMM_OK) { fprintf(stderr, "direct failed\n"); return 1; }
    for (i = 0; i < m; i++) {
        size_t j = i * (nt / m);
        memcpy(sp + i * td * nd, pot + j * td * nd, td * nd * sizeof *sp);
        if (grad) memcpy(sg + 3 * i * td * nd, grad + 3 * j * td * nd, 3 * td * nd * sizeof *sg);
        if (hess) memcpy(sh + 6 * i * nd, hess + 6 * j * nd, 6 * nd * sizeof *sh);
    }
    e[0] = rel(sp, rp, m * td * nd);
    if (grad) e[1] = rel(sg, rg, 3 * m * td * nd);
    if (hess) e[2] = rel(sh, rh, 6 * m * nd);
    qsort(tev, (size_t)o.reps, sizeof *tev, cmpd);
    for (k = 0; k < 8; k++) { qsort(top[k], (size_t)o.reps, sizeof(double), cmpd); med[k] = top[k][o.reps / 2]; }
    printf("kernel %s%s%g, %zu points, order %d, leaf %d, nd %d, %s%s%s%s: depth %d, M2L rank %d\n", o.kernel,
           o.param ? " param " : "", o.param, ns, st.order, o.leaf, o.nd, o.charges ? "charges" : "",
           o.dip ? " dipoles" : "", o.grad ? " grad" : "", o.hess ? " hess" : "", st.depth, st.m2l_rank);
    printf("precompute %.3f s, evaluate %.3f s (median of %d, %.3f .. %.3f), peak RSS %.0f MiB\n", st.seconds_precompute,
           tev[o.reps / 2], o.reps, tev[0], tev[o.reps - 1], ru.ru_maxrss / 1024.0);
    printf("evaluate: P2M %.3f M2M %.3f M2L %.3f L2L %.3f L2P %.3f M2P %.3f P2L %.3f P2P %.3f\n", med[0], med[1],
           med[2], med[3], med[4], med[5], med[6], med[7]);
    printf("errors on %zu targets: potential %.2e gradient %.2e Hessian %.2e\n", m, e[0], e[1], e[2]);
    if (o.csv) {
        FILE *fp = fopen(o.csv, "a");
        if (fp) {
            fseek(fp, 0, SEEK_END);
            if (ftell(fp) == 0)
                fprintf(fp, "kernel,param,n,order,leaf,nd,charges,dipoles,grad,hess,depth,rank,precompute,evaluate,"
                            "eval_min,eval_max,rss_mib,P2M,M2M,M2L,L2L,L2P,M2P,P2L,P2P,err_pot,err_grad,err_hess\n");
            fprintf(fp, "%s,%g,%zu,%d,%d,%d,%d,%d,%d,%d,%d,%d,%.4f,%.4f,%.4f,%.4f,%.0f", o.kernel, o.param, ns, st.order,
                    o.leaf, o.nd, o.charges, o.dip, o.grad, o.hess, st.depth, st.m2l_rank, st.seconds_precompute,
                    tev[o.reps / 2], tev[0], tev[o.reps - 1], ru.ru_maxrss / 1024.0);
            for (k = 0; k < 8; k++) fprintf(fp, ",%.4f", med[k]);
            fprintf(fp, ",%.3e,%.3e,%.3e\n", e[0], e[1], e[2]);
            fclose(fp);
        }
    }
    if (tgt != src) free(tgt);
    free(src); free(q); free(v); free(pot); free(grad); free(hess); free(ys);
    free(rp); free(rg); free(rh); free(sp); free(sg); free(sh);
    return 0;
}
