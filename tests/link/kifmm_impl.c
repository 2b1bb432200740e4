/* translation unit 1 of the link test: kifmm's API (the tree and operators privately) */
#define KIFMM_IMPLEMENTATION
#include "kifmm.h"
