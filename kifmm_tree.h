/* kifmm_tree.h - adaptive, 2:1-balanced linear octree with FMM interaction lists.
   Part of kifmm, MIT licence at the end of this file.

   USAGE
     Standalone:  #define KIFMM_TREE_IMPLEMENTATION before including this file in one .c file.
     With kifmm:  #define KIFMM_IMPLEMENTATION and include "kifmm.h" (it includes this file).

   WHAT IT HOLDS
     Morton keys: uint64_t, the anchor interleaved at the finest level KIFMM_MAX_DEPTH (3 bits per
     level, x highest) shifted left by 5, the level in the low 5 bits. Sorting keys as integers gives
     depth-first pre-order: a parent sorts before its descendants, which form one contiguous range.

     kifmm_tree: points sorted into Morton order (structure-of-arrays copies plus the permutation back
     to the caller's order), boxes stored level by level (key-sorted within a level, the 8 children of
     a split box contiguous), the box's source and target ranges in the sorted arrays, colleagues,
     and the U, V, W, X lists in CSR form with the V pairs of each level grouped by transfer vector.

     Every buffer comes from the caller's kifmm_allocator (all-zero = aligned malloc/free).

   WHERE THINGS ARE (grep the markers)
     ==== DECLARATIONS   shared types (status, allocator, logger), keys, list bounds, kifmm_tree
     ==== ALLOCATION     the default allocator, kifmm__alloc / kifmm__free, the clock
     ==== KEYS           Morton encode / decode, parent, child, neighbours, transfer vectors
     ==== SORT           radix sort of (key, index) pairs, the Morton sort of the points
     ==== BUILD          root cube, the Morton sort of the points, refinement and the 2:1 balance
                         (kifmm__split_sets), colleagues (kifmm__colleagues)
     ==== LISTS          U / V / W / X lists in CSR (kifmm__box_list), V pairs grouped by level
                         and transfer vector (kifmm__group_m2l); then the boxes from the split
                         sets (kifmm__make_boxes), the leaves, and kifmm__tree_build_ex itself
     ==== API            the public kifmm_tree_* / kifmm_key_* wrappers
*/
#ifndef KIFMM_TREE_H
#define KIFMM_TREE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== DECLARATIONS ============================================================================ */
/* ---- types shared by the three kifmm headers ---------------------------------------------- */
#ifndef KIFMM_COMMON_TYPES
#define KIFMM_COMMON_TYPES

#if defined(__GNUC__) || defined(__clang__)
#define KIFMM__UNUSED __attribute__((unused))
#else
#define KIFMM__UNUSED
#endif

#ifndef KIFMM_DEF
#ifdef KIFMM_STATIC
#define KIFMM_DEF static KIFMM__UNUSED
#else
#define KIFMM_DEF extern
#endif
#endif

typedef enum kifmm_status {
    KIFMM_OK = 0,
    KIFMM_ERR_INVALID_ARGUMENT,   /* NULL where data is required, bad config value */
    KIFMM_ERR_NONFINITE_INPUT,    /* NaN or Inf in coordinates or charges */
    KIFMM_ERR_OUT_OF_MEMORY,      /* the allocator returned NULL */
    KIFMM_ERR_NUMERICAL,          /* a factorisation failed (should never happen for Laplace) */
    KIFMM_ERR_INTERNAL            /* an internal bound or invariant was violated: a bug, please report */
} kifmm_status;

typedef struct kifmm_allocator {          /* set both functions or neither */
    void *(*alloc_fn)(size_t size, size_t alignment, void *user);  /* NULL on failure */
    void  (*free_fn)(void *ptr, size_t size, void *user);          /* size as allocated; accepts NULL */
    void  *user;
} kifmm_allocator;             /* all-zero = the library's aligned malloc/free */

typedef struct kifmm_logger {             /* optional; silent when NULL */
    void (*log_fn)(kifmm_status status, const char *message, void *user);
    void  *user;
} kifmm_logger;

#endif /* KIFMM_COMMON_TYPES */

/* ---- keys -------------------------------------------------------------------------------- */
#define KIFMM_MAX_DEPTH 19                 /* 19 levels x 3 bits + 5 level bits = 62 bits */
#define KIFMM_NUM_TRANSFER 316             /* V-list offsets: [-3,3]^3 minus [-1,1]^3 */
/* The longest list of each kind a box can have. The lists are built from the box's 27 colleagues
   (itself included) and its parent's, so these hold by construction: U = itself + 26 same-level
   leaves or the 56 children of split colleagues that touch it; V = the 208 children of the parent's
   26 colleagues minus the 19 that touch the box; W = the 208 children of its 26 colleagues minus
   the 56 that touch it; X = the parent's 26 colleagues minus the 7 that touch the box.
   test_tree builds a tree whose lists reach U and W's bounds (V and X reach theirs in its usual
   cases); a list that would exceed its bound is reported as KIFMM_ERR_INTERNAL, never written past
   its buffer. */
#define KIFMM_MAX_U 57
#define KIFMM_MAX_V 189
#define KIFMM_MAX_W 152
#define KIFMM_MAX_X 19

KIFMM_DEF uint64_t kifmm_key_encode(const uint32_t anchor[3], int level); /* anchor in finest units */
KIFMM_DEF void     kifmm_key_decode(uint64_t key, uint32_t anchor[3], int *level);
KIFMM_DEF int      kifmm_key_level(uint64_t key);
KIFMM_DEF uint64_t kifmm_key_parent(uint64_t key);                 /* key of level 0 is its own parent */
KIFMM_DEF uint64_t kifmm_key_child(uint64_t key, int octant);      /* octant = 4x + 2y + z bits */
KIFMM_DEF int      kifmm_key_neighbours(uint64_t key, uint64_t out[26]); /* same level, inside root */
KIFMM_DEF int      kifmm_key_is_ancestor(uint64_t a, uint64_t d);  /* a strictly contains d */
KIFMM_DEF int      kifmm_transfer_index(int dx, int dy, int dz);   /* 0..315, or -1 if adjacent/out */
KIFMM_DEF void     kifmm_transfer_vector(int t, int d[3]);         /* inverse of kifmm_transfer_index */

/* ---- tree -------------------------------------------------------------------------------- */
typedef struct kifmm_tree {
    kifmm_allocator alloc;
    double center[3], half_width;      /* root cube [center - half_width, center + half_width]^3 */
    int    depth;                      /* deepest level that holds boxes */
    int    leaf_size, max_depth;
    int    nboxes, nleaves;
    size_t nsources, ntargets;

    /* points in Morton order, structure of arrays: x = p, y = p + n, z = p + 2n */
    double *src, *tgt;
    size_t *src_perm, *tgt_perm;       /* sorted index -> caller's index */

    /* boxes, level by level: level l holds boxes level_begin[l] .. level_begin[l+1]-1 */
    int       level_begin[KIFMM_MAX_DEPTH + 2];
    uint64_t *key;
    int      *parent;                  /* -1 for the root */
    int      *child;                   /* first of 8 contiguous children, -1 for a leaf */
    size_t   *src_begin, *src_end;     /* subtree's points in the sorted arrays */
    size_t   *tgt_begin, *tgt_end;
    int      *colleague;               /* 27 per box: same-level boxes at offset (dx,dy,dz), index
                                          (dx+1)*9+(dy+1)*3+(dz+1), -1 where there is none */
    int      *leaf;                    /* the leaf boxes in Morton (pre-)order */

    /* interaction lists, CSR over all boxes: list of box b is idx[off[b] .. off[b+1]-1] */
    size_t *u_off, *v_off, *w_off, *x_off;
    int    *u_idx, *v_idx, *w_idx, *x_idx;
    int     u_max, v_max, w_max, x_max;   /* longest list of each kind */

    /* V pairs with a source that holds sources and a target that holds targets, grouped by
       level and transfer vector: group g = level * 316 + t holds pairs m2l_off[g] .. m2l_off[g+1]-1 */
    size_t *m2l_off;
    int    *m2l_tgt, *m2l_src;

    /* distributed (kifmm_mpi.h): every box's source and target counts over all ranks, which the
       passes' choices read (kifmm__box_ns / _nt); NULL on one node, where the ranges give them */
    size_t *gsrc, *gtgt;

    size_t bytes;                      /* bytes held from the allocator */
    double seconds_sort, seconds_boxes, seconds_lists;   /* build phases, wall clock */
    int    flags;                      /* KIFMM_TREE_* build flags */
    int    max_depth_asked;            /* max_depth before the resolution cap (KIFMM_TREE_RESOLUTION) */
} kifmm_tree;

/* Build flags (kifmm_tree_build_ex). kifmm_create uses both; kifmm_tree_build uses neither.
   KIFMM_TREE_PRUNE: do not split a box when splitting cannot separate or serve anything: all of
     its points (sources and targets) share one finest-level cell, or it holds targets but no
     source lies in it or its 26 same-level neighbours (its targets only see a far field, which
     deeper boxes would receive through a chain of L2L refits that each add error relative to
     the field's size, so the gradient error would grow by about 2x per level). Such leaves may
     hold more than leaf_size points.
   KIFMM_TREE_RESOLUTION: cap the depth so that the deepest box is wider than 2^20 units in the
     last place of the largest coordinate; deeper boxes (points far from the origin relative to
     their spread) would have centres and expansion surfaces rounded by more than 1e-6 of their
     size. The effective cap is in tree->max_depth. */
#define KIFMM_TREE_PRUNE      1
#define KIFMM_TREE_RESOLUTION 2

/* Build the tree over sources and targets (interleaved xyz, either may be empty or NULL when its
   count is 0). leaf_size >= 1, 0 <= max_depth <= KIFMM_MAX_DEPTH. On failure the tree is left
   zeroed and everything is given back. *bad_index (optional) receives the index of the first
   non-finite point (or, with a box, the first outside it), counting targets after the sources. */
KIFMM_DEF kifmm_status kifmm_tree_build(kifmm_tree *tree, const kifmm_allocator *alloc,
                                        const double *sources, size_t nsources,
                                        const double *targets, size_t ntargets,
                                        int leaf_size, int max_depth, size_t *bad_index);
/* the same with KIFMM_TREE_* flags and a root cube: box = {x, y, z, half width} (closed), or NULL
   for the points' bounding cube. A point outside the box gives KIFMM_ERR_INVALID_ARGUMENT; a box
   whose half width is not finite and positive, or is below 64 ulps of its centre, too. */
KIFMM_DEF kifmm_status kifmm_tree_build_ex(kifmm_tree *tree, const kifmm_allocator *alloc,
                                           const double *sources, size_t nsources,
                                           const double *targets, size_t ntargets,
                                           int leaf_size, int max_depth, int flags, const double *box,
                                           size_t *bad_index);
KIFMM_DEF void kifmm_tree_free(kifmm_tree *tree);               /* accepts a zeroed tree */

/* level and anchor helpers for a built tree */
KIFMM_DEF void kifmm_tree_box_center(const kifmm_tree *tree, int box, double c[3], double *half_width);

#ifdef __cplusplus
}
#endif
#endif /* KIFMM_TREE_H */

/* =========================================================================================== */
#if (defined(KIFMM_TREE_IMPLEMENTATION) || defined(KIFMM_IMPLEMENTATION) || defined(KIFMM_OPS_IMPLEMENTATION)) && \
    !defined(KIFMM_TREE_IMPLEMENTED)
#define KIFMM_TREE_IMPLEMENTED

/* Internal functions are static: every translation unit that switches on an implementation gets
   its own private copy, so any mix of KIFMM_IMPLEMENTATION and KIFMM_TREE_IMPLEMENTATION in one
   or several files links. Only the public kifmm_tree_* and kifmm_key_* entry points (the wrappers
   at the end of this section) are emitted once, with KIFMM_TREE_IMPLEMENTATION. */
#define KIFMM__FN static KIFMM__UNUSED
/* p = v for a void * v: C converts implicitly, C++ needs the cast */
#ifdef __cplusplus
#include <type_traits>
#define KIFMM__SET_PTR(p, v) ((p) = static_cast<std::remove_reference<decltype(p)>::type>(v))
#else
#define KIFMM__SET_PTR(p, v) ((p) = (v))
#endif
#if defined(__cplusplus)
#if defined(__GNUC__) || defined(__clang__) || defined(_MSC_VER)
#define KIFMM__RESTRICT __restrict
#else
#define KIFMM__RESTRICT
#endif
#else
#define KIFMM__RESTRICT restrict
#endif

#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <float.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#define KIFMM__OMP(x) _Pragma(#x)
#else
#define KIFMM__OMP(x)
#endif

#ifndef KIFMM_ASSERT
#include <assert.h>
#define KIFMM_ASSERT(x) assert(x)
#endif

/* ==== ALLOCATION ============================================================================== */
#ifndef KIFMM__ALLOC_DEFINED
#define KIFMM__ALLOC_DEFINED
/* Default allocator: malloc with room to align, the offset stored just before the block. */
static void *kifmm__default_alloc(size_t size, size_t align) {
    unsigned char *raw, *p;
    if (size > (size_t)-1 - align - sizeof(void *)) return NULL;
    raw = (unsigned char *)malloc(size + align + sizeof(void *));
    if (!raw) return NULL;
    p = raw + sizeof(void *);
    p += (align - (size_t)((uintptr_t)p % align)) % align;
    memcpy(p - sizeof(void *), &raw, sizeof(void *));
    return p;
}

KIFMM__FN double kifmm__now(void) {
#if defined(_OPENMP)
    return omp_get_wtime();
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && defined(TIME_UTC)
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

KIFMM__FN void *kifmm__alloc(const kifmm_allocator *a, size_t bytes) {
    if (bytes < 64) bytes = 64;
    if (a && a->alloc_fn) return a->alloc_fn(bytes, 64, a->user);
    return kifmm__default_alloc(bytes, 64);
}

KIFMM__FN void kifmm__free(const kifmm_allocator *a, void *p, size_t bytes) {
    if (!p) return;
    if (bytes < 64) bytes = 64;
    if (a && a->free_fn) { a->free_fn(p, bytes, a->user); return; }
    {
        void *raw;
        /* through uintptr_t: gcc's -Warray-bounds otherwise follows a caller's own allocation
           into this branch (which that caller's free_fn never reaches) and flags the -8 */
        memcpy(&raw, (const void *)((uintptr_t)p - sizeof(void *)), sizeof(void *));
        free(raw);
    }
}
#endif

/* ==== KEYS ==================================================================================== */
#define KIFMM__LEVEL_BITS 5
#define KIFMM__LEVEL_MASK ((uint64_t)31)

static uint64_t kifmm__spread3(uint32_t v) {           /* bit i -> bit 3i */
    uint64_t x = v & 0x1fffff;
    x = (x | x << 32) & 0x1f00000000ffffULL;
    x = (x | x << 16) & 0x1f0000ff0000ffULL;
    x = (x | x << 8) & 0x100f00f00f00f00fULL;
    x = (x | x << 4) & 0x10c30c30c30c30c3ULL;
    x = (x | x << 2) & 0x1249249249249249ULL;
    return x;
}

static uint32_t kifmm__compact3(uint64_t x) {          /* bit 3i -> bit i */
    x &= 0x1249249249249249ULL;
    x = (x ^ (x >> 2)) & 0x10c30c30c30c30c3ULL;
    x = (x ^ (x >> 4)) & 0x100f00f00f00f00fULL;
    x = (x ^ (x >> 8)) & 0x1f0000ff0000ffULL;
    x = (x ^ (x >> 16)) & 0x1f00000000ffffULL;
    x = (x ^ (x >> 32)) & 0x1fffffULL;
    return (uint32_t)x;
}

static uint64_t kifmm__morton(uint32_t x, uint32_t y, uint32_t z) {
    return kifmm__spread3(x) << 2 | kifmm__spread3(y) << 1 | kifmm__spread3(z);
}

KIFMM__FN uint64_t kifmm__key_encode(const uint32_t anchor[3], int level) {
    uint32_t clear = (~(uint32_t)0 << (KIFMM_MAX_DEPTH - level)) & ((1u << KIFMM_MAX_DEPTH) - 1);
    return kifmm__morton(anchor[0] & clear, anchor[1] & clear, anchor[2] & clear) << KIFMM__LEVEL_BITS
           | (uint64_t)level;
}

KIFMM__FN void kifmm__key_decode(uint64_t key, uint32_t anchor[3], int *level) {
    uint64_t m = key >> KIFMM__LEVEL_BITS;
    anchor[0] = kifmm__compact3(m >> 2);
    anchor[1] = kifmm__compact3(m >> 1);
    anchor[2] = kifmm__compact3(m);
    if (level) *level = (int)(key & KIFMM__LEVEL_MASK);
}

KIFMM__FN int kifmm__key_level(uint64_t key) { return (int)(key & KIFMM__LEVEL_MASK); }

KIFMM__FN uint64_t kifmm__key_parent(uint64_t key) {
    int l = kifmm__key_level(key);
    uint64_t m = key >> KIFMM__LEVEL_BITS;
    if (l == 0) return key;
    m &= ~(uint64_t)0 << (3 * (KIFMM_MAX_DEPTH - l + 1));
    return m << KIFMM__LEVEL_BITS | (uint64_t)(l - 1);
}

KIFMM__FN uint64_t kifmm__key_child(uint64_t key, int octant) {
    int l = kifmm__key_level(key);
    uint64_t m = key >> KIFMM__LEVEL_BITS;
    m |= (uint64_t)octant << (3 * (KIFMM_MAX_DEPTH - l - 1));
    return m << KIFMM__LEVEL_BITS | (uint64_t)(l + 1);
}

KIFMM__FN int kifmm__key_is_ancestor(uint64_t a, uint64_t d) {
    int la = kifmm__key_level(a), ld = kifmm__key_level(d);
    uint64_t mask;
    if (la >= ld) return 0;
    mask = ~(uint64_t)0 << (3 * (KIFMM_MAX_DEPTH - la));
    return ((a >> KIFMM__LEVEL_BITS) & mask) == ((d >> KIFMM__LEVEL_BITS) & mask);
}

KIFMM__FN int kifmm__key_neighbours(uint64_t key, uint64_t out[26]) {
    uint32_t a[3], b[3];
    int l, n = 0, dx, dy, dz;
    int64_t w, lim;
    kifmm__key_decode(key, a, &l);
    w = (int64_t)1 << (KIFMM_MAX_DEPTH - l);
    lim = (int64_t)1 << KIFMM_MAX_DEPTH;
    for (dx = -1; dx <= 1; dx++)
        for (dy = -1; dy <= 1; dy++)
            for (dz = -1; dz <= 1; dz++) {
                int64_t x = a[0] + dx * w, y = a[1] + dy * w, z = a[2] + dz * w;
                if (!(dx | dy | dz) || x < 0 || y < 0 || z < 0 || x >= lim || y >= lim || z >= lim)
                    continue;
                b[0] = (uint32_t)x; b[1] = (uint32_t)y; b[2] = (uint32_t)z;
                out[n++] = kifmm__key_encode(b, l);
            }
    return n;
}

static int kifmm__clamp03(int v) { return v < 0 ? 0 : (v > 3 ? 3 : v); }

KIFMM__FN int kifmm__transfer_index(int dx, int dy, int dz) {
    /* rank of (dx,dy,dz) among the 343 offsets of [-3,3]^3 in lexicographic order, minus the
       adjacent offsets ([-1,1]^3, i.e. 2..4 once shifted by 3) that come before it */
    int ax = dx + 3, ay = dy + 3, az = dz + 3, before;
    if (ax < 0 || ax > 6 || ay < 0 || ay > 6 || az < 0 || az > 6) return -1;
    if (ax >= 2 && ax <= 4 && ay >= 2 && ay <= 4 && az >= 2 && az <= 4) return -1;
    before = kifmm__clamp03(ax - 2) * 9;
    if (ax >= 2 && ax <= 4) {
        before += kifmm__clamp03(ay - 2) * 3;
        if (ay >= 2 && ay <= 4) before += kifmm__clamp03(az - 2);
    }
    return ax * 49 + ay * 7 + az - before;
}

KIFMM__FN void kifmm__transfer_vector(int t, int d[3]) {
    int dx, dy, dz;
    for (dx = -3; dx <= 3; dx++)
        for (dy = -3; dy <= 3; dy++)
            for (dz = -3; dz <= 3; dz++)
                if (kifmm__transfer_index(dx, dy, dz) == t) { d[0] = dx; d[1] = dy; d[2] = dz; return; }
    d[0] = d[1] = d[2] = 0;
}

/* ==== SORT: radix sort of (key, index) pairs ================================================== */
typedef struct kifmm__kv { uint64_t key; size_t idx; } kifmm__kv;

/* LSD radix sort of (key, index) pairs over the low `bits` bits, 11 bits a pass, stable; tmp has
   room for n. Passes whose digit is the same everywhere are skipped. Returns the buffer holding
   the result. Up to nthr threads: each counts and scatters its own contiguous part,
   the offsets laid out digit by digit and thread by thread, so the result is the same stable
   order for any thread count. cnt: nthr * 2048 scratch. Two 10^6-point sorts were 0.1 of the 0.13-0.2 s
   of tree + lists (depth 4) on one thread. */
static kifmm__kv *kifmm__radix_sort_bits(kifmm__kv *a, kifmm__kv *tmp, size_t n, int lo, int bits, size_t *cnt,
                                         int nthr) {
    enum { R = 11, NB = 1 << R };
    int shift, skip = 0;
    (void)nthr;                                  /* (only the OpenMP pragma uses it) */
    for (shift = lo; shift < bits; shift += R) {
        KIFMM__OMP(omp parallel num_threads(nthr))
        {
            /* the parts follow the team OpenMP actually gives (it may give fewer than asked, e.g.
               inside a caller's parallel region; without OpenMP one) */
            int me = 0, team = 1, d, th;
            size_t i, lo, hi, *c;
#ifdef _OPENMP
            me = omp_get_thread_num();
            team = omp_get_num_threads();
#endif
            lo = n / (size_t)team * (size_t)me + (n % (size_t)team < (size_t)me ? n % (size_t)team : (size_t)me);
            hi = lo + n / (size_t)team + ((size_t)me < n % (size_t)team);
            c = cnt + (size_t)me * NB;
            memset(c, 0, NB * sizeof *c);
            for (i = lo; i < hi; i++) c[(a[i].key >> shift) & (NB - 1)]++;
            KIFMM__OMP(omp barrier)
            KIFMM__OMP(omp single)
            {
                size_t sum = 0;
                skip = 0;
                for (d = 0; d < NB; d++) {
                    size_t total = 0;
                    for (th = 0; th < team; th++) {
                        size_t v = cnt[(size_t)th * NB + d];
                        cnt[(size_t)th * NB + d] = sum;
                        sum += v;
                        total += v;
                    }
                    if (total == n) skip = 1;      /* one digit everywhere: nothing to reorder */
                }
            }
            if (!skip)
                for (i = lo; i < hi; i++) tmp[c[(a[i].key >> shift) & (NB - 1)]++] = a[i];
        }
        if (!skip) { kifmm__kv *t = a; a = tmp; tmp = t; }
    }
    return a;
}

static kifmm__kv *kifmm__radix_sort_par(kifmm__kv *a, kifmm__kv *tmp, size_t n, int bits, size_t *cnt, int nthr) {
    return kifmm__radix_sort_bits(a, tmp, n, 0, bits, cnt, nthr);
}

/* the same on one thread */
static kifmm__kv *kifmm__radix_sort(kifmm__kv *a, kifmm__kv *tmp, size_t n, int bits) {
    size_t cnt[2048];
    return kifmm__radix_sort_par(a, tmp, n, bits, cnt, 1);
}

/* The Morton sort: LSD passes over the top KIFMM__SORT_TOP bits of the 3 KIFMM_MAX_DEPTH (two
   passes instead of six), then every run of keys equal there finished on its own: by insertion
   when short, else by the radix sort on the low bits, in its own slice of the other buffer. Runs
   are short for most point sets (10^6 uniform points: 0.24 per top cell) and each finished run
   stays in cache, so the passes over the whole array (from memory at 10^7 points) drop to two.
   The result is the full stable sort's. cnt: nthr * 2048 + kifmm__sort_blocks(n) + 1 scratch. */
#define KIFMM__SORT_TOP 22
#define KIFMM__SORT_BLOCK 16384
static size_t kifmm__sort_blocks(size_t n) { return (n + KIFMM__SORT_BLOCK - 1) / KIFMM__SORT_BLOCK; }

static kifmm__kv *kifmm__morton_sort(kifmm__kv *a, kifmm__kv *b, size_t n, size_t *cnt, int nthr) {
    enum { LOW = 3 * KIFMM_MAX_DEPTH - KIFMM__SORT_TOP };
    kifmm__kv *s = kifmm__radix_sort_bits(a, b, n, LOW, 3 * KIFMM_MAX_DEPTH, cnt, nthr), *o = s == a ? b : a;
    size_t *start = cnt + (size_t)nthr * 2048;
    ptrdiff_t blk, nblk = (ptrdiff_t)kifmm__sort_blocks(n);
    (void)nthr;
    /* block blk finishes the runs that start in it, [start[blk], start[blk + 1]): the first run
       start in each block (or the next block's, where none does), found before anything moves */
    KIFMM__OMP(omp parallel for schedule(static) num_threads(nthr))
    for (blk = 0; blk < nblk; blk++) {
        size_t i = (size_t)blk * KIFMM__SORT_BLOCK, hi = i + KIFMM__SORT_BLOCK < n ? i + KIFMM__SORT_BLOCK : n;
        while (i > 0 && i < hi && s[i].key >> LOW == s[i - 1].key >> LOW) i++;
        start[blk] = i < hi ? i : (size_t)-1;
    }
    start[nblk] = n;
    for (blk = nblk - 1; blk >= 0; blk--)
        if (start[blk] == (size_t)-1) start[blk] = start[blk + 1];
    KIFMM__OMP(omp parallel for schedule(dynamic, 4) num_threads(nthr))
    for (blk = 0; blk < nblk; blk++) {
        size_t i, hi = start[blk + 1], e, j;
        for (i = start[blk]; i < hi; i = e) {
            for (e = i + 1; e < hi && s[e].key >> LOW == s[i].key >> LOW; e++) {}
            if (e - i <= 32)
                for (j = i + 1; j < e; j++) {          /* stable insertion */
                    kifmm__kv v = s[j];
                    size_t m = j;
                    for (; m > i && s[m - 1].key > v.key; m--) s[m] = s[m - 1];
                    s[m] = v;
                }
            else if (kifmm__radix_sort(s + i, o + i, e - i, LOW) != s + i)
                memcpy(s + i, o + i, (e - i) * sizeof *s);
        }
    }
    return s;
}

/* ---- small growable array on the caller's allocator -------------------------------------- */
typedef struct kifmm__u64vec { uint64_t *v; size_t n, cap; } kifmm__u64vec;

static int kifmm__u64vec_reserve(kifmm__u64vec *v, size_t cap, const kifmm_allocator *a) {
    uint64_t *nv;
    if (cap <= v->cap) return 1;
    if (cap < 2 * v->cap) cap = 2 * v->cap;
    if (cap < 64) cap = 64;
    nv = (uint64_t *)kifmm__alloc(a, cap * sizeof *nv);
    if (!nv) return 0;
    if (v->n) memcpy(nv, v->v, v->n * sizeof *nv);
    kifmm__free(a, v->v, v->cap * sizeof *nv);
    v->v = nv;
    v->cap = cap;
    return 1;
}

static void kifmm__u64vec_free(kifmm__u64vec *v, const kifmm_allocator *a) {
    kifmm__free(a, v->v, v->cap * sizeof *v->v);
    v->v = NULL; v->n = v->cap = 0;
}

/* sort ascending and drop repeats, using tmp (room for n) as scratch */
static void kifmm__sort_unique(kifmm__u64vec *v, kifmm__kv *buf, kifmm__kv *tmp) {
    size_t i, m = 0;
    kifmm__kv *s;
    for (i = 0; i < v->n; i++) { buf[i].key = v->v[i]; buf[i].idx = 0; }
    s = kifmm__radix_sort(buf, tmp, v->n, 64);
    for (i = 0; i < v->n; i++)
        if (m == 0 || v->v[m - 1] != s[i].key) v->v[m++] = s[i].key;
    v->n = m;
}

/* ==== BUILD =================================================================================== */
/* allocate count elements for p from allocator al, adding the bytes to *held; jumps to oom on
   failure (KIFMM__TALLOC: for a tree; kifmm_ops.h uses the same for operators and buffers) */
#define KIFMM__HOLD(al, held, p, count)                                                        \
    do {                                                                                       \
        size_t kifmm__b = (size_t)(count) * sizeof *(p);                                       \
        if (!KIFMM__SET_PTR(p, kifmm__alloc((al), kifmm__b))) goto oom;                        \
        *(held) += kifmm__b < 64 ? 64 : kifmm__b;                                              \
    } while (0)
#define KIFMM__TALLOC(t, p, count) KIFMM__HOLD(&(t)->alloc, &(t)->bytes, p, count)

static size_t kifmm__lower_bound(const uint64_t *a, size_t lo, size_t hi, uint64_t v) {
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

KIFMM__FN void kifmm__cube_of_bounds(const double lo[3], const double hi[3], size_t n, double c[3], double *hw);

/* bounding cube of sources and targets (and their bounding box, lo .. hi); returns the index of
   a non-finite point or (size_t)-1 */
static size_t kifmm__root_cube(const double *s, size_t ns, const double *t, size_t nt,
                               double c[3], double *hw, double lo[3], double hi[3]) {
    size_t i;
    int d;
    for (d = 0; d < 3; d++) { lo[d] = DBL_MAX; hi[d] = -DBL_MAX; }
    for (i = 0; i < ns + nt; i++) {
        const double *p = i < ns ? s + 3 * i : t + 3 * (i - ns);
        for (d = 0; d < 3; d++) {
            if (!(p[d] - p[d] == 0)) return i;          /* NaN or Inf */
            if (p[d] < lo[d]) lo[d] = p[d];
            if (p[d] > hi[d]) hi[d] = p[d];
        }
    }
    kifmm__cube_of_bounds(lo, hi, ns + nt, c, hw);
    return (size_t)-1;
}

/* the root cube of a bounding box lo .. hi of n points (distributed: the box over all ranks) */
KIFMM__FN void kifmm__cube_of_bounds(const double lo[3], const double hi[3], size_t n, double c[3], double *hw) {
    double h = 0, cmax = 0;
    int d;
    if (n == 0) { c[0] = c[1] = c[2] = 0; *hw = 1; return; }
    for (d = 0; d < 3; d++) {                            /* halves first: no overflow */
        c[d] = 0.5 * lo[d] + 0.5 * hi[d];
        if (0.5 * hi[d] - 0.5 * lo[d] > h) h = 0.5 * hi[d] - 0.5 * lo[d];
        if (fabs(c[d]) > cmax) cmax = fabs(c[d]);
    }
    h *= 1 + 1e-5;                                       /* keep points off the far faces */
    if (h < 64 * DBL_EPSILON * cmax) h = 64 * DBL_EPSILON * cmax;  /* cube wider than rounding */
    if (h < 1e-200) h = cmax > 1e-200 ? h : 1;           /* coincident points at the origin */
    if (h < 1e-200) h = 1e-200;
    *hw = h;
}

/* a root cube the Morton grid can resolve: finite, and wider than rounding at its centre */
static int kifmm__box_ok(const double *box) {
    double cmax = fmax(fabs(box[0]), fmax(fabs(box[1]), fabs(box[2])));
    return cmax - cmax == 0 && box[3] - box[3] == 0 && box[3] > 0 && box[3] >= 64 * DBL_EPSILON * cmax &&
           box[3] >= 1e-200;
}

/* index of the first point outside the closed cube box, or (size_t)-1 */
static size_t kifmm__outside(const double *s, size_t ns, const double *t, size_t nt, const double *box) {
    size_t i;
    int d;
    for (i = 0; i < ns + nt; i++) {
        const double *p = i < ns ? s + 3 * i : t + 3 * (i - ns);
        for (d = 0; d < 3; d++)
            if (!(fabs(p[d] - box[d]) <= box[3])) return i;
    }
    return (size_t)-1;
}

/* sort points by finest-level Morton index; writes SoA coordinates and the permutation */
static int kifmm__sort_points(kifmm_tree *t, const double *p, size_t n, double *xyz, size_t *perm,
                              uint64_t *mort) {
    kifmm__kv *a = NULL, *b = NULL, *s;
    double scale = (double)((uint64_t)1 << KIFMM_MAX_DEPTH) / (2 * t->half_width);
    double lim = (double)(((uint64_t)1 << KIFMM_MAX_DEPTH) - 1);
    size_t bytes = (n ? n : 1) * sizeof(kifmm__kv), *cnt = NULL, cbytes;
    ptrdiff_t i;
    int nthr = 1;
    if (n == 0) return 1;
#ifdef _OPENMP
    nthr = n >= 65536 ? omp_get_max_threads() : 1;    /* below, a thread team costs more than it saves */
#endif
    cbytes = ((size_t)nthr * 2048 + kifmm__sort_blocks(n) + 1) * sizeof *cnt;
    a = (kifmm__kv *)kifmm__alloc(&t->alloc, bytes);
    b = (kifmm__kv *)kifmm__alloc(&t->alloc, bytes);
    cnt = (size_t *)kifmm__alloc(&t->alloc, cbytes);
    if (!a || !b || !cnt) {
        kifmm__free(&t->alloc, a, bytes); kifmm__free(&t->alloc, b, bytes); kifmm__free(&t->alloc, cnt, cbytes);
        return 0;
    }
    KIFMM__OMP(omp parallel for schedule(static))
    for (i = 0; i < (ptrdiff_t)n; i++) {
        uint32_t q[3];
        int d;
        for (d = 0; d < 3; d++) {
            double x = (p[3 * i + d] - (t->center[d] - t->half_width)) * scale;
            x = !(x >= 0) ? 0 : (x > lim ? lim : x);
            q[d] = (uint32_t)x;
        }
        a[i].key = kifmm__morton(q[0], q[1], q[2]);
        a[i].idx = (size_t)i;
    }
    s = kifmm__morton_sort(a, b, n, cnt, nthr);
    KIFMM__OMP(omp parallel for schedule(static))
    for (i = 0; i < (ptrdiff_t)n; i++) {
        size_t j = s[i].idx;
        perm[i] = j;
        mort[i] = s[i].key;
        xyz[i] = p[3 * j];
        xyz[n + i] = p[3 * j + 1];
        xyz[2 * n + i] = p[3 * j + 2];
    }
    kifmm__free(&t->alloc, a, bytes);
    kifmm__free(&t->alloc, b, bytes);
    kifmm__free(&t->alloc, cnt, cbytes);
    return 1;
}

/* point range of the box with morton prefix m at level l within [lo, hi) */
static void kifmm__range(const uint64_t *mort, size_t lo, size_t hi, uint64_t m, int l,
                         size_t *b, size_t *e) {
    uint64_t span = (uint64_t)1 << (3 * (KIFMM_MAX_DEPTH - l));
    *b = kifmm__lower_bound(mort, lo, hi, m);
    *e = kifmm__lower_bound(mort, *b, hi, m + span);
}

/* the sources in the box with Morton prefix m at level l and its 26 same-level neighbours (any:
   stop at the first box that has some) */
KIFMM__FN size_t kifmm__near_sources(const kifmm_tree *t, const uint64_t *smort, uint64_t m, int l, int any) {
    uint64_t w = (uint64_t)1 << (KIFMM_MAX_DEPTH - l), lim = (uint64_t)1 << KIFMM_MAX_DEPTH;
    uint32_t a[3];
    size_t n = 0;
    int dx, dy, dz;
    a[0] = kifmm__compact3(m >> 2); a[1] = kifmm__compact3(m >> 1); a[2] = kifmm__compact3(m);
    for (dx = -1; dx <= 1; dx++)
        for (dy = -1; dy <= 1; dy++)
            for (dz = -1; dz <= 1; dz++) {
                int64_t x = (int64_t)a[0] + dx * (int64_t)w, y = (int64_t)a[1] + dy * (int64_t)w;
                int64_t z = (int64_t)a[2] + dz * (int64_t)w;
                size_t b, e;
                if (x < 0 || y < 0 || z < 0 || (uint64_t)x >= lim || (uint64_t)y >= lim || (uint64_t)z >= lim)
                    continue;
                kifmm__range(smort, 0, t->nsources, kifmm__morton((uint32_t)x, (uint32_t)y, (uint32_t)z), l, &b, &e);
                n += e - b;
                if (any && n) return n;
            }
    return n;
}

/* KIFMM_TREE_PRUNE: a box that holds too many points is still not split when its points cannot
   be separated (one finest-level cell) or when it holds no source and has no source in its 26
   same-level neighbours (a pure far field: splitting would only lengthen the L2L chain) */
static int kifmm__worth_splitting(const kifmm_tree *t, const uint64_t *smort, const uint64_t *tmort, uint64_t m,
                                  int l, size_t sb, size_t se, size_t tb, size_t te) {
    uint64_t first = se > sb ? smort[sb] : tmort[tb];
    if (!((se > sb && smort[se - 1] != first) || (te > tb && (tmort[tb] != first || tmort[te - 1] != first))))
        return 0;                                      /* every point in one finest cell */
    if (se > sb) return 1;
    return kifmm__near_sources(t, smort, m, l, 1) > 0;
}

/* What a distributed build (kifmm_mpi.h) changes; NULL on one node.
   decide: the top-down split choice for the n candidate boxes (Morton prefixes) of level l from
     the counts over all ranks, into flag[i]; called once per level and once more with n = 0
     after the last; flag = NULL tells the other ranks this one failed. Returns 0 when any failed.
   agree: whether every rank is still well (collective), called once before the refinement.
   counts: fills gsrc / gtgt once the boxes exist (ok = 0: they do not, here).
   given / given_deepest: split sets decided before (no refinement, no balance, no collective).
   keep: receives the final split sets. */
typedef struct kifmm__tree_opt {
    int (*decide)(void *user, const kifmm_tree *t, const uint64_t *smort, const uint64_t *tmort, int l,
                  const uint64_t *cand, size_t n, unsigned char *flag);
    int (*agree)(void *user, int ok);
    kifmm_status (*counts)(void *user, kifmm_tree *t, int ok);
    void *user;
    const kifmm__u64vec *given;
    int given_deepest;
    kifmm__u64vec *keep;
    int *keep_deepest;
} kifmm__tree_opt;

KIFMM__FN size_t kifmm__box_ns(const kifmm_tree *t, int b) {
    return t->gsrc ? t->gsrc[b] : t->src_end[b] - t->src_begin[b];
}
KIFMM__FN size_t kifmm__box_nt(const kifmm_tree *t, int b) {
    return t->gtgt ? t->gtgt[b] : t->tgt_end[b] - t->tgt_begin[b];
}

/* the split rule from a box's counts: too many sources or targets, and (KIFMM_TREE_PRUNE) its
   points span more than one finest cell and it or a neighbour holds a source */
KIFMM__FN int kifmm__split_rule(const kifmm_tree *t, size_t ns, size_t nt, size_t nbr_ns, int one_cell) {
    if (ns <= (size_t)t->leaf_size && nt <= (size_t)t->leaf_size) return 0;
    if (!(t->flags & KIFMM_TREE_PRUNE)) return 1;
    return !one_cell && (ns > 0 || nbr_ns > 0);
}

/* Adaptive refinement then 2:1 balance, expressed as the set of split boxes per level. */
static int kifmm__split_sets(kifmm_tree *t, const uint64_t *smort, const uint64_t *tmort,
                             kifmm__u64vec split[KIFMM_MAX_DEPTH + 1], int *deepest, const kifmm__tree_opt *opt) {
    const kifmm_allocator *al = &t->alloc;
    kifmm__u64vec cur = {0, 0, 0}, next = {0, 0, 0};
    kifmm__kv *buf = NULL, *tmp = NULL;
    size_t bufn = 0;
    int l, ok = 0;
    size_t i;
    unsigned char *flag = NULL;
    size_t nflag = 0;
    *deepest = 0;
    if (opt && opt->given) {                      /* decided before: copy */
        for (l = 0; l < opt->given_deepest; l++) {
            if (!kifmm__u64vec_reserve(&split[l], opt->given[l].n, al)) return 0;
            if (opt->given[l].n) memcpy(split[l].v, opt->given[l].v, opt->given[l].n * sizeof *split[l].v);
            split[l].n = opt->given[l].n;
        }
        *deepest = opt->given_deepest;
        return 1;
    }
    /* top-down: a box splits while it holds too many sources or targets */
#define KIFMM__SPLIT_FAIL do { if (opt && opt->decide) opt->decide(opt->user, t, smort, tmort, l, NULL, 0, NULL); \
                              goto done; } while (0)
    l = 0;
    if (!kifmm__u64vec_reserve(&cur, 1, al)) KIFMM__SPLIT_FAIL;
    cur.v[0] = 0; cur.n = 1;                      /* morton prefixes (no level bits) */
    for (l = 0; l < t->max_depth && cur.n; l++) {
        next.n = 0;
        if (opt && opt->decide) {
            if (cur.n > nflag) {
                kifmm__free(al, flag, nflag);
                nflag = cur.n;
                if (!(flag = (unsigned char *)kifmm__alloc(al, nflag))) { nflag = 0; KIFMM__SPLIT_FAIL; }
            }
            if (!opt->decide(opt->user, t, smort, tmort, l, cur.v, cur.n, flag)) goto done;
        }
        for (i = 0; i < cur.n; i++) {
            size_t sb, se, tb, te;
            int yes;
            if (opt && opt->decide) yes = flag[i];
            else {
                kifmm__range(smort, 0, t->nsources, cur.v[i], l, &sb, &se);
                kifmm__range(tmort, 0, t->ntargets, cur.v[i], l, &tb, &te);
                yes = (se - sb > (size_t)t->leaf_size || te - tb > (size_t)t->leaf_size) &&
                      (!(t->flags & KIFMM_TREE_PRUNE) || kifmm__worth_splitting(t, smort, tmort, cur.v[i], l, sb, se, tb, te));
            }
            if (yes) {
                int o;
                uint64_t span = (uint64_t)1 << (3 * (KIFMM_MAX_DEPTH - l - 1));
                if (!kifmm__u64vec_reserve(&split[l], split[l].n + 1, al)) KIFMM__SPLIT_FAIL;
                split[l].v[split[l].n++] = cur.v[i];
                if (!kifmm__u64vec_reserve(&next, next.n + 8, al)) KIFMM__SPLIT_FAIL;
                for (o = 0; o < 8; o++) next.v[next.n++] = cur.v[i] + (uint64_t)o * span;
            }
        }
        { kifmm__u64vec sw = cur; cur = next; next = sw; }
        if (split[l].n) *deepest = l + 1;
    }
    if (opt && opt->decide && !opt->decide(opt->user, t, smort, tmort, l, NULL, 0, flag ? flag : (unsigned char *)&ok))
        goto done;                                /* (the closing call: did every rank get here) */
#undef KIFMM__SPLIT_FAIL
    /* bottom-up balance: a split box needs every same-level neighbour to exist, so the parent of
       each neighbour (and its own parent: offset 0) must be split one level up */
    for (l = *deepest - 1; l >= 1; l--) {
        size_t need = split[l - 1].n + 8 * split[l].n;
        uint64_t w = (uint64_t)1 << (KIFMM_MAX_DEPTH - l);
        uint64_t lim = (uint64_t)1 << KIFMM_MAX_DEPTH;
        if (!kifmm__u64vec_reserve(&split[l - 1], need, al)) goto done;
        if (need > bufn) {
            kifmm__free(al, buf, bufn * sizeof *buf);
            kifmm__free(al, tmp, bufn * sizeof *tmp);
            buf = (kifmm__kv *)kifmm__alloc(al, need * sizeof *buf);
            tmp = (kifmm__kv *)kifmm__alloc(al, need * sizeof *tmp);
            bufn = need;
            if (!buf || !tmp) goto done;
        }
        for (i = 0; i < split[l].n; i++) {
            uint32_t a[3];
            int sx, sy, sz, dx, dy, dz;
            uint64_t m = split[l].v[i];
            a[0] = kifmm__compact3(m >> 2); a[1] = kifmm__compact3(m >> 1); a[2] = kifmm__compact3(m);
            /* the neighbours' parents lie on this box's side of its parent */
            sx = (a[0] / w) & 1 ? 1 : -1; sy = (a[1] / w) & 1 ? 1 : -1; sz = (a[2] / w) & 1 ? 1 : -1;
            for (dx = 0; dx <= 1; dx++)
                for (dy = 0; dy <= 1; dy++)
                    for (dz = 0; dz <= 1; dz++) {
                        int64_t x = (int64_t)a[0] + dx * sx * (int64_t)w;
                        int64_t y = (int64_t)a[1] + dy * sy * (int64_t)w;
                        int64_t z = (int64_t)a[2] + dz * sz * (int64_t)w;
                        uint64_t pm, clear = ~(uint64_t)0 << (3 * (KIFMM_MAX_DEPTH - l + 1));
                        if (x < 0 || y < 0 || z < 0 || (uint64_t)x >= lim || (uint64_t)y >= lim ||
                            (uint64_t)z >= lim)
                            continue;
                        pm = kifmm__morton((uint32_t)x, (uint32_t)y, (uint32_t)z) & clear;
                        split[l - 1].v[split[l - 1].n++] = pm;
                    }
        }
        kifmm__sort_unique(&split[l - 1], buf, tmp);
    }
    ok = 1;
done:
    kifmm__free(al, flag, nflag);
    kifmm__u64vec_free(&cur, al);
    kifmm__u64vec_free(&next, al);
    kifmm__free(al, buf, bufn * sizeof *buf);
    kifmm__free(al, tmp, bufn * sizeof *tmp);
    return ok;
}

/* colleagues of every box, top-down from the parent's colleagues */
static void kifmm__colleagues(kifmm_tree *t) {
    int l, b;
    for (b = 0; b < 27; b++) t->colleague[b] = -1;
    t->colleague[13] = 0;
    for (l = 1; l <= t->depth; l++) {
        ptrdiff_t bb;
        KIFMM__OMP(omp parallel for schedule(static))
        for (bb = t->level_begin[l]; bb < t->level_begin[l + 1]; bb++) {
            uint32_t a[3];
            int c[3], dx, dy, dz, p = t->parent[bb];
            uint32_t w = (uint32_t)1 << (KIFMM_MAX_DEPTH - l);
            kifmm__key_decode(t->key[bb], a, NULL);
            c[0] = (int)(a[0] / w); c[1] = (int)(a[1] / w); c[2] = (int)(a[2] / w);
            for (dx = -1; dx <= 1; dx++)
                for (dy = -1; dy <= 1; dy++)
                    for (dz = -1; dz <= 1; dz++) {
                        int n[3] = {c[0] + dx, c[1] + dy, c[2] + dz}, po, pc, found = -1;
                        if (n[0] >= 0 && n[1] >= 0 && n[2] >= 0 && n[0] < (1 << l) && n[1] < (1 << l) &&
                            n[2] < (1 << l)) {
                            po = ((n[0] >> 1) - (c[0] >> 1) + 1) * 9 + ((n[1] >> 1) - (c[1] >> 1) + 1) * 3 +
                                 ((n[2] >> 1) - (c[2] >> 1) + 1);
                            pc = t->colleague[27 * (size_t)p + po];
                            if (pc >= 0 && t->child[pc] >= 0)
                                found = t->child[pc] + ((n[0] & 1) << 2 | (n[1] & 1) << 1 | (n[2] & 1));
                        }
                        t->colleague[27 * (size_t)bb + (dx + 1) * 9 + (dy + 1) * 3 + (dz + 1)] = found;
                    }
        }
    }
}

/* ==== LISTS =================================================================================== */
enum { KIFMM__U, KIFMM__V, KIFMM__W, KIFMM__X };

/* Offsets in units of the finer of two boxes: a box of extent e at offset r touches a box of
   extent 1 at 0 iff r <= 1 and r + e >= 0 in every dimension (the cases below never overlap). */
static int kifmm__touches(const int r[3], int e) {
    return r[0] <= 1 && r[0] + e >= 0 && r[1] <= 1 && r[1] + e >= 0 && r[2] <= 1 && r[2] + e >= 0;
}

static const int kifmm__list_cap[4] = {KIFMM_MAX_U, KIFMM_MAX_V, KIFMM_MAX_W, KIFMM_MAX_X};

/* the list of one kind for box b, written to out (room for cap), returns its length, or -1 when
   it would exceed cap; works on integer offsets from b's colleagues and its parent's, so no key
   is decoded per candidate */
#define KIFMM__PUSH(box) do { if (n == cap) return -1; out[n++] = (box); } while (0)
static int kifmm__box_list(const kifmm_tree *t, int b, int kind, int *out, int cap) {
    const int *col = t->colleague + 27 * (size_t)b, *pcol;
    int n = 0, i, o, p = t->parent[b], leaf = t->child[b] < 0, l = kifmm__key_level(t->key[b]);
    int h[3] = {0, 0, 0};                   /* b's octant in its parent */
    if ((kind == KIFMM__U || kind == KIFMM__W) && !leaf) return 0;
    if ((kind == KIFMM__V || kind == KIFMM__X) && l < 2) return 0;
    if (p >= 0) {
        uint32_t a[3];
        kifmm__key_decode(t->key[b], a, NULL);
        for (i = 0; i < 3; i++) h[i] = (int)(a[i] >> (KIFMM_MAX_DEPTH - l)) & 1;
    }
    pcol = p >= 0 ? t->colleague + 27 * (size_t)p : NULL;
    if (kind != KIFMM__W && pcol)           /* boxes from the parent's colleagues */
        for (i = 0; i < 27; i++) {
            int c = pcol[i], d[3] = {i / 9 - 1, i / 3 % 3 - 1, i % 3 - 1}, r[3], e;
            if (c < 0 || c == p) continue;
            for (e = 0; e < 3; e++) r[e] = 2 * d[e] - h[e];   /* its corner, in b's units */
            if (t->child[c] < 0) {          /* a leaf one level up: U if touching, else X */
                if (kind == KIFMM__U && kifmm__touches(r, 2)) KIFMM__PUSH(c);
                if (kind == KIFMM__X && !kifmm__touches(r, 2)) KIFMM__PUSH(c);
            } else if (kind == KIFMM__V) {
                for (o = 0; o < 8; o++) {
                    int q[3] = {r[0] + (o >> 2), r[1] + (o >> 1 & 1), r[2] + (o & 1)};
                    if (!kifmm__touches(q, 1)) KIFMM__PUSH(t->child[c] + o);
                }
            }
        }
    if (kind == KIFMM__U || kind == KIFMM__W)   /* own colleagues and their children */
        for (i = 0; i < 27; i++) {
            int c = col[i], d[3] = {i / 9 - 1, i / 3 % 3 - 1, i % 3 - 1};
            if (c < 0) continue;
            if (t->child[c] < 0) {
                if (kind == KIFMM__U) KIFMM__PUSH(c);
                continue;
            }
            for (o = 0; o < 8; o++) {       /* children in units of half of b: b spans [0, 2] */
                int q[3] = {2 * d[0] + (o >> 2) - 1, 2 * d[1] + (o >> 1 & 1) - 1, 2 * d[2] + (o & 1) - 1};
                int touch = q[0] <= 1 && q[0] >= -2 && q[1] <= 1 && q[1] >= -2 && q[2] <= 1 && q[2] >= -2;
                if (touch == (kind == KIFMM__U)) KIFMM__PUSH(t->child[c] + o);
            }
        }
    return n;
}
#undef KIFMM__PUSH

/* CSR lists of one kind: counts, offsets, then the lists. KIFMM_OK, KIFMM_ERR_OUT_OF_MEMORY, or
   KIFMM_ERR_INTERNAL when a list would exceed its bound. */
static kifmm_status kifmm__build_list(kifmm_tree *t, int kind, size_t **off, int **idx, int *maxlen) {
    ptrdiff_t b;
    int longest = 0, over = 0, cap = kifmm__list_cap[kind];
    size_t total = 0;
    KIFMM__TALLOC(t, *off, (size_t)t->nboxes + 1);
    (*off)[0] = 0;
    KIFMM__OMP(omp parallel for schedule(dynamic, 256) reduction(max : longest) reduction(| : over))
    for (b = 0; b < t->nboxes; b++) {
        int buf[KIFMM_MAX_V];                 /* the longest bound */
        int n = kifmm__box_list(t, (int)b, kind, buf, cap);
        over |= n < 0;
        (*off)[b + 1] = n < 0 ? 0 : (size_t)n;
        if (n > longest) longest = n;
    }
    if (over) return KIFMM_ERR_INTERNAL;
    for (b = 0; b < t->nboxes; b++) { total += (*off)[b + 1]; (*off)[b + 1] = total; }
    KIFMM__TALLOC(t, *idx, total);
    KIFMM__OMP(omp parallel for schedule(dynamic, 256))
    for (b = 0; b < t->nboxes; b++)
        kifmm__box_list(t, (int)b, kind, *idx + (*off)[b], (int)((*off)[b + 1] - (*off)[b]));
    *maxlen = longest;
    return KIFMM_OK;
oom:
    return KIFMM_ERR_OUT_OF_MEMORY;
}

/* transfer vector index of each V entry of box b (target) into tv (room for KIFMM_MAX_V, the bound
   kifmm__build_list enforced on the V lists), from the boxes' anchors at
   their level (anc, 3 per box) and the index table of the 7^3 offsets (tab) */
static void kifmm__transfer_of(const kifmm_tree *t, const int32_t *anc, const short *tab, int b, int *tv) {
    const int32_t *a = anc + 3 * (size_t)b;
    size_t j;
    for (j = t->v_off[b]; j < t->v_off[b + 1]; j++) {
        const int32_t *c = anc + 3 * (size_t)t->v_idx[j];
        int dx = c[0] - a[0] + 3, dy = c[1] - a[1] + 3, dz = c[2] - a[2] + 3;
        tv[j - t->v_off[b]] = tab[(dx * 7 + dy) * 7 + dz];
    }
}

/* V pairs grouped by (level, transfer vector), skipping boxes without sources / targets */
static int kifmm__max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Count (pass 0) or place (pass 1) the V pairs of boxes b0 .. b1-1 with cursors cur[group]. */
static void kifmm__group_range(kifmm_tree *t, const int32_t *anc, const short *tab, int b0, int b1, int pass,
                               size_t *cur) {
    int b, tv[KIFMM_MAX_V];
    for (b = b0; b < b1; b++) {
        size_t j, base = (size_t)kifmm__key_level(t->key[b]) * KIFMM_NUM_TRANSFER;
        if (t->tgt_end[b] == t->tgt_begin[b]) continue;
        kifmm__transfer_of(t, anc, tab, b, tv);
        for (j = t->v_off[b]; j < t->v_off[b + 1]; j++) {
            int s = t->v_idx[j];
            size_t g = base + (size_t)tv[j - t->v_off[b]];
            if (kifmm__box_ns(t, s) == 0) continue;
            if (pass == 0) cur[g]++;
            else { t->m2l_tgt[cur[g]] = b; t->m2l_src[cur[g]] = s; cur[g]++; }
        }
    }
}

/* V pairs grouped by (level, transfer vector), skipping boxes without sources / targets. The
   boxes are cut into one contiguous slice per thread; slice p's pairs of a group come after
   slice p-1's, so the order is the serial one whatever the thread count. */
static int kifmm__group_m2l(kifmm_tree *t) {
    size_t ng = (size_t)(KIFMM_MAX_DEPTH + 1) * KIFMM_NUM_TRANSFER, g, total = 0, ncur = 0;
    size_t *cur = NULL, nanc = 3 * (size_t)t->nboxes;
    int32_t *anc = NULL;
    short tab[343];
    int nth = kifmm__max_threads(), pass, p, dx, dy, dz;
    ptrdiff_t th, b;
    KIFMM__TALLOC(t, t->m2l_off, ng + 1);
    ncur = (size_t)nth * ng;
    cur = (size_t *)kifmm__alloc(&t->alloc, ncur * sizeof *cur);
    anc = (int32_t *)kifmm__alloc(&t->alloc, nanc * sizeof *anc);
    if (!cur || !anc) goto oom;
    memset(cur, 0, ncur * sizeof *cur);
    for (dx = 0; dx < 7; dx++)
        for (dy = 0; dy < 7; dy++)
            for (dz = 0; dz < 7; dz++) tab[(dx * 7 + dy) * 7 + dz] = (short)kifmm__transfer_index(dx - 3, dy - 3, dz - 3);
    /* each box's anchor in units of its own level's width, decoded once (not once per V pair) */
    KIFMM__OMP(omp parallel for schedule(static))
    for (b = 0; b < t->nboxes; b++) {
        uint32_t a[3];
        int l, e;
        kifmm__key_decode(t->key[b], a, &l);
        for (e = 0; e < 3; e++) anc[3 * b + e] = (int32_t)(a[e] >> (KIFMM_MAX_DEPTH - l));
    }
    for (pass = 0; pass < 2; pass++) {      /* count, then place */
        if (pass == 1) {                     /* each slice's cursor: the pairs before it */
            t->m2l_off[0] = 0;
            for (g = 0; g < ng; g++) {
                for (p = 0; p < nth; p++) {
                    size_t c = cur[(size_t)p * ng + g];
                    cur[(size_t)p * ng + g] = total;
                    total += c;
                }
                t->m2l_off[g + 1] = total;
            }
            KIFMM__TALLOC(t, t->m2l_tgt, total);
            KIFMM__TALLOC(t, t->m2l_src, total);
        }
        KIFMM__OMP(omp parallel for schedule(static) num_threads(nth))
        for (th = 0; th < nth; th++)
            kifmm__group_range(t, anc, tab, (int)((int64_t)t->nboxes * th / nth),
                               (int)((int64_t)t->nboxes * (th + 1) / nth), pass, cur + (size_t)th * ng);
    }
    kifmm__free(&t->alloc, cur, ncur * sizeof *cur);
    kifmm__free(&t->alloc, anc, nanc * sizeof *anc);
    return 1;
oom:
    kifmm__free(&t->alloc, cur, ncur * sizeof *cur);
    kifmm__free(&t->alloc, anc, nanc * sizeof *anc);
    return 0;
}

/* boxes level by level from the split sets, with parents, children and point ranges */
static int kifmm__make_boxes(kifmm_tree *t, kifmm__u64vec split[KIFMM_MAX_DEPTH + 1], int deepest,
                             const uint64_t *smort, const uint64_t *tmort) {
    size_t nb = 1, i;
    int l;
    for (l = 0; l < deepest; l++) nb += 8 * split[l].n;
    if (nb > (size_t)0x7fffffff / 27) return 0;
    t->nboxes = (int)nb;
    t->depth = deepest;
    KIFMM__TALLOC(t, t->key, nb);
    KIFMM__TALLOC(t, t->parent, nb);
    KIFMM__TALLOC(t, t->child, nb);
    KIFMM__TALLOC(t, t->src_begin, nb);
    KIFMM__TALLOC(t, t->src_end, nb);
    KIFMM__TALLOC(t, t->tgt_begin, nb);
    KIFMM__TALLOC(t, t->tgt_end, nb);
    t->key[0] = 0; t->parent[0] = -1;
    t->src_begin[0] = 0; t->src_end[0] = t->nsources;
    t->tgt_begin[0] = 0; t->tgt_end[0] = t->ntargets;
    t->level_begin[0] = 0;
    t->level_begin[1] = 1;
    for (i = 0; i < nb; i++) t->child[i] = -1;
    for (l = 0; l < deepest; l++) {
        int lo = t->level_begin[l], hi = t->level_begin[l + 1], b, next = hi;
        ptrdiff_t bb;
        /* split[l] is a sorted subset of this level's keys: walk both */
        for (i = 0, b = lo; b < hi && i < split[l].n; b++)
            if ((t->key[b] >> KIFMM__LEVEL_BITS) == split[l].v[i]) { t->child[b] = next; next += 8; i++; }
        KIFMM_ASSERT(i == split[l].n);
        t->level_begin[l + 2] = next;
        KIFMM__OMP(omp parallel for schedule(static))
        for (bb = lo; bb < hi; bb++) {
            int o, c = t->child[bb];
            if (c < 0) continue;
            for (o = 0; o < 8; o++) {
                uint64_t ck = kifmm__key_child(t->key[bb], o);
                t->key[c + o] = ck;
                t->parent[c + o] = (int)bb;
                kifmm__range(smort, t->src_begin[bb], t->src_end[bb], ck >> KIFMM__LEVEL_BITS, l + 1,
                             &t->src_begin[c + o], &t->src_end[c + o]);
                kifmm__range(tmort, t->tgt_begin[bb], t->tgt_end[bb], ck >> KIFMM__LEVEL_BITS, l + 1,
                             &t->tgt_begin[c + o], &t->tgt_end[c + o]);
            }
        }
    }
    for (l = deepest + 2; l <= KIFMM_MAX_DEPTH + 1; l++) t->level_begin[l] = (int)nb;
    return 1;
oom:
    return 0;
}

static int kifmm__collect_leaves(kifmm_tree *t) {
    kifmm__kv *a = NULL, *b = NULL, *s;
    size_t n = 0, i, bytes;
    int x;
    for (x = 0; x < t->nboxes; x++) n += t->child[x] < 0;
    t->nleaves = (int)n;
    KIFMM__TALLOC(t, t->leaf, n);
    bytes = n * sizeof *a;
    a = (kifmm__kv *)kifmm__alloc(&t->alloc, bytes);
    b = (kifmm__kv *)kifmm__alloc(&t->alloc, bytes);
    if (!a || !b) {
        kifmm__free(&t->alloc, a, bytes);
        kifmm__free(&t->alloc, b, bytes);
        return 0;
    }
    for (x = 0, i = 0; x < t->nboxes; x++)
        if (t->child[x] < 0) { a[i].key = t->key[x]; a[i].idx = (size_t)x; i++; }
    s = kifmm__radix_sort(a, b, n, 64);
    for (i = 0; i < n; i++) t->leaf[i] = (int)s[i].idx;
    kifmm__free(&t->alloc, a, bytes);
    kifmm__free(&t->alloc, b, bytes);
    return 1;
oom:
    return 0;
}

KIFMM__FN void kifmm__tree_free(kifmm_tree *t) {
    kifmm_allocator al;
    size_t nb, nt1;
    if (!t) return;
    al = t->alloc;
    nb = (size_t)t->nboxes;
    nt1 = (size_t)(KIFMM_MAX_DEPTH + 1) * KIFMM_NUM_TRANSFER + 1;
#define KIFMM__TFREE(p, count) kifmm__free(&al, (p), (count) * sizeof *(p))
    KIFMM__TFREE(t->src, 3 * t->nsources);
    KIFMM__TFREE(t->tgt, 3 * t->ntargets);
    KIFMM__TFREE(t->src_perm, t->nsources);
    KIFMM__TFREE(t->tgt_perm, t->ntargets);
    KIFMM__TFREE(t->key, nb);
    KIFMM__TFREE(t->parent, nb);
    KIFMM__TFREE(t->child, nb);
    KIFMM__TFREE(t->src_begin, nb);
    KIFMM__TFREE(t->src_end, nb);
    KIFMM__TFREE(t->tgt_begin, nb);
    KIFMM__TFREE(t->tgt_end, nb);
    KIFMM__TFREE(t->colleague, 27 * nb);
    KIFMM__TFREE(t->leaf, (size_t)t->nleaves);
    if (t->u_off) KIFMM__TFREE(t->u_idx, t->u_off[nb]);
    if (t->v_off) KIFMM__TFREE(t->v_idx, t->v_off[nb]);
    if (t->w_off) KIFMM__TFREE(t->w_idx, t->w_off[nb]);
    if (t->x_off) KIFMM__TFREE(t->x_idx, t->x_off[nb]);
    KIFMM__TFREE(t->u_off, nb + 1);
    KIFMM__TFREE(t->v_off, nb + 1);
    KIFMM__TFREE(t->w_off, nb + 1);
    KIFMM__TFREE(t->x_off, nb + 1);
    if (t->m2l_off) {
        KIFMM__TFREE(t->m2l_tgt, t->m2l_off[nt1 - 1]);
        KIFMM__TFREE(t->m2l_src, t->m2l_off[nt1 - 1]);
    }
    KIFMM__TFREE(t->m2l_off, nt1);
    KIFMM__TFREE(t->gsrc, t->gsrc ? nb : 0);
    KIFMM__TFREE(t->gtgt, t->gtgt ? nb : 0);
#undef KIFMM__TFREE
    memset(t, 0, sizeof *t);
}

/* the deepest level whose boxes are at least 2^20 ulps of the largest coordinate wide */
static int kifmm__resolution_depth(const kifmm_tree *t) {
    double cmax = 0, w;
    int d, l = 0;
    for (d = 0; d < 3; d++)
        if (fabs(t->center[d]) + t->half_width > cmax) cmax = fabs(t->center[d]) + t->half_width;
    w = ldexp(DBL_EPSILON * cmax, 20);
    while (l < KIFMM_MAX_DEPTH && ldexp(t->half_width, -(l + 1)) >= w) l++;
    return l;
}

KIFMM__FN kifmm_status kifmm__tree_build_opt(kifmm_tree *t, const kifmm_allocator *alloc,
                                            const double *sources, size_t ns,
                                            const double *targets, size_t nt,
                                            int leaf_size, int max_depth, int flags, const double *box,
                                            size_t *bad_index, const kifmm__tree_opt *opt) {
    kifmm__u64vec split[KIFMM_MAX_DEPTH + 1];
    uint64_t *smort = NULL, *tmort = NULL;
    double lo[3], hi[3];
    size_t bad;
    int deepest = 0, l, made, stage = 0;   /* stage 0: the agreement is still owed (opt->agree) */
    double t0, t1, t2;
    kifmm_status st = KIFMM_ERR_OUT_OF_MEMORY;
    if (!t) return KIFMM_ERR_INVALID_ARGUMENT;
    memset(t, 0, sizeof *t);
    memset(split, 0, sizeof split);
    if ((ns && !sources) || (nt && !targets) || leaf_size < 1 || max_depth < 0 ||
        max_depth > KIFMM_MAX_DEPTH || ns > ((size_t)-1) / 64 || nt > ((size_t)-1) / 64 ||
        (alloc && (!alloc->alloc_fn) != (!alloc->free_fn)) || (box && !kifmm__box_ok(box)))
        return KIFMM_ERR_INVALID_ARGUMENT;
    if (alloc) t->alloc = *alloc;
    t->leaf_size = leaf_size;
    t->max_depth = t->max_depth_asked = max_depth;
    t->flags = flags;
    bad = kifmm__root_cube(sources, ns, targets, nt, t->center, &t->half_width, lo, hi);
    if (bad != (size_t)-1) {
        if (bad_index) *bad_index = bad;
        memset(t, 0, sizeof *t);
        return KIFMM_ERR_NONFINITE_INPUT;
    }
    if (box) {
        /* |p - c| is largest at an end of the bounding box: only a failure needs the point */
        int in = 1, d;
        for (d = 0; d < 3; d++) in &= fabs(lo[d] - box[d]) <= box[3] && fabs(hi[d] - box[d]) <= box[3];
        bad = in || ns + nt == 0 ? (size_t)-1 : kifmm__outside(sources, ns, targets, nt, box);
        if (bad != (size_t)-1) {
            if (bad_index) *bad_index = bad;
            memset(t, 0, sizeof *t);
            return KIFMM_ERR_INVALID_ARGUMENT;
        }
        memcpy(t->center, box, sizeof t->center);
        t->half_width = box[3];
    }
    if (flags & KIFMM_TREE_RESOLUTION) {
        l = kifmm__resolution_depth(t);
        if (l < t->max_depth) t->max_depth = l;
    }
    t->nsources = ns;
    t->ntargets = nt;
    KIFMM__TALLOC(t, t->src, 3 * ns);
    KIFMM__TALLOC(t, t->tgt, 3 * nt);
    KIFMM__TALLOC(t, t->src_perm, ns);
    KIFMM__TALLOC(t, t->tgt_perm, nt);
    smort = (uint64_t *)kifmm__alloc(&t->alloc, ns * sizeof *smort);
    tmort = (uint64_t *)kifmm__alloc(&t->alloc, nt * sizeof *tmort);
    if (!smort || !tmort) goto oom;
    t0 = kifmm__now();
    if (!kifmm__sort_points(t, sources, ns, t->src, t->src_perm, smort)) goto oom;
    if (targets == sources && nt == ns) {           /* one sort serves both */
        memcpy(t->tgt, t->src, 3 * ns * sizeof *t->tgt);
        memcpy(t->tgt_perm, t->src_perm, ns * sizeof *t->tgt_perm);
        memcpy(tmort, smort, ns * sizeof *tmort);
    } else if (!kifmm__sort_points(t, targets, nt, t->tgt, t->tgt_perm, tmort))
        goto oom;
    t1 = kifmm__now();
    stage = 1;                                      /* every failure from here on is agreed */
    if (opt && opt->agree && !opt->agree(opt->user, 1)) goto oom;   /* (before the refinement's first collective) */
    made = kifmm__split_sets(t, smort, tmort, split, &deepest, opt) && kifmm__make_boxes(t, split, deepest, smort, tmort);
    if (opt && opt->counts && (st = opt->counts(opt->user, t, made)) != KIFMM_OK) goto fail;
    st = KIFMM_ERR_OUT_OF_MEMORY;
    if (!made) goto oom;
    if (opt && opt->keep) {                          /* the caller takes the split sets */
        memcpy(opt->keep, split, sizeof split);
        memset(split, 0, sizeof split);
        *opt->keep_deepest = deepest;
    }
    for (l = 0; l <= KIFMM_MAX_DEPTH; l++) kifmm__u64vec_free(&split[l], &t->alloc);
    kifmm__free(&t->alloc, smort, ns * sizeof *smort);
    kifmm__free(&t->alloc, tmort, nt * sizeof *tmort);
    smort = tmort = NULL;
    KIFMM__TALLOC(t, t->colleague, 27 * (size_t)t->nboxes);
    kifmm__colleagues(t);
    if (!kifmm__collect_leaves(t)) goto oom;
    t2 = kifmm__now();
    if ((st = kifmm__build_list(t, KIFMM__U, &t->u_off, &t->u_idx, &t->u_max)) != KIFMM_OK ||
        (st = kifmm__build_list(t, KIFMM__V, &t->v_off, &t->v_idx, &t->v_max)) != KIFMM_OK ||
        (st = kifmm__build_list(t, KIFMM__W, &t->w_off, &t->w_idx, &t->w_max)) != KIFMM_OK ||
        (st = kifmm__build_list(t, KIFMM__X, &t->x_off, &t->x_idx, &t->x_max)) != KIFMM_OK)
        goto fail;
    st = KIFMM_ERR_OUT_OF_MEMORY;
    if (!kifmm__group_m2l(t)) goto oom;
    t->seconds_sort = t1 - t0;
    t->seconds_boxes = t2 - t1;
    t->seconds_lists = kifmm__now() - t2;
    return KIFMM_OK;
oom:
    st = KIFMM_ERR_OUT_OF_MEMORY;
    if (opt && opt->agree && stage == 0) opt->agree(opt->user, 0);   /* the other ranks wait for it */
fail:
    for (l = 0; l <= KIFMM_MAX_DEPTH; l++) kifmm__u64vec_free(&split[l], &t->alloc);
    kifmm__free(&t->alloc, smort, ns * sizeof *smort);
    kifmm__free(&t->alloc, tmort, nt * sizeof *tmort);
    kifmm__tree_free(t);
    return st;
}

KIFMM__FN kifmm_status kifmm__tree_build_ex(kifmm_tree *t, const kifmm_allocator *alloc,
                                           const double *sources, size_t ns,
                                           const double *targets, size_t nt,
                                           int leaf_size, int max_depth, int flags, const double *box,
                                           size_t *bad_index) {
    return kifmm__tree_build_opt(t, alloc, sources, ns, targets, nt, leaf_size, max_depth, flags, box, bad_index, NULL);
}

KIFMM__FN kifmm_status kifmm__tree_build(kifmm_tree *t, const kifmm_allocator *alloc,
                                        const double *sources, size_t ns,
                                        const double *targets, size_t nt,
                                        int leaf_size, int max_depth, size_t *bad_index) {
    return kifmm__tree_build_ex(t, alloc, sources, ns, targets, nt, leaf_size, max_depth, 0, NULL, bad_index);
}

KIFMM__FN void kifmm__tree_box_center(const kifmm_tree *t, int box, double c[3], double *hw) {
    uint32_t a[3];
    int l, d;
    double cell;
    kifmm__key_decode(t->key[box], a, &l);
    cell = 2 * t->half_width / (double)((uint64_t)1 << KIFMM_MAX_DEPTH);
    *hw = t->half_width / (double)((uint64_t)1 << l);
    for (d = 0; d < 3; d++) c[d] = t->center[d] - t->half_width + cell * a[d] + *hw;
}

#endif /* the tree's internals */

/* ==== API: public entry points of the tree (KIFMM_TREE_IMPLEMENTATION only) ================== */
/* (a KIFMM_STATIC copy of kifmm, private to its file, has them too: nothing to clash with) */
#if (defined(KIFMM_TREE_IMPLEMENTATION) || (defined(KIFMM_STATIC) && defined(KIFMM_IMPLEMENTATION))) && \
    !defined(KIFMM_TREE_API_IMPLEMENTED)
#define KIFMM_TREE_API_IMPLEMENTED
KIFMM_DEF uint64_t kifmm_key_encode(const uint32_t anchor[3], int level) { return kifmm__key_encode(anchor, level); }
KIFMM_DEF void kifmm_key_decode(uint64_t key, uint32_t anchor[3], int *level) { kifmm__key_decode(key, anchor, level); }
KIFMM_DEF int kifmm_key_level(uint64_t key) { return kifmm__key_level(key); }
KIFMM_DEF uint64_t kifmm_key_parent(uint64_t key) { return kifmm__key_parent(key); }
KIFMM_DEF uint64_t kifmm_key_child(uint64_t key, int octant) { return kifmm__key_child(key, octant); }
KIFMM_DEF int kifmm_key_neighbours(uint64_t key, uint64_t out[26]) { return kifmm__key_neighbours(key, out); }
KIFMM_DEF int kifmm_key_is_ancestor(uint64_t a, uint64_t d) { return kifmm__key_is_ancestor(a, d); }
KIFMM_DEF int kifmm_transfer_index(int dx, int dy, int dz) { return kifmm__transfer_index(dx, dy, dz); }
KIFMM_DEF void kifmm_transfer_vector(int t, int d[3]) { kifmm__transfer_vector(t, d); }
KIFMM_DEF kifmm_status kifmm_tree_build(kifmm_tree *tree, const kifmm_allocator *alloc, const double *sources,
                                        size_t nsources, const double *targets, size_t ntargets, int leaf_size,
                                        int max_depth, size_t *bad_index) {
    return kifmm__tree_build(tree, alloc, sources, nsources, targets, ntargets, leaf_size, max_depth, bad_index);
}
KIFMM_DEF kifmm_status kifmm_tree_build_ex(kifmm_tree *tree, const kifmm_allocator *alloc, const double *sources,
                                           size_t nsources, const double *targets, size_t ntargets, int leaf_size,
                                           int max_depth, int flags, const double *box, size_t *bad_index) {
    return kifmm__tree_build_ex(tree, alloc, sources, nsources, targets, ntargets, leaf_size, max_depth, flags,
                                box, bad_index);
}
KIFMM_DEF void kifmm_tree_free(kifmm_tree *tree) { kifmm__tree_free(tree); }
KIFMM_DEF void kifmm_tree_box_center(const kifmm_tree *tree, int box, double c[3], double *half_width) {
    kifmm__tree_box_center(tree, box, c, half_width);
}
#endif /* KIFMM_TREE_IMPLEMENTATION */

/*
MIT License

Copyright (c) 2026 the kifmm authors

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
*/
