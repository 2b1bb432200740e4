/* Build the kifmm octree for 10^6 random points and print its shape and the time it took.
   cc -O2 -fopenmp -I. examples/tree.c -o tree -lm && ./tree */
#define KIFMM_TREE_IMPLEMENTATION
#include "kifmm_tree.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atof(argv[1]) : 1000000, i;
    int leaf_size = argc > 2 ? atoi(argv[2]) : 150;
    double *x = malloc(3 * n * sizeof *x), t0;
    unsigned long long s = 42;
    kifmm_tree tree;
    kifmm_status st;
    if (!x) return 1;
    for (i = 0; i < 3 * n; i++) {                  /* uniform in the unit cube */
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (double)(s >> 11) / 9007199254740992.0;
    }
    t0 = kifmm__now();
    st = kifmm_tree_build(&tree, NULL, x, n, x, n, leaf_size, KIFMM_MAX_DEPTH, NULL);
    if (st != KIFMM_OK) { printf("tree build failed: status %d\n", (int)st); return 1; }
    printf("%zu points, leaf_size %d: depth %d, %d boxes, %d leaves\n", n, leaf_size, tree.depth,
           tree.nboxes, tree.nleaves);
    printf("largest lists: U %d, V %d, W %d, X %d; M2L pairs %zu\n", tree.u_max, tree.v_max, tree.w_max,
           tree.x_max, tree.m2l_off[(KIFMM_MAX_DEPTH + 1) * KIFMM_NUM_TRANSFER]);
    printf("time %.3f s (sort %.3f, boxes %.3f, lists %.3f), %.1f MiB held\n", kifmm__now() - t0,
           tree.seconds_sort, tree.seconds_boxes, tree.seconds_lists, tree.bytes / 1048576.0);
    kifmm_tree_free(&tree);
    free(x);
    return 0;
}
