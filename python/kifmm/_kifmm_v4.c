/* kifmm._kifmm_v4: _kifmm.c compiled with -march=x86-64-v4 (see there) */
#define KIFMM_PY_MODNAME _kifmm_v4
#define KIFMM_PY_ISA "x86-64-v4"
#include "_kifmm.c"
