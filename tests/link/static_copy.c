/* translation unit 4 of the link test: a private (KIFMM_STATIC) copy of everything beside the
   program's shared one, as a library embedding kifmm would carry it */
#define KIFMM_STATIC
#define KIFMM_IMPLEMENTATION
#define KIFMM_TREE_IMPLEMENTATION
#include "kifmm.h"

int static_copy_depth(const double *x, size_t n);
int static_copy_depth(const double *x, size_t n) {
    kifmm *f = NULL;
    kifmm_stats s;
    kifmm_config c = {0};
    kifmm_tree t;
    int d;
    c.order = 3;
    if (kifmm_create(&f, &c, x, n, x, n) != KIFMM_OK) return -1;
    kifmm_get_stats(f, &s);
    kifmm_destroy(f);
    if (kifmm_tree_build(&t, NULL, x, n, x, n, 20, KIFMM_MAX_DEPTH, NULL) != KIFMM_OK) return -1;
    d = t.depth == s.depth || t.depth > 0 ? s.depth : -1;
    kifmm_tree_free(&t);
    return d;
}
