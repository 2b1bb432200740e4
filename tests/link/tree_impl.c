/* translation unit 2 of the link test: the octree's public API, on its own */
#define KIFMM_TREE_IMPLEMENTATION
#include "kifmm_tree.h"
