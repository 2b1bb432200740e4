/* overhead_c.c - the C side of bench/overhead.py --c: the same evaluation from a C program.
   Reads n, then 3n coordinates and n charges (float64, native byte order) from a file written by
   overhead.py, builds the same kifmm object (order, leaf 150), evaluates once to warm up, then
   `runs` times, printing for each the wall time of kifmm_evaluate and the library's
   seconds_evaluate. RUNS = 0: one evaluation per line read from stdin, so that overhead.py can
   alternate C and Python runs. Built by overhead.py.
     overhead_c FILE RUNS ORDER GRADIENT(0|1) */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    FILE *f;
    unsigned long long n64;
    size_t n;
    double *x, *q, *pot, *grad;
    int runs, r, want_grad;
    kifmm_config cfg = {0};
    kifmm *fmm = NULL;
    kifmm_stats st = {0};
    if (argc != 5) { fprintf(stderr, "usage: overhead_c FILE RUNS ORDER GRADIENT\n"); return 2; }
    runs = atoi(argv[2]);
    cfg.order = atoi(argv[3]);
    cfg.leaf_size = 150;
    want_grad = atoi(argv[4]);
    if (!(f = fopen(argv[1], "rb")) || fread(&n64, sizeof n64, 1, f) != 1) { perror(argv[1]); return 1; }
    n = (size_t)n64;
    x = malloc(3 * n * sizeof *x);
    q = malloc(n * sizeof *q);
    pot = malloc(n * sizeof *pot);
    grad = malloc(3 * n * sizeof *grad);
    if (!x || !q || !pot || !grad || fread(x, sizeof *x, 3 * n, f) != 3 * n || fread(q, sizeof *q, n, f) != n) {
        fprintf(stderr, "%s: short file or out of memory\n", argv[1]);
        return 1;
    }
    fclose(f);
    if (kifmm_create(&fmm, &cfg, x, n, x, n) != KIFMM_OK) return 1;
    if (kifmm_evaluate(fmm, q, pot, want_grad ? grad : NULL) != KIFMM_OK) return 1;   /* warm-up */
    printf("ready\n");
    fflush(stdout);
    for (r = 0; runs == 0 || r < runs; r++) {
        double t0, wall;
        if (runs == 0) {
            char line[64];
            if (!fgets(line, sizeof line, stdin)) break;
        }
        t0 = now();
        if (kifmm_evaluate(fmm, q, pot, want_grad ? grad : NULL) != KIFMM_OK) return 1;
        wall = now() - t0;
        kifmm_get_stats(fmm, &st);
        printf("%.6f %.6f\n", wall, st.seconds_evaluate);
        fflush(stdout);
    }
    kifmm_destroy(fmm);
    free(x); free(q); free(pot); free(grad);
    return 0;
}
