/* kifmm_ops.h - kernels, surfaces, dense linear algebra and the FMM operators of kifmm.
   Part of kifmm, MIT licence at the end of kifmm_tree.h. (being written) */
#ifndef KIFMM_OPS_H
#define KIFMM_OPS_H
#include "kifmm_tree.h"
typedef void (*kifmm_dgemm_fn)(int trans_a, int trans_b, int m, int n, int k, double alpha,
                               const double *a, int lda, const double *b, int ldb,
                               double beta, double *c, int ldc, void *user);
typedef struct kifmm_blas { kifmm_dgemm_fn dgemm; void *user; } kifmm_blas;
#endif
