/* bench/mpi_bench.c - kifmm over MPI: times and communication per rank.
     mpicc -O3 -march=native -fopenmp -I. bench/mpi_bench.c -o mpi_bench -lm
     mpirun -np P ./mpi_bench [strong|weak] [N] [order] [cube|sphere] [reps]
   strong: N points in all (split evenly, rank r's points interleaved over the whole cube, as a
   caller's unsorted input would be); weak: N points per rank. Sources = targets, potential +
   gradient. Prints one line (rank 0): P, N, the slowest rank's create and evaluate (median of
   reps), the largest rank's ghosts, LET boxes and bytes sent, and the bytes sent per 10^6 points.
   (bench/mpi_scaling.sh runs it over 1..4 ranks and writes bench/results/mpi_scaling.md.) */
#include <mpi.h>
#define KIFMM_IMPLEMENTATION
#define KIFMM_MPI_IMPLEMENTATION
#include "kifmm_mpi.h"
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

static double uniform(unsigned long long *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int rank, size, weak, reps, k;
    size_t n, ntot, i;
    unsigned long long seed;
    double *x, *q, *pot, *grad, t0, tc, te[32], v[8], mx[8], mb[3];
    const char *dist;
    kifmm_config cfg = {0};
    kifmm_mpi_info info;
    kifmm_stats st;
    kifmm *f = NULL;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    weak = argc > 1 && strcmp(argv[1], "weak") == 0;
    ntot = argc > 2 ? (size_t)atof(argv[2]) : 1000000;
    cfg.order = argc > 3 ? atoi(argv[3]) : 6;
    dist = argc > 4 ? argv[4] : "cube";
    reps = argc > 5 ? atoi(argv[5]) : 3;
    if (reps > 32) reps = 32;
    n = weak ? ntot : ntot / (size_t)size + ((size_t)rank < ntot % (size_t)size);
    if (weak) ntot *= (size_t)size;
    seed = 1234567 + 7919ULL * (unsigned long long)rank;
    x = malloc(3 * n * sizeof *x + 8); q = malloc(n * sizeof *q + 8);
    pot = malloc(n * sizeof *pot + 8); grad = malloc(3 * n * sizeof *grad + 8);
    for (i = 0; i < n; i++) {
        double *p = x + 3 * i;
        if (strcmp(dist, "sphere") == 0) {
            double z = 2 * uniform(&seed) - 1, ph = 2 * 3.141592653589793 * uniform(&seed), r = sqrt(1 - z * z);
            p[0] = r * cos(ph); p[1] = r * sin(ph); p[2] = z;
        } else { p[0] = uniform(&seed); p[1] = uniform(&seed); p[2] = uniform(&seed); }
        q[i] = uniform(&seed) - 0.5;
    }
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    if (kifmm_mpi_create(&f, &cfg, MPI_COMM_WORLD, x, n, x, n) != KIFMM_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    tc = MPI_Wtime() - t0;
    for (k = 0; k < reps; k++) {
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        if (kifmm_evaluate(f, q, pot, grad) != KIFMM_OK) MPI_Abort(MPI_COMM_WORLD, 1);
        te[k] = MPI_Wtime() - t0;
    }
    qsort(te, (size_t)reps, sizeof *te, cmpd);
    kifmm_mpi_get_info(f, &info);
    kifmm_get_stats(f, &st);
    v[0] = tc; v[1] = te[reps / 2]; v[2] = (double)info.ghost_sources; v[3] = (double)info.let_boxes;
    v[4] = (double)info.bytes_sent_let; v[5] = (double)info.bytes_sent_evaluate; v[6] = (double)info.bytes_sent_create;
    v[7] = (double)info.own_sources;
    MPI_Reduce(v, mx, 8, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    /* (internals: this file holds the implementation) the tree's and the buffers' bytes */
    v[0] = (double)f->tree.bytes; v[1] = (double)f->eval.bytes; v[2] = (double)st.bytes;
    MPI_Reduce(v, mb, 3, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%s P %d N %zu order %d %s: create %.3f s, evaluate %.3f s (slowest rank, median of %d); per rank at most: "
               "%.0f own, %.0f ghost sources, %.0f LET boxes, LET %.2f MB, evaluate %.2f MB, create %.2f MB sent; "
               "LET bytes per 1e6 own points %.2f MB; boxes %zu, bytes held per box %.0f; rank 0 ops: P2M %.3f M2M %.3f "
               "M2L %.3f P2L %.3f L2L %.3f L2P %.3f M2P %.3f P2P %.3f s; most held per box of the whole tree: "
               "tree %.0f B, evaluation buffers %.0f B, all %.0f B\n",
               weak ? "weak" : "strong", size, ntot, st.order, dist, mx[0], mx[1], reps, mx[7], mx[2], mx[3], mx[4] / 1e6,
               mx[5] / 1e6, mx[6] / 1e6, mx[7] > 0 ? mx[4] / mx[7] : 0, st.boxes,
               st.boxes ? (double)st.bytes / (double)st.boxes : 0, st.seconds_op[KIFMM_OP_P2M], st.seconds_op[KIFMM_OP_M2M],
               st.seconds_op[KIFMM_OP_M2L], st.seconds_op[KIFMM_OP_P2L], st.seconds_op[KIFMM_OP_L2L],
               st.seconds_op[KIFMM_OP_L2P], st.seconds_op[KIFMM_OP_M2P], st.seconds_op[KIFMM_OP_P2P], mb[0] / st.boxes,
               mb[1] / st.boxes, mb[2] / st.boxes);
    kifmm_destroy(f);
    free(x); free(q); free(pot); free(grad);
    MPI_Finalize();
    return 0;
}
