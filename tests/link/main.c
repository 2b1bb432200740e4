/* The link test: the implementations in four translation units (kifmm, the tree, FMM3D's
   interface, a KIFMM_STATIC private copy) link into one program, and each works. Built by
   meson from the files of tests/link; any duplicate symbol would fail the link. */
#include "kifmm.h"
#include "kifmm_fmm3d.h"
#include <stdio.h>

int static_copy_depth(const double *x, size_t n);

int main(void) {
    enum { N = 300 };
    static double x[3 * N], q[N], pot[N];
    double eps = 1e-3;
    int64_t ns = N, ier = -1;
    kifmm *f = NULL;
    kifmm_config c = {0};
    kifmm_tree t;
    unsigned s = 3;
    int i, fails = 0;
    for (i = 0; i < 3 * N; i++) { s = s * 1103515245u + 12345u; x[i] = (s >> 8) / 16777216.0; }
    for (i = 0; i < N; i++) q[i] = (i % 5) - 2.0;
    c.order = 4;
    fails += kifmm_create(&f, &c, x, N, x, N) != KIFMM_OK || kifmm_evaluate(f, q, pot, NULL) != KIFMM_OK;
    kifmm_destroy(f);
    fails += kifmm_tree_build(&t, NULL, x, N, x, N, 20, KIFMM_MAX_DEPTH, NULL) != KIFMM_OK;
    kifmm_tree_free(&t);
    lfmm3d_s_c_p_(&eps, &ns, x, q, pot, &ier);
    fails += ier != 0;
    fails += static_copy_depth(x, N) < 0;
    printf("link test: kifmm, tree, FMM3D interface and a static copy in four units: %s\n", fails ? "FAIL" : "OK");
    return fails != 0;
}
