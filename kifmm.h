/* kifmm.h - kernel-independent fast multipole method for the 3D Laplace kernel, header-only C.

   USAGE
     #define KIFMM_IMPLEMENTATION   (in exactly one .c file)
     #include "kifmm.h"             (pulls in kifmm_tree.h and kifmm_ops.h)

   Optional macros before the include: KIFMM_STATIC (private copy per translation unit),
   KIFMM_USE_CBLAS (default GEMM = cblas_dgemm; link -lopenblas), KIFMM_ASSERT(x).
   Build with -fopenmp for threads; without it everything runs on one thread.
   MIT licence at the end of kifmm_tree.h.
*/
#ifndef KIFMM_H
#define KIFMM_H

#include "kifmm_tree.h"
#include "kifmm_ops.h"

#define KIFMM_VERSION_MAJOR 0
#define KIFMM_VERSION_MINOR 1
#define KIFMM_VERSION_PATCH 0

#endif /* KIFMM_H */
