/* translation unit 3 of the link test: FMM3D's interface, calling kifmm's public API (unit 1) */
#define KIFMM_FMM3D_IMPLEMENTATION
#include "kifmm_fmm3d.h"
