/* kifmm._kifmm_v3: _kifmm.c compiled with -march=x86-64-v3 (see there) */
#define KIFMM_PY_MODNAME _kifmm_v3
#define KIFMM_PY_ISA "x86-64-v3"
#include "_kifmm.c"
