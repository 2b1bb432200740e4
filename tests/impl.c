/* One compiled copy of kifmm (its API, the tree's and FMM3D's interface) for the tests that use
   the public API only: meson builds them with -DKIFMM_TEST_LINKED and links this, instead of
   compiling the whole implementation into each of them. */
#define KIFMM_IMPLEMENTATION
#define KIFMM_TREE_IMPLEMENTATION
#define KIFMM_FMM3D_IMPLEMENTATION
#include "kifmm_fmm3d.h"
#include "kifmm.h"
