/* FMM3D's Laplace routines from kifmm, as one object file to link FMM3D callers against (C, C++
   or Fortran): examples/fortran_fmm3d.f90 shows a Fortran program that does.

     cc -O3 -fopenmp -I. -c examples/fmm3d_lib.c -o fmm3d_lib.o
*/
#define KIFMM_IMPLEMENTATION
#define KIFMM_FMM3D_IMPLEMENTATION
#include "kifmm_fmm3d.h"
#include "kifmm.h"
