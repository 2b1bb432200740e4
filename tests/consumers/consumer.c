/* A program that uses an installed (or subproject) kifmm the way a user's project would: the
   consumer projects in meson/, cmake/ and .ci/run's pkg-config line all build this file. 500
   random charges, order 4, potentials and gradients against kifmm_direct: relative L2 error of the
   potential below 1e-3, else exit 1. Arguments name what the build must have passed on:
     consumer [openmp] [cblas]    openmp: compiled with OpenMP (_OPENMP); cblas: KIFMM_USE_CBLAS */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    enum { N = 500 };
    static double x[3 * N], q[N], pot[N], grad[3 * N], ref[N], refg[3 * N];
    unsigned long long s = 12345;
    double e = 0, r = 0;
    kifmm_config cfg = {0};
    kifmm *fmm = NULL;
    int i, openmp = 0, cblas = 0, bad = 0;
    kifmm_status st;
#ifdef _OPENMP
    openmp = 1;
#endif
#ifdef KIFMM_USE_CBLAS
    cblas = 1;
#endif
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "openmp") && !openmp) { printf("FAIL: not compiled with OpenMP\n"); bad = 1; }
        if (!strcmp(argv[i], "cblas") && !cblas) { printf("FAIL: not compiled with KIFMM_USE_CBLAS\n"); bad = 1; }
    }
    for (i = 0; i < 3 * N + N; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        if (i < 3 * N) x[i] = (double)(s >> 11) / 9007199254740992.0;
        else q[i - 3 * N] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
    }
    cfg.order = 4;
    cfg.leaf_size = 20;
    st = kifmm_create(&fmm, &cfg, x, N, x, N);
    if (st == KIFMM_OK) st = kifmm_evaluate(fmm, q, pot, grad);
    kifmm_destroy(fmm);
    if (st != KIFMM_OK || kifmm_direct(x, N, q, x, N, ref, refg) != KIFMM_OK) {
        printf("FAIL: %s\n", kifmm_status_string(st));
        return 1;
    }
    for (i = 0; i < N; i++) { e += (pot[i] - ref[i]) * (pot[i] - ref[i]); r += ref[i] * ref[i]; }
    e = sqrt(e / r);
    printf("kifmm %s (OpenMP %s, CBLAS %s): %d points, order 4, potential error vs kifmm_direct %.2e\n",
           kifmm_version(), openmp ? "yes" : "no", cblas ? "yes" : "no", N, e);
    if (!(e < 1e-3)) { printf("FAIL: error %.2e >= 1e-3\n", e); bad = 1; }
    return bad;
}
