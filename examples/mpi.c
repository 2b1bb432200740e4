/* kifmm over MPI: every rank makes its own random charges in its own slab of the unit cube, the
   FMM runs over all of them, and each rank checks its potentials against the direct sum over
   every rank's charges at 200 of its targets.
     mpicc -O3 -march=native -fopenmp -I. examples/mpi.c -o mpi_example -lm && mpirun -np 2 ./mpi_example
   (as root, Open MPI also wants --allow-run-as-root; on more ranks than cores, --oversubscribe).
   Arguments: [points per rank] [order]. */
#include <mpi.h>
#define KIFMM_IMPLEMENTATION
#define KIFMM_MPI_IMPLEMENTATION
#include "kifmm_mpi.h"
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

static double uniform(unsigned long long *s) {        /* [0, 1) */
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv) {
    int rank, size, r, *cnt, *dsp;
    size_t n, i, m = 200, nall = 0;
    unsigned long long seed;
    double *x, *q, *pot, *all_x, *all_q, *y, *ref, e = 0, nrm = 0, err[2];
    kifmm_config cfg = {0};
    kifmm_stats st;
    kifmm_mpi_info info;
    kifmm *fmm = NULL;
    kifmm_status s;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    n = argc > 1 ? (size_t)atof(argv[1]) : 200000;
    cfg.order = argc > 2 ? atoi(argv[2]) : 6;
    seed = 2026 + (unsigned long long)rank;
    x = malloc(3 * n * sizeof *x + 8); q = malloc(n * sizeof *q + 8); pot = malloc(n * sizeof *pot + 8);
    for (i = 0; i < n; i++) {          /* rank r's slab: x in [r, r + 1) / size */
        x[3 * i] = (rank + uniform(&seed)) / size;
        x[3 * i + 1] = uniform(&seed);
        x[3 * i + 2] = uniform(&seed);
        q[i] = uniform(&seed) - 0.5;
    }
    s = kifmm_mpi_create(&fmm, &cfg, MPI_COMM_WORLD, x, n, x, n);        /* collective */
    if (s == KIFMM_OK) s = kifmm_evaluate(fmm, q, pot, NULL);           /* collective */
    if (s != KIFMM_OK) {                                                /* the same on every rank */
        if (rank == 0) fprintf(stderr, "kifmm: %s\n", kifmm_status_string(s));
        kifmm_destroy(fmm);
        MPI_Finalize();
        return 1;
    }
    kifmm_get_stats(fmm, &st);
    kifmm_mpi_get_info(fmm, &info);
    /* the check: every rank's charges here, then the direct sum at m of this rank's targets */
    cnt = malloc(2 * (size_t)size * sizeof *cnt);
    dsp = cnt + size;
    r = (int)n;
    MPI_Allgather(&r, 1, MPI_INT, cnt, 1, MPI_INT, MPI_COMM_WORLD);
    for (r = 0; r < size; r++) { dsp[r] = (int)nall; nall += (size_t)cnt[r]; }
    all_x = malloc(3 * nall * sizeof *all_x); all_q = malloc(nall * sizeof *all_q);
    MPI_Allgatherv(q, (int)n, MPI_DOUBLE, all_q, cnt, dsp, MPI_DOUBLE, MPI_COMM_WORLD);
    for (r = 0; r < size; r++) { cnt[r] *= 3; dsp[r] *= 3; }
    MPI_Allgatherv(x, 3 * (int)n, MPI_DOUBLE, all_x, cnt, dsp, MPI_DOUBLE, MPI_COMM_WORLD);
    if (m > n) m = n;
    y = malloc(3 * m * sizeof *y + 8); ref = malloc(m * sizeof *ref + 8);
    for (i = 0; i < m; i++) memcpy(y + 3 * i, x + 3 * (i * (n / m)), 3 * sizeof *y);
    kifmm_direct(all_x, nall, all_q, y, m, ref, NULL);
    for (i = 0; i < m; i++) {
        double d = pot[i * (n / m)] - ref[i];
        e += d * d; nrm += ref[i] * ref[i];
    }
    err[0] = e; err[1] = nrm;
    MPI_Allreduce(MPI_IN_PLACE, err, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    printf("rank %d of %d: %zu points (%zu after the move, %zu ghosts), evaluate %.3f s, %.1f MB sent\n", rank, size, n,
           info.own_sources, info.ghost_sources, st.seconds_evaluate, info.bytes_sent_evaluate / 1e6);
    if (rank == 0)
        printf("%zu points on %d ranks, order %d: potential error against the direct sum %.2e\n", nall, size, st.order,
               sqrt(err[0] / err[1]));
    kifmm_destroy(fmm);                                                 /* collective */
    free(x); free(q); free(pot); free(all_x); free(all_q); free(y); free(ref); free(cnt);
    MPI_Finalize();
    return 0;
}
