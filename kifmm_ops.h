/* kifmm_ops.h - kernels, surfaces, dense linear algebra and the FMM operators of kifmm.
   Part of kifmm, MIT licence at the end of kifmm_tree.h.

   USAGE
     #define KIFMM_OPS_IMPLEMENTATION (or KIFMM_IMPLEMENTATION) in one .c file, then include.
     Define KIFMM_USE_CBLAS to route the default GEMM through cblas_dgemm (<cblas.h>).

   All matrices are column-major, as BLAS. Everything below the public types is internal (static,
   kifmm__ names) and exists only where an implementation is switched on.

   WHERE THINGS ARE (grep the markers)
     ==== DECLARATIONS   public: GEMM hook, kernels (kifmm_kernel), kifmm_op; internal: the
                         operator set (kifmm__ops), the evaluation state (kifmm__eval), prototypes
     ==== LINEAR ALGEBRA GEMM (built-in, hook, CBLAS), Householder QR and TSQR, the Jacobi SVD,
                         pseudo-inverse, random numbers, randomized SVD
     ==== KERNELS        kifmm__interact: the SIMD vectors, Laplace / Yukawa (radial), Stokes,
                         user kernels; the exact reference kifmm__direct_one
     ==== SURFACES       the order-p surface points
     ==== PRECOMPUTE     radial kernels: kernel matrices, the fat matrix, parity sectors, the
                         check-to-equivalent pinv (kifmm__pinv_parity), the shell basis
                         (kifmm__basis_parity), M2M / L2L by reflection, the M2L cores and their
                         recompression, orbits by the cube's symmetries (kifmm__ops_m2l); any
                         kernel: kifmm__ops_build_generic; kifmm__ops_build
     ==== EVALUATION     buffers (kifmm__eval_init), P2M, M2M, M2L (kifmm__m2l_block_run), P2L,
                         L2L, the leaf pass (L2P, M2P, X, P2P: kifmm__op_leaves)
*/
#ifndef KIFMM_OPS_H
#define KIFMM_OPS_H

#include "kifmm_tree.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== DECLARATIONS ============================================================================ */
typedef void (*kifmm_dgemm_fn)(int trans_a, int trans_b,       /* 0 = 'N', 1 = 'T' */
                               int m, int n, int k, double alpha,
                               const double *a, int lda,
                               const double *b, int ldb,
                               double beta, double *c, int ldc,
                               void *user);                       /* column-major, as BLAS */

typedef struct kifmm_blas {
    kifmm_dgemm_fn dgemm;      /* NULL = default (see KIFMM_USE_CBLAS) */
    void *user;
} kifmm_blas;

/* The kernel: built-in, or the caller's. It must be translation invariant (a function of t - s)
   and the fundamental solution of an elliptic PDE (what the kernel-independent FMM assumes: the
   field of sources inside a box is reproduced outside it by densities on a surface around it). */
typedef enum kifmm_kernel_kind {
    KIFMM_KERNEL_LAPLACE = 0,  /* 1 / (4 pi r) */
    KIFMM_KERNEL_YUKAWA,       /* exp(-lambda r) / (4 pi r), lambda = param > 0 (modified Helmholtz) */
    KIFMM_KERNEL_STOKES,       /* Stokeslet (delta_ab / r + r_a r_b / r^3) / (8 pi mu), mu = param (0 = 1);
                                  sdim = tdim = 3: forces in, velocities out */
    KIFMM_KERNEL_USER          /* the caller's eval below */
} kifmm_kernel_kind;

/* Adds into values: values[j*tdim + a] += sum_i sum_b K_ab(t_j - s_i) densities[i*sdim + b],
   with t and s interleaved xyz. A pair at zero distance must contribute nothing.
   Called from several threads at once (it must be thread-safe); it may be called with ns or nt = 0. */
typedef void (*kifmm_kernel_fn)(const double *targets, size_t nt,
                                const double *sources, size_t ns,
                                const double *densities, double *values, void *user);

#define KIFMM_INV_4PI 0.079577471545947667884   /* 1 / (4 pi): Laplace's and Yukawa's factor */

enum kifmm_op { KIFMM_OP_P2M, KIFMM_OP_M2M, KIFMM_OP_M2L, KIFMM_OP_L2L,
                KIFMM_OP_L2P, KIFMM_OP_M2P, KIFMM_OP_P2L, KIFMM_OP_P2P };   /* kifmm_stats.seconds_op */

typedef struct kifmm_kernel {  /* all-zero = Laplace */
    kifmm_kernel_kind kind;
    double param;              /* lambda (Yukawa), mu (Stokes) */
    /* KIFMM_KERNEL_USER only: */
    int    source_dim;         /* sdim, 1..9 */
    int    target_dim;         /* tdim, 1..9 */
    double homogeneity;        /* h with K(a r) = a^h K(r) for all a > 0; NAN when there is none */
    kifmm_kernel_fn eval;
    void  *user;
} kifmm_kernel;

#ifdef __cplusplus
}
#endif
#endif /* KIFMM_OPS_H */

/* =========================================================================================== */
#if (defined(KIFMM_OPS_IMPLEMENTATION) || defined(KIFMM_IMPLEMENTATION)) && !defined(KIFMM_OPS_IMPLEMENTED)
#define KIFMM_OPS_IMPLEMENTED
#include "kifmm_tree.h"      /* the tree's internals (its implementation guard emits them once) */

#include <stdlib.h>
#include <string.h>
#include <math.h>
#ifdef KIFMM_USE_CBLAS
#include <cblas.h>
#endif

/* ---- dense linear algebra (column-major) ------------------------------------------------- */
/* C = alpha*op(A)*op(B) + beta*C, op = identity (0) or transpose (1). Dispatch: blas->dgemm hook
   if set, else cblas_dgemm under KIFMM_USE_CBLAS, else kifmm__dgemm_builtin. blas may be NULL.
   m, n or k may be 0 (k == 0: C = beta*C); beta == 0 overwrites C even if it held NaN. */
KIFMM__FN void kifmm__dgemm(const kifmm_blas *blas, int ta, int tb, int m, int n, int k, double alpha,
                            const double *a, int lda, const double *b, int ldb, double beta, double *c, int ldc);
/* Portable packed, cache-blocked GEMM with a register-blocked micro-kernel. Single-threaded. */
KIFMM__FN void kifmm__dgemm_local(const kifmm_blas *blas, int ta, int tb, int m, int n, int k, double alpha,
                                  const double *a, int lda, const double *b, int ldb, double beta,
                                  double *c, int ldc);
KIFMM__FN void kifmm__dgemm_builtin(int ta, int tb, int m, int n, int k, double alpha,
                            const double *a, int lda, const double *b, int ldb, double beta, double *c, int ldc);

/* Blocked Householder QR of A (m x n, m >= n). A is overwritten by the thin Q; r (optional)
   receives the n x n upper-triangular R with zeros below the diagonal. */
KIFMM__FN kifmm_status kifmm__qr(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n,
                                 double *a, int lda, double *r, int ldr);

/* SVD A = U diag(s) V^T, r = min(m, n): u is m x r, s descending (r entries), v is n x r (not
   transposed); u or v may be NULL. QR, pivoted QR of R, one-sided Jacobi on R2^T. A is not modified. */
KIFMM__FN kifmm_status kifmm__svd(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n,
                                  const double *a, int lda, double *u, int ldu, double *s, double *v, int ldv);

/* Two-factor pseudo-inverse: keep s_i > rcond*s_0; x1 = V S^+ (n x rank, ld n), x2 = U^T (rank x m,
   ld rank), pinv(A) = x1*x2. x1 needs n*min(m,n) doubles, x2 min(m,n)*m. */
KIFMM__FN kifmm_status kifmm__pinv(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n,
                                   const double *a, int lda, double rcond, double *x1, double *x2, int *rank);

/* Seeded generator: xoshiro256** seeded through splitmix64; normals by the polar method. */
typedef struct kifmm__rng { uint64_t s[4]; double spare; int has_spare; } kifmm__rng;
KIFMM__FN void     kifmm__rng_seed(kifmm__rng *r, uint64_t seed);
KIFMM__FN uint64_t kifmm__rng_next(kifmm__rng *r);
KIFMM__FN double   kifmm__rng_uniform(kifmm__rng *r);   /* [0, 1) */
KIFMM__FN double   kifmm__rng_normal(kifmm__rng *r);

/* Action of an m x n matrix A: trans == 0: y (m x ncols, ld ldy) = A x (x is n x ncols, ld ldx);
   trans == 1: y (n x ncols) = A^T x (x is m x ncols). May use OpenMP inside. */
typedef void (*kifmm__apply_fn)(int trans, int ncols, const double *x, int ldx, double *y, int ldy, void *ctx);

/* Randomized SVD (Halko-Martinsson-Tropp 2011, Alg. 4.4 + 5.1): l = min(k + oversample, m, n)
   Gaussian test vectors from seed, power_iters re-orthonormalised power iterations, then the SVD of
   the small projected matrix. u (m x k, ld m) gets the left singular vectors, s (k) the values in
   descending order. Needs 1 <= k <= min(m, n). Reproducible: same seed, same bits. */
KIFMM__FN kifmm_status kifmm__rsvd(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n,
                                   kifmm__apply_fn apply, void *ctx, int k, int oversample, int power_iters,
                                   uint64_t seed, double *u, double *s);


/* ---- kernel and surfaces ------------------------------------------------------------------ */

/* pot[i] += sum_j q[j] G(t_i, s_j) and, if gx != NULL, the gradient w.r.t. t_i into gx, gy, gz.
   Points as structure of arrays; a source at exactly a target contributes nothing. */
KIFMM__FN void kifmm__p2p(const double *sx, const double *sy, const double *sz, const double *q, size_t ns,
                          const double *tx, const double *ty, const double *tz, size_t nt,
                          double *pot, double *gx, double *gy, double *gz);

/* K[i + j*ldk] = G(t_i, s_j) for structure-of-arrays points (ld = point count) */
KIFMM__FN void kifmm__kernel_matrix(const double *t, int nt, const double *s, int ns, double *k, int ldk);

KIFMM__FN int  kifmm__surface_size(int order);                  /* 6 (p-1)^2 + 2 */
/* the lattice points on the boundary of [-1,1]^3, structure of arrays (x[n], y[n], z[n]) */
KIFMM__FN void kifmm__surface(int order, double *s);
/* out = c + scale * ref, structure of arrays */
KIFMM__FN void kifmm__surface_at(const double *ref, int n, const double c[3], double scale, double *out);

#ifndef KIFMM__C2E_RCOND
#define KIFMM__C2E_RCOND (4 * DBL_EPSILON)   /* relative cut-off of the check-to-equivalent pinv */
#endif
/* the same for the kernels without the radial symmetry (their pinv is one dense SVD, whose values
   below about 1e-12 of the largest are noise): measured on the Stokeslet's 3 x 3 blocks, p = 6..8
   (as the built-in Stokes was before its harmonic far field), the error falls from
   5.6e-3 (p = 7, cut 4 eps: the noise amplified) to 3e-6 with a cut between 1e-11 and 1e-7 */
#ifndef KIFMM__C2E_RCOND_GENERIC
#define KIFMM__C2E_RCOND_GENERIC 1e-8
#endif
#ifndef KIFMM__M2L_BLOCK           /* (the chunked test builds with a tiny one) */
#define KIFMM__M2L_BLOCK 512      /* target boxes per M2L task: more targets per vector in each
                                     GEMM (sparse levels: the sphere's M2L 0.32 -> 0.27 s against
                                     256); 2048 is slower on the cube (its buffers leave L2) */
#endif
#ifndef KIFMM__LEAF_CHUNK          /* (a test builds with a tiny one) */
#define KIFMM__LEAF_CHUNK 1024    /* columns per batched P2M / L2P / M2M / L2L GEMM: 2 n of them
                                     buffered (p = 8: 4.6 MiB); 4096 measured no faster */
#endif
#ifndef KIFMM__TGT_BLOCK           /* (a test builds with a tiny one) */
#define KIFMM__TGT_BLOCK 512      /* targets per block of the leaf pass (a leaf with more takes several) */
#endif
#define KIFMM_RADIUS_INNER 1.05   /* upward equivalent, downward check */
#define KIFMM_RADIUS_OUTER 2.95   /* upward check, downward equivalent */

/* ---- the kernel as data -------------------------------------------------------------------- */
typedef struct kifmm__kernel {
    int    kind;                  /* KIFMM_KERNEL_* */
    int    sdim, tdim;            /* densities per source, values per target */
    double lambda;                /* Yukawa screening, in the units of the points it is applied to */
    double c;                     /* 1 / (4 pi), or 1 / (8 pi mu) for Stokes */
    double h;                     /* homogeneity degree; NaN: none */
    kifmm_kernel_fn eval;         /* user kernels */
    void  *user;
} kifmm__kernel;

/* ---- precomputed operators: one set on a box of half-width w0 ------------------------------
   A homogeneous kernel (K(a r) = a^h K(r)) has one set on the unit box for every level; the
   others one set per level of the tree. Yukawa's sets stay on the unit box with the level's
   screening lambda w (its kernel at half-width w is that one / w: h = -1 there too); a user
   kernel without homogeneity gets sets built at the level's own half-width (w0 = w, h = 0).
   At half-width w a check-to-equivalent solve scales by (w / w0)^-h and an M2L by (w / w0)^h;
   M2M and L2L do not scale. */
typedef struct kifmm__ops {
    kifmm_allocator alloc;
    kifmm__kernel kern;           /* the kernel of this set, on its box */
    int     order, n;             /* expansion order, surface points */
    int     ne, nc;               /* an equivalent vector (n sdim) and a check vector (n tdim): component planes */
    double  w0, h;
    double *surf;                 /* reference surface, 3n, structure of arrays */
    int     c2e_rank, dc2e_rank;
    double *c2e_v, *c2e_u;        /* upward pinv(K(check, equivalent)) = c2e_v (ne x r) c2e_u (r x nc) */
    double *dc2e_v, *dc2e_u;      /* downward one, the same way; NULL for a symmetric kernel, whose downward
                                     check-to-equivalent is the upward one's transpose */
    double *m2m;                  /* ne x 8ne: parent equivalent from the 8 children's, stacked */
    double *l2l;                  /* 8nc x nc: the 8 children's check vectors from the parent's */
    int     k;                    /* M2L rank */
    double *m2l_u;                /* nc x k: expands compressed locals into check vectors */
    double *m2l_v;                /* ne x k: compresses multipoles; m2l_u itself (not a copy) for a symmetric kernel */
    double *m2l_c;                /* the 316 cores, K_t ~ U C_t V^T, at m2l_c + m2l_coff[t]: C_t itself
                                     (k x k) when m2l_r[t] == k, else factors A_t (k x r) then B_t^T
                                     (r x k), C_t ~ A_t B_t^T; r == 0: negligible at the tolerance */
    int    *m2l_r;                /* 316 core ranks */
    int     m2l_orbits;           /* 1: the cores came from the 16 orbits' by symmetry, 0: all formed */
    size_t *m2l_coff;             /* 317 offsets into m2l_c */
    int     nsigma;
    double *sigma;                /* singular values of the shell's [K_t ...] (see kifmm__ops_basis) */
    double *uscratch;             /* while a user kernel's set is built: kifmm__kmat's per-thread buffers */
    size_t  uscratch_len;         /* doubles per thread */
    size_t  bytes;
} kifmm__ops;

/* m2l_rank > 0 fixes k; else k = #(sigma_i > m2l_tolerance * sigma_0). kern: the kernel on the
   set's box (w0, and for Yukawa the screening of that box). with_m2l = 0: no M2L operators (the
   sets of levels 0 and 1, which have no V lists). */
KIFMM__FN kifmm_status kifmm__ops_build(kifmm__ops *ops, const kifmm_allocator *alloc, const kifmm_blas *blas,
                                        const kifmm__kernel *kern, double w0, int order, int m2l_rank,
                                        double m2l_tolerance, uint64_t seed, int with_m2l);
KIFMM__FN void kifmm__ops_free(kifmm__ops *ops);

/* ---- evaluation state ------------------------------------------------------------------------ */
/* one evaluation: what the sources carry, what the targets want, the caller's output arrays */
typedef struct kifmm__call {
    int     nd;                   /* density sets of the passes (Stokes by harmonics: 4 per caller's set) */
    int     has_q, has_dip;
    int     want_grad, want_hess; /* what the passes' field at the targets includes */
    double *pot, *grad, *hess;    /* the caller's arrays (layouts of kifmm_eval_desc); any may be NULL */
} kifmm__call;

typedef struct kifmm__eval {
    const kifmm__ops *ops;        /* nops sets: one for every level, or ops[l] for level l */
    int     nops;
    const kifmm_tree *tree;
    kifmm__kernel kern;           /* the kernel at the points' own scale: the operators' */
    kifmm__kernel near;           /* the U list's: kern, or Stokes when harm */
    int     harm;                 /* Stokes by four Laplace densities per set (kifmm__harm_combine) */
    double  harm_c[3];            /* the centre of the fourth density's moments: the root's */
    kifmm_blas blas;
    int     nthreads;             /* parallel regions use at most this many threads */
    int     ndmax, sdim, tdim;    /* config.nd (harm: 4 config.nd); the operators' kernel's dimensions */
    int     n, ne, nc;            /* surface points, equivalent and check vector lengths */
    double *equiv;                /* upward equivalent vectors, [d][box][ne] */
    double *check;                /* downward check vectors, [d][box][nc] */
    double *q;                    /* densities in sorted source order, planes [d][b][i] */
    double *dip;                  /* dipoles in sorted source order, planes [d][c][i]; NULL: the kernel takes none */
    double *leafbuf;              /* 2 max(ne, nc) x (leaf_cols ndmax): batched solves, M2M, L2L */
    int    *leaf_src, *leaf_tgt;  /* leaves with sources, with targets, in box (level) order */
    int     nleaf_src, nleaf_tgt;
    /* distributed (kifmm_mpi.h): per level, the boxes this rank works on, [own lo, own hi) (M2M and
       L2L parents, M2L targets); on one node (has_range 0) every box of the level */
    int     has_range, range[KIFMM_MAX_DEPTH + 1][2];
    /* where each box's multipole and local vectors live: slot[b] of nslot per density set, or -1
       (not stored); slots follow box order, so level l's are slot_off[l] .. + slot_cnt[l] - 1. On
       one node slot is NULL: every box, slot = box; a distributed rank stores only what it reads */
    int    *slot;
    size_t  slot_off[KIFMM_MAX_DEPTH + 1], slot_cnt[KIFMM_MAX_DEPTH + 1], nslot;
    int     leaf_cols;            /* leaves per batched GEMM */
    double *m2l_buf;              /* compressed multipoles of a level, [box][d][k]: a box's sets together */
    size_t  m2l_level_max;
    int     m2l_block;            /* target boxes per M2L task: KIFMM__M2L_BLOCK / ndmax */
    const double **m2l_src;       /* per thread, m2l_block ndmax each: an M2L task's GEMM columns */
    double **m2l_dst;
    size_t  tgt_block;            /* targets per block of the leaf pass */
    double *thread_buf;           /* per thread: see kifmm__thread_parts */
    size_t  thread_len;
    kifmm__call call;
    size_t  bytes;
} kifmm__eval;

/* near: the U list's kernel when it differs from the operators' kern (only Stokes near a Laplace
   far field: harm), else NULL */
/* stored: per box, whether its vectors are kept (distributed: the rank's own boxes, their
   parents' other children, and what its lists read), or NULL for every box */
KIFMM__FN kifmm_status kifmm__eval_init(kifmm__eval *e, const kifmm__ops *ops, int nops, const kifmm_tree *tree,
                                        const kifmm__kernel *kern, const kifmm__kernel *near, const kifmm_blas *blas,
                                        int nthreads, int ndmax, const unsigned char *stored);
/* the slot of box b's vectors (kifmm__eval.slot) */
KIFMM__FN size_t kifmm__slot(const kifmm__eval *e, int b);
KIFMM__FN void kifmm__eval_free(kifmm__eval *e, const kifmm_allocator *alloc);

/* The passes. Upward: P2M, M2M; across: M2L, P2L (into check vectors); downward: L2L; then the
   leaf pass: for each leaf with targets, block by block, L2P, M2P (W), the X list taken directly,
   and P2P (U) into a thread-local block, written once into the caller's arrays. */
#define KIFMM__LEAF_L2P 1
#define KIFMM__LEAF_M2P 2
#define KIFMM__LEAF_X   4
#define KIFMM__LEAF_P2P 8
#define KIFMM__LEAF_ALL 15
KIFMM__FN void kifmm__op_p2m(kifmm__eval *e);              /* leaves: particles -> equivalent */
KIFMM__FN void kifmm__op_m2m(kifmm__eval *e, int level);   /* children at level -> parents */
KIFMM__FN void kifmm__op_m2l(kifmm__eval *e, int level);   /* V list of the boxes of a level */
KIFMM__FN void kifmm__op_p2l(kifmm__eval *e);              /* X list of boxes with many targets */
KIFMM__FN void kifmm__op_l2l(kifmm__eval *e, int level);   /* parents at level -> children */
/* the leaf pass with the parts in mask; adds each part's time (per thread, averaged) to sec[] */
KIFMM__FN void kifmm__op_leaves(kifmm__eval *e, unsigned mask, double sec[8]);


/* ==== LINEAR ALGEBRA ========================================================================== */
/* ---- dense linear algebra: GEMM ------------------------------------------------------------ */
/* Blocking of the built-in GEMM: an MC x KC block of op(A) (64 KB, L2) times a KC x NC block of
   op(B) (64 KB), both packed into stack buffers, swept by an MR x NR register tile. Measured on
   the shapes QR and rSVD use (square, k >> m, n and m >> n, k): larger blocks gain nothing. */
#if defined(__AVX512F__)
#include <immintrin.h>
#define KIFMM__GEMM_MR 8          /* one zmm of A, 8 accumulators */
#define KIFMM__GEMM_NR 8
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KIFMM__GEMM_MR 8          /* two ymm of A, 12 accumulators */
#define KIFMM__GEMM_NR 6
#else
#define KIFMM__GEMM_MR 4
#define KIFMM__GEMM_NR 4
#endif
#define KIFMM__GEMM_KC 128
#define KIFMM__GEMM_MC 64
#define KIFMM__GEMM_NC 96

/* C(m x n) = beta*C; beta == 0 overwrites (so NaN in C does not survive). */
static void kifmm__la_scale_c(int m, int n, double beta, double *c, int ldc) {
    int i, j;
    for (j = 0; j < n; ++j) {
        double *cj = c + (size_t)j * ldc;
        if (beta == 0.0) for (i = 0; i < m; ++i) cj[i] = 0.0;
        else if (beta != 1.0) for (i = 0; i < m; ++i) cj[i] *= beta;
    }
}

/* Pack `count` rows (or columns) of depth kc into panels of w, each stored p-major (w consecutive
   values per p), zero-padded at the edge: element (i, p) is at x[i*si + p*sp]. A contiguous panel
   slice (si == 1) is copied whole; a transposed one (sp == 1) is read along its contiguous side.
   op(A) (mc x kc) packs with w = MR, si = its row stride; op(B) (kc x nc) with w = NR, si = its
   column stride. */
static void kifmm__la_pack(int w, int count, int kc, const double *x, size_t si, size_t sp, double *out) {
    int i0, i, p;
    for (i0 = 0; i0 < count; i0 += w, out += (size_t)w * kc) {
        int wr = count - i0 < w ? count - i0 : w;
        const double *xi = x + (size_t)i0 * si;
        if (wr == w && si == 1)
            for (p = 0; p < kc; ++p) memcpy(out + (size_t)p * w, xi + p * sp, (size_t)w * sizeof *out);
        else if (wr == w && sp == 1)
            for (i = 0; i < w; ++i)
                for (p = 0; p < kc; ++p) out[(size_t)p * w + i] = xi[i * si + p];
        else
            for (p = 0; p < kc; ++p) {
                for (i = 0; i < wr; ++i) out[(size_t)p * w + i] = xi[i * si + p * sp];
                for (; i < w; ++i) out[(size_t)p * w + i] = 0.0;
            }
    }
}

#if defined(__AVX512F__)
/* MR x NR tile with FMA: per k, one vector of A against NR broadcasts of B */
static void kifmm__la_micro(int kc, const double *ap, const double *bp, double *acc) {
    __m512d c0 = _mm512_setzero_pd(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    int p;
    for (p = 0; p < kc; ++p, ap += 8, bp += 8) {
        __m512d a = _mm512_loadu_pd(ap);
        c0 = _mm512_fmadd_pd(a, _mm512_set1_pd(bp[0]), c0);
        c1 = _mm512_fmadd_pd(a, _mm512_set1_pd(bp[1]), c1);
        c2 = _mm512_fmadd_pd(a, _mm512_set1_pd(bp[2]), c2);
        c3 = _mm512_fmadd_pd(a, _mm512_set1_pd(bp[3]), c3);
        c4 = _mm512_fmadd_pd(a, _mm512_set1_pd(bp[4]), c4);
        c5 = _mm512_fmadd_pd(a, _mm512_set1_pd(bp[5]), c5);
        c6 = _mm512_fmadd_pd(a, _mm512_set1_pd(bp[6]), c6);
        c7 = _mm512_fmadd_pd(a, _mm512_set1_pd(bp[7]), c7);
    }
    _mm512_storeu_pd(acc, c0); _mm512_storeu_pd(acc + 8, c1); _mm512_storeu_pd(acc + 16, c2);
    _mm512_storeu_pd(acc + 24, c3); _mm512_storeu_pd(acc + 32, c4); _mm512_storeu_pd(acc + 40, c5);
    _mm512_storeu_pd(acc + 48, c6); _mm512_storeu_pd(acc + 56, c7);
}
#elif defined(__AVX2__) && defined(__FMA__)
static void kifmm__la_micro(int kc, const double *ap, const double *bp, double *acc) {
    __m256d z = _mm256_setzero_pd();
    __m256d c00 = z, c10 = z, c01 = z, c11 = z, c02 = z, c12 = z, c03 = z, c13 = z, c04 = z, c14 = z, c05 = z, c15 = z;
    int p;
    for (p = 0; p < kc; ++p, ap += 8, bp += 6) {
        __m256d a0 = _mm256_loadu_pd(ap), a1 = _mm256_loadu_pd(ap + 4), b;
        b = _mm256_broadcast_sd(bp); c00 = _mm256_fmadd_pd(a0, b, c00); c10 = _mm256_fmadd_pd(a1, b, c10);
        b = _mm256_broadcast_sd(bp + 1); c01 = _mm256_fmadd_pd(a0, b, c01); c11 = _mm256_fmadd_pd(a1, b, c11);
        b = _mm256_broadcast_sd(bp + 2); c02 = _mm256_fmadd_pd(a0, b, c02); c12 = _mm256_fmadd_pd(a1, b, c12);
        b = _mm256_broadcast_sd(bp + 3); c03 = _mm256_fmadd_pd(a0, b, c03); c13 = _mm256_fmadd_pd(a1, b, c13);
        b = _mm256_broadcast_sd(bp + 4); c04 = _mm256_fmadd_pd(a0, b, c04); c14 = _mm256_fmadd_pd(a1, b, c14);
        b = _mm256_broadcast_sd(bp + 5); c05 = _mm256_fmadd_pd(a0, b, c05); c15 = _mm256_fmadd_pd(a1, b, c15);
    }
    _mm256_storeu_pd(acc, c00); _mm256_storeu_pd(acc + 4, c10); _mm256_storeu_pd(acc + 8, c01);
    _mm256_storeu_pd(acc + 12, c11); _mm256_storeu_pd(acc + 16, c02); _mm256_storeu_pd(acc + 20, c12);
    _mm256_storeu_pd(acc + 24, c03); _mm256_storeu_pd(acc + 28, c13); _mm256_storeu_pd(acc + 32, c04);
    _mm256_storeu_pd(acc + 36, c14); _mm256_storeu_pd(acc + 40, c05); _mm256_storeu_pd(acc + 44, c15);
}
#else
/* The 4 x 4 register tile: 16 named accumulators so that the compiler keeps them in registers
   (the SLP vectoriser pairs them into SIMD registers at -O2). */
static void kifmm__la_micro(int kc, const double *ap, const double *bp, double acc[16]) {
    double c00 = 0, c10 = 0, c20 = 0, c30 = 0, c01 = 0, c11 = 0, c21 = 0, c31 = 0;
    double c02 = 0, c12 = 0, c22 = 0, c32 = 0, c03 = 0, c13 = 0, c23 = 0, c33 = 0;
    int p;
    for (p = 0; p < kc; ++p, ap += 4, bp += 4) {
        double a0 = ap[0], a1 = ap[1], a2 = ap[2], a3 = ap[3], b;
        b = bp[0]; c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b;
        b = bp[1]; c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b;
        b = bp[2]; c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b;
        b = bp[3]; c03 += a0 * b; c13 += a1 * b; c23 += a2 * b; c33 += a3 * b;
    }
    acc[0] = c00; acc[1] = c10; acc[2] = c20; acc[3] = c30;
    acc[4] = c01; acc[5] = c11; acc[6] = c21; acc[7] = c31;
    acc[8] = c02; acc[9] = c12; acc[10] = c22; acc[11] = c32;
    acc[12] = c03; acc[13] = c13; acc[14] = c23; acc[15] = c33;
}
#endif

/* Pack columns given by pointers, rows p0 .. p0+kc-1 of each, as kifmm__la_pack packs op(B). */
static void kifmm__la_pack_cols(int w, int count, int kc, const double *const *cols, int p0, double *out) {
    int i0, i, p;
    for (i0 = 0; i0 < count; i0 += w, out += (size_t)w * kc) {
        int wr = count - i0 < w ? count - i0 : w;
        for (i = 0; i < w; ++i) {
            const double *x = i < wr ? cols[i0 + i] + p0 : NULL;
            for (p = 0; p < kc; ++p) out[(size_t)p * w + i] = x ? x[p] : 0.0;
        }
    }
}

/* C(mr x nr) = beta*C + alpha*acc; beta == 0 never reads C. Column j of C is c + j ldc, or
   cols[j] + row when cols is given. */
static void kifmm__la_store_tile(const double *acc, int mr, int nr, double alpha, double beta,
                              double *c, int ldc, double *const *cols, int row) {
    int i, j;
    for (j = 0; j < nr; ++j) {
        double *cj = cols ? cols[j] + row : c + (size_t)j * ldc;
        const double *aj = acc + j * KIFMM__GEMM_MR;
        if (beta == 0.0) for (i = 0; i < mr; ++i) cj[i] = alpha * aj[i];
        else if (beta == 1.0) for (i = 0; i < mr; ++i) cj[i] += alpha * aj[i];
        else for (i = 0; i < mr; ++i) cj[i] = beta * cj[i] + alpha * aj[i];
    }
}

/* One packed MC x KC block of A against one packed KC x NC block of B (C as in store_tile). */
static void kifmm__la_macro(int mc, int nc, int kc, double alpha, const double *ap, const double *bp,
                         double beta, double *c, int ldc, double *const *cols, int row) {
    double acc[KIFMM__GEMM_MR * KIFMM__GEMM_NR];
    int ir, jr;
    for (jr = 0; jr < nc; jr += KIFMM__GEMM_NR) {
        int nr = nc - jr < KIFMM__GEMM_NR ? nc - jr : KIFMM__GEMM_NR;
        for (ir = 0; ir < mc; ir += KIFMM__GEMM_MR) {
            int mr = mc - ir < KIFMM__GEMM_MR ? mc - ir : KIFMM__GEMM_MR;
            kifmm__la_micro(kc, ap + (size_t)ir * kc, bp + (size_t)jr * kc, acc);
            kifmm__la_store_tile(acc, mr, nr, alpha, beta, cols ? NULL : c + ir + (size_t)jr * ldc, ldc,
                                 cols ? cols + jr : NULL, row + ir);
        }
    }
}

/* The built-in GEMM; the columns of B and of C may instead be given by pointers (bcols, ccols,
   B then not transposed), gathered in the packing and scattered by the tile stores: the M2L's
   per-vector products read and accumulate in place, with no copies around them. */
static void kifmm__la_gemm(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
                           const double *b, int ldb, const double *const *bcols, double beta, double *c,
                           int ldc, double *const *ccols) {
    double apack[KIFMM__GEMM_MC * KIFMM__GEMM_KC], bpack[KIFMM__GEMM_KC * KIFMM__GEMM_NC];
    /* strides of op(A)(i,p) and op(B)(p,j) */
    size_t ars = ta ? (size_t)lda : 1, acs = ta ? 1 : (size_t)lda;
    size_t brs = tb ? (size_t)ldb : 1, bcs = tb ? 1 : (size_t)ldb;
    int jc, pc, ic;
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0) {
        if (!ccols) kifmm__la_scale_c(m, n, beta, c, ldc);
        else for (jc = 0; jc < n; ++jc) kifmm__la_scale_c(m, 1, beta, ccols[jc], m);
        return;
    }
    for (jc = 0; jc < n; jc += KIFMM__GEMM_NC) {
        int nc = n - jc < KIFMM__GEMM_NC ? n - jc : KIFMM__GEMM_NC;
        for (pc = 0; pc < k; pc += KIFMM__GEMM_KC) {
            int kc = k - pc < KIFMM__GEMM_KC ? k - pc : KIFMM__GEMM_KC;
            double bb = pc == 0 ? beta : 1.0;      /* later k-blocks accumulate */
            if (bcols) kifmm__la_pack_cols(KIFMM__GEMM_NR, nc, kc, bcols + jc, pc, bpack);
            else kifmm__la_pack(KIFMM__GEMM_NR, nc, kc, b + pc * brs + jc * bcs, bcs, brs, bpack);
            for (ic = 0; ic < m; ic += KIFMM__GEMM_MC) {
                int mc = m - ic < KIFMM__GEMM_MC ? m - ic : KIFMM__GEMM_MC;
                kifmm__la_pack(KIFMM__GEMM_MR, mc, kc, a + ic * ars + pc * acs, ars, acs, apack);
                kifmm__la_macro(mc, nc, kc, alpha, apack, bpack, bb, ccols ? NULL : c + ic + (size_t)jc * ldc, ldc,
                                ccols ? ccols + jc : NULL, ic);
            }
        }
    }
}

KIFMM__FN void kifmm__dgemm_builtin(int ta, int tb, int m, int n, int k, double alpha,
                                    const double *a, int lda, const double *b, int ldb, double beta,
                                    double *c, int ldc) {
    kifmm__la_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, NULL, beta, c, ldc, NULL);
}

#ifndef KIFMM_USE_CBLAS
/* The built-in GEMM is single-threaded; called outside any parallel region with enough work, C is
   split into column (or row) slabs, one per thread. Every element of C sees the same operations in
   the same order whatever the split, so the result is bitwise independent of the thread count. */
static void kifmm__la_dgemm_split(int ta, int tb, int m, int n, int k, double alpha, const double *a,
                                  int lda, const double *b, int ldb, double beta, double *c, int ldc) {
#ifdef _OPENMP
    int nt = omp_get_max_threads(), byc = n >= m, dim = byc ? n : m, chunk, t;
    if (omp_get_level() == 0 && nt > 1 && (double)m * n * k >= 2e6 && dim >= 8) {
        chunk = (dim + nt - 1) / nt;
        chunk = (chunk + 3) / 4 * 4;           /* whole register tiles per slab */
        KIFMM__OMP(omp parallel for schedule(static) num_threads(nt))
        for (t = 0; t < nt; ++t) {
            int lo = t * chunk, len = dim - lo < chunk ? dim - lo : chunk;
            if (len <= 0) continue;
            if (byc) kifmm__dgemm_builtin(ta, tb, m, len, k, alpha, a, lda, b + (size_t)lo * (tb ? 1 : ldb),
                                          ldb, beta, c + (size_t)lo * ldc, ldc);
            else kifmm__dgemm_builtin(ta, tb, len, n, k, alpha, a + (size_t)lo * (ta ? lda : 1), lda, b,
                                      ldb, beta, c + lo, ldc);
        }
        return;
    }
#endif
    kifmm__dgemm_builtin(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#endif

/* GEMM from inside a parallel region: the caller's hook if set (it must be thread-safe), else the
   single-threaded built-in, never a threaded BLAS (threads inside threads oversubscribe the cores) */
KIFMM__FN void kifmm__dgemm_local(const kifmm_blas *blas, int ta, int tb, int m, int n, int k, double alpha,
                                  const double *a, int lda, const double *b, int ldb, double beta,
                                  double *c, int ldc) {
    if (blas && blas->dgemm && m > 0 && n > 0 && k > 0)
        blas->dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, blas->user);
    else
        kifmm__dgemm_builtin(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

KIFMM__FN void kifmm__dgemm(const kifmm_blas *blas, int ta, int tb, int m, int n, int k, double alpha,
                            const double *a, int lda, const double *b, int ldb, double beta,
                            double *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) { kifmm__la_scale_c(m, n, beta, c, ldc); return; }  /* no hook needs to see this */
    if (blas && blas->dgemm) {
        blas->dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, blas->user);
        return;
    }
#ifdef KIFMM_USE_CBLAS
    cblas_dgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
    kifmm__la_dgemm_split(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

/* ---- dense linear algebra: Householder QR ---------------------------------------------------- */
#define KIFMM__LA_QR_NB 32       /* panel width: recursive inside the panel, GEMMs outside */

/* Level-1 kernels. A plain reduction is one long dependency chain that the compiler may not
   reassociate; omp simd lets it (OpenMP builds: the order then depends on the vector width, never
   on the thread count), four partial sums otherwise. */
static double kifmm__la_dot(int n, const double *KIFMM__RESTRICT x, const double *KIFMM__RESTRICT y) {
    int i;
#ifdef _OPENMP
    double s = 0.0;
    KIFMM__OMP(omp simd reduction(+ : s))
    for (i = 0; i < n; ++i) s += x[i] * y[i];
    return s;
#else
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    for (i = 0; i + 4 <= n; i += 4) {
        s0 += x[i] * y[i]; s1 += x[i + 1] * y[i + 1]; s2 += x[i + 2] * y[i + 2]; s3 += x[i + 3] * y[i + 3];
    }
    for (; i < n; ++i) s0 += x[i] * y[i];
    return (s0 + s2) + (s1 + s3);
#endif
}

static void kifmm__la_axpy(int n, double a, const double *KIFMM__RESTRICT x, double *KIFMM__RESTRICT y) {   /* y += a x */
    int i;
    for (i = 0; i + 4 <= n; i += 4) {
        y[i] += a * x[i]; y[i + 1] += a * x[i + 1]; y[i + 2] += a * x[i + 2]; y[i + 3] += a * x[i + 3];
    }
    for (; i < n; ++i) y[i] += a * x[i];
}

/* 2-norm of x[0..n), rescaled only when the plain sum of squares would under/overflow. */
static double kifmm__la_nrm2(int n, const double *x) {
    double ss = kifmm__la_dot(n, x, x), mx = 0.0;
    int i;
    if (ss > 1e-280 && ss < 1e280) return sqrt(ss);
    for (i = 0; i < n; ++i) mx = fabs(x[i]) > mx ? fabs(x[i]) : mx;
    if (mx == 0.0 || mx != mx || mx > 1.7e308) return mx;
    for (ss = 0.0, i = 0; i < n; ++i) ss += (x[i] / mx) * (x[i] / mx);
    return mx * sqrt(ss);
}

/* Reflector H = I - tau v v^T with v[0] = 1 mapping x (length n) to beta e_1 (GVL 5.1.2, sign
   chosen against cancellation). x[0] <- beta, x[1:] <- v[1:]; returns tau (0: H = I). */
static double kifmm__la_house(int n, double *x) {
    double alpha = x[0], xn = n > 1 ? kifmm__la_nrm2(n - 1, x + 1) : 0.0, beta, scal;
    int i;
    if (xn == 0.0) return 0.0;
    beta = -copysign(hypot(alpha, xn), alpha);
    scal = 1.0 / (alpha - beta);
    if (fabs(alpha - beta) >= 1e-300)
        for (i = 1; i < n; ++i) x[i] *= scal;
    else                                       /* the reciprocal would overflow: divide */
        for (i = 1; i < n; ++i) x[i] /= alpha - beta;
    x[0] = beta;
    return (beta - alpha) / beta;
}

/* Level-2 QR of the mr x nb panel p (ld): reflectors below the diagonal, R on and above it. */
static void kifmm__la_qr_leaf(int mr, int nb, double *p, int ld, double *tau) {
    int j, c;
    for (j = 0; j < nb; ++j) {
        double *v = p + j + (size_t)j * ld, t = kifmm__la_house(mr - j, v);
        int len = mr - j;
        tau[j] = t;
        if (t == 0.0) continue;
        for (c = j + 1; c < nb; ++c) {
            double *x = p + j + (size_t)c * ld, w = t * (x[0] + kifmm__la_dot(len - 1, v + 1, x + 1));
            x[0] -= w;
            kifmm__la_axpy(len - 1, -w, v + 1, x + 1);
        }
    }
}

/* Copy the reflectors of a factored panel into vb (mr x nb, ld ldv) with the implicit unit
   diagonal and zeros above it, so that GEMM can use them. */
static void kifmm__la_qr_getv(int mr, int nb, const double *p, int ld, double *vb, int ldv) {
    int i, j;
    for (j = 0; j < nb; ++j) {
        double *d = vb + (size_t)j * ldv;
        const double *s = p + (size_t)j * ld;
        for (i = 0; i < j && i < mr; ++i) d[i] = 0.0;
        if (j < mr) d[j] = 1.0;
        for (i = j + 1; i < mr; ++i) d[i] = s[i];
    }
}

/* Compact WY: H_1 ... H_nb = I - V T V^T with T upper triangular (nb x nb, ld ldt), from the
   Gram matrix G = V^T V (GVL 5.1.6): T(0:j, j) = -tau_j T(0:j, 0:j) G(0:j, j). */
static void kifmm__la_qr_larft(const kifmm_blas *blas, int mr, int nb, const double *vb, int ldv,
                               const double *tau, double *g, double *t, int ldt) {
    int i, j, l;
    kifmm__dgemm(blas, 1, 0, nb, nb, mr, 1.0, vb, ldv, vb, ldv, 0.0, g, nb);
    for (j = 0; j < nb; ++j) {
        for (i = 0; i < j; ++i) {
            double acc = 0.0;
            for (l = i; l < j; ++l) acc += t[i + (size_t)l * ldt] * g[l + (size_t)j * nb];
            t[i + (size_t)j * ldt] = -tau[j] * acc;
        }
        t[j + (size_t)j * ldt] = tau[j];
        for (i = j + 1; i < nb; ++i) t[i + (size_t)j * ldt] = 0.0;
    }
}

/* C (mr x nc) <- (I - V op(T) V^T) C with w (nb x nc) as scratch; op(T) = T^T when trans. */
static void kifmm__la_qr_larfb(const kifmm_blas *blas, int trans, int mr, int nc, int nb,
                               const double *vb, int ldv, const double *t, int ldt, double *c, int ldc,
                               double *w) {
    int i, j, l;
    if (nc <= 0) return;
    kifmm__dgemm(blas, 1, 0, nb, nc, mr, 1.0, vb, ldv, c, ldc, 0.0, w, nb);
    for (j = 0; j < nc; ++j) {                 /* w <- op(T) w, in place, triangular */
        double *wj = w + (size_t)j * nb;
        if (trans) {                           /* row i of T^T w uses rows l <= i: go downwards */
            for (i = nb - 1; i >= 0; --i) {
                double acc = 0.0;
                for (l = 0; l <= i; ++l) acc += t[l + (size_t)i * ldt] * wj[l];
                wj[i] = acc;
            }
        } else {                               /* row i of T w uses rows l >= i: go upwards */
            for (i = 0; i < nb; ++i) {
                double acc = 0.0;
                for (l = i; l < nb; ++l) acc += t[i + (size_t)l * ldt] * wj[l];
                wj[i] = acc;
            }
        }
    }
    kifmm__dgemm(blas, 0, 0, mr, nc, nb, -1.0, vb, ldv, w, nb, 1.0, c, ldc);
}

/* T12 = -T11 (V1^T V2) T22 joins the compact WY forms of two consecutive reflector blocks
   (Elmroth-Gustavson). vb holds [V1, V2] (V2 zero in V1's first n1 rows); g is scratch. */
static void kifmm__la_qr_join(const kifmm_blas *blas, int mr, int n1, int n2, const double *vb, int ldv,
                              double *t, int ldt, double *g) {
    int i, j, l;
    kifmm__dgemm(blas, 1, 0, n1, n2, mr - n1, 1.0, vb + n1, ldv, vb + n1 + (size_t)n1 * ldv, ldv, 0.0, g, n1);
    for (j = 0; j < n2; ++j)                   /* g <- T11 g: row i uses rows l >= i, go upwards */
        for (i = 0; i < n1; ++i) {
            double acc = 0.0;
            for (l = i; l < n1; ++l) acc += t[i + (size_t)l * ldt] * g[l + (size_t)j * n1];
            g[i + (size_t)j * n1] = acc;
        }
    for (j = 0; j < n2; ++j)                   /* T12 = -g T22; T21 = 0 */
        for (i = 0; i < n1; ++i) {
            double acc = 0.0;
            for (l = 0; l <= j; ++l) acc += g[i + (size_t)l * n1] * t[n1 + l + (size_t)(n1 + j) * ldt];
            t[i + (size_t)(n1 + j) * ldt] = -acc;
            t[n1 + j + (size_t)i * ldt] = 0.0;
        }
}

/* Recursive QR of the mr x nb panel p: factor the left half, update the right half with its
   compact WY form, factor the right half below the left's rows, join the two T factors. Almost
   all flops land in GEMM; only leaves of width <= 8 are level-2. On return vb (ld ldv) holds the
   explicit V and t (ld ldt) the T of the whole panel. g (nb x nb) and w (nb x nb) are scratch. */
static void kifmm__la_qr_rec(const kifmm_blas *blas, int mr, int nb, double *p, int ld, double *tau,
                             double *vb, int ldv, double *t, int ldt, double *g, double *w) {
    int n1 = nb / 2, n2 = nb - nb / 2, i, j;
    if (nb <= 8) {
        kifmm__la_qr_leaf(mr, nb, p, ld, tau);
        kifmm__la_qr_getv(mr, nb, p, ld, vb, ldv);
        kifmm__la_qr_larft(blas, mr, nb, vb, ldv, tau, g, t, ldt);
        return;
    }
    kifmm__la_qr_rec(blas, mr, n1, p, ld, tau, vb, ldv, t, ldt, g, w);
    kifmm__la_qr_larfb(blas, 1, mr, n2, n1, vb, ldv, t, ldt, p + (size_t)n1 * ld, ld, w);
    kifmm__la_qr_rec(blas, mr - n1, n2, p + n1 + (size_t)n1 * ld, ld, tau + n1, vb + n1 + (size_t)n1 * ldv,
                     ldv, t + n1 + (size_t)n1 * ldt, ldt, g, w);
    for (j = n1; j < nb; ++j)
        for (i = 0; i < n1; ++i) vb[i + (size_t)j * ldv] = 0.0;
    kifmm__la_qr_join(blas, mr, n1, n2, vb, ldv, t, ldt, g);
}

/* Overwrite the factored A (reflectors + R) with the thin Q = H_1 ... H_n [I; 0], block by block
   from the last, each block applied as one compact-WY update. ts holds the T of every block. */
static void kifmm__la_qr_formq(const kifmm_blas *blas, int m, int n, double *a, int lda,
                               const double *ts, double *vb, double *w) {
    int jb = ((n - 1) / KIFMM__LA_QR_NB) * KIFMM__LA_QR_NB, i, j;
    for (; jb >= 0; jb -= KIFMM__LA_QR_NB) {
        int nb = n - jb < KIFMM__LA_QR_NB ? n - jb : KIFMM__LA_QR_NB, mr = m - jb;
        double *ablk = a + jb + (size_t)jb * lda;
        kifmm__la_qr_getv(mr, nb, ablk, lda, vb, mr);
        for (j = 0; j < nb; ++j)               /* the block's own columns start as [I; 0] */
            for (i = 0; i < mr; ++i) ablk[i + (size_t)j * lda] = (i == j) ? 1.0 : 0.0;
        kifmm__la_qr_larfb(blas, 0, mr, n - jb, nb, vb, mr, ts + (size_t)jb * KIFMM__LA_QR_NB, KIFMM__LA_QR_NB,
                           ablk, lda, w);
        for (j = jb; j < n; ++j)               /* Q is zero above row jb in these columns (this
                                                  clears R; later blocks' rows were cleared before) */
            for (i = 0; i < jb; ++i) a[i + (size_t)j * lda] = 0.0;
    }
}

static int kifmm__thread(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int kifmm__in_parallel(void) {
#ifdef _OPENMP
    return omp_in_parallel();
#else
    return 0;
#endif
}

/* doubles of scratch kifmm__la_qr_run needs for m x n */
static size_t kifmm__la_qr_work(int m, int n) {
    const size_t NB = KIFMM__LA_QR_NB;
    return (size_t)n + (size_t)m * NB + (size_t)n * NB + NB * (size_t)n + NB * NB;
}

/* Blocked Householder QR in the given scratch: A keeps R on and above the diagonal, the
   reflectors below it; the block factors stay in the scratch for kifmm__la_qr_formq. */
static void kifmm__la_qr_run(const kifmm_blas *blas, int m, int n, double *a, int lda, double *work) {
    const int NB = KIFMM__LA_QR_NB;
    double *tau = work, *vb = tau + n, *ts = vb + (size_t)m * NB, *w = ts + (size_t)n * NB, *g = w + (size_t)NB * n;
    int jb;
    for (jb = 0; jb < n; jb += NB) {
        int nb = n - jb < NB ? n - jb : NB, mr = m - jb;
        double *ablk = a + jb + (size_t)jb * lda, *t = ts + (size_t)jb * NB;
        kifmm__la_qr_rec(blas, mr, nb, ablk, lda, tau + jb, vb, mr, t, NB, g, w);
        kifmm__la_qr_larfb(blas, 1, mr, n - jb - nb, nb, vb, mr, t, NB, ablk + (size_t)nb * lda, lda, w);
    }
}

static void kifmm__la_copy_r(int n, const double *a, int lda, double *r, int ldr) {
    int i, j;
    for (j = 0; j < n; ++j)
        for (i = 0; i < n; ++i) r[i + (size_t)j * ldr] = i <= j ? a[i + (size_t)j * lda] : 0.0;
}

/* QR with the choice of forming Q. Without it A keeps R on and above the diagonal. */
static kifmm_status kifmm__la_qr_impl(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n,
                                      double *a, int lda, double *r, int ldr, int form_q) {
    const size_t NB = KIFMM__LA_QR_NB, nd = kifmm__la_qr_work(m, n);
    double *work;
    if (n <= 0) return KIFMM_OK;
    if (m < n) return KIFMM_ERR_INVALID_ARGUMENT;
    work = (double *)kifmm__alloc(al, nd * sizeof(double));
    if (!work) return KIFMM_ERR_OUT_OF_MEMORY;
    kifmm__la_qr_run(blas, m, n, a, lda, work);
    if (r) kifmm__la_copy_r(n, a, lda, r, ldr);
    if (form_q) {
        double *vb = work + n, *ts = vb + (size_t)m * NB;
        kifmm__la_qr_formq(blas, m, n, a, lda, ts, vb, ts + (size_t)n * NB);
    }
    kifmm__free(al, work, nd * sizeof(double));
    return KIFMM_OK;
}

static void kifmm__dgemm_hook_builtin(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
                                      const double *b, int ldb, double beta, double *c, int ldc, void *user) {
    (void)user;
    kifmm__dgemm_builtin(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* R (n x n, ld ldr) of the tall m x n A (destroyed) by one level of TSQR: row groups of 4n
   factored independently, each in cache and on its own thread (single-threaded GEMMs: the
   caller's hook, thread-safe by contract, or the built-in), their R's stacked and factored again.
   The blocked QR of the whole order-9 shell matrix (37828 x 386) streams it from memory once per
   panel, 30 GFLOP/s on 2 cores; its groups of 4n run at 58. R differs from the direct one only by
   the signs of its rows, which R^T R, and so the SVD's values and V, do not see. The groups are
   fixed by m and n, not by the thread count. */
#define KIFMM__TSQR_GROUP 4
static kifmm_status kifmm__la_qr_r(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n, double *a,
                                   int lda, double *r, int ldr);
static kifmm_status kifmm__la_tsqr_r(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n, double *a,
                                     int lda, double *r, int ldr) {
    int ng = m / (KIFMM__TSQR_GROUP * n), nthr = 1, ms = ng * n;
    size_t wn = kifmm__la_qr_work(2 * KIFMM__TSQR_GROUP * n, n), bytes;
    double *work, *s;
    kifmm_blas local;
    kifmm_status st;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
    local.dgemm = blas && blas->dgemm ? blas->dgemm : kifmm__dgemm_hook_builtin;
    local.user = blas && blas->dgemm ? blas->user : NULL;
    bytes = ((size_t)nthr * wn + (size_t)ms * n) * sizeof(double);
    work = (double *)kifmm__alloc(al, bytes);
    if (!work) return KIFMM_ERR_OUT_OF_MEMORY;
    s = work + (size_t)nthr * wn;
    KIFMM__OMP(omp parallel num_threads(nthr))
    {
        double *wk = work + (size_t)kifmm__thread() * wn;
        int g;
        KIFMM__OMP(omp for schedule(dynamic, 1))
        for (g = 0; g < ng; ++g) {             /* the last group takes the remainder (< 4n rows) */
            int r0 = g * KIFMM__TSQR_GROUP * n, rows = g == ng - 1 ? m - r0 : KIFMM__TSQR_GROUP * n;
            kifmm__la_qr_run(&local, rows, n, a + r0, lda, wk);
            kifmm__la_copy_r(n, a + r0, lda, s + (size_t)g * n, ms);
        }
    }
    st = kifmm__la_qr_r(al, blas, ms, n, s, ms, r, ldr);
    kifmm__free(al, work, bytes);
    return st;
}

/* R alone (n x n, ld ldr; A destroyed): by groups when A is much taller than wide and larger
   than the caches (the shell basis), never inside a parallel region (the core factorisations) */
static kifmm_status kifmm__la_qr_r(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n, double *a,
                                   int lda, double *r, int ldr) {
    if (m >= 8 * n && (size_t)m * n >= ((size_t)1 << 21) && !kifmm__in_parallel())
        return kifmm__la_tsqr_r(al, blas, m, n, a, lda, r, ldr);
    return kifmm__la_qr_impl(al, blas, m, n, a, lda, r, ldr, 0);
}

KIFMM__FN kifmm_status kifmm__qr(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n,
                                 double *a, int lda, double *r, int ldr) {
    return kifmm__la_qr_impl(al, blas, m, n, a, lda, r, ldr, 1);
}

/* ---- dense linear algebra: one-sided Jacobi SVD ------------------------------------------- */
#define KIFMM__LA_JACOBI_SWEEPS 80

/* x <- c x - s y, y <- s x + c y */
static void kifmm__la_rot(int n, double *KIFMM__RESTRICT x, double *KIFMM__RESTRICT y, double c, double s) {
    int i;
    KIFMM__OMP(omp simd)
    for (i = 0; i < n; ++i) { double x0 = x[i], y0 = y[i]; x[i] = c * x0 - s * y0; y[i] = s * x0 + c * y0; }
}

/* Orthogonalise columns p, q of w (n rows) by one plane rotation if their cosine exceeds tol
   (Hestenes; the angle as in GVL 8.5.2), applying it to v too (optional). nrm[] holds the squared
   column norms, updated exactly as a - t g, b + t g (recomputed when the update cancels). Returns 1
   if it rotated. */
static int kifmm__la_jrot(int n, double *w, int ldw, double *v, int ldv, double *nrm, int p, int q, double tol) {
    double *wp = w + (size_t)p * ldw, *wq = w + (size_t)q * ldw, a = nrm[p], b = nrm[q], g, zeta, t, c, s;
    if (a == 0.0 || b == 0.0) return 0;
    g = kifmm__la_dot(n, wp, wq);
    if (fabs(g) <= tol * sqrt(a) * sqrt(b)) return 0;
    zeta = (b - a) / (2.0 * g);
    t = fabs(zeta) > 1e150 ? 0.5 / zeta : copysign(1.0, zeta) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
    c = 1.0 / sqrt(1.0 + t * t);
    s = c * t;
    kifmm__la_rot(n, wp, wq, c, s);
    if (v) kifmm__la_rot(n, v + (size_t)p * ldv, v + (size_t)q * ldv, c, s);
    nrm[p] = a - t * g;
    nrm[q] = b + t * g;
    if (nrm[p] < 0.5 * a) nrm[p] = kifmm__la_dot(n, wp, wp);
    if (nrm[q] < 0.5 * b) nrm[q] = kifmm__la_dot(n, wq, wq);
    return 1;
}

/* rotations of a block pair of the Jacobi sweep: the pairs inside blocks I and J (first round
   of a sweep only), then every p in I against every q in J */
static int kifmm__la_jblock(int n, double *w, int ldw, double *v, int ldv, double *nrm, double tol, double tiny,
                            int i0, int i1, int j0, int j1, int inner) {
    int nrot = 0, p, q;
#define KIFMM__JROT(p, q)                                                                       \
    if (nrm[p] >= tiny && nrm[q] >= tiny) nrot += kifmm__la_jrot(n, w, ldw, v, ldv, nrm, p, q, tol)
    if (inner) {
        for (p = i0; p < i1; ++p)
            for (q = p + 1; q < i1; ++q) { KIFMM__JROT(p, q); }
        for (p = j0; p < j1; ++p)
            for (q = p + 1; q < j1; ++q) { KIFMM__JROT(p, q); }
    }
    for (p = i0; p < i1; ++p)
        for (q = j0; q < j1; ++q) { KIFMM__JROT(p, q); }
#undef KIFMM__JROT
    return nrot;
}

/* Hestenes one-sided Jacobi on the n x n W: W <- W V with orthogonal columns; V (optional)
   accumulates the rotations; nrm (n) is scratch. The columns are cut into 16 blocks; a sweep is
   15 rounds of a round-robin tournament between blocks, the 8 block pairs of a round independent
   (run in parallel), each worked through serially: 15 barriers a sweep instead of one per pair
   round (n - 1), so a loaded machine stalls the threads 25x less often, and a block pair's
   columns stay in cache. The order does not depend on the thread count. Converged when a sweep
   rotates nothing under the relative test |w_p.w_q| <= sqrt(n) eps |w_p| |w_q|. A column under
   eps times the largest is not rotated at all: among themselves such columns' products sink
   towards the denormals (an exactly rank-1 matrix never converged), and a column just above that
   level, rotated against many of them that are not orthogonal to each other, was pushed back and
   forth for 80 sweeps (rank-deficient sketches of the order-13..16 cores). Together they hide no
   singular value above sqrt(n) eps s_max, which kifmm__la_svd_tall treats as zero. */
#define KIFMM__LA_JACOBI_BLOCKS 16
static kifmm_status kifmm__la_jacobi(int n, double *w, int ldw, double *v, int ldv, double *nrm) {
    const int nb = KIFMM__LA_JACOBI_BLOCKS;
    int done = 0, nrot = 0;
    double tol = sqrt((double)(n > 1 ? n : 1)) * 2.220446049250313e-16, tiny = 0.0;
    KIFMM__OMP(omp parallel if (n >= 128))
    {
        int sweep, round, i;
        for (sweep = 0; sweep < KIFMM__LA_JACOBI_SWEEPS; ++sweep) {
            KIFMM__OMP(omp for schedule(static))
            for (i = 0; i < n; ++i) nrm[i] = kifmm__la_dot(n, w + (size_t)i * ldw, w + (size_t)i * ldw);
            KIFMM__OMP(omp single)
            {
                double mx = 0.0;
                for (i = 0; i < n; ++i) mx = nrm[i] > mx ? nrm[i] : mx;
                tiny = mx * 4.930380657631324e-32;     /* (eps |w|_max)^2 */
                nrot = 0;
            }
            for (round = 0; round < nb - 1; ++round) {
                KIFMM__OMP(omp for schedule(dynamic, 1) reduction(+ : nrot))
                for (i = 0; i < nb / 2; ++i) {
                    /* circle method: position 0 meets the fixed block nb-1, position i meets nb-1-i */
                    int bi = i == 0 ? nb - 1 : (round + i) % (nb - 1), bj = (round + nb - 1 - i) % (nb - 1);
                    if (bi > bj) { int tmp = bi; bi = bj; bj = tmp; }
                    nrot += kifmm__la_jblock(n, w, ldw, v, ldv, nrm, tol, tiny, (int)((int64_t)n * bi / nb),
                                             (int)((int64_t)n * (bi + 1) / nb), (int)((int64_t)n * bj / nb),
                                             (int)((int64_t)n * (bj + 1) / nb), round == 0);
                }
            }
            if (nrot == 0) break;              /* every thread reads the same nrot after the barrier */
            KIFMM__OMP(omp barrier)            /* ... before the next sweep's single resets it */
        }
        KIFMM__OMP(omp single)
        done = sweep < KIFMM__LA_JACOBI_SWEEPS;
    }
    return done ? KIFMM_OK : KIFMM_ERR_NUMERICAL;
}

/* x (n) <- Q x, Q = H_0 ... H_{k-1} the Householder reflectors stored below the diagonal of a
   (unit leading entry implied) with factors tau */
static void kifmm__la_apply_q(int n, int k, const double *a, int lda, const double *tau, double *x) {
    int j;
    for (j = k - 1; j >= 0; --j) {
        const double *v = a + j + (size_t)j * lda;
        double t;
        if (tau[j] == 0.0) continue;
        t = tau[j] * (x[j] + kifmm__la_dot(n - j - 1, v + 1, x + j + 1));
        x[j] -= t;
        kifmm__la_axpy(n - j - 1, -t, v + 1, x + j + 1);
    }
}

/* Fill columns [k, n) of the n x n u (ld ldu) so that all n columns are orthonormal, given
   orthonormal columns [0, k): the directions of exactly zero singular values. The Householder QR
   of the first k columns, Q = H_0 ... H_{k-1}, spans them with its first k columns; its last
   n - k are the complement: O(n^2 k) (a Gram-Schmidt search over unit vectors was O(n^3) per
   column, 53 s for the order-12 check-to-equivalent matrix). w: n k + k doubles. */
static void kifmm__la_complete_basis(int n, int k, double *u, int ldu, double *w) {
    double *y = w, *tau = w + (size_t)n * k;
    int c, j, i;
    for (j = 0; j < k; ++j) memcpy(y + (size_t)j * n, u + (size_t)j * ldu, (size_t)n * sizeof(double));
    kifmm__la_qr_leaf(n, k, y, n, tau);
    for (c = k; c < n; ++c) {                  /* u_c = Q e_c */
        double *x = u + (size_t)c * ldu;
        for (i = 0; i < n; ++i) x[i] = i == c ? 1.0 : 0.0;
        kifmm__la_apply_q(n, k, y, n, tau, x);
    }
}

/* Householder QR with column pivoting of the n x n a (ld lda), unblocked (n is a surface size):
   a P = Q R with R on and above the diagonal, the reflectors of Q below it and in tau; piv[j] is
   the original index of column j; nrm (2n) scratch. The remaining column norms are downdated, and
   recomputed when cancellation has eaten half their digits (as LAPACK's xLAQP2). */
static void kifmm__la_qrcp(int n, double *a, int lda, double *tau, int *piv, double *nrm) {
    double *nrm0 = nrm + n, first = 0.0;
    int j, c, i;
    for (j = 0; j < n; ++j) { piv[j] = j; nrm[j] = nrm0[j] = kifmm__la_nrm2(n, a + (size_t)j * lda); }
    for (j = 0; j < n; ++j) {
        int best = j;
        double *v = a + j + (size_t)j * lda, t;
        for (c = j + 1; c < n; ++c) if (nrm[c] > nrm[best]) best = c;
        if (j > 0 && !(nrm[best] > 1e-32 * first)) {
            /* the rest is 1e-32 of the first column or less: zero, exactly. Reflectors built from
               it would sink into the denormals and lose their orthogonality (an exactly rank-1
               matrix did that) */
            for (c = j; c < n; ++c) {
                tau[c] = 0.0;
                for (i = j; i < n; ++i) a[i + (size_t)c * lda] = 0.0;
            }
            break;
        }
        if (j == 0) first = nrm[best];
        if (best != j) {
            double *x = a + (size_t)j * lda, *y = a + (size_t)best * lda, tmp;
            for (i = 0; i < n; ++i) { tmp = x[i]; x[i] = y[i]; y[i] = tmp; }
            i = piv[j]; piv[j] = piv[best]; piv[best] = i;
            tmp = nrm[j]; nrm[j] = nrm[best]; nrm[best] = tmp;
            tmp = nrm0[j]; nrm0[j] = nrm0[best]; nrm0[best] = tmp;
        }
        tau[j] = t = kifmm__la_house(n - j, v);
        for (c = j + 1; c < n; ++c) {
            double *x = a + j + (size_t)c * lda, f;
            if (t != 0.0) {
                double w = t * (x[0] + kifmm__la_dot(n - j - 1, v + 1, x + 1));
                x[0] -= w;
                kifmm__la_axpy(n - j - 1, -w, v + 1, x + 1);
            }
            if (nrm[c] == 0.0) continue;
            f = fabs(x[0]) / nrm[c];
            f = f < 1.0 ? 1.0 - f * f : 0.0;
            if (f * (nrm[c] / nrm0[c]) * (nrm[c] / nrm0[c]) <= 1.4901161193847656e-08)   /* sqrt(eps) */
                nrm[c] = nrm0[c] = kifmm__la_nrm2(n - j - 1, x + 1);
            else
                nrm[c] *= sqrt(f);
        }
    }
}

/* x (n x n) <- Q x for the Q of kifmm__la_qrcp (reflectors below the diagonal of a, tau) */
static void kifmm__la_qrcp_apply(int n, const double *a, int lda, const double *tau, double *x, int ldx) {
    int c;
    KIFMM__OMP(omp parallel for schedule(static) if (n >= 128))
    for (c = 0; c < n; ++c) kifmm__la_apply_q(n, n, a, lda, tau, x + (size_t)c * ldx);
}

/* SVD of the m x n A (m >= n), A destroyed. Drmac-Veselic preconditioning: A = Q1 R1 (blocked),
   R1 P = Q2 R2 (pivoted), then one-sided Jacobi on L = R2^T: L X = Y. With Y = W S (W orthonormal)
   A = (Q1 Q2 X) S (P W)^T. Jacobi on R2^T needs about 3x fewer sweeps than on R1 (13 against 43
   for the order-9 surface matrices, whose singular values come in near-equal clusters).
   u (m x n) and v (n x n) optional; s descending. */
static kifmm_status kifmm__la_svd_tall(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n,
                                    double *a, int lda, double *u, int ldu, double *s, double *v, int ldv) {
    size_t nn = (size_t)n * n, bytes = (3 * nn + 4 * (size_t)n) * sizeof(double) + 2 * (size_t)n * sizeof(int);
    double *work = (double *)kifmm__alloc(al, bytes), *r, *x, *w, *key, *tau;
    int *piv, *ord, i, j, nz, ex = 0;
    double big;
    kifmm_status st;
    if (!work) return KIFMM_ERR_OUT_OF_MEMORY;
    r = work; x = r + nn; w = x + nn; key = w + nn; tau = key + 2 * (size_t)n;
    piv = (int *)(tau + 2 * (size_t)n); ord = piv + n;
    st = u ? kifmm__la_qr_impl(al, blas, m, n, a, lda, r, n, 1) : kifmm__la_qr_r(al, blas, m, n, a, lda, r, n);
    if (st != KIFMM_OK) goto done;
    kifmm__la_qrcp(n, r, n, tau, piv, key);
    for (j = 0; j < n; ++j)                    /* w <- R2^T */
        for (i = 0; i < n; ++i) w[i + (size_t)j * n] = i >= j ? r[j + (size_t)i * n] : 0.0;
    for (j = 0; j < n; ++j)                    /* NaN or inf in A reaches R2: refuse it */
        for (i = j; i < n; ++i)
            if (!(fabs(w[i + (size_t)j * n]) <= DBL_MAX)) { st = KIFMM_ERR_NUMERICAL; goto done; }
    for (j = 0, big = 0.0; j < n; ++j) big = fabs(w[j + (size_t)j * n]) > big ? fabs(w[j + (size_t)j * n]) : big;
    if (big > 0.0 && big < HUGE_VAL) {         /* |R2_00| to 1 by a power of two: no underflow of
                                                  the squared norms whatever A's scale */
        frexp(big, &ex);
        for (j = 0; j < n; ++j)
            for (i = j; i < n; ++i) w[i + (size_t)j * n] = ldexp(w[i + (size_t)j * n], -ex);
    } else ex = 0;
    for (j = 0; u && j < n; ++j)
        for (i = 0; i < n; ++i) x[i + (size_t)j * n] = i == j ? 1.0 : 0.0;
    st = kifmm__la_jacobi(n, w, n, u ? x : NULL, n, key);
    if (st != KIFMM_OK) goto done;
    for (j = 0; j < n; ++j) key[j] = kifmm__la_nrm2(n, w + (size_t)j * n);
    for (j = 0, nz = n; j < n; ++j) {          /* selection sort, descending */
        int best = -1;
        for (i = 0; i < n; ++i)
            if (key[i] >= 0.0 && (best < 0 || key[i] > key[best])) best = i;
        ord[j] = best;
        s[j] = key[best];
        key[best] = -1.0;
        /* directions under sqrt(n) eps s_0 were not orthogonalised among themselves (see
           kifmm__la_jacobi): V gets an orthonormal completion there instead of W / s */
        if (nz == n && (s[j] == 0.0 || s[j] <= sqrt((double)n) * 2.220446049250313e-16 * s[0])) nz = j;
    }
    if (v) {                                   /* V = P W: row piv[i] of V is row i of W */
        for (j = 0; j < nz; ++j)
            for (i = 0; i < n; ++i) v[piv[i] + (size_t)j * ldv] = w[i + (size_t)ord[j] * n] / s[j];
        if (nz < n) kifmm__la_complete_basis(n, nz, v, ldv, w);   /* w is free until U */
    }
    /* the values from nz on are the norms of columns never orthogonalised among themselves, not
       singular values: zero to this accuracy, and reported as such (a pseudo-inverse would
       otherwise invert them along the arbitrary completed directions of V) */
    for (j = 0; j < n; ++j) s[j] = j < nz ? ldexp(s[j], ex) : 0.0;
    if (u) {                                   /* U = Q1 (Q2 X), X sorted; X is orthogonal */
        for (j = 0; j < n; ++j) memcpy(w + (size_t)j * n, x + (size_t)ord[j] * n, (size_t)n * sizeof(double));
        kifmm__la_qrcp_apply(n, r, n, tau, w, n);
        kifmm__dgemm(blas, 0, 0, m, n, n, 1.0, a, lda, w, n, 0.0, u, ldu);
    }
done:
    kifmm__free(al, work, bytes);
    return st;
}

KIFMM__FN kifmm_status kifmm__svd(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n,
                                  const double *a, int lda, double *u, int ldu, double *s, double *v, int ldv) {
    int big = m >= n ? m : n, small = m >= n ? n : m, i, j, ex = 0;
    size_t bytes = (size_t)big * small * sizeof(double);
    double *t, mx;
    kifmm_status st;
    if (small <= 0) return KIFMM_OK;
    t = (double *)kifmm__alloc(al, bytes);
    if (!t) return KIFMM_ERR_OUT_OF_MEMORY;
    if (m >= n) {
        for (j = 0; j < n; ++j) memcpy(t + (size_t)j * m, a + (size_t)j * lda, (size_t)m * sizeof(double));
    } else {                                   /* A^T = U' S V'^T  =>  A = V' S U'^T */
        for (j = 0; j < n; ++j)
            for (i = 0; i < m; ++i) t[j + (size_t)i * n] = a[i + (size_t)j * lda];
    }
    /* the largest |a_ij| to [0.5, 1) by a power of two (exact): the QR's dot products of a matrix
       at 1e-200 underflowed and its Q lost orthogonality */
    for (i = 0, mx = 0.0; (size_t)i < (size_t)big * small; ++i) mx = fabs(t[i]) > mx ? fabs(t[i]) : mx;
    if (mx > 0.0 && mx <= DBL_MAX) {
        frexp(mx, &ex);
        for (i = 0; (size_t)i < (size_t)big * small; ++i) t[i] = ldexp(t[i], -ex);
    }
    if (m >= n) st = kifmm__la_svd_tall(al, blas, m, n, t, m, u, ldu, s, v, ldv);
    else st = kifmm__la_svd_tall(al, blas, n, m, t, n, v, ldv, s, u, ldu);
    if (st == KIFMM_OK)
        for (i = 0; i < small; ++i) s[i] = ldexp(s[i], ex);
    kifmm__free(al, t, bytes);
    return st;
}

KIFMM__FN kifmm_status kifmm__pinv(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n,
                                   const double *a, int lda, double rcond, double *x1, double *x2, int *rank) {
    int r = m < n ? m : n, k, i, j;
    size_t bytes = ((size_t)m * r + r) * sizeof(double);
    double *u, *s;
    kifmm_status st;
    *rank = 0;
    if (r <= 0) return KIFMM_OK;
    u = (double *)kifmm__alloc(al, bytes);
    if (!u) return KIFMM_ERR_OUT_OF_MEMORY;
    s = u + (size_t)m * r;
    st = kifmm__svd(al, blas, m, n, a, lda, u, m, s, x1, n);   /* V lands in x1 directly */
    if (st == KIFMM_OK) {
        for (k = 0; k < r && s[k] > 0.0 && s[k] > rcond * s[0]; ++k) {}
        for (j = 0; j < k; ++j) {
            for (i = 0; i < n; ++i) x1[i + (size_t)j * n] /= s[j];
            for (i = 0; i < m; ++i) x2[j + (size_t)i * k] = u[i + (size_t)j * m];
        }
        *rank = k;
    }
    kifmm__free(al, u, bytes);
    return st;
}

/* ---- random numbers ------------------------------------------------------------------------ */
static uint64_t kifmm__la_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t kifmm__la_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

KIFMM__FN void kifmm__rng_seed(kifmm__rng *r, uint64_t seed) {
    int i;
    for (i = 0; i < 4; ++i) r->s[i] = kifmm__la_splitmix64(&seed);   /* never all zero in practice */
    r->spare = 0.0;
    r->has_spare = 0;
}

KIFMM__FN uint64_t kifmm__rng_next(kifmm__rng *r) {             /* xoshiro256** */
    uint64_t *s = r->s, out = kifmm__la_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = kifmm__la_rotl(s[3], 45);
    return out;
}

KIFMM__FN double kifmm__rng_uniform(kifmm__rng *r) {            /* top 53 bits */
    return (double)(kifmm__rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Marsaglia's polar method: only sqrt and log, so the stream is the same wherever log is
   correctly rounded (and differs by an ulp at worst elsewhere). */
KIFMM__FN double kifmm__rng_normal(kifmm__rng *r) {
    double x, y, q, f;
    if (r->has_spare) { r->has_spare = 0; return r->spare; }
    do {
        x = 2.0 * kifmm__rng_uniform(r) - 1.0;
        y = 2.0 * kifmm__rng_uniform(r) - 1.0;
        q = x * x + y * y;
    } while (q >= 1.0 || q == 0.0);
    f = sqrt(-2.0 * log(q) / q);
    r->spare = y * f;
    r->has_spare = 1;
    return x * f;
}

/* ---- randomized SVD ------------------------------------------------------------------------- */
/* n x l Gaussian matrix; column j has its own generator seeded from a master stream, so the
   fill runs in parallel and the result does not depend on the number of threads. */
static void kifmm__la_gaussian(int n, int l, uint64_t seed, double *x) {
    int j;
    KIFMM__OMP(omp parallel for schedule(static) if ((size_t)n * l > 100000))
    for (j = 0; j < l; ++j) {
        kifmm__rng master, g;
        int i;
        kifmm__rng_seed(&master, seed);
        for (i = 0; i < j; ++i) kifmm__rng_next(&master);
        kifmm__rng_seed(&g, kifmm__rng_next(&master));
        for (i = 0; i < n; ++i) x[i + (size_t)j * n] = kifmm__rng_normal(&g);
    }
}

/* Range finder with power iterations (HMT Alg. 4.4), orthonormalising after every product:
   y (m x l) <- orth(A Omega), then power_iters times z <- orth(A^T y), y <- orth(A z). */
static kifmm_status kifmm__la_range(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n, int l,
                                 kifmm__apply_fn apply, void *ctx, int power_iters, uint64_t seed,
                                 double *y, double *z) {
    kifmm_status st;
    int it;
    kifmm__la_gaussian(n, l, seed, z);
    apply(0, l, z, n, y, m, ctx);
    st = kifmm__qr(al, blas, m, l, y, m, NULL, 0);
    for (it = 0; it < power_iters && st == KIFMM_OK; ++it) {
        apply(1, l, y, m, z, n, ctx);
        st = kifmm__qr(al, blas, n, l, z, n, NULL, 0);
        if (st != KIFMM_OK) break;
        apply(0, l, z, n, y, m, ctx);
        st = kifmm__qr(al, blas, m, l, y, m, NULL, 0);
    }
    return st;
}

KIFMM__FN kifmm_status kifmm__rsvd(const kifmm_allocator *al, const kifmm_blas *blas, int m, int n,
                                   kifmm__apply_fn apply, void *ctx, int k, int oversample, int power_iters,
                                   uint64_t seed, double *u, double *s) {
    int mn = m < n ? m : n, l;
    size_t bytes;
    double *y, *z, *vs, *sv;
    kifmm_status st;
    if (k < 1 || k > mn || !apply || !u || !s) return KIFMM_ERR_INVALID_ARGUMENT;
    l = k + (oversample > 0 ? oversample : 0);
    l = l < mn ? l : mn;
    bytes = ((size_t)m * l + (size_t)n * l + (size_t)l * l + (size_t)l) * sizeof(double);
    y = (double *)kifmm__alloc(al, bytes);
    if (!y) return KIFMM_ERR_OUT_OF_MEMORY;
    z = y + (size_t)m * l; vs = z + (size_t)n * l; sv = vs + (size_t)l * l;
    st = kifmm__la_range(al, blas, m, n, l, apply, ctx, power_iters, seed, y, z);
    if (st == KIFMM_OK) {
        /* HMT Alg. 5.1 through B^T = A^T Q = Qb R: B = R^T Qb^T, so with R = W S Vs^T the left
           singular vectors of B are Vs and only the SVD of the small R is needed (no Qb). */
        apply(1, l, y, m, z, n, ctx);
        st = kifmm__la_svd_tall(al, blas, n, l, z, n, NULL, 0, sv, vs, l);
    }
    if (st == KIFMM_OK) {
        kifmm__dgemm(blas, 0, 0, m, k, l, 1.0, y, m, vs, l, 0.0, u, m);
        memcpy(s, sv, (size_t)k * sizeof(double));
    }
    kifmm__free(al, y, bytes);
    return st;
}


/* ---- kernel ------------------------------------------------------------------------------- */
/* SIMD paths: vectorised over targets (a lane per target, so no horizontal sums and the order of
   the sum over sources is that of the scalar loop); 1/r from the hardware estimate refined to
   double precision by one higher-order step (AVX-512's 14-bit estimate: third order; AVX2's 12-bit
   float estimate: fourth order), lanes with r2 == 0 masked to 0. */
#if defined(__AVX512F__)
#include <immintrin.h>
#define KIFMM__P2P_LANES 8
static void kifmm__p2p_simd(const double *sx, const double *sy, const double *sz, const double *q, size_t ns,
                            const double *tx, const double *ty, const double *tz, size_t nt,
                            double *pot, double *gx, double *gy, double *gz) {
    const __m512d c1 = _mm512_set1_pd(0.5), c2 = _mm512_set1_pd(0.375), c3 = _mm512_set1_pd(0.3125);
    const __m512d one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd(), c = _mm512_set1_pd(KIFMM_INV_4PI);
    size_t i, j;
    for (i = 0; i < nt; i += 8) {
        __mmask8 m = nt - i >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (nt - i)) - 1);
        __m512d x = _mm512_maskz_loadu_pd(m, tx + i), y = _mm512_maskz_loadu_pd(m, ty + i);
        __m512d z = _mm512_maskz_loadu_pd(m, tz + i);
        __m512d p = zero, ax = zero, ay = zero, az = zero;
        for (j = 0; j < ns; j++) {
            __m512d dx = _mm512_sub_pd(x, _mm512_set1_pd(sx[j])), dy = _mm512_sub_pd(y, _mm512_set1_pd(sy[j]));
            __m512d dz = _mm512_sub_pd(z, _mm512_set1_pd(sz[j]));
            __m512d r2 = _mm512_fmadd_pd(dz, dz, _mm512_fmadd_pd(dy, dy, _mm512_mul_pd(dx, dx)));
            __mmask8 nz = _mm512_cmp_pd_mask(r2, zero, _CMP_NEQ_OQ);
            __m512d y0 = _mm512_rsqrt14_pd(r2);                          /* 14 bits */
            /* one third-order step, y0 (1 + e/2 + 3e^2/8 + 5e^3/16) with e = 1 - r2 y0^2 (|e| < 2^-13,
               truncation 35e^4/128 < 2^-53): 6 operations where two Newton steps take 8 */
            /* (r2 y0) y0, not r2 (y0 y0): y0^2 overflows for subnormal r2 (|r| < 1e-154) */
            __m512d e = _mm512_fnmadd_pd(_mm512_mul_pd(r2, y0), y0, one);
            __m512d h = _mm512_mul_pd(_mm512_fmadd_pd(_mm512_fmadd_pd(c3, e, c2), e, c1), e);
            __m512d inv = _mm512_maskz_fmadd_pd(nz, y0, h, y0);             /* r2 == 0 lanes: 0 */
            {
                __m512d qi = _mm512_mul_pd(_mm512_set1_pd(q[j]), inv);
                p = _mm512_add_pd(p, qi);
                if (gx) {
                    __m512d qi3 = _mm512_mul_pd(qi, _mm512_mul_pd(inv, inv));
                    ax = _mm512_fnmadd_pd(qi3, dx, ax);
                    ay = _mm512_fnmadd_pd(qi3, dy, ay);
                    az = _mm512_fnmadd_pd(qi3, dz, az);
                }
            }
        }
        _mm512_mask_storeu_pd(pot + i, m, _mm512_fmadd_pd(c, p, _mm512_maskz_loadu_pd(m, pot + i)));
        if (gx) {
            _mm512_mask_storeu_pd(gx + i, m, _mm512_fmadd_pd(c, ax, _mm512_maskz_loadu_pd(m, gx + i)));
            _mm512_mask_storeu_pd(gy + i, m, _mm512_fmadd_pd(c, ay, _mm512_maskz_loadu_pd(m, gy + i)));
            _mm512_mask_storeu_pd(gz + i, m, _mm512_fmadd_pd(c, az, _mm512_maskz_loadu_pd(m, gz + i)));
        }
    }
}
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KIFMM__P2P_LANES 4
/* the float estimate (12 bits) needs r2 inside float's normal range; other vectors take 1/sqrt */
static void kifmm__p2p_simd(const double *sx, const double *sy, const double *sz, const double *q, size_t ns,
                            const double *tx, const double *ty, const double *tz, size_t nt,
                            double *pot, double *gx, double *gy, double *gz) {
    const __m256d half = _mm256_set1_pd(0.5), c2 = _mm256_set1_pd(0.375), c3 = _mm256_set1_pd(0.3125);
    const __m256d c4 = _mm256_set1_pd(0.2734375), zero = _mm256_setzero_pd();
    const __m256d lo = _mm256_set1_pd(1e-30), hi = _mm256_set1_pd(1e30), one = _mm256_set1_pd(1.0);
    size_t i, j;
    for (i = 0; i + 4 <= nt; i += 4) {
        __m256d x = _mm256_loadu_pd(tx + i), y = _mm256_loadu_pd(ty + i), z = _mm256_loadu_pd(tz + i);
        __m256d p = zero, ax = zero, ay = zero, az = zero, c = _mm256_set1_pd(KIFMM_INV_4PI);
        for (j = 0; j < ns; j++) {
            __m256d dx = _mm256_sub_pd(x, _mm256_set1_pd(sx[j])), dy = _mm256_sub_pd(y, _mm256_set1_pd(sy[j]));
            __m256d dz = _mm256_sub_pd(z, _mm256_set1_pd(sz[j]));
            __m256d r2 = _mm256_fmadd_pd(dz, dz, _mm256_fmadd_pd(dy, dy, _mm256_mul_pd(dx, dx)));
            __m256d ok = _mm256_and_pd(_mm256_cmp_pd(r2, lo, _CMP_GE_OQ), _mm256_cmp_pd(r2, hi, _CMP_LE_OQ)), inv;
            if (_mm256_movemask_pd(ok) == 15) {
                /* one fourth-order step y0 (1 + e/2 + 3e^2/8 + 5e^3/16 + 35e^4/128), e = 1 - r2 y0^2
                   (|e| < 2^-10.4, truncation 63e^5/256 < 2^-54): double precision in 8 operations,
                   where two Newton steps take 8 and stop near 1e-14. The polynomial in two halves
                   (Estrin), y0 + (y0 e) (a + e^2 b): 4 operations fewer on the dependency chain,
                   which, not the FMA pipes, bounds this loop. A coincident point (r2 = 0) takes the
                   exact branch, about 1 vector in 200 in a leaf's own sources. */
                __m256d y0 = _mm256_cvtps_pd(_mm_rsqrt_ps(_mm256_cvtpd_ps(r2)));
                __m256d e = _mm256_fnmadd_pd(_mm256_mul_pd(r2, y0), y0, one);
                __m256d a = _mm256_fmadd_pd(c2, e, half), b = _mm256_fmadd_pd(c4, e, c3);
                __m256d e2 = _mm256_mul_pd(e, e), ye = _mm256_mul_pd(y0, e);
                inv = _mm256_fmadd_pd(ye, _mm256_fmadd_pd(e2, b, a), y0);
            } else
                inv = _mm256_and_pd(_mm256_div_pd(one, _mm256_sqrt_pd(r2)), _mm256_cmp_pd(r2, zero, _CMP_NEQ_OQ));
            {
                __m256d qi = _mm256_mul_pd(_mm256_set1_pd(q[j]), inv);
                p = _mm256_add_pd(p, qi);
                if (gx) {
                    __m256d qi3 = _mm256_mul_pd(qi, _mm256_mul_pd(inv, inv));
                    ax = _mm256_fnmadd_pd(qi3, dx, ax);
                    ay = _mm256_fnmadd_pd(qi3, dy, ay);
                    az = _mm256_fnmadd_pd(qi3, dz, az);
                }
            }
        }
        _mm256_storeu_pd(pot + i, _mm256_fmadd_pd(c, p, _mm256_loadu_pd(pot + i)));
        if (gx) {
            _mm256_storeu_pd(gx + i, _mm256_fmadd_pd(c, ax, _mm256_loadu_pd(gx + i)));
            _mm256_storeu_pd(gy + i, _mm256_fmadd_pd(c, ay, _mm256_loadu_pd(gy + i)));
            _mm256_storeu_pd(gz + i, _mm256_fmadd_pd(c, az, _mm256_loadu_pd(gz + i)));
        }
    }
}
#endif

/* portable path (and the AVX2 path's last few targets): exact 1/sqrt */
static void kifmm__p2p_scalar(const double *sx, const double *sy, const double *sz, const double *q, size_t ns,
                              const double *tx, const double *ty, const double *tz, size_t nt,
                              double *pot, double *gx, double *gy, double *gz) {
    size_t i, j;
    for (i = 0; i < nt; i++) {
        double x = tx[i], y = ty[i], z = tz[i], p = 0, ax = 0, ay = 0, az = 0;
        if (gx) {
            for (j = 0; j < ns; j++) {
                double dx = x - sx[j], dy = y - sy[j], dz = z - sz[j];
                double r2 = dx * dx + dy * dy + dz * dz;
                double inv = r2 > 0 ? 1.0 / sqrt(r2) : 0.0;   /* r = 0: no self-interaction */
                double qi = q[j] * inv, qi3 = qi * inv * inv;
                p += qi;
                ax -= qi3 * dx;
                ay -= qi3 * dy;
                az -= qi3 * dz;
            }
            gx[i] += KIFMM_INV_4PI * ax;
            gy[i] += KIFMM_INV_4PI * ay;
            gz[i] += KIFMM_INV_4PI * az;
        } else {
            for (j = 0; j < ns; j++) {
                double dx = x - sx[j], dy = y - sy[j], dz = z - sz[j];
                double r2 = dx * dx + dy * dy + dz * dz;
                p += r2 > 0 ? q[j] / sqrt(r2) : 0.0;
            }
        }
        pot[i] += KIFMM_INV_4PI * p;
    }
}

KIFMM__FN void kifmm__p2p(const double *sx, const double *sy, const double *sz, const double *q, size_t ns,
                          const double *tx, const double *ty, const double *tz, size_t nt,
                          double *pot, double *gx, double *gy, double *gz) {
    size_t done = 0;
#ifdef KIFMM__P2P_LANES
#if KIFMM__P2P_LANES == 8
    done = nt;                             /* masked loads take the tail too */
#else
    done = nt / KIFMM__P2P_LANES * KIFMM__P2P_LANES;
#endif
    kifmm__p2p_simd(sx, sy, sz, q, ns, tx, ty, tz, done, pot, gx, gy, gz);
#endif
    if (done < nt)
        kifmm__p2p_scalar(sx, sy, sz, q, ns, tx + done, ty + done, tz + done, nt - done, pot + done,
                          gx ? gx + done : NULL, gy ? gy + done : NULL, gz ? gz + done : NULL);
}

/* ==== KERNELS: what a source carries, what a target wants ===================================== */
/* A source carries densities (sdim per point, nd sets) and, for Laplace and Yukawa, dipoles; a
   target wants potentials (tdim per point), optionally their gradients and (Laplace, Yukawa)
   Hessians. Every operator that starts or ends at points (P2M, P2L, L2P, M2P, P2P) is one call of
   kifmm__interact between a kifmm__src and a kifmm__tgt; the layouts are planes (structure of
   arrays) addressed by two strides, so the sorted particles, a box's check or equivalent vector
   and a leaf's block of results all pass without copies. */
typedef struct kifmm__src {
    const double *x, *y, *z;      /* coordinates */
    size_t n;
    const double *q;              /* density b of set d of point i: q[d q_d + b q_b + i]; NULL: none */
    size_t q_b, q_d;
    const double *dip;            /* dipole component c: dip[d dip_d + c dip_c + i]; NULL: none */
    size_t dip_c, dip_d;
} kifmm__src;

typedef struct kifmm__tgt {
    const double *x, *y, *z;
    size_t n;
    double *pot;                  /* pot[d pot_d + a pot_a + j], added into */
    size_t pot_a, pot_d;
    double *grad;                 /* d(pot a)/d(x_c): grad[d grad_d + (3 a + c) grad_a + j]; NULL: not wanted */
    size_t grad_a, grad_d;
    double *hess;                 /* xx yy zz xy xz yz: hess[d hess_d + h hess_a + j]; NULL: not wanted */
    size_t hess_a, hess_d;
} kifmm__tgt;


#define KIFMM__MAX_KDIM 9         /* the largest sdim / tdim of a user kernel */
#define KIFMM__UBLOCK_T 64        /* user kernels: targets and sources per callback */
#define KIFMM__UBLOCK_S 256
/* per-thread scratch of kifmm__interact (user kernels gather into it), in doubles */
#define KIFMM__INTERACT_SCRATCH \
    (3 * (KIFMM__UBLOCK_T + KIFMM__UBLOCK_S) + KIFMM__MAX_KDIM * (KIFMM__UBLOCK_T + KIFMM__UBLOCK_S))

/* forced inline: each call site's constant flags give its own specialised loop. Sanitizer builds
   skip the forcing (one generic copy, flags at run time: 5x faster to compile, same results) */
#if defined(__SANITIZE_ADDRESS__)
#define KIFMM__SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KIFMM__SANITIZED 1
#endif
#endif
#if defined(KIFMM__SANITIZED)
#define KIFMM__INLINE static inline
#elif defined(__GNUC__) || defined(__clang__)
#define KIFMM__INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define KIFMM__INLINE static __forceinline
#else
#define KIFMM__INLINE static inline
#endif

/* ---- SIMD vectors: KIFMM__VW doubles; one set of operations for every instruction set ------ */
#if defined(__AVX512F__)
#include <immintrin.h>
#define KIFMM__VW 8
typedef __m512d kifmm__v;
KIFMM__INLINE kifmm__v kifmm__vset(double a) { return _mm512_set1_pd(a); }
KIFMM__INLINE kifmm__v kifmm__vload(const double *p) { return _mm512_loadu_pd(p); }
KIFMM__INLINE void kifmm__vstore(double *p, kifmm__v a) { _mm512_storeu_pd(p, a); }
KIFMM__INLINE kifmm__v kifmm__vadd(kifmm__v a, kifmm__v b) { return _mm512_add_pd(a, b); }
KIFMM__INLINE kifmm__v kifmm__vsub(kifmm__v a, kifmm__v b) { return _mm512_sub_pd(a, b); }
KIFMM__INLINE kifmm__v kifmm__vmul(kifmm__v a, kifmm__v b) { return _mm512_mul_pd(a, b); }
KIFMM__INLINE kifmm__v kifmm__vfma(kifmm__v a, kifmm__v b, kifmm__v c) { return _mm512_fmadd_pd(a, b, c); }
KIFMM__INLINE kifmm__v kifmm__vfnma(kifmm__v a, kifmm__v b, kifmm__v c) { return _mm512_fnmadd_pd(a, b, c); }
/* 1/sqrt(r2), 0 where r2 == 0: the 14-bit estimate and one third-order step (see kifmm__p2p_simd) */
KIFMM__INLINE kifmm__v kifmm__vrsqrt(kifmm__v r2) {
    const __m512d one = _mm512_set1_pd(1.0);
    __mmask8 nz = _mm512_cmp_pd_mask(r2, _mm512_setzero_pd(), _CMP_NEQ_OQ);
    __m512d y0 = _mm512_rsqrt14_pd(r2), e = _mm512_fnmadd_pd(_mm512_mul_pd(r2, y0), y0, one);
    __m512d h = _mm512_mul_pd(_mm512_fmadd_pd(_mm512_fmadd_pd(_mm512_set1_pd(0.3125), e, _mm512_set1_pd(0.375)),
                                              e, _mm512_set1_pd(0.5)), e);
    return _mm512_maskz_fmadd_pd(nz, y0, h, y0);
}
/* 2^n a for integral n (AVX-512 does it in one instruction, subnormal results included) */
KIFMM__INLINE kifmm__v kifmm__vldexp(kifmm__v a, kifmm__v n) { return _mm512_scalef_pd(a, n); }
KIFMM__INLINE kifmm__v kifmm__vround(kifmm__v a) {
    return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
KIFMM__INLINE kifmm__v kifmm__vmax(kifmm__v a, kifmm__v b) { return _mm512_max_pd(a, b); }
KIFMM__INLINE kifmm__v kifmm__vsqrt(kifmm__v a) { return _mm512_sqrt_pd(a); }
KIFMM__INLINE kifmm__v kifmm__vdiv(kifmm__v a, kifmm__v b) { return _mm512_div_pd(a, b); }
KIFMM__INLINE kifmm__v kifmm__vpos(kifmm__v x, kifmm__v a) {      /* a where x > 0, else 0 */
    return _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_GT_OQ), a);
}
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KIFMM__VW 4
typedef __m256d kifmm__v;
KIFMM__INLINE kifmm__v kifmm__vset(double a) { return _mm256_set1_pd(a); }
KIFMM__INLINE kifmm__v kifmm__vload(const double *p) { return _mm256_loadu_pd(p); }
KIFMM__INLINE void kifmm__vstore(double *p, kifmm__v a) { _mm256_storeu_pd(p, a); }
KIFMM__INLINE kifmm__v kifmm__vadd(kifmm__v a, kifmm__v b) { return _mm256_add_pd(a, b); }
KIFMM__INLINE kifmm__v kifmm__vsub(kifmm__v a, kifmm__v b) { return _mm256_sub_pd(a, b); }
KIFMM__INLINE kifmm__v kifmm__vmul(kifmm__v a, kifmm__v b) { return _mm256_mul_pd(a, b); }
KIFMM__INLINE kifmm__v kifmm__vfma(kifmm__v a, kifmm__v b, kifmm__v c) { return _mm256_fmadd_pd(a, b, c); }
KIFMM__INLINE kifmm__v kifmm__vfnma(kifmm__v a, kifmm__v b, kifmm__v c) { return _mm256_fnmadd_pd(a, b, c); }
/* the 12-bit float estimate and one fourth-order step while r2 is inside float's normal range,
   else an exact division (see kifmm__p2p_simd) */
/* as kifmm__p2p_simd's: the estimate and its fourth-order step in Estrin form where r2 is inside
   float's normal range in every lane, else (r2 = 0 included, masked to 0) the exact 1/sqrt */
KIFMM__INLINE kifmm__v kifmm__vrsqrt(kifmm__v r2) {
    const __m256d one = _mm256_set1_pd(1.0);
    __m256d ok = _mm256_and_pd(_mm256_cmp_pd(r2, _mm256_set1_pd(1e-30), _CMP_GE_OQ),
                               _mm256_cmp_pd(r2, _mm256_set1_pd(1e30), _CMP_LE_OQ));
    if (_mm256_movemask_pd(ok) == 15) {
        __m256d y0 = _mm256_cvtps_pd(_mm_rsqrt_ps(_mm256_cvtpd_ps(r2)));
        __m256d e = _mm256_fnmadd_pd(_mm256_mul_pd(r2, y0), y0, one);
        __m256d a = _mm256_fmadd_pd(_mm256_set1_pd(0.375), e, _mm256_set1_pd(0.5));
        __m256d b = _mm256_fmadd_pd(_mm256_set1_pd(0.2734375), e, _mm256_set1_pd(0.3125));
        return _mm256_fmadd_pd(_mm256_mul_pd(y0, e), _mm256_fmadd_pd(_mm256_mul_pd(e, e), b, a), y0);
    }
    return _mm256_and_pd(_mm256_div_pd(one, _mm256_sqrt_pd(r2)), _mm256_cmp_pd(r2, _mm256_setzero_pd(), _CMP_NEQ_OQ));
}
/* 2^n a for integral n >= -1074 (in two factors 2^(n/2) 2^(n - n/2), each normal): the exponent
   bits from n + 1023 added to 2^52, whose low bits then hold it */
KIFMM__INLINE kifmm__v kifmm__vldexp(kifmm__v a, kifmm__v n) {
    const __m256d magic = _mm256_set1_pd(4503599627370496.0 + 1023.0);
    __m256d n1 = _mm256_floor_pd(_mm256_mul_pd(n, _mm256_set1_pd(0.5))), n2 = _mm256_sub_pd(n, n1);
    __m256i e1 = _mm256_slli_epi64(_mm256_castpd_si256(_mm256_add_pd(n1, magic)), 52);
    __m256i e2 = _mm256_slli_epi64(_mm256_castpd_si256(_mm256_add_pd(n2, magic)), 52);
    return _mm256_mul_pd(_mm256_mul_pd(a, _mm256_castsi256_pd(e1)), _mm256_castsi256_pd(e2));
}
KIFMM__INLINE kifmm__v kifmm__vround(kifmm__v a) {
    return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
KIFMM__INLINE kifmm__v kifmm__vmax(kifmm__v a, kifmm__v b) { return _mm256_max_pd(a, b); }
KIFMM__INLINE kifmm__v kifmm__vsqrt(kifmm__v a) { return _mm256_sqrt_pd(a); }
KIFMM__INLINE kifmm__v kifmm__vdiv(kifmm__v a, kifmm__v b) { return _mm256_div_pd(a, b); }
KIFMM__INLINE kifmm__v kifmm__vpos(kifmm__v x, kifmm__v a) {
    return _mm256_and_pd(a, _mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_GT_OQ));
}
#else
#define KIFMM__VW 1
typedef double kifmm__v;
KIFMM__INLINE kifmm__v kifmm__vset(double a) { return a; }
KIFMM__INLINE kifmm__v kifmm__vload(const double *p) { return *p; }
KIFMM__INLINE void kifmm__vstore(double *p, kifmm__v a) { *p = a; }
KIFMM__INLINE kifmm__v kifmm__vadd(kifmm__v a, kifmm__v b) { return a + b; }
KIFMM__INLINE kifmm__v kifmm__vsub(kifmm__v a, kifmm__v b) { return a - b; }
KIFMM__INLINE kifmm__v kifmm__vmul(kifmm__v a, kifmm__v b) { return a * b; }
KIFMM__INLINE kifmm__v kifmm__vfma(kifmm__v a, kifmm__v b, kifmm__v c) { return a * b + c; }
KIFMM__INLINE kifmm__v kifmm__vfnma(kifmm__v a, kifmm__v b, kifmm__v c) { return c - a * b; }
KIFMM__INLINE kifmm__v kifmm__vrsqrt(kifmm__v r2) { return r2 > 0 ? 1.0 / sqrt(r2) : 0.0; }
KIFMM__INLINE kifmm__v kifmm__vldexp(kifmm__v a, kifmm__v n) { return ldexp(a, (int)n); }
KIFMM__INLINE kifmm__v kifmm__vround(kifmm__v a) { return floor(a + 0.5); }
KIFMM__INLINE kifmm__v kifmm__vmax(kifmm__v a, kifmm__v b) { return a > b ? a : b; }
KIFMM__INLINE kifmm__v kifmm__vsqrt(kifmm__v a) { return sqrt(a); }
KIFMM__INLINE kifmm__v kifmm__vdiv(kifmm__v a, kifmm__v b) { return a / b; }
KIFMM__INLINE kifmm__v kifmm__vpos(kifmm__v x, kifmm__v a) { return x > 0 ? a : 0.0; }
#endif

/* e^x for x <= 0: x = n ln 2 + r, |r| <= ln 2 / 2, e^r by its Taylor series to r^13 (truncation
   r^14 / 14! < 5e-18), times 2^n; below -745 (where e^x rounds to 0) it is 0 */
KIFMM__INLINE kifmm__v kifmm__vexp_neg(kifmm__v x) {
#if KIFMM__VW == 1
    return exp(x);
#else
    static const double c[14] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0,
                                 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
    kifmm__v n, r, p;
    int i;
    x = kifmm__vmax(x, kifmm__vset(-746.0));
    n = kifmm__vround(kifmm__vmul(x, kifmm__vset(1.4426950408889634)));
    r = kifmm__vfnma(n, kifmm__vset(0.6931471805599453), x);            /* ln 2 in two parts */
    r = kifmm__vfnma(n, kifmm__vset(2.3190468138462996e-17), r);
    p = kifmm__vset(c[0]);
    for (i = 1; i < 14; i++) p = kifmm__vfma(p, r, kifmm__vset(c[i]));
    return kifmm__vldexp(p, n);
#endif
}

/* ---- radial scalar kernels: Laplace and Yukawa ---------------------------------------------
   For G(r) radial, with x = target - source and D1 = G'/r, D2 = D1'/r, D3 = D2'/r:
     grad G = x D1,  d_i d_j G = delta_ij D1 + x_i x_j D2,
     d_i d_j d_k G = (delta_ij x_k + delta_ik x_j + delta_jk x_i) D2 + x_i x_j x_k D3.
   A dipole v at the source gives v . grad_source G = -(v . x) D1 (FMM3D's convention), and its
   derivatives follow from the third line. Laplace, G = 1/r: D1 = -1/r^3, D2 = 3/r^5, D3 = -15/r^7;
   Yukawa, G = e^(-l r)/r: D1 = -G (1 + l r)/r^2, D2 = G (l^2 r^2 + 3 l r + 3)/r^4,
   D3 = -G (l^3 r^3 + 6 l^2 r^2 + 15 l r + 15)/r^6. The 1/(4 pi) is applied once at the end. */
#define KIFMM__NDG 4              /* density sets per pass of the radial kernel (registers) */

/* W targets (tx, ty, tz) against all of s's sources, density sets d0 .. d0 + g - 1 (g = 1 or
   KIFMM__NDG), whose results go to pot, grad, hess + k * (their density stride); the flags are
   compile-time constants at every call, so each combination is its own loop with only what it
   needs */
KIFMM__INLINE void kifmm__radial_block(const int yuk, const int hq, const int hd, const int wg, const int wh,
                                       const int g, double lam, double c, const kifmm__src *s, int d0,
                                       const double *tx, const double *ty, const double *tz, double *pot,
                                       size_t pot_d, double *grad, size_t grad_a, size_t grad_d, double *hess,
                                       size_t hess_a, size_t hess_d) {
    kifmm__v x = kifmm__vload(tx), y = kifmm__vload(ty), z = kifmm__vload(tz), zero = kifmm__vset(0.0);
    kifmm__v ap[KIFMM__NDG], ag[KIFMM__NDG][3], ah[KIFMM__NDG][6];
    kifmm__v vl = kifmm__vset(lam), three = kifmm__vset(3.0), five = kifmm__vset(5.0);
    size_t j;
    int k, e;
    for (k = 0; k < g; k++) {
        ap[k] = zero;
        for (e = 0; e < 3; e++) ag[k][e] = zero;
        for (e = 0; e < 6; e++) ah[k][e] = zero;
    }
    for (j = 0; j < s->n; j++) {
        kifmm__v dx = kifmm__vsub(x, kifmm__vset(s->x[j])), dy = kifmm__vsub(y, kifmm__vset(s->y[j]));
        kifmm__v dz = kifmm__vsub(z, kifmm__vset(s->z[j]));
        kifmm__v r2 = kifmm__vfma(dz, dz, kifmm__vfma(dy, dy, kifmm__vmul(dx, dx)));
        kifmm__v inv = kifmm__vrsqrt(r2), inv2 = kifmm__vmul(inv, inv), g0, d1, d2 = zero, d3 = zero;
        if (!yuk) {
            g0 = inv;
            d1 = kifmm__vmul(kifmm__vsub(zero, inv), inv2);
            if (wh || (hd && wg)) d2 = kifmm__vmul(kifmm__vmul(three, inv2), kifmm__vsub(zero, d1));
            if (hd && wh) d3 = kifmm__vmul(kifmm__vmul(five, inv2), kifmm__vsub(zero, d2));
        } else {
            kifmm__v lr = kifmm__vmul(vl, kifmm__vmul(r2, inv));
            g0 = kifmm__vmul(kifmm__vexp_neg(kifmm__vsub(zero, lr)), inv);
            d1 = kifmm__vmul(kifmm__vsub(zero, g0), kifmm__vmul(kifmm__vadd(kifmm__vset(1.0), lr), inv2));
            if (wh || (hd && wg))
                d2 = kifmm__vmul(kifmm__vmul(g0, kifmm__vmul(inv2, inv2)),
                                 kifmm__vfma(kifmm__vadd(lr, three), lr, three));
            if (hd && wh)
                d3 = kifmm__vmul(kifmm__vmul(kifmm__vsub(zero, g0), kifmm__vmul(inv2, kifmm__vmul(inv2, inv2))),
                                 kifmm__vfma(kifmm__vfma(kifmm__vadd(lr, kifmm__vset(6.0)), lr, kifmm__vset(15.0)), lr,
                                             kifmm__vset(15.0)));
        }
        for (k = 0; k < g; k++) {
            size_t d = (size_t)(d0 + k);
            if (hq) {
                kifmm__v q = kifmm__vset(s->q[d * s->q_d + j]);
                ap[k] = kifmm__vfma(q, g0, ap[k]);
                if (wg || wh) {
                    kifmm__v q1 = kifmm__vmul(q, d1);
                    if (wg) {
                        ag[k][0] = kifmm__vfma(q1, dx, ag[k][0]);
                        ag[k][1] = kifmm__vfma(q1, dy, ag[k][1]);
                        ag[k][2] = kifmm__vfma(q1, dz, ag[k][2]);
                    }
                    if (wh) {
                        kifmm__v q2 = kifmm__vmul(q, d2), q2x = kifmm__vmul(q2, dx), q2y = kifmm__vmul(q2, dy);
                        ah[k][0] = kifmm__vadd(ah[k][0], kifmm__vfma(q2x, dx, q1));
                        ah[k][1] = kifmm__vadd(ah[k][1], kifmm__vfma(q2y, dy, q1));
                        ah[k][2] = kifmm__vadd(ah[k][2], kifmm__vfma(kifmm__vmul(q2, dz), dz, q1));
                        ah[k][3] = kifmm__vfma(q2x, dy, ah[k][3]);
                        ah[k][4] = kifmm__vfma(q2x, dz, ah[k][4]);
                        ah[k][5] = kifmm__vfma(q2y, dz, ah[k][5]);
                    }
                }
            }
            if (hd) {
                const double *v = s->dip + d * s->dip_d + j;
                kifmm__v vx = kifmm__vset(v[0]), vy = kifmm__vset(v[s->dip_c]), vz = kifmm__vset(v[2 * s->dip_c]);
                kifmm__v vd = kifmm__vfma(vz, dz, kifmm__vfma(vy, dy, kifmm__vmul(vx, dx)));
                ap[k] = kifmm__vfnma(vd, d1, ap[k]);
                if (wg || wh) {
                    kifmm__v w2 = kifmm__vmul(vd, d2);
                    if (wg) {   /* -(v_i D1 + x_i (v.x) D2) */
                        ag[k][0] = kifmm__vsub(ag[k][0], kifmm__vfma(vx, d1, kifmm__vmul(dx, w2)));
                        ag[k][1] = kifmm__vsub(ag[k][1], kifmm__vfma(vy, d1, kifmm__vmul(dy, w2)));
                        ag[k][2] = kifmm__vsub(ag[k][2], kifmm__vfma(vz, d1, kifmm__vmul(dz, w2)));
                    }
                    if (wh) {   /* -((v_i x_k + v_k x_i + delta_ik v.x) D2 + x_i x_k (v.x) D3) */
                        kifmm__v w3 = kifmm__vmul(vd, d3), w3x = kifmm__vmul(w3, dx), w3y = kifmm__vmul(w3, dy);
                        kifmm__v ux = kifmm__vmul(vx, d2), uy = kifmm__vmul(vy, d2), uz = kifmm__vmul(vz, d2);
                        ah[k][0] = kifmm__vsub(ah[k][0], kifmm__vfma(w3x, dx, kifmm__vfma(kifmm__vadd(ux, ux), dx, w2)));
                        ah[k][1] = kifmm__vsub(ah[k][1], kifmm__vfma(w3y, dy, kifmm__vfma(kifmm__vadd(uy, uy), dy, w2)));
                        ah[k][2] = kifmm__vsub(ah[k][2], kifmm__vfma(kifmm__vmul(w3, dz), dz,
                                                                     kifmm__vfma(kifmm__vadd(uz, uz), dz, w2)));
                        ah[k][3] = kifmm__vsub(ah[k][3], kifmm__vfma(w3x, dy, kifmm__vfma(ux, dy, kifmm__vmul(uy, dx))));
                        ah[k][4] = kifmm__vsub(ah[k][4], kifmm__vfma(w3x, dz, kifmm__vfma(ux, dz, kifmm__vmul(uz, dx))));
                        ah[k][5] = kifmm__vsub(ah[k][5], kifmm__vfma(w3y, dz, kifmm__vfma(uy, dz, kifmm__vmul(uz, dy))));
                    }
                }
            }
        }
    }
    {
        kifmm__v vc = kifmm__vset(c);
        for (k = 0; k < g; k++) {
            size_t d = (size_t)k;
            double *p = pot + d * pot_d;
            kifmm__vstore(p, kifmm__vfma(vc, ap[k], kifmm__vload(p)));
            if (wg)
                for (e = 0; e < 3; e++) {
                    double *q = grad + d * grad_d + e * grad_a;
                    kifmm__vstore(q, kifmm__vfma(vc, ag[k][e], kifmm__vload(q)));
                }
            if (wh)
                for (e = 0; e < 6; e++) {
                    double *q = hess + d * hess_d + e * hess_a;
                    kifmm__vstore(q, kifmm__vfma(vc, ah[k][e], kifmm__vload(q)));
                }
        }
    }
}

/* all targets of t, in blocks of KIFMM__VW (a partial last block through a padded copy), density
   sets in passes of KIFMM__NDG then one at a time */
KIFMM__INLINE void kifmm__radial_run(const int yuk, const int hq, const int hd, const int wg, const int wh,
                                     const kifmm__kernel *k, int nd, const kifmm__src *s, const kifmm__tgt *t) {
    size_t i;
    int d0;
    for (i = 0; i < t->n; i += KIFMM__VW) {
        size_t m = t->n - i < KIFMM__VW ? t->n - i : KIFMM__VW, l;
        double px[KIFMM__VW], py[KIFMM__VW], pz[KIFMM__VW], *pot = t->pot + i, *grad = t->grad ? t->grad + i : NULL;
        double *hess = t->hess ? t->hess + i : NULL;
        const double *x = t->x + i, *y = t->y + i, *z = t->z + i;
        size_t pd = t->pot_d, ga = t->grad_a, gd = t->grad_d, ha = t->hess_a, hd_ = t->hess_d;
        double buf[10 * KIFMM__VW];
        int part = m < KIFMM__VW, dn = part ? 1 : nd, dd;
        for (dd = 0; dd < nd; dd += dn) {
            if (part) {            /* the tail: pad with the last target, one density set at a time */
                for (l = 0; l < KIFMM__VW; l++) {
                    size_t q = l < m ? l : m - 1;
                    px[l] = x[q]; py[l] = y[q]; pz[l] = z[q];
                }
                memset(buf, 0, sizeof buf);
                x = px; y = py; z = pz;
                pot = buf; grad = buf + KIFMM__VW; hess = buf + 4 * KIFMM__VW;
                pd = gd = hd_ = 0; ga = ha = KIFMM__VW;
            }
            for (d0 = dd; d0 < dd + dn;) {
                int g = dd + dn - d0 >= KIFMM__NDG ? KIFMM__NDG : 1;
                double *po = pot + (part ? 0 : (size_t)d0 * pd), *go = grad ? grad + (part ? 0 : (size_t)d0 * gd) : NULL;
                double *ho = hess ? hess + (part ? 0 : (size_t)d0 * hd_) : NULL;
                if (g == KIFMM__NDG)
                    kifmm__radial_block(yuk, hq, hd, wg, wh, KIFMM__NDG, k->lambda, k->c, s, d0, x, y, z, po, pd, go,
                                        ga, gd, ho, ha, hd_);
                else
                    kifmm__radial_block(yuk, hq, hd, wg, wh, 1, k->lambda, k->c, s, d0, x, y, z, po, pd, go, ga, gd,
                                        ho, ha, hd_);
                d0 += g;
            }
            if (part) {            /* add the padded block's real lanes */
                for (l = 0; l < m; l++) {
                    int e;
                    t->pot[(size_t)dd * t->pot_d + i + l] += buf[l];
                    if (t->grad)
                        for (e = 0; e < 3; e++) t->grad[(size_t)dd * t->grad_d + e * t->grad_a + i + l] += buf[(1 + e) * KIFMM__VW + l];
                    if (t->hess)
                        for (e = 0; e < 6; e++) t->hess[(size_t)dd * t->hess_d + e * t->hess_a + i + l] += buf[(4 + e) * KIFMM__VW + l];
                }
                x = t->x + i; y = t->y + i; z = t->z + i;
            }
        }
    }
}

/* ---- Stokes: u_a = c (f_a / r + x_a (x . f) / r^3), c = 1 / (8 pi mu) ----------------------
   d u_a / d x_e = c ((x_a f_e - f_a x_e) / r^3 + delta_ae (x . f) / r^3 - 3 x_a x_e (x . f) / r^5):
   an antisymmetric part (x cross f, 3 sums), a trace (1) and a symmetric part (6), 10 sums for
   the 9 entries, put together once at the end */
KIFMM__INLINE void kifmm__stokes_block(const int wg, double c, const kifmm__src *s, size_t d, const double *tx,
                                       const double *ty, const double *tz, double *pot, size_t pot_a, double *grad,
                                       size_t grad_a) {
    kifmm__v x = kifmm__vload(tx), y = kifmm__vload(ty), z = kifmm__vload(tz), zero = kifmm__vset(0.0);
    kifmm__v u[3], w[3], sy[6], tr = zero, vc = kifmm__vset(c), three = kifmm__vset(3.0);
    const double *q = s->q + d * s->q_d;
    size_t j;
    int a;
    for (a = 0; a < 3; a++) u[a] = w[a] = zero;
    for (a = 0; a < 6; a++) sy[a] = zero;
    for (j = 0; j < s->n; j++) {
        kifmm__v xs[3], f[3], inv, inv2, inv3, fx, t;
        xs[0] = kifmm__vsub(x, kifmm__vset(s->x[j]));
        xs[1] = kifmm__vsub(y, kifmm__vset(s->y[j]));
        xs[2] = kifmm__vsub(z, kifmm__vset(s->z[j]));
        inv = kifmm__vrsqrt(kifmm__vfma(xs[2], xs[2], kifmm__vfma(xs[1], xs[1], kifmm__vmul(xs[0], xs[0]))));
        inv2 = kifmm__vmul(inv, inv);
        inv3 = kifmm__vmul(inv, inv2);
        for (a = 0; a < 3; a++) f[a] = kifmm__vset(q[a * s->q_b + j]);
        fx = kifmm__vfma(f[2], xs[2], kifmm__vfma(f[1], xs[1], kifmm__vmul(f[0], xs[0])));
        t = kifmm__vmul(fx, inv3);
        for (a = 0; a < 3; a++) u[a] = kifmm__vfma(xs[a], t, kifmm__vfma(f[a], inv, u[a]));
        if (wg) {
            kifmm__v b = kifmm__vmul(kifmm__vmul(three, t), inv2), xb[3];
            tr = kifmm__vadd(tr, t);
            for (a = 0; a < 3; a++) {          /* (x cross f)_a / r^3 */
                int a1 = (a + 1) % 3, a2 = (a + 2) % 3;
                w[a] = kifmm__vfma(inv3, kifmm__vfnma(f[a1], xs[a2], kifmm__vmul(xs[a1], f[a2])), w[a]);
                xb[a] = kifmm__vmul(xs[a], b);
                sy[a] = kifmm__vfma(xb[a], xs[a], sy[a]);
            }
            sy[3] = kifmm__vfma(xb[0], xs[1], sy[3]);
            sy[4] = kifmm__vfma(xb[0], xs[2], sy[4]);
            sy[5] = kifmm__vfma(xb[1], xs[2], sy[5]);
        }
    }
    for (a = 0; a < 3; a++) kifmm__vstore(pot + a * pot_a, kifmm__vfma(vc, u[a], kifmm__vload(pot + a * pot_a)));
    if (wg) {
        /* entry (a, e) at 3 a + e: the trace, minus the symmetric part, plus or minus a cross term */
        kifmm__v gr[9];
        gr[0] = kifmm__vsub(tr, sy[0]); gr[4] = kifmm__vsub(tr, sy[1]); gr[8] = kifmm__vsub(tr, sy[2]);
        gr[1] = kifmm__vsub(w[2], sy[3]); gr[3] = kifmm__vsub(kifmm__vsub(zero, w[2]), sy[3]);
        gr[2] = kifmm__vsub(kifmm__vsub(zero, w[1]), sy[4]); gr[6] = kifmm__vsub(w[1], sy[4]);
        gr[5] = kifmm__vsub(w[0], sy[5]); gr[7] = kifmm__vsub(kifmm__vsub(zero, w[0]), sy[5]);
        for (a = 0; a < 9; a++) kifmm__vstore(grad + a * grad_a, kifmm__vfma(vc, gr[a], kifmm__vload(grad + a * grad_a)));
    }
}

static void kifmm__stokes_run(const int wg, const kifmm__kernel *k, int nd, const kifmm__src *s, const kifmm__tgt *t) {
    size_t i, l;
    int d, a;
    for (i = 0; i < t->n; i += KIFMM__VW) {
        size_t m = t->n - i < KIFMM__VW ? t->n - i : KIFMM__VW;
        for (d = 0; d < nd; d++) {
            double *pot = t->pot + (size_t)d * t->pot_d + i, *grad = wg ? t->grad + (size_t)d * t->grad_d + i : NULL;
            if (m == KIFMM__VW) {
                kifmm__stokes_block(wg, k->c, s, (size_t)d, t->x + i, t->y + i, t->z + i, pot, t->pot_a, grad, t->grad_a);
            } else {   /* padded tail */
                double px[KIFMM__VW], py[KIFMM__VW], pz[KIFMM__VW], buf[12 * KIFMM__VW];
                for (l = 0; l < KIFMM__VW; l++) {
                    size_t q = l < m ? i + l : i + m - 1;
                    px[l] = t->x[q]; py[l] = t->y[q]; pz[l] = t->z[q];
                }
                memset(buf, 0, sizeof buf);
                kifmm__stokes_block(wg, k->c, s, (size_t)d, px, py, pz, buf, KIFMM__VW, buf + 3 * KIFMM__VW, KIFMM__VW);
                for (l = 0; l < m; l++) {
                    for (a = 0; a < 3; a++) pot[a * t->pot_a + l] += buf[a * KIFMM__VW + l];
                    if (wg)
                        for (a = 0; a < 9; a++) grad[a * t->grad_a + l] += buf[(3 + a) * KIFMM__VW + l];
                }
            }
        }
    }
}

/* ---- the caller's kernel: blocks gathered into interleaved arrays, one density set per call */
static void kifmm__user_run(const kifmm__kernel *k, int nd, const kifmm__src *s, const kifmm__tgt *t, double *w) {
    double *tb = w, *sb = tb + 3 * KIFMM__UBLOCK_T, *db = sb + 3 * KIFMM__UBLOCK_S;
    double *vb = db + (size_t)KIFMM__MAX_KDIM * KIFMM__UBLOCK_S;
    size_t t0, s0, i;
    int d, a;
    for (t0 = 0; t0 < t->n; t0 += KIFMM__UBLOCK_T) {
        size_t mt = t->n - t0 < KIFMM__UBLOCK_T ? t->n - t0 : KIFMM__UBLOCK_T;
        for (i = 0; i < mt; i++) { tb[3 * i] = t->x[t0 + i]; tb[3 * i + 1] = t->y[t0 + i]; tb[3 * i + 2] = t->z[t0 + i]; }
        for (d = 0; d < nd; d++) {
            memset(vb, 0, mt * (size_t)k->tdim * sizeof *vb);
            for (s0 = 0; s0 < s->n; s0 += KIFMM__UBLOCK_S) {
                size_t ms = s->n - s0 < KIFMM__UBLOCK_S ? s->n - s0 : KIFMM__UBLOCK_S;
                const double *q = s->q + (size_t)d * s->q_d + s0;
                for (i = 0; i < ms; i++) {
                    sb[3 * i] = s->x[s0 + i]; sb[3 * i + 1] = s->y[s0 + i]; sb[3 * i + 2] = s->z[s0 + i];
                    for (a = 0; a < k->sdim; a++) db[i * k->sdim + a] = q[a * s->q_b + i];
                }
                k->eval(tb, mt, sb, ms, db, vb, k->user);
            }
            for (i = 0; i < mt; i++)
                for (a = 0; a < k->tdim; a++) t->pot[(size_t)d * t->pot_d + a * t->pot_a + t0 + i] += vb[i * k->tdim + a];
        }
    }
}

/* Adds the field of s at t: every operator's one entry point. t->hess needs t->grad too (the
   radial kernel computes them together). scratch: KIFMM__INTERACT_SCRATCH doubles (user kernels). */
#define KIFMM__RADIAL_RUN(Y)                                                                         \
    do {                                                                                            \
        if (hq && !hd) {                                                                            \
            if (wh) kifmm__radial_run(Y, 1, 0, 1, 1, k, nd, s, t);                                  \
            else if (wg) kifmm__radial_run(Y, 1, 0, 1, 0, k, nd, s, t);                             \
            else kifmm__radial_run(Y, 1, 0, 0, 0, k, nd, s, t);                                     \
        } else if (!hq) {                                                                           \
            if (wh) kifmm__radial_run(Y, 0, 1, 1, 1, k, nd, s, t);                                  \
            else if (wg) kifmm__radial_run(Y, 0, 1, 1, 0, k, nd, s, t);                             \
            else kifmm__radial_run(Y, 0, 1, 0, 0, k, nd, s, t);                                     \
        } else {                                                                                    \
            if (wh) kifmm__radial_run(Y, 1, 1, 1, 1, k, nd, s, t);                                  \
            else if (wg) kifmm__radial_run(Y, 1, 1, 1, 0, k, nd, s, t);                             \
            else kifmm__radial_run(Y, 1, 1, 0, 0, k, nd, s, t);                                     \
        }                                                                                           \
    } while (0)
static void kifmm__laplace_run(const kifmm__kernel *k, int nd, const kifmm__src *s, const kifmm__tgt *t) {
    int hq = s->q != NULL, hd = s->dip != NULL, wg = t->grad != NULL, wh = t->hess != NULL;
    KIFMM__RADIAL_RUN(0);
}
static void kifmm__yukawa_run(const kifmm__kernel *k, int nd, const kifmm__src *s, const kifmm__tgt *t) {
    int hq = s->q != NULL, hd = s->dip != NULL, wg = t->grad != NULL, wh = t->hess != NULL;
    KIFMM__RADIAL_RUN(1);
}
#undef KIFMM__RADIAL_RUN

KIFMM__FN void kifmm__interact(const kifmm__kernel *k, int nd, const kifmm__src *s, const kifmm__tgt *t,
                               double *scratch) {
    if (s->n == 0 || t->n == 0 || (!s->q && !s->dip)) return;
    KIFMM_ASSERT(!t->hess || t->grad);
    switch (k->kind) {
    case KIFMM_KERNEL_LAPLACE:
        if (nd == 1 && s->q && !s->dip && !t->hess) {     /* the common case: its own kernel */
            double *g = t->grad;
            kifmm__p2p(s->x, s->y, s->z, s->q, s->n, t->x, t->y, t->z, t->n, t->pot, g, g ? g + t->grad_a : NULL,
                       g ? g + 2 * t->grad_a : NULL);
        } else
            kifmm__laplace_run(k, nd, s, t);
        break;
    case KIFMM_KERNEL_YUKAWA: kifmm__yukawa_run(k, nd, s, t); break;
    case KIFMM_KERNEL_STOKES:
        if (t->grad) kifmm__stokes_run(1, k, nd, s, t);
        else kifmm__stokes_run(0, k, nd, s, t);
        break;
    default: kifmm__user_run(k, nd, s, t, scratch); break;
    }
}

/* ---- the reference: one target against all sources in the caller's layouts, exact arithmetic
   (sqrt, exp and divisions, no SIMD estimates), independent of the kernels above; kifmm_direct_ex
   and FMM3D's direct routines. Pairs with r^2 <= thresh2 are skipped. Adds into the target's
   slices: pot[a nd + d], grad[(3 a + c) nd + d], hess[h nd + d], each NULL when not wanted. Built-in
   kernels only (a user kernel is its own reference). */
KIFMM__FN void kifmm__direct_one(const kifmm__kernel *k, int nd, const double *src, size_t ns, const double *q,
                              const double *dip, const double *x, double thresh2, double *pot, double *grad,
                              double *hess) {
    size_t j;
    int d, a, b;
    KIFMM_ASSERT(k->kind != KIFMM_KERNEL_USER);
    for (j = 0; j < ns; j++) {
        double r[3], r2, ir, g0, d1, d2 = 0, d3 = 0;
        for (a = 0; a < 3; a++) r[a] = x[a] - src[3 * j + a];
        r2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        if (r2 <= thresh2) continue;
        ir = 1.0 / sqrt(r2);
        if (k->kind == KIFMM_KERNEL_STOKES) {
            for (d = 0; d < nd; d++) {
                double f[3], fx = 0, ir3 = ir * ir * ir;
                for (b = 0; b < 3; b++) { f[b] = q[(3 * j + b) * (size_t)nd + d]; fx += f[b] * r[b]; }
                for (a = 0; a < 3; a++) {
                    if (pot) pot[a * nd + d] += k->c * (f[a] * ir + r[a] * fx * ir3);
                    if (grad)
                        for (b = 0; b < 3; b++)
                            grad[(3 * a + b) * nd + d] += k->c * ((r[a] * f[b] - f[a] * r[b] + (a == b) * fx) * ir3 -
                                                                 3 * r[a] * r[b] * fx * ir3 * ir * ir);
                }
            }
            continue;
        }
        {   /* (the higher derivatives only when an output or a dipole needs them) */
            double ir2 = ir * ir;
            int need2 = hess || (dip && grad), need3 = hess && dip;
            if (k->kind == KIFMM_KERNEL_YUKAWA) {
                double lr = k->lambda * r2 * ir;
                g0 = exp(-lr) * ir;
                d1 = -g0 * (1 + lr) * ir2;
                if (need2) d2 = g0 * (lr * lr + 3 * lr + 3) * ir2 * ir2;
                if (need3) d3 = -g0 * (lr * lr * lr + 6 * lr * lr + 15 * lr + 15) * ir2 * ir2 * ir2;
            } else {
                g0 = ir;
                d1 = -ir * ir2;
                if (need2) d2 = -3 * d1 * ir2;
                if (need3) d3 = -5 * d2 * ir2;
            }
        }
        for (d = 0; d < nd; d++) {
            static const int hi[6] = {0, 1, 2, 0, 0, 1}, hk[6] = {0, 1, 2, 1, 2, 2};
            double qq = q ? q[j * (size_t)nd + d] : 0, v[3] = {0, 0, 0}, vx = 0;
            int h;
            if (dip)
                for (a = 0; a < 3; a++) { v[a] = dip[(3 * j + a) * (size_t)nd + d]; vx += v[a] * r[a]; }
            if (pot) pot[d] += k->c * (qq * g0 - vx * d1);
            if (grad)
                for (a = 0; a < 3; a++) grad[a * nd + d] += k->c * (qq * r[a] * d1 - (v[a] * d1 + r[a] * vx * d2));
            if (hess)
                for (h = 0; h < 6; h++) {
                    int i = hi[h], l = hk[h];
                    double del = i == l;
                    hess[h * nd + d] += k->c * (qq * (del * d1 + r[i] * r[l] * d2) -
                                                ((v[i] * r[l] + v[l] * r[i] + del * vx) * d2 + r[i] * r[l] * vx * d3));
                }
        }
    }
}

/* out[i] = 1/(4 pi |b_i - a|) for i < m, 0 where b_i = a; b is (bx, by, bz). A correctly rounded
   sqrt and a division, as the scalar expression; vectorised by hand because the library is built
   with errno-setting sqrt() (no -fno-math-errno), which the compiler must keep scalar: the
   precompute's kernel matrices (98 shell blocks of n^2) took 0.03 s at p = 8 that way. */
static void kifmm__inv_dist(const double a[3], const double *bx, const double *by, const double *bz, int m,
                            double *out) {
    int i = 0;
#if defined(__AVX512F__)
    {
        const __m512d ax = _mm512_set1_pd(a[0]), ay = _mm512_set1_pd(a[1]), az = _mm512_set1_pd(a[2]);
        const __m512d c = _mm512_set1_pd(KIFMM_INV_4PI), zero = _mm512_setzero_pd();
        for (; i + 8 <= m; i += 8) {
            __m512d dx = _mm512_sub_pd(_mm512_loadu_pd(bx + i), ax), dy = _mm512_sub_pd(_mm512_loadu_pd(by + i), ay);
            __m512d dz = _mm512_sub_pd(_mm512_loadu_pd(bz + i), az);
            __m512d r2 = _mm512_fmadd_pd(dz, dz, _mm512_fmadd_pd(dy, dy, _mm512_mul_pd(dx, dx)));
            __mmask8 pos = _mm512_cmp_pd_mask(r2, zero, _CMP_GT_OQ);
            _mm512_storeu_pd(out + i, _mm512_maskz_div_pd(pos, c, _mm512_sqrt_pd(r2)));
        }
    }
#elif defined(__AVX2__) && defined(__FMA__)
    {
        const __m256d ax = _mm256_set1_pd(a[0]), ay = _mm256_set1_pd(a[1]), az = _mm256_set1_pd(a[2]);
        const __m256d c = _mm256_set1_pd(KIFMM_INV_4PI), zero = _mm256_setzero_pd();
        for (; i + 4 <= m; i += 4) {
            __m256d dx = _mm256_sub_pd(_mm256_loadu_pd(bx + i), ax), dy = _mm256_sub_pd(_mm256_loadu_pd(by + i), ay);
            __m256d dz = _mm256_sub_pd(_mm256_loadu_pd(bz + i), az);
            __m256d r2 = _mm256_fmadd_pd(dz, dz, _mm256_fmadd_pd(dy, dy, _mm256_mul_pd(dx, dx)));
            __m256d v = _mm256_div_pd(c, _mm256_sqrt_pd(r2));
            _mm256_storeu_pd(out + i, _mm256_and_pd(v, _mm256_cmp_pd(r2, zero, _CMP_GT_OQ)));
        }
    }
#endif
    for (; i < m; i++) {
        double dx = bx[i] - a[0], dy = by[i] - a[1], dz = bz[i] - a[2], r2 = dx * dx + dy * dy + dz * dz;
        out[i] = r2 > 0 ? KIFMM_INV_4PI / sqrt(r2) : 0.0;
    }
}

/* out[i] = c e^(-lambda |b_i - a|) / |b_i - a|, 0 where b_i = a: Yukawa's column, with a correctly
   rounded sqrt and division and the vector e^x */
static void kifmm__yukawa_col(const kifmm__kernel *k, const double a[3], const double *bx, const double *by,
                              const double *bz, int m, double *out) {
    int i = 0;
#if KIFMM__VW > 1
    {
        kifmm__v ax = kifmm__vset(a[0]), ay = kifmm__vset(a[1]), az = kifmm__vset(a[2]), c = kifmm__vset(k->c);
        kifmm__v nl = kifmm__vset(-k->lambda);
        for (; i + KIFMM__VW <= m; i += KIFMM__VW) {
            kifmm__v dx = kifmm__vsub(kifmm__vload(bx + i), ax), dy = kifmm__vsub(kifmm__vload(by + i), ay);
            kifmm__v dz = kifmm__vsub(kifmm__vload(bz + i), az);
            kifmm__v r2 = kifmm__vfma(dz, dz, kifmm__vfma(dy, dy, kifmm__vmul(dx, dx))), r = kifmm__vsqrt(r2);
            kifmm__v v = kifmm__vdiv(kifmm__vmul(c, kifmm__vexp_neg(kifmm__vmul(nl, r))), r);
            kifmm__vstore(out + i, kifmm__vpos(r2, v));
        }
    }
#endif
    for (; i < m; i++) {
        double dx = bx[i] - a[0], dy = by[i] - a[1], dz = bz[i] - a[2], r = sqrt(dx * dx + dy * dy + dz * dz);
        out[i] = r > 0 ? k->c * exp(-k->lambda * r) / r : 0.0;
    }
}

/* a column of a radial kernel's matrix: G(b_i - a) for i < m */
static void kifmm__radial_col(const kifmm__kernel *k, const double a[3], const double *bx, const double *by,
                              const double *bz, int m, double *out) {
    if (k->kind == KIFMM_KERNEL_YUKAWA) kifmm__yukawa_col(k, a, bx, by, bz, m, out);
    else kifmm__inv_dist(a, bx, by, bz, m, out);
}

/* K[i + j*ldk] = G(t_i, s_j) of a radial kernel for structure-of-arrays points (ld = point count) */
static void kifmm__kmat_radial(const kifmm__kernel *kern, const double *t, int nt, const double *s, int ns, double *k,
                               int ldk) {
    ptrdiff_t j;
    KIFMM__OMP(omp parallel for schedule(static))
    for (j = 0; j < ns; j++) {
        double a[3];
        a[0] = s[j]; a[1] = s[ns + j]; a[2] = s[2 * ns + j];
        kifmm__radial_col(kern, a, t, t + nt, t + 2 * nt, nt, k + (size_t)j * ldk);
    }
}

/* the Laplace kernel's */
static const kifmm__kernel kifmm__laplace = {KIFMM_KERNEL_LAPLACE, 1, 1, 0.0, KIFMM_INV_4PI, -1.0, NULL, NULL};
KIFMM__FN void kifmm__kernel_matrix(const double *t, int nt, const double *s, int ns, double *k, int ldk) {
    kifmm__kmat_radial(&kifmm__laplace, t, nt, s, ns, k, ldk);
}

/* ==== SURFACES ================================================================================ */
KIFMM__FN int kifmm__surface_size(int order) { return 6 * (order - 1) * (order - 1) + 2; }

KIFMM__FN void kifmm__surface(int p, double *s) {
    int n = kifmm__surface_size(p), i, j, k, m = 0;
    for (i = 0; i < p; i++)
        for (j = 0; j < p; j++)
            for (k = 0; k < p; k++) {
                if (i != 0 && i != p - 1 && j != 0 && j != p - 1 && k != 0 && k != p - 1) continue;
                s[m] = -1.0 + 2.0 * i / (p - 1);
                s[n + m] = -1.0 + 2.0 * j / (p - 1);
                s[2 * n + m] = -1.0 + 2.0 * k / (p - 1);
                m++;
            }
}

KIFMM__FN void kifmm__surface_at(const double *ref, int n, const double c[3], double scale, double *out) {
    int i, d;
    for (d = 0; d < 3; d++)
        for (i = 0; i < n; i++) out[d * n + i] = c[d] + scale * ref[d * n + i];
}

/* ==== PRECOMPUTE ============================================================================== */
/* K_t: downward check surface of the unit box at the origin <- upward equivalent surface of the
   box at offset 2 d (box width 2); column-major n x n */
/* K_t on the unit box (target check points at r s, sources at 2d + r s, r = RADIUS_INNER) into k
   (ld ldk), or its transpose K_t^T when trans */
#define KIFMM__MAX_SURFACE 1352   /* kifmm__surface_size(16), the highest order */
static void kifmm__m2l_block(const kifmm__kernel *kern, const double *s, int n, const int d[3], int trans, double *k,
                             size_t ldk) {
    double b[3 * KIFMM__MAX_SURFACE], a[3], r = KIFMM_RADIUS_INNER;
    int i, j, c;
    /* column j holds source j (K_t) or target j (K_t^T) against the other side's points, b */
    for (c = 0; c < 3; c++)
        for (i = 0; i < n; i++) b[c * n + i] = (trans ? 2 * d[c] : 0) + r * s[c * n + i];
    for (j = 0; j < n; j++) {
        for (c = 0; c < 3; c++) a[c] = (trans ? 0 : 2 * d[c]) + r * s[c * n + j];
        kifmm__radial_col(kern, a, b, b + n, b + 2 * n, n, k + (size_t)j * ldk);
    }
}

/* The fat matrix F = [K_tv[0] ... K_tv[count-1]] (n x count n), generated in chunks of transfer
   vectors into buf; the chunk last generated is kept, so a product over one chunk regenerates
   nothing. */
typedef struct kifmm__fat {
    const kifmm__kernel *kern;
    const double *surf;
    const int *tv;
    int n, count, chunk, cached_from;     /* vectors per chunk; first position in the buffer */
    double *buf;
    const kifmm_blas *blas;
} kifmm__fat;

static const double *kifmm__fat_chunk(kifmm__fat *f, int c0) {
    ptrdiff_t c;
    int c1 = c0 + f->chunk < f->count ? c0 + f->chunk : f->count;
    size_t nn = (size_t)f->n * f->n;
    if (f->cached_from == c0) return f->buf;
    KIFMM__OMP(omp parallel for schedule(dynamic, 1))
    for (c = c0; c < c1; c++) {
        int d[3];
        kifmm__transfer_vector(f->tv[c], d);
        kifmm__m2l_block(f->kern, f->surf, f->n, d, 0, f->buf + (size_t)(c - c0) * nn, (size_t)f->n);
    }
    f->cached_from = c0;
    return f->buf;
}

static void kifmm__fat_apply(int trans, int ncols, const double *x, int ldx, double *y, int ldy, void *ctx) {
    kifmm__fat *f = (kifmm__fat *)ctx;
    int c0, n = f->n;
    for (c0 = 0; c0 < f->count; c0 += f->chunk) {
        int cnt = c0 + f->chunk < f->count ? f->chunk : f->count - c0;
        const double *fc = kifmm__fat_chunk(f, c0);
        if (!trans)   /* y = sum over chunks of F_c x_c */
            kifmm__dgemm(f->blas, 0, 0, n, ncols, cnt * n, 1.0, fc, n, x + (size_t)c0 * n, ldx,
                         c0 ? 1.0 : 0.0, y, ldy);
        else          /* y_c = F_c^T x */
            kifmm__dgemm(f->blas, 1, 0, cnt * n, ncols, n, 1.0, fc, n, x, ldx, 0.0, y + (size_t)c0 * n, ldy);
    }
}

KIFMM__FN void kifmm__ops_free(kifmm__ops *o) {
    size_t n, k, ne, nc, mn;
    if (!o) return;
    n = (size_t)o->n;
    k = (size_t)o->k;
    ne = (size_t)o->ne;
    nc = (size_t)o->nc;
    mn = ne < nc ? ne : nc;
    kifmm__free(&o->alloc, o->surf, 3 * n * sizeof(double));
    kifmm__free(&o->alloc, o->c2e_v, ne * mn * sizeof(double));
    kifmm__free(&o->alloc, o->c2e_u, mn * nc * sizeof(double));
    kifmm__free(&o->alloc, o->dc2e_v, ne * mn * sizeof(double));
    kifmm__free(&o->alloc, o->dc2e_u, mn * nc * sizeof(double));
    kifmm__free(&o->alloc, o->m2m, 8 * ne * ne * sizeof(double));
    kifmm__free(&o->alloc, o->l2l, 8 * nc * nc * sizeof(double));
    if (o->m2l_v != o->m2l_u) kifmm__free(&o->alloc, o->m2l_v, ne * k * sizeof(double));
    kifmm__free(&o->alloc, o->m2l_u, nc * k * sizeof(double));
    if (o->m2l_coff) kifmm__free(&o->alloc, o->m2l_c, o->m2l_coff[KIFMM_NUM_TRANSFER] * sizeof(double));
    kifmm__free(&o->alloc, o->m2l_r, KIFMM_NUM_TRANSFER * sizeof(int));
    kifmm__free(&o->alloc, o->m2l_coff, (KIFMM_NUM_TRANSFER + 1) * sizeof(size_t));
    kifmm__free(&o->alloc, o->sigma, nc * sizeof(double));
    memset(o, 0, sizeof *o);
}

#define KIFMM__OALLOC(o, p, count) KIFMM__HOLD(&(o)->alloc, &(o)->bytes, p, count)

/* ---- parity sectors of the surface --------------------------------------------------------
   The reflections x_a -> -x_a (a = 0, 1, 2) map a surface centred on the box onto itself, and the
   matrices between two such surfaces (the check-to-equivalent K, F F^T of the shell) commute
   with them. In the basis of even / odd combinations over each orbit of the reflections (a
   Hadamard transform over its 1, 2, 4 or 8 points) such a matrix is block diagonal: one block
   per parity class (odd in x? in y? in z?), about n/8 wide, so its SVD costs about 1/64 of the
   whole one and its blocks' SVDs together give the same values and (mapped back) vectors.
   Basis vector b (sector s holds b in [off[s], off[s+1])) has cnt[b] <= 8 entries idx, coef. */
typedef struct kifmm__parity { int off[9], *cnt, *idx; double *coef; } kifmm__parity;

/* lattice point (i p + j) p + l of the order-p grid -> its index on the surface, or -1 */
static void kifmm__surface_lut(int p, int *lut) {
    int i, j, l, m = 0;
    for (i = 0; i < p; i++)
        for (j = 0; j < p; j++)
            for (l = 0; l < p; l++)
                lut[(i * p + j) * p + l] =
                    i == 0 || i == p - 1 || j == 0 || j == p - 1 || l == 0 || l == p - 1 ? m++ : -1;
}

/* par->cnt (n), idx and coef (8 n each) allocated by the caller; lut: p^3 ints of scratch */
static void kifmm__parity_build(int p, int *lut, kifmm__parity *par) {
    int sct, i, b = 0, h = p - 1;
    kifmm__surface_lut(p, lut);
    for (sct = 0; sct < 8; sct++) {
        par->off[sct] = b;
        for (i = 0; i < p * p * p; i++) {
            int x[3], y[3], zero = 0, nz = 0, m = 0, s, a, e = 0;
            if (lut[i] < 0) continue;
            x[0] = i / (p * p); x[1] = i / p % p; x[2] = i % p;
            for (a = 0; a < 3; a++) {
                if (2 * x[a] > h) break;                    /* not the orbit's representative */
                if (2 * x[a] == h) zero |= 1 << a;          /* on a mirror plane: even only */
                else { nz |= 1 << a; m++; }
            }
            if (a < 3 || (sct & zero)) continue;
            for (s = 0; s < 8; s++) {
                int odd = 0;
                if (s & ~nz) continue;
                for (a = 0; a < 3; a++) {
                    y[a] = (s >> a & 1) ? h - x[a] : x[a];
                    odd ^= (sct & s) >> a & 1;
                }
                par->idx[8 * b + e] = lut[(y[0] * p + y[1]) * p + y[2]];
                par->coef[8 * b + e] = (odd ? -1.0 : 1.0) / sqrt((double)(1 << m));
                e++;
            }
            par->cnt[b++] = e;
        }
    }
    par->off[8] = b;
}

/* y = B_s x, x of the sector's n_s coordinates, y (n) overwritten */
static void kifmm__parity_expand(const kifmm__parity *par, int s, int n, const double *x, double *y) {
    int r, e;
    for (r = 0; r < n; r++) y[r] = 0.0;
    for (r = par->off[s]; r < par->off[s + 1]; r++)
        for (e = 0; e < par->cnt[r]; e++) y[par->idx[8 * r + e]] += par->coef[8 * r + e] * x[r - par->off[s]];
}

/* the order of the n values of all sectors, descending (ties by position: deterministic) */
typedef struct kifmm__sv { double v; int at; } kifmm__sv;
static int kifmm__sv_cmp(const void *a, const void *b) {
    const kifmm__sv *x = (const kifmm__sv *)a, *y = (const kifmm__sv *)b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;
    return x->at - y->at;
}

/* pinv of the n x n K (ld ldk) that commutes with the reflections, as kifmm__pinv (the same
   x1 = V S^+, x2 = U^T, values cut at rcond * s_0) from the SVDs of its 8 parity blocks */
static kifmm_status kifmm__pinv_parity(const kifmm_allocator *al, const kifmm_blas *blas, int n, const double *k,
                                       int ldk, const kifmm__parity *par, double rcond, double *x1, double *x2,
                                       int *rank) {
    size_t nn = 0, bytes;
    int s, r, c, e, f, j;
    double *a, *ub, *vb, *vals, *col;
    kifmm__sv *ord;
    kifmm_status st = KIFMM_OK;
    for (s = 0; s < 8; s++) nn += (size_t)(par->off[s + 1] - par->off[s]) * (par->off[s + 1] - par->off[s]);
    bytes = (3 * nn + 2 * (size_t)n) * sizeof(double) + (size_t)n * sizeof(kifmm__sv);
    a = (double *)kifmm__alloc(al, bytes);
    if (!a) return KIFMM_ERR_OUT_OF_MEMORY;
    ub = a + nn; vb = ub + nn; vals = vb + nn; col = vals + n; ord = (kifmm__sv *)(col + n);
    for (s = 0, nn = 0; s < 8 && st == KIFMM_OK; s++) {   /* block s: B_s^T K B_s, then its SVD */
        int o = par->off[s], ns = par->off[s + 1] - o;
        double *as = a + nn;
        for (c = 0; c < ns; c++)
            for (r = 0; r < ns; r++) {
                double v = 0.0;
                for (e = 0; e < par->cnt[o + r]; e++)
                    for (f = 0; f < par->cnt[o + c]; f++)
                        v += par->coef[8 * (o + r) + e] * par->coef[8 * (o + c) + f] *
                             k[par->idx[8 * (o + r) + e] + (size_t)par->idx[8 * (o + c) + f] * ldk];
                as[r + (size_t)c * ns] = v;
            }
        if (ns > 0) st = kifmm__svd(al, blas, ns, ns, as, ns, ub + nn, ns, vals + o, vb + nn, ns);
        nn += (size_t)ns * ns;
    }
    *rank = 0;
    if (st == KIFMM_OK) {
        for (j = 0; j < n; j++) { ord[j].v = vals[j]; ord[j].at = j; }
        qsort(ord, (size_t)n, sizeof *ord, kifmm__sv_cmp);
        for (j = 0; j < n && ord[j].v > 0.0 && ord[j].v > rcond * ord[0].v; j++) {}
        *rank = j;
        for (j = 0; j < *rank; j++) {          /* x1 column j = B_s v / s, x2 row j = (B_s u)^T */
            int at = ord[j].at, o;
            for (s = 0, nn = 0; at >= par->off[s + 1]; s++)
                nn += (size_t)(par->off[s + 1] - par->off[s]) * (par->off[s + 1] - par->off[s]);
            o = par->off[s];
            c = at - o;
            kifmm__parity_expand(par, s, n, vb + nn + (size_t)c * (par->off[s + 1] - o), x1 + (size_t)j * n);
            for (r = 0; r < n; r++) x1[r + (size_t)j * n] /= ord[j].v;
            kifmm__parity_expand(par, s, n, ub + nn + (size_t)c * (par->off[s + 1] - o), col);
            for (r = 0; r < n; r++) x2[j + (size_t)r * *rank] = col[r];
        }
    }
    kifmm__free(al, a, bytes);
    return st;
}

#define KIFMM__SHELL_BYTES ((size_t)512 << 20)   /* of F^T B in memory at once */

/* the end of the group of sectors from s0 on whose F^T B_s (mt rows) fit together: one at least */
static int kifmm__sector_group(const kifmm__parity *par, int s0, size_t mt) {
    int s1 = s0 + 1;
    while (s1 < 8 && (size_t)(par->off[s1 + 1] - par->off[s0]) * mt * sizeof(double) <= KIFMM__SHELL_BYTES) s1++;
    return s1;
}

/* The shell basis by sector: F^T B_s straight from the kernel blocks (K_t^T B_s, 8 n n_s per
   block), the tall SVD of each (right vectors V_s: the left ones of B_s^T F), then all values
   sorted and the top vectors mapped back, u_j = B_s v. A reflection g of t only permutes and signs
   the rows of its block (K_gt^T B_s = +-P_g K_t^T B_s: B_s is an eigenspace of P_g), so the Gram
   matrix of the 98 blocks is that of the 19 with t >= 0, each weighted by its orbit's size; their
   stack, rows scaled by the square root of it, has the same values and right vectors at 1/5 the
   rows. The 8 tall factorisations are 1/8 of the whole one's flops. Sectors go in groups of at
   most KIFMM__SHELL_BYTES of F^T B, the blocks regenerated for each group. */
static kifmm_status kifmm__gen_block(const kifmm__ops *o, int t, double *pts, double *km, size_t ldk);
static kifmm_status kifmm__basis_parity(kifmm__ops *o, const kifmm_blas *blas, const int *shell, int nshell,
                                        const kifmm__parity *par, double *u) {
    /* n: the length of a check vector (a vector kernel's parity basis spans its nc entries) */
    int n = o->nc, radial = o->kern.kind == KIFMM_KERNEL_LAPLACE || o->kern.kind == KIFMM_KERNEL_YUKAWA;
    int s, s0, s1, j, r, nthr = 1, ns = 0, rep[KIFMM_NUM_TRANSFER], t, d[3];
    size_t mt, nn = 0, bytes, fbytes, kbytes, off[9];
    double *vs, *vals, *ftb, *kb, wt[KIFMM_NUM_TRANSFER];
    kifmm__sv *ord;
    kifmm_status st = KIFMM_OK;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
    for (t = 0; t < nshell; t++) {               /* orbit representatives under the reflections */
        kifmm__transfer_vector(shell[t], d);
        if (d[0] < 0 || d[1] < 0 || d[2] < 0) continue;
        rep[ns] = shell[t];
        wt[ns++] = sqrt((double)(1 << ((d[0] != 0) + (d[1] != 0) + (d[2] != 0))));
    }
    mt = (size_t)ns * n;
    for (s = 0; s < 8; s++) {
        int w = par->off[s + 1] - par->off[s];
        off[s] = nn;
        nn += (size_t)w * w;
    }
    off[8] = nn;
    for (s = 0, j = 0; s < 8; s = s1) {         /* the widest group */
        s1 = kifmm__sector_group(par, s, mt);
        j = par->off[s1] - par->off[s] > j ? par->off[s1] - par->off[s] : j;
    }
    bytes = (nn + (size_t)n) * sizeof(double) + (size_t)n * sizeof(kifmm__sv);
    fbytes = (size_t)j * mt * sizeof(double);
    kbytes = (size_t)nthr * ((size_t)n * n + 6 * (size_t)o->n) * sizeof(double);
    vs = (double *)kifmm__alloc(&o->alloc, bytes);
    ftb = (double *)kifmm__alloc(&o->alloc, fbytes);
    kb = (double *)kifmm__alloc(&o->alloc, kbytes);
    if (!vs || !ftb || !kb) { st = KIFMM_ERR_OUT_OF_MEMORY; goto done; }
    vals = vs + nn; ord = (kifmm__sv *)(vals + n);
    for (s0 = 0; s0 < 8 && st == KIFMM_OK; s0 = s1) {
        int b0;
        ptrdiff_t c;
        s1 = kifmm__sector_group(par, s0, mt);
        b0 = par->off[s0];
        KIFMM__OMP(omp parallel for schedule(dynamic, 1))
        for (c = 0; c < ns; c++) {
            double *kt = kb + (size_t)kifmm__thread() * ((size_t)n * n + 6 * (size_t)o->n);
            int dc[3], b, e;
            kifmm__transfer_vector(rep[c], dc);
            if (radial) kifmm__m2l_block(&o->kern, o->surf, n, dc, 1, kt, (size_t)n);       /* K_t^T */
            else        /* a symmetric kernel's K_t^T is K_{-t}: the vector 315 - t */
                (void)kifmm__gen_block(o, KIFMM_NUM_TRANSFER - 1 - rep[c], kt + (size_t)n * n, kt, (size_t)n);
            for (b = b0; b < par->off[s1]; b++) {                   /* rows c n.. of F^T B */
                double *y = ftb + (size_t)c * n + (size_t)(b - b0) * mt;
                memset(y, 0, (size_t)n * sizeof *y);
                for (e = 0; e < par->cnt[b]; e++)
                    kifmm__la_axpy(n, wt[c] * par->coef[8 * b + e], kt + (size_t)par->idx[8 * b + e] * n, y);
            }
        }
        for (s = s0; s < s1 && st == KIFMM_OK; s++) {
            int w = par->off[s + 1] - par->off[s];
            if (w > 0)
                st = kifmm__la_svd_tall(&o->alloc, blas, (int)mt, w, ftb + (size_t)(par->off[s] - b0) * mt, (int)mt,
                                        NULL, 0, vals + par->off[s], vs + off[s], w);
        }
    }
    if (st == KIFMM_OK) {
        for (j = 0; j < n; j++) { ord[j].v = vals[j]; ord[j].at = j; }
        qsort(ord, (size_t)n, sizeof *ord, kifmm__sv_cmp);
        for (j = 0; j < n; j++) {
            int at = ord[j].at;
            for (s = 0; at >= par->off[s + 1]; s++) {}
            r = at - par->off[s];
            o->sigma[j] = ord[j].v;
            kifmm__parity_expand(par, s, n, vs + off[s] + (size_t)r * (par->off[s + 1] - par->off[s]), u + (size_t)j * n);
        }
    }
done:
    kifmm__free(&o->alloc, vs, bytes);
    kifmm__free(&o->alloc, ftb, fbytes);
    kifmm__free(&o->alloc, kb, kbytes);
    return st;
}

/* The 48 symmetries of the cube, (g x)_a = sign_a x_{axis_a} (axis a permutation, signs +-1),
   map transfer vectors onto transfer vectors and surface points onto surface points, and
   K_{g d} = P_g K_d P_g^T with P_g that permutation of the surface. The basis U spans an
   invariant subspace of every P_g (F F^T commutes with them) unless the cut splits a multiplet of
   equal singular values; then W_g = U^T P_g U is orthogonal, P_g U = U W_g, and
   C_{g d} = W_g C_d W_g^T. So 16 cores (one per orbit, d = the sorted |d|) are formed and
   compressed instead of 158, and A_{g d} = W_g A_d, B_{g d} = W_g B_d. The invariance is checked
   (kifmm__sym_invariant) before it is used. */
static const int kifmm__perm3[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
#ifndef KIFMM__M2L_ORBITS       /* 0: every core formed (a test covers that path too) */
#define KIFMM__M2L_ORBITS 1
#endif
#define KIFMM__NSYM 48
#define KIFMM__NORBIT 16

/* g = 8 * permutation + sign bits with d = g rep, rep = the sorted |d| */
static int kifmm__sym_split(const int d[3], int rep[3]) {
    int a[3], q, b, bits = 0;
    for (b = 0; b < 3; b++) a[b] = rep[b] = abs(d[b]);
    for (b = 1; b < 3; b++)
        for (q = b; q > 0 && rep[q - 1] > rep[q]; q--) { int x = rep[q]; rep[q] = rep[q - 1]; rep[q - 1] = x; }
    for (q = 0; q < 5; q++)
        if (a[0] == rep[kifmm__perm3[q][0]] && a[1] == rep[kifmm__perm3[q][1]] && a[2] == rep[kifmm__perm3[q][2]])
            break;
    for (b = 0; b < 3; b++) bits |= (d[b] < 0) << b;
    return 8 * q + bits;
}

/* pi[i] = the index of g s_i on the order-p surface (lut: p^3 ints of scratch) */
static void kifmm__sym_perm(int p, int g, int *pi, int *lut) {
    const int *axis = kifmm__perm3[g / 8];
    int i, x[3], y[3], b;
    kifmm__surface_lut(p, lut);
    for (i = 0; i < p * p * p; i++) {
        if (lut[i] < 0) continue;
        x[0] = i / (p * p); x[1] = i / p % p; x[2] = i % p;
        for (b = 0; b < 3; b++) y[b] = (g >> b & 1) ? p - 1 - x[axis[b]] : x[axis[b]];
        pi[lut[i]] = lut[(y[0] * p + y[1]) * p + y[2]];
    }
}

/* P_g on a check (or equivalent) vector of o: index x of the vector goes to sp[x] >> 1, negated
   when sp[x] & 1; for the scalar (radial) kernels that use it, the point permutation pi, unsigned */
static void kifmm__signed_perm(const kifmm__ops *o, const int *pi, int *sp) {
    int i;
    for (i = 0; i < o->n; i++) sp[i] = 2 * pi[i];
}

/* the symmetries the first half of the transfer vectors need, each vector's (g_of), its orbit's
   representative (rep_of, an index into rep_tv); returns the number of orbits */
static int kifmm__m2l_orbits(int *half_tv, int *rep_tv, int *rep_of, int *g_of, int *used) {
    int t, g, nrep = 0;
    memset(used, 0, KIFMM__NSYM * sizeof *used);
    for (t = 0; t < KIFMM_NUM_TRANSFER / 2; t++) {
        int d[3], rp[3], i;
        half_tv[t] = t;
        kifmm__transfer_vector(t, d);
        used[g_of[t] = kifmm__sym_split(d, rp)] = 1;
        i = kifmm__transfer_index(rp[0], rp[1], rp[2]);
        for (g = 0; g < nrep && rep_tv[g] != i; g++) {}
        if (g == nrep) rep_tv[nrep++] = i;
        rep_of[t] = g;
    }
    return nrep;
}

static int kifmm__sym_invariant(const kifmm__ops *o, const int *sp, double *w);

/* the signed permutations of the symmetries in use (sps: KIFMM__NSYM nc), and whether o's basis is
   invariant under all of them (KIFMM__M2L_ORBITS = 0: never used) */
static kifmm_status kifmm__m2l_symmetric(kifmm__ops *o, const int *used, int *sps, int *ok) {
    int p = o->order, g, *lut = NULL, *pi = NULL;
    size_t lutn = (size_t)p * p * p, wsz = ((size_t)o->k + o->nc) * sizeof(double);
    double *w = (double *)kifmm__alloc(&o->alloc, wsz);
    kifmm_status st = KIFMM_ERR_OUT_OF_MEMORY;
    lut = (int *)kifmm__alloc(&o->alloc, (lutn + (size_t)o->n) * sizeof *lut);
    *ok = KIFMM__M2L_ORBITS;
    if (!w || !lut) goto done;
    pi = lut + lutn;
    for (g = 0; g < KIFMM__NSYM && *ok; g++) {
        if (!used[g]) continue;
        kifmm__sym_perm(p, g, pi, lut);
        kifmm__signed_perm(o, pi, sps + (size_t)g * o->nc);
        *ok = kifmm__sym_invariant(o, sps + (size_t)g * o->nc, w);
    }
    st = KIFMM_OK;
done:
    kifmm__free(&o->alloc, w, wsz);
    kifmm__free(&o->alloc, lut, (lutn + (size_t)o->n) * sizeof *lut);
    return st;
}

/* check-to-equivalent factors, M2M and L2L on the unit box */
static kifmm_status kifmm__ops_translations(kifmm__ops *o, const kifmm_blas *blas, const kifmm__parity *par,
                                            double *kbuf, double *tmp, int *lut, int *pi) {
    int n = o->n, r, oct, i, j;
    double *s2 = tmp + (size_t)n * n, *s1 = s2 + 3 * (size_t)n, zero[3] = {0, 0, 0}, c[3] = {-0.5, -0.5, -0.5};
    double *m0 = o->m2m, *l0 = o->l2l;
    kifmm_status st;
    kifmm__surface_at(o->surf, n, zero, KIFMM_RADIUS_OUTER, s2);      /* upward check */
    kifmm__surface_at(o->surf, n, zero, KIFMM_RADIUS_INNER, s1);      /* upward equivalent */
    kifmm__kmat_radial(&o->kern, s2, n, s1, n, kbuf, n);
    st = kifmm__pinv_parity(&o->alloc, blas, n, kbuf, n, par, KIFMM__C2E_RCOND, o->c2e_v, o->c2e_u, &o->c2e_rank);
    if (st != KIFMM_OK) return st;
    r = o->c2e_rank;
    /* octant 0 (the child at -1/2 -1/2 -1/2). M2M: parent's upward check <- child's upward
       equivalent, then the parent's solve */
    kifmm__surface_at(o->surf, n, c, 0.5 * KIFMM_RADIUS_INNER, s1);
    kifmm__kmat_radial(&o->kern, s2, n, s1, n, kbuf, n);
    kifmm__dgemm(blas, 0, 0, r, n, n, 1.0, o->c2e_u, r, kbuf, n, 0.0, tmp, r);
    kifmm__dgemm(blas, 0, 0, n, n, r, 1.0, o->c2e_v, n, tmp, r, 0.0, m0, n);
    /* L2L: child's downward check <- parent's downward equivalent <- parent's check */
    kifmm__kmat_radial(&o->kern, s1, n, s2, n, kbuf, n);
    kifmm__dgemm(blas, 0, 1, n, r, n, 1.0, kbuf, n, o->c2e_u, r, 0.0, tmp, n);
    kifmm__dgemm(blas, 0, 1, n, n, r, 1.0, tmp, n, o->c2e_v, n, 0.0, l0, 8 * n);
    /* the other 7: the reflection g that takes child 0 to child oct maps the parent's surfaces
       and the child's onto themselves, points permuted by pi, and commutes with the solve, so
       M2M_oct = P_g M2M_0 P_g^T exactly (row pi(i), column pi(j) of it is entry (i, j) of M2M_0):
       32 GEMMs of n^3 were 0.09 s of the order-9 precompute */
    for (oct = 1; oct < 8; oct++) {
        double *m = o->m2m + (size_t)oct * n * n, *l = o->l2l + (size_t)oct * n;
        kifmm__sym_perm(o->order, (oct >> 2 & 1) | (oct >> 1 & 1) << 1 | (oct & 1) << 2, pi, lut);
        for (j = 0; j < n; j++)
            for (i = 0; i < n; i++) {
                m[pi[i] + (size_t)pi[j] * n] = m0[i + (size_t)j * n];
                l[pi[i] + (size_t)pi[j] * 8 * n] = l0[i + (size_t)j * 8 * n];
            }
    }
    return KIFMM_OK;
}

/* The M2L basis U: left singular vectors of the fat matrix of the 98 transfer vectors of the shell
   max |d_i| = 2 (in box widths) around the near field, not of all 316. Every farther source box
   lies outside that shell, so the check potentials it makes are, to the accuracy the order
   allows, already in the range of the shell's blocks. Measured on 10^5 points, p = 4, 6, 8, 9:
   errors equal to those of the 316-vector basis to 3 digits (ranks +0..5), for a 3.2x smaller QR
   and F^T of 98 n^2 doubles (117 MB at p = 9) instead of 316 n^2 plus its transpose. */
#define KIFMM__CORE_CHUNK 32                     /* transfer vectors per core GEMM */

static kifmm_status kifmm__ops_basis(kifmm__ops *o, const kifmm_blas *blas, const kifmm__parity *par, int k,
                                     uint64_t seed, double *u, double *fatbuf, int chunk) {
    int n = o->n, shell[KIFMM_NUM_TRANSFER], ns = 0, t, d[3];
    kifmm__fat f;
    for (t = 0; t < KIFMM_NUM_TRANSFER; t++) {
        kifmm__transfer_vector(t, d);
        if (abs(d[0]) <= 2 && abs(d[1]) <= 2 && abs(d[2]) <= 2) shell[ns++] = t;
    }
    if (k == n)   /* every direction wanted: the SVD of the tall F^T itself, by parity sector (a
                     random range finder would only rotate the identity) */
        return kifmm__basis_parity(o, blas, shell, ns, par, u);
    /* a fixed rank gets oversampling and a power iteration */
    f.kern = &o->kern; f.surf = o->surf; f.tv = shell; f.n = n; f.count = ns; f.chunk = chunk; f.cached_from = -1;
    f.buf = fatbuf; f.blas = blas;
    return kifmm__rsvd(&o->alloc, blas, n, ns * n, kifmm__fat_apply, &f, k, k < n ? 10 : 0, k < n ? 1 : 0, seed,
                       u, o->sigma);
}

/* ||C||_2 of the k x k C by 5 power iterations on C^T C from a fixed start: an estimate from
   below (a smaller cut-off, never a worse one), within a few per cent, which is all a cut-off
   needs; x, y scratch (k each) */
static double kifmm__norm2_est(int k, const double *c, double *x, double *y) {
    double nrm = 0.0;
    int i, it;
    for (i = 0; i < k; ++i) x[i] = 1.0 + 0.1 * (i % 7);
    for (it = 0; it < 5; ++it) {
        double nx = kifmm__la_nrm2(k, x);
        if (nx == 0.0) return 0.0;
        for (i = 0; i < k; ++i) x[i] /= nx;
        for (i = 0; i < k; ++i) y[i] = 0.0;
        for (i = 0; i < k; ++i) kifmm__la_axpy(k, x[i], c + (size_t)i * k, y);     /* y = C x */
        nrm = kifmm__la_nrm2(k, y);
        for (i = 0; i < k; ++i) x[i] = kifmm__la_dot(k, c + (size_t)i * k, y);    /* x = C^T y */
    }
    return nrm;
}

/* A stack of scratch memory posing as an allocator, for the 158 small factorisations of the core
   recompression: their allocations are last-in first-out and bounded, and one block instead of
   ~10 allocations per core keeps the allocation points (and failure paths) few. */
typedef struct kifmm__arena { unsigned char *base; size_t top, cap; } kifmm__arena;

/* samples of a core factorisation at most (k/2 + 8: beyond, the factors stop paying), and the
   scratch it needs: Y, Omega / B^T and U_b (k x lmax each), V_b (lmax^2), the values (lmax); then
   the arena for kifmm__qr(k, l) and kifmm__la_svd_tall(k, l), l <= lmax: at most 3 l^2 + 6 l and
   97 k + 1024 doubles, plus alignment */
static int kifmm__core_lmax(int k) { return k / 2 + 8 < k ? k / 2 + 8 : k; }
static size_t kifmm__core_scratch(int k) {
    size_t l = (size_t)kifmm__core_lmax(k), kk = (size_t)k;
    return 3 * kk * l + l * l + l;
}
static size_t kifmm__core_arena(int k) {
    size_t l = (size_t)kifmm__core_lmax(k);
    return 3 * l * l + 6 * l + 128 * (size_t)k + 4096;
}

static void *kifmm__arena_alloc(size_t size, size_t align, void *user) {
    kifmm__arena *a = (kifmm__arena *)user;
    size_t mis = (size_t)((uintptr_t)(a->base + a->top) % align), at = a->top + (mis ? align - mis : 0);
    if (at > a->cap || size > a->cap - at) return NULL;
    a->top = at + size;
    return a->base + at;
}

static void kifmm__arena_free(void *p, size_t size, void *user) {
    kifmm__arena *a = (kifmm__arena *)user;
    size_t end = p ? (size_t)((unsigned char *)p - a->base) + size : 0;
    /* the top block (the next one's alignment padding may follow it): pop it */
    if (p && end <= a->top && a->top - end < 64) a->top = (size_t)((unsigned char *)p - a->base);
}

/* Per-vector recompression: the core C_t (k x k, in c) -> A_t B_t^T of the rank r whose dropped
   singular values are <= cut (absolute). Far vectors need far fewer than k (at p = 6, k = 143: 16
   for the corners, 45 at most): M2L flops fall to 0.35x. Randomized range finder with an adaptive
   sample count (doubled until the last sampled singular value is 10x under the cut, up to k/2 + 8
   where the factors stop paying), then the SVD of the small projection. The factors overwrite c when 2r < k (they fit); returns r, or k when
   the dense core is kept. w: kifmm__core_scratch(k) doubles. */
static int kifmm__core_compress(const kifmm_allocator *al, const kifmm_blas *blas, int k, double *c, double cut,
                                uint64_t seed, double *w, kifmm_status *st) {
    int lmax = kifmm__core_lmax(k), l = lmax < 48 ? lmax : 48, r, i, j;
    double *y = w, *bt = y + (size_t)k * lmax, *ub = bt + (size_t)k * lmax, *vb = ub + (size_t)k * lmax;
    double *sv = vb + (size_t)lmax * lmax;
    for (;;) {
        kifmm__la_gaussian(k, l, seed, bt);
        kifmm__dgemm_builtin(0, 0, k, l, k, 1.0, c, k, bt, k, 0.0, y, k);        /* Y = C Omega */
        if ((*st = kifmm__qr(al, blas, k, l, y, k, NULL, 0)) != KIFMM_OK) return k;
        kifmm__dgemm_builtin(1, 0, k, l, k, 1.0, c, k, y, k, 0.0, bt, k);        /* B^T = C^T Q */
        if ((*st = kifmm__la_svd_tall(al, blas, k, l, bt, k, ub, k, sv, vb, l)) != KIFMM_OK) return k;
        for (r = 0; r < l && sv[r] > cut; ++r) {}
        if (l == lmax || (sv[l - 1] <= 0.1 * cut && r <= l - 8)) break;
        l = 2 * l < lmax ? 2 * l : lmax;
    }
    if (2 * r >= k || (l < k && sv[l - 1] > 0.1 * cut)) return k;   /* no gain, or not resolved */
    /* C ~ Q B = (Q Vb S) Ub^T: A = Q Vb_r S_r, B = Ub_r */
    kifmm__dgemm_builtin(0, 0, k, r, l, 1.0, y, k, vb, l, 0.0, c, k);
    for (j = 0; j < r; ++j)
        for (i = 0; i < k; ++i) c[i + (size_t)j * k] *= sv[j];
    memcpy(c + (size_t)k * r, ub, (size_t)k * r * sizeof(double));
    return r;
}

/* Dense cores C_t = U^T K_t U of the count vectors tv[] into core (k x k each): U^T times a chunk
   of the fat matrix in one GEMM, then each block times U. t1: k * chunk * n doubles. */
static void kifmm__m2l_cores(const kifmm__ops *o, const kifmm_blas *blas, const int *tv, int count,
                             double *fatbuf, int chunk, double *t1, double *core) {
    int n = o->n, k = o->k, c0, t;
    size_t kk = (size_t)k * k;
    kifmm__fat f;
    f.kern = &o->kern; f.surf = o->surf; f.tv = tv; f.n = n; f.count = count; f.chunk = chunk;
    f.cached_from = -1; f.buf = fatbuf; f.blas = blas;
    for (c0 = 0; c0 < count; c0 += chunk) {
        int cnt = c0 + chunk < count ? chunk : count - c0;
        const double *fc = kifmm__fat_chunk(&f, c0);
        kifmm__dgemm(blas, 1, 0, k, cnt * n, n, 1.0, o->m2l_u, n, fc, n, 0.0, t1, k);
        for (t = 0; t < cnt; t++)
            kifmm__dgemm(blas, 0, 0, k, k, n, 1.0, t1 + (size_t)t * k * n, k, o->m2l_u, n, 0.0,
                         core + (size_t)(c0 + t) * kk, k);
    }
}

/* Recompresses count dense cores in place (kifmm__core_compress), ranks into r[]. The cut is
   absolute: the tolerance times the largest core norm, the same for every vector. One core per
   thread at a time, each with its own scratch and arena (w: nthr * wn doubles); GEMMs by the
   caller's hook (thread-safe by contract) or the single-threaded built-in. */
static kifmm_status kifmm__m2l_compress(const kifmm_blas *local, int k, int count, double *core, double tol,
                                        uint64_t seed, double *w, size_t wn, int nthr, int *r) {
    size_t kk = (size_t)k * k;
    double ref = 0.0;
    kifmm_status st = KIFMM_OK;
    int t;
    (void)nthr;                 /* (only the OpenMP pragmas use it) */
    KIFMM__OMP(omp parallel for schedule(dynamic, 4) num_threads(nthr) reduction(max : ref))
    for (t = 0; t < count; t++) {
        double *wt = w + (size_t)kifmm__thread() * wn, nt = kifmm__norm2_est(k, core + (size_t)t * kk, wt, wt + k);
        ref = nt > ref ? nt : ref;
    }
    KIFMM__OMP(omp parallel num_threads(nthr))
    {
        int me = kifmm__thread(), tc;
        double *wt = w + (size_t)me * wn;
        kifmm__arena arena;
        kifmm_allocator scratch;
        kifmm_status mine = KIFMM_OK;
        arena.base = (unsigned char *)(wt + kifmm__core_scratch(k));
        arena.cap = (wn - kifmm__core_scratch(k)) * sizeof(double);
        arena.top = 0;
        scratch.alloc_fn = kifmm__arena_alloc;
        scratch.free_fn = kifmm__arena_free;
        scratch.user = &arena;
        KIFMM__OMP(omp for schedule(dynamic, 1))
        for (tc = 0; tc < count; tc++) {
            r[tc] = k;
            if (mine == KIFMM_OK)
                r[tc] = kifmm__core_compress(&scratch, local, k, core + (size_t)tc * kk, tol * ref,
                                             seed + 1 + (uint64_t)tc, wt, &mine);
        }
        if (mine != KIFMM_OK) {
            KIFMM__OMP(omp critical(kifmm_core_status))
            st = mine;
        }
    }
    return st;
}

/* Does the cut keep a multiplet of P_g whole? A split one shows as a column near the cut that
   P_g moves out of range(U) by O(1); kept whole, the rest moves out by rounding only. (Any leak
   E = (I - U U^T) P_g U costs the cores at most about 2 sigma_k |E| <= 2 tol sigma_0 |E|: the
   order of the truncation itself; the check keeps it to a hundredth of that.) The last 8 columns,
   each |(I - U U^T) P_g u_j| <= 0.01. sp: P_g as a signed permutation of the nc check indices
   (kifmm__signed_perm); w: k + nc doubles. */
static int kifmm__sym_invariant(const kifmm__ops *o, const int *sp, double *w) {
    int n = o->nc, k = o->k, i, j, c;
    double *z = w, *y = z + k;
    for (c = k > 8 ? k - 8 : 0; c < k; c++) {
        double e = 0.0;
        for (i = 0; i < n; i++)                                              /* y = P_g u_c */
            y[sp[i] >> 1] = (sp[i] & 1 ? -1.0 : 1.0) * o->m2l_u[i + (size_t)c * n];
        for (j = 0; j < k; j++) z[j] = kifmm__la_dot(n, o->m2l_u + (size_t)j * n, y);
        for (j = 0; j < k; j++) kifmm__la_axpy(n, -z[j], o->m2l_u + (size_t)j * n, y);
        for (i = 0; i < n; i++) e += y[i] * y[i];
        if (!(e <= 1e-4)) return 0;
    }
    return 1;
}

/* C_{315-t} = C_t^T (-d has index 315 - t and K_{-d} = K_d^T): dense transposed, or A, B swapped */
static void kifmm__m2l_mirror(kifmm__ops *o, int t) {
    int k = o->k, r = o->m2l_r[t], i, j;
    const double *c = o->m2l_c + o->m2l_coff[t];
    double *ct = o->m2l_c + o->m2l_coff[KIFMM_NUM_TRANSFER - 1 - t];
    size_t fk = (size_t)k * r;
    if (r == k) {
        for (j = 0; j < k; j++)
            for (i = 0; i < k; i++) ct[j + (size_t)i * k] = c[i + (size_t)j * k];
    } else {
        memcpy(ct, c + fk, fk * sizeof *ct);
        memcpy(ct + fk, c, fk * sizeof *ct);
    }
}

/* The factored cores' B_t (k x r) stored transposed, r x k: the M2L's first GEMM then packs
   B_t^T along its contiguous side (measured, one thread, k = 179, r = 80, 32 columns: 36 -> 43
   GFLOP/s); work: k r doubles */
static void kifmm__m2l_transpose_b(kifmm__ops *o, double *work) {
    int k = o->k, t, i, j;
    for (t = 0; t < KIFMM_NUM_TRANSFER; t++) {
        int r = o->m2l_r[t];
        double *b = o->m2l_c + o->m2l_coff[t] + (size_t)k * r;
        if (r == 0 || r == k) continue;
        memcpy(work, b, (size_t)k * r * sizeof *work);
        for (j = 0; j < r; j++)
            for (i = 0; i < k; i++) b[j + (size_t)i * r] = work[i + (size_t)j * k];
    }
}

/* U's columns by parity sector: the sector (0..7) of column a from its parities under the three
   axis reflections (refl: their signed permutations, nc each), -1 when a vector has no clean
   parity (U is built by sector, so that does not happen for the radial kernels; a kernel whose U
   is not, takes the dense rotations) */
static int kifmm__vec_sector(int nc, const double *v, const int *refl) {
    int c, sec = 0, i;
    double nrm = 0;
    for (i = 0; i < nc; i++) nrm += v[i] * v[i];
    for (c = 0; c < 3; c++) {
        const int *sp = refl + (size_t)c * nc;
        double dot = 0;
        for (i = 0; i < nc; i++) dot += v[i] * (sp[i] & 1 ? -v[sp[i] >> 1] : v[sp[i] >> 1]);
        if (fabs(dot - nrm) <= 1e-6 * nrm) continue;
        if (fabs(dot + nrm) > 1e-6 * nrm) return -1;
        sec |= 1 << c;
    }
    return sec;
}

/* The 158 cores of the first half from their orbits' (core: KIFMM__NORBIT of them, dense or
   factored as r says): per symmetry g, W_g = (P_g^T U)^T U, then every vector g maps an orbit's
   core to. A symmetry maps each parity sector onto one sector, so with U's columns grouped by
   sector (us, in the order ord, sector s at off[s]..off[s+1]) W_g has 8 dense blocks and the
   rest zero: the blocks alone are formed (8x fewer flops than the dense k x k x nc product) and
   applied to the factors block by block. sec == NULL: the dense W_g. sps: the symmetries' signed
   permutations (nc each); w: per thread nc k + 3 k^2 doubles. */
typedef struct kifmm__secs { const double *us; const int *ord, *off, *refl; } kifmm__secs;

static void kifmm__m2l_rotate(kifmm__ops *o, const kifmm_blas *blas, const kifmm__secs *sc, const int *sp, int g,
                              const int *g_of, const int *rep_of, const int *r, const double *core, double *w) {
    int n = o->nc, k = o->k, i, a, t, sr, sc_[8], ok = sc != NULL;
    size_t kk = (size_t)k * k;
    double *upi = w, *wg = upi + (size_t)n * k, *tmp = wg + kk, *ds = tmp + kk;
    const double *u = ok ? sc->us : o->m2l_u;
    for (a = 0; a < k; a++)             /* P_g^T U (U's columns by sector when sc) */
        for (i = 0; i < n; i++)
            upi[i + (size_t)a * n] = (sp[i] & 1 ? -1.0 : 1.0) * u[(sp[i] >> 1) + (size_t)a * n];
    if (ok) {                           /* the sector the rows of each block go to */
        for (sr = 0; sr < 8 && ok; sr++) {
            int m = sc->off[sr + 1] - sc->off[sr];
            sc_[sr] = m ? kifmm__vec_sector(n, upi + (size_t)sc->off[sr] * n, sc->refl) : sr;
            ok = sc_[sr] >= 0 && sc->off[sc_[sr] + 1] - sc->off[sc_[sr]] == m;
        }
    }
    if (!ok) {
        kifmm__dgemm_local(blas, 1, 0, k, k, n, 1.0, upi, n, u, n, 0.0, wg, k);
        if (sc) {   /* (back from sector order to U's own) */
            memcpy(tmp, wg, kk * sizeof *tmp);
            for (i = 0; i < k; i++)
                for (a = 0; a < k; a++) wg[sc->ord[a] + (size_t)sc->ord[i] * k] = tmp[a + (size_t)i * k];
        }
    } else {        /* the 8 blocks, in sector order (tmp), then scattered to U's order (wg) */
        memset(tmp, 0, kk * sizeof *tmp);
        for (sr = 0; sr < 8; sr++) {
            int r0 = sc->off[sr], m = sc->off[sr + 1] - r0, c0 = sc->off[sc_[sr]];
            if (m) kifmm__dgemm_local(blas, 1, 0, m, m, n, 1.0, upi + (size_t)r0 * n, n, u + (size_t)c0 * n, n, 0.0,
                                      tmp + r0 + (size_t)c0 * k, k);
        }
        for (i = 0; i < k; i++)
            for (a = 0; a < k; a++) wg[sc->ord[a] + (size_t)sc->ord[i] * k] = tmp[a + (size_t)i * k];
    }
    for (t = 0; t < KIFMM_NUM_TRANSFER / 2; t++) {
        const double *c = core + (size_t)rep_of[t] * kk;
        double *d = o->m2l_c + o->m2l_coff[t];
        if (g_of[t] != g) continue;
        if (r[t] == k) {               /* W C W^T (dense cores are few) */
            kifmm__dgemm_local(blas, 0, 0, k, k, k, 1.0, wg, k, c, k, 0.0, ds, k);
            kifmm__dgemm_local(blas, 0, 1, k, k, k, 1.0, ds, k, wg, k, 0.0, d, k);
        } else if (r[t] > 0 && !ok) {  /* [W A, W B]: the factors are adjacent */
            kifmm__dgemm_local(blas, 0, 0, k, 2 * r[t], k, 1.0, wg, k, c, k, 0.0, d, k);
        } else if (r[t] > 0) {         /* the same by blocks: rows to sector order, 8 products, back */
            int j, cols = 2 * r[t];
            double *cs = upi;          /* (upi is done with) */
            for (j = 0; j < cols; j++)
                for (a = 0; a < k; a++) cs[a + (size_t)j * k] = c[sc->ord[a] + (size_t)j * k];
            for (sr = 0; sr < 8; sr++) {
                int r0 = sc->off[sr], m = sc->off[sr + 1] - r0, c0 = sc->off[sc_[sr]];
                if (m) kifmm__dgemm_local(blas, 0, 0, m, cols, m, 1.0, tmp + r0 + (size_t)c0 * k, k, cs + c0, k, 0.0,
                                          ds + r0, k);
            }
            for (j = 0; j < cols; j++)
                for (a = 0; a < k; a++) d[sc->ord[a] + (size_t)j * k] = ds[a + (size_t)j * k];
        }
        kifmm__m2l_mirror(o, t);
    }
}

/* U's columns grouped by sector into sc (us: nc k doubles, ord: k, off: 9, refl: 3 nc ints, given
   by the caller); 0 when a column has no clean parity */
static int kifmm__u_by_sector(const kifmm__ops *o, double *us, int *ord, int *off, int *refl, int *lut, int *pi) {
    int n = o->nc, k = o->k, a, c, s, *sec = ord + k;   /* (ord holds 2 k ints: the second half scratch) */
    for (c = 0; c < 3; c++) {           /* the reflections x, y, z: g = 1, 2, 4 */
        kifmm__sym_perm(o->order, 1 << c, pi, lut);
        kifmm__signed_perm(o, pi, refl + (size_t)c * n);
    }
    for (a = 0; a < k; a++)
        if ((sec[a] = kifmm__vec_sector(n, o->m2l_u + (size_t)a * n, refl)) < 0) return 0;
    for (s = 0, c = 0; s < 8; s++) {
        off[s] = c;
        for (a = 0; a < k; a++)
            if (sec[a] == s) {
                memcpy(us + (size_t)c * n, o->m2l_u + (size_t)a * n, (size_t)n * sizeof *us);
                ord[c++] = a;
            }
    }
    off[8] = c;
    return 1;
}

static kifmm_status kifmm__m2l_from_orbits(kifmm__ops *o, const kifmm_blas *blas, const int *used, const int *sps,
                                           const int *g_of, const int *rep_of, const int *r, const double *core,
                                           double *w, int nthr) {
    int n = o->nc, k = o->k, off[9], p3 = o->order * o->order * o->order, have;
    size_t kk = (size_t)k * k, ibytes = (2 * (size_t)k + 3 * (size_t)n + (size_t)p3 + (size_t)o->n) * sizeof(int);
    double *us = (double *)kifmm__alloc(&o->alloc, (size_t)n * k * sizeof *us);
    int *ints = (int *)kifmm__alloc(&o->alloc, ibytes);
    kifmm__secs sc;
    if (!us || !ints) {
        kifmm__free(&o->alloc, us, (size_t)n * k * sizeof *us);
        kifmm__free(&o->alloc, ints, ibytes);
        return KIFMM_ERR_OUT_OF_MEMORY;
    }
    have = kifmm__u_by_sector(o, us, ints, off, ints + 2 * k, ints + 2 * k + 3 * n, ints + 2 * k + 3 * n + p3);
    sc.us = us; sc.ord = ints; sc.off = off; sc.refl = ints + 2 * k;
    (void)nthr;
    KIFMM__OMP(omp parallel num_threads(nthr))
    {
        double *wt = w + (size_t)kifmm__thread() * ((size_t)n * k + 3 * kk);
        int g;
        KIFMM__OMP(omp for schedule(dynamic, 1))
        for (g = 0; g < KIFMM__NSYM; g++)
            if (used[g]) kifmm__m2l_rotate(o, blas, have ? &sc : NULL, sps + (size_t)g * n, g, g_of, rep_of, r, core, wt);
    }
    kifmm__free(&o->alloc, us, (size_t)n * k * sizeof *us);
    kifmm__free(&o->alloc, ints, ibytes);
    return KIFMM_OK;
}

/* The stored cores of a symmetric kernel (K_{-t} = K_t^T, V = U) from ncore dense ones (core):
   of the orbits' representatives when sym, else of the whole first half; each recompressed (unless
   the rank is fixed), rotated to the vectors of its orbit, mirrored to the second half, B^T stored
   transposed. */
static kifmm_status kifmm__m2l_store(kifmm__ops *o, const kifmm_blas *blas, int sym, int ncore, double *core,
                                     int m2l_rank, double tol, uint64_t seed, const int *used, const int *sps,
                                     const int *g_of, const int *rep_of) {
    enum { HALF = KIFMM_NUM_TRANSFER / 2 };
    int k = o->k, t, nthr = 1, rr[HALF], r[HALF];
    size_t kk = (size_t)k * k, wn, wsz = 0, off;
    double *w = NULL;
    kifmm_blas local;
    kifmm_status st;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
    if (m2l_rank > 0) {                /* a fixed rank: the cores as they are */
        for (t = 0; t < ncore; t++) rr[t] = k;
    } else {
        /* per thread: core_compress's scratch, then its arena */
        wn = kifmm__core_scratch(k) + kifmm__core_arena(k);
        local.dgemm = blas && blas->dgemm ? blas->dgemm : kifmm__dgemm_hook_builtin;
        local.user = blas && blas->dgemm ? blas->user : NULL;
        wsz = nthr * wn * sizeof *w;
        w = (double *)kifmm__alloc(&o->alloc, wsz);
        if (!w) goto oom;
        st = kifmm__m2l_compress(&local, k, ncore, core, tol, seed, w, wn, nthr, rr);
        kifmm__free(&o->alloc, w, wsz);
        w = NULL;
        if (st != KIFMM_OK) return st;
    }
    for (t = 0; t < HALF; t++) {
        r[t] = sym ? rr[rep_of[t]] : rr[t];
        o->m2l_r[t] = o->m2l_r[KIFMM_NUM_TRANSFER - 1 - t] = r[t];
    }
    for (t = 0, off = 0; t < KIFMM_NUM_TRANSFER; t++) {
        o->m2l_coff[t] = off;
        off += o->m2l_r[t] == k ? kk : 2 * (size_t)k * o->m2l_r[t];
    }
    o->m2l_coff[KIFMM_NUM_TRANSFER] = off;
    KIFMM__OALLOC(o, o->m2l_c, off > 0 ? off : 1);
    o->m2l_orbits = sym;
    if (sym) {
        wsz = (size_t)nthr * ((size_t)o->nc * k + 3 * kk) * sizeof *w;
        w = (double *)kifmm__alloc(&o->alloc, wsz);
        if (!w) goto oom;
        if (kifmm__m2l_from_orbits(o, blas, used, sps, g_of, rep_of, r, core, w, nthr) != KIFMM_OK) goto oom;
    } else {
        for (t = 0; t < HALF; t++) {
            memcpy(o->m2l_c + o->m2l_coff[t], core + (size_t)t * kk,
                   (r[t] == k ? kk : 2 * (size_t)k * r[t]) * sizeof *core);
            kifmm__m2l_mirror(o, t);
        }
    }
    if (!w) {                          /* (the orbits' scratch is larger than k^2) */
        wsz = kk * sizeof *w;
        w = (double *)kifmm__alloc(&o->alloc, wsz);
        if (!w) goto oom;
    }
    kifmm__m2l_transpose_b(o, w);
    kifmm__free(&o->alloc, w, wsz);
    return KIFMM_OK;
oom:
    if (w) kifmm__free(&o->alloc, w, wsz);
    return KIFMM_ERR_OUT_OF_MEMORY;
}

/* M2L: the basis, its rank from the tolerance, the cores C_t = U^T K_t U, each recompressed; by
   symmetry from 16 orbit cores when U allows it, else all 158 formed */
static kifmm_status kifmm__ops_m2l(kifmm__ops *o, const kifmm_blas *blas, const kifmm__parity *par, int m2l_rank,
                                   double tol, uint64_t seed, double *u, double *fatbuf, int chunk) {
    enum { HALF = KIFMM_NUM_TRANSFER / 2 };
    int n = o->n, k, nrep, ncore, sym = 1;
    int half_tv[HALF], rep_tv[HALF], rep_of[HALF], g_of[HALF], used[KIFMM__NSYM], *sps = NULL;
    double *t1 = NULL, *core = NULL;
    size_t t1n = 0, kk, coren = 0, spsn = (size_t)KIFMM__NSYM * n;
    kifmm_status st;
    k = m2l_rank > 0 ? (m2l_rank < n ? m2l_rank : n) : n;
    st = kifmm__ops_basis(o, blas, par, k, seed, u, fatbuf, chunk);
    if (st != KIFMM_OK) return st;
    o->nsigma = k;
    if (m2l_rank <= 0) {
        int kq = 1;
        while (kq < k && o->sigma[kq] > tol * o->sigma[0]) kq++;
        k = kq;
    }
    o->k = k;
    kk = (size_t)k * k;
    KIFMM__OALLOC(o, o->m2l_u, (size_t)n * k);
    memcpy(o->m2l_u, u, (size_t)n * k * sizeof *u);
    o->m2l_v = o->m2l_u;                 /* a radial kernel is symmetric */
    KIFMM__OALLOC(o, o->m2l_r, KIFMM_NUM_TRANSFER);
    KIFMM__OALLOC(o, o->m2l_coff, KIFMM_NUM_TRANSFER + 1);
    /* the orbits, the symmetries in use, and whether the cut respects them */
    nrep = kifmm__m2l_orbits(half_tv, rep_tv, rep_of, g_of, used);
    sps = (int *)kifmm__alloc(&o->alloc, spsn * sizeof *sps);
    if (!sps) goto oom;
    if ((st = kifmm__m2l_symmetric(o, used, sps, &sym)) != KIFMM_OK) goto done;
    /* the dense cores: of the orbits, or of the whole first half */
    ncore = sym ? nrep : HALF;
    t1n = (size_t)k * (chunk < ncore ? chunk : ncore) * n;
    coren = (size_t)ncore * kk;
    t1 = (double *)kifmm__alloc(&o->alloc, t1n * sizeof *t1);
    core = (double *)kifmm__alloc(&o->alloc, coren * sizeof *core);
    if (!t1 || !core) goto oom;
    kifmm__m2l_cores(o, blas, sym ? rep_tv : half_tv, ncore, fatbuf, chunk < ncore ? chunk : ncore, t1, core);
    st = kifmm__m2l_store(o, blas, sym, ncore, core, m2l_rank, tol, seed, used, sps, g_of, rep_of);
    goto done;
oom:
    st = KIFMM_ERR_OUT_OF_MEMORY;
done:
    kifmm__free(&o->alloc, sps, spsn * sizeof *sps);
    kifmm__free(&o->alloc, t1, t1n * sizeof *t1);
    kifmm__free(&o->alloc, core, coren * sizeof *core);
    return st;
}

/* ---- operators of any kernel: vector-valued (Stokes) and the caller's ---------------------
   No symmetry of the cube is assumed beyond what the kernel declares: the check-to-equivalent
   pseudo-inverses by a dense SVD, the 8 M2M / L2L matrices each by GEMMs, and the M2L bases from
   the shell's 98 blocks: U, the left singular vectors of [K_t ...] (check side), and V, the right
   singular vectors of [K_t; ...] (equivalent side), each from the R of the tall stacked matrix (in
   chunks, so the blocks are never all in memory) and an SVD of R; cores U^T K_t V for all 316
   vectors, recompressed like Laplace's. A symmetric kernel (K_ab(x) = K_ba(x) = K_ab(-x): Stokes)
   has V = U, K_{-t} = K_t^T and the downward pseudo-inverse the upward one's transpose. */
#define KIFMM__GEN_CHUNK_BYTES ((size_t)128 << 20)   /* of stacked kernel blocks at once */

/* a user kernel's block, one source and component at a time through its own function: the
   targets interleaved (3 nt) and its values (nt tdim) in w, per thread (nthr of them) */
static void kifmm__kmat_user(const kifmm__kernel *k, const double *t, int nt, const double *s, int ns, double *km,
                             size_t ldk, double *w, int nthr) {
    ptrdiff_t c;
    size_t wl = (size_t)nt * (3 + k->tdim) + 3 + KIFMM__MAX_KDIM;
    (void)nthr;
    KIFMM__OMP(omp parallel for schedule(dynamic, 4) num_threads(nthr))
    for (c = 0; c < (ptrdiff_t)ns * k->sdim; c++) {
        double *tb = w + wl * (size_t)kifmm__thread(), *val = tb + 3 * (size_t)nt, *src = val + (size_t)nt * k->tdim;
        double *dens = src + 3;
        int j = (int)(c % ns), b = (int)(c / ns), i, a;
        for (i = 0; i < nt; i++) { tb[3 * i] = t[i]; tb[3 * i + 1] = t[nt + i]; tb[3 * i + 2] = t[2 * nt + i]; }
        src[0] = s[j]; src[1] = s[ns + j]; src[2] = s[2 * ns + j];
        for (a = 0; a < k->sdim; a++) dens[a] = a == b;
        memset(val, 0, (size_t)nt * k->tdim * sizeof *val);
        k->eval(tb, (size_t)nt, src, 1, dens, val, k->user);
        for (i = 0; i < nt; i++)
            for (a = 0; a < k->tdim; a++) km[(size_t)a * nt + i + (size_t)c * ldk] = val[(size_t)i * k->tdim + a];
    }
}

/* the (nt tdim) x (ns sdim) matrix of any kernel between structure-of-arrays points, rows and
   columns in component planes; KIFMM_ERR_NUMERICAL if a user kernel gave a non-finite value */
static kifmm_status kifmm__kmat(const kifmm__ops *o, const double *t, int nt, const double *s, int ns, double *km,
                                size_t ldk) {
    const kifmm__kernel *k = &o->kern;
    size_t i, j, rows = (size_t)nt * k->tdim;
    int nthr = 1;
    if (k->kind == KIFMM_KERNEL_LAPLACE || k->kind == KIFMM_KERNEL_YUKAWA) {
        kifmm__kmat_radial(k, t, nt, s, ns, km, (int)ldk);
        return KIFMM_OK;
    }
#ifdef _OPENMP
    nthr = kifmm__in_parallel() ? 1 : omp_get_max_threads();
#endif
    KIFMM_ASSERT(o->uscratch && o->uscratch_len >= (size_t)nt * (3 + k->tdim) + 3 + KIFMM__MAX_KDIM);
    kifmm__kmat_user(k, t, nt, s, ns, km, ldk, o->uscratch, nthr);
    for (j = 0; j < (size_t)ns * k->sdim; j++)
        for (i = 0; i < rows; i++)
            if (!(km[i + j * ldk] - km[i + j * ldk] == 0)) return KIFMM_ERR_NUMERICAL;
    return KIFMM_OK;
}

/* K_t on the set's box (targets: the check surface at r s w0 around the origin; sources: the
   equivalent surface at (2 d + r s) w0), nc x ne, or its transpose into ldk rows when trans */
static kifmm_status kifmm__gen_block(const kifmm__ops *o, int t, double *pts, double *km, size_t ldk) {
    int n = o->n, i, c, d[3];
    double *tg = pts, *sr = pts + 3 * (size_t)n, r = KIFMM_RADIUS_INNER * o->w0;
    kifmm__transfer_vector(t, d);
    for (c = 0; c < 3; c++)
        for (i = 0; i < n; i++) {
            tg[c * n + i] = r * o->surf[c * n + i];
            sr[c * n + i] = 2 * d[c] * o->w0 + r * o->surf[c * n + i];
        }
    return kifmm__kmat(o, tg, n, sr, n, km, ldk);
}

/* R (m x m, ld m) of the tall stack of the blocks of the count vectors tv[] (each nc x ne, or
   ne x nc transposed: trans), built chunk by chunk: [R; blocks] -> R */
static kifmm_status kifmm__gen_stack_r(kifmm__ops *o, const kifmm_blas *blas, const int *tv, int count, int trans,
                                       double *rr) {
    int m = trans ? o->nc : o->ne, rows = trans ? o->ne : o->nc, per, c0, i, j;
    size_t nb = (size_t)rows * m, bytes, kb = (size_t)o->nc * o->ne * sizeof(double);
    double *a, *blk, *pts;
    kifmm_status st = KIFMM_OK;
    /* the stack is (block rows) x m, m = the side the basis lives on: trans stacks K_t^T */
    per = (int)(KIFMM__GEN_CHUNK_BYTES / (nb * sizeof(double)));
    if (per * rows < m) per = (m + rows - 1) / rows;       /* the first chunk alone is tall */
    per = per < 1 ? 1 : per > count ? count : per;
    bytes = ((size_t)m * m + (size_t)per * nb) * sizeof(double) + kb + 6 * (size_t)o->n * sizeof(double);
    a = (double *)kifmm__alloc(&o->alloc, bytes);
    if (!a) return KIFMM_ERR_OUT_OF_MEMORY;
    blk = a + (size_t)m * m + (size_t)per * nb;
    pts = blk + (size_t)o->nc * o->ne;
    for (c0 = 0; c0 < count && st == KIFMM_OK; c0 += per) {
        int cnt = count - c0 < per ? count - c0 : per, top = c0 ? m : 0, ld = top + cnt * rows, c;
        for (j = 0; j < m && c0; j++)                       /* the R so far on top */
            for (i = 0; i < m; i++) a[i + (size_t)j * ld] = rr[i + (size_t)j * m];
        for (c = 0; c < cnt && st == KIFMM_OK; c++) {
            st = kifmm__gen_block(o, tv[c0 + c], pts, blk, (size_t)o->nc);
            for (j = 0; j < m && st == KIFMM_OK; j++)      /* rows of the stack: K_t (nc x ne) or K_t^T */
                for (i = 0; i < rows; i++)
                    a[top + c * rows + i + (size_t)j * ld] = trans ? blk[j + (size_t)i * o->nc] : blk[i + (size_t)j * o->nc];
        }
        if (st == KIFMM_OK) st = kifmm__la_qr_r(&o->alloc, blas, ld, m, a, ld, rr, m);
    }
    kifmm__free(&o->alloc, a, bytes);
    return st;
}

/* a basis (m x k) of the stack's row space: the right singular vectors of its R */
static kifmm_status kifmm__gen_basis(kifmm__ops *o, const kifmm_blas *blas, const int *tv, int count, int trans,
                                     double *vec, double *sv) {
    int m = trans ? o->nc : o->ne;
    size_t bytes = (size_t)m * m * sizeof(double);
    double *rr = (double *)kifmm__alloc(&o->alloc, bytes);
    kifmm_status st;
    if (!rr) return KIFMM_ERR_OUT_OF_MEMORY;
    st = kifmm__gen_stack_r(o, blas, tv, count, trans, rr);
    if (st == KIFMM_OK) st = kifmm__svd(&o->alloc, blas, m, m, rr, m, NULL, 0, sv, vec, m);
    kifmm__free(&o->alloc, rr, bytes);
    return st;
}

/* check-to-equivalent: pinv K(check at rc w0 <- equivalent at re w0) = v (ne x r) u (r x nc) */
static kifmm_status kifmm__gen_pinv(kifmm__ops *o, const kifmm_blas *blas, double rc, double re, double **v,
                                    double **u, int *rank, double *km, double *pts) {
    int n = o->n;
    double zero[3] = {0, 0, 0};
    kifmm_status st;
    kifmm__surface_at(o->surf, n, zero, rc * o->w0, pts);
    kifmm__surface_at(o->surf, n, zero, re * o->w0, pts + 3 * (size_t)n);
    if ((st = kifmm__kmat(o, pts, n, pts + 3 * (size_t)n, n, km, (size_t)o->nc)) != KIFMM_OK) return st;
    KIFMM__OALLOC(o, *v, (size_t)o->ne * (o->ne < o->nc ? o->ne : o->nc));
    KIFMM__OALLOC(o, *u, (size_t)(o->ne < o->nc ? o->ne : o->nc) * o->nc);
    return kifmm__pinv(&o->alloc, blas, o->nc, o->ne, km, o->nc, KIFMM__C2E_RCOND_GENERIC, *v, *u, rank);
oom:
    return KIFMM_ERR_OUT_OF_MEMORY;
}

/* M2M (ne x 8ne) and L2L (8nc x nc), octant by octant: the child at centre +-w0/2 */
static kifmm_status kifmm__gen_translations(kifmm__ops *o, const kifmm_blas *blas, double *km, double *pts,
                                            double *tmp) {
    int n = o->n, ne = o->ne, nc = o->nc, oct, r = o->c2e_rank, rd = o->dc2e_v ? o->dc2e_rank : o->c2e_rank, a;
    double zero[3] = {0, 0, 0};
    kifmm_status st;
    KIFMM__OALLOC(o, o->m2m, 8 * (size_t)ne * ne);
    KIFMM__OALLOC(o, o->l2l, 8 * (size_t)nc * nc);
    for (oct = 0; oct < 8; oct++) {
        double c[3];
        for (a = 0; a < 3; a++) c[a] = (oct >> (2 - a) & 1 ? 0.5 : -0.5) * o->w0;
        /* M2M: the parent's check (2.95) from the child's equivalent (1.05 / 2), then its solve */
        kifmm__surface_at(o->surf, n, zero, KIFMM_RADIUS_OUTER * o->w0, pts);
        kifmm__surface_at(o->surf, n, c, 0.5 * KIFMM_RADIUS_INNER * o->w0, pts + 3 * (size_t)n);
        if ((st = kifmm__kmat(o, pts, n, pts + 3 * (size_t)n, n, km, (size_t)nc)) != KIFMM_OK) return st;
        kifmm__dgemm(blas, 0, 0, r, ne, nc, 1.0, o->c2e_u, r, km, nc, 0.0, tmp, r);
        kifmm__dgemm(blas, 0, 0, ne, ne, r, 1.0, o->c2e_v, ne, tmp, r, 0.0, o->m2m + (size_t)oct * ne * ne, ne);
        /* L2L: the child's check (1.05 / 2) from the parent's equivalent (2.95), after its solve */
        kifmm__surface_at(o->surf, n, c, 0.5 * KIFMM_RADIUS_INNER * o->w0, pts);
        kifmm__surface_at(o->surf, n, zero, KIFMM_RADIUS_OUTER * o->w0, pts + 3 * (size_t)n);
        if ((st = kifmm__kmat(o, pts, n, pts + 3 * (size_t)n, n, km, (size_t)nc)) != KIFMM_OK) return st;
        if (o->dc2e_v) {           /* K (dc2e_v dc2e_u) */
            kifmm__dgemm(blas, 0, 0, nc, rd, ne, 1.0, km, nc, o->dc2e_v, ne, 0.0, tmp, nc);
            kifmm__dgemm(blas, 0, 0, nc, nc, rd, 1.0, tmp, nc, o->dc2e_u, rd, 0.0, o->l2l + (size_t)oct * nc, 8 * nc);
        } else {                   /* K (c2e_u^T c2e_v^T) */
            kifmm__dgemm(blas, 0, 1, nc, rd, ne, 1.0, km, nc, o->c2e_u, rd, 0.0, tmp, nc);
            kifmm__dgemm(blas, 0, 1, nc, nc, rd, 1.0, tmp, nc, o->c2e_v, ne, 0.0, o->l2l + (size_t)oct * nc, 8 * nc);
        }
    }
    return KIFMM_OK;
oom:
    return KIFMM_ERR_OUT_OF_MEMORY;
}

/* the M2L of any kernel: bases from the shell, cores U^T K_t V, recompressed */
static kifmm_status kifmm__gen_m2l(kifmm__ops *o, const kifmm_blas *blas, int m2l_rank, double tol,
                                   uint64_t seed, double *km, double *pts) {
    int ne = o->ne, nc = o->nc, shell[KIFMM_NUM_TRANSFER], nsh = 0, t, k = 0, kv, d[3], nthr = 1;
    int r[KIFMM_NUM_TRANSFER], nform = KIFMM_NUM_TRANSFER;
    size_t kk, off, coren = 0, wsz = 0, wn, ubytes = (size_t)nc * nc * sizeof(double), vbytes = 0, tbytes = 0;
    double *ub = NULL, *vb = NULL, *sv = NULL, *svv = NULL, *core = NULL, *w = NULL, *t1 = NULL;
    kifmm_blas local;
    kifmm_status st = KIFMM_ERR_OUT_OF_MEMORY;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
    for (t = 0; t < KIFMM_NUM_TRANSFER; t++) {
        kifmm__transfer_vector(t, d);
        if (abs(d[0]) <= 2 && abs(d[1]) <= 2 && abs(d[2]) <= 2) shell[nsh++] = t;
    }
    ub = (double *)kifmm__alloc(&o->alloc, ubytes);
    sv = (double *)kifmm__alloc(&o->alloc, (size_t)(nc > ne ? nc : ne) * 2 * sizeof(double));
    if (!ub || !sv) goto done;
    svv = sv + (nc > ne ? nc : ne);
    if ((st = kifmm__gen_basis(o, blas, shell, nsh, 1, ub, sv)) != KIFMM_OK) goto done;   /* U: check side */
    k = 1;
    while (k < nc && sv[k] > tol * sv[0]) k++;
    vbytes = (size_t)ne * ne * sizeof(double);
    st = KIFMM_ERR_OUT_OF_MEMORY;
    if (!(vb = (double *)kifmm__alloc(&o->alloc, vbytes))) goto done;
    if ((st = kifmm__gen_basis(o, blas, shell, nsh, 0, vb, svv)) != KIFMM_OK) goto done;       /* V */
    kv = 1;
    while (kv < ne && svv[kv] > tol * svv[0]) kv++;
    k = kv > k ? kv : k;
    if (m2l_rank > 0) k = m2l_rank;
    k = k < nc ? k : nc;
    k = k < ne ? k : ne;
    o->k = k;
    kk = (size_t)k * k;
    st = KIFMM_ERR_OUT_OF_MEMORY;
    KIFMM__OALLOC(o, o->sigma, (size_t)nc);
    memcpy(o->sigma, sv, (size_t)nc * sizeof *sv);
    o->nsigma = nc;
    KIFMM__OALLOC(o, o->m2l_u, (size_t)nc * k);
    memcpy(o->m2l_u, ub, (size_t)nc * k * sizeof *ub);
    KIFMM__OALLOC(o, o->m2l_v, (size_t)ne * k);
    memcpy(o->m2l_v, vb, (size_t)ne * k * sizeof *vb);
    KIFMM__OALLOC(o, o->m2l_r, KIFMM_NUM_TRANSFER);
    KIFMM__OALLOC(o, o->m2l_coff, KIFMM_NUM_TRANSFER + 1);
    /* the dense cores, all 316 (a kernel of unknown symmetry) */
    coren = (size_t)nform * kk;
    tbytes = (size_t)k * ne * sizeof(double);
    st = KIFMM_ERR_OUT_OF_MEMORY;
    core = (double *)kifmm__alloc(&o->alloc, coren * sizeof *core);
    t1 = (double *)kifmm__alloc(&o->alloc, tbytes);
    if (!core || !t1) goto done;
    for (t = 0; t < nform; t++) {
        if ((st = kifmm__gen_block(o, t, pts, km, (size_t)nc)) != KIFMM_OK) goto done;
        kifmm__dgemm(blas, 1, 0, k, ne, nc, 1.0, o->m2l_u, nc, km, nc, 0.0, t1, k);        /* U^T K_t */
        kifmm__dgemm(blas, 0, 0, k, k, ne, 1.0, t1, k, o->m2l_v, ne, 0.0, core + (size_t)t * kk, k);
    }
    if (m2l_rank > 0) {
        for (t = 0; t < nform; t++) r[t] = k;
    } else {
        wn = kifmm__core_scratch(k) + kifmm__core_arena(k);
        local.dgemm = blas && blas->dgemm ? blas->dgemm : kifmm__dgemm_hook_builtin;
        local.user = blas && blas->dgemm ? blas->user : NULL;
        wsz = nthr * wn * sizeof *w;
        st = KIFMM_ERR_OUT_OF_MEMORY;
        if (!(w = (double *)kifmm__alloc(&o->alloc, wsz))) goto done;
        st = kifmm__m2l_compress(&local, k, nform, core, tol, seed, w, wn, nthr, r);
        kifmm__free(&o->alloc, w, wsz);
        w = NULL;
        if (st != KIFMM_OK) goto done;
    }
    for (t = 0; t < nform; t++) o->m2l_r[t] = r[t];
    for (t = 0, off = 0; t < KIFMM_NUM_TRANSFER; t++) {
        o->m2l_coff[t] = off;
        off += o->m2l_r[t] == k ? kk : 2 * (size_t)k * o->m2l_r[t];
    }
    o->m2l_coff[KIFMM_NUM_TRANSFER] = off;
    st = KIFMM_ERR_OUT_OF_MEMORY;
    KIFMM__OALLOC(o, o->m2l_c, off > 0 ? off : 1);
    for (t = 0; t < nform; t++)
        memcpy(o->m2l_c + o->m2l_coff[t], core + (size_t)t * kk, (r[t] == k ? kk : 2 * (size_t)k * r[t]) * sizeof *core);
    wsz = kk * sizeof *w;
    if (!(w = (double *)kifmm__alloc(&o->alloc, wsz))) goto done;
    kifmm__m2l_transpose_b(o, w);
    st = KIFMM_OK;
    goto done;
oom:
    st = KIFMM_ERR_OUT_OF_MEMORY;
done:
    kifmm__free(&o->alloc, ub, ubytes);
    kifmm__free(&o->alloc, vb, vbytes);
    kifmm__free(&o->alloc, sv, (size_t)(nc > ne ? nc : ne) * 2 * sizeof(double));
    kifmm__free(&o->alloc, core, coren * sizeof *core);
    kifmm__free(&o->alloc, t1, tbytes);
    if (w) kifmm__free(&o->alloc, w, wsz);
    return st;
}

/* every operator of a user kernel (o's kernel, sizes and surface set) */
static kifmm_status kifmm__ops_build_generic(kifmm__ops *o, const kifmm_blas *blas, int m2l_rank, double tol,
                                             uint64_t seed, int with_m2l) {
    int big = o->ne > o->nc ? o->ne : o->nc;
    size_t kmb = (size_t)o->nc * o->ne * sizeof(double), tmpb = (size_t)big * big * sizeof(double);
    size_t pb = 6 * (size_t)o->n * sizeof(double), ub = 0;
    double *km = (double *)kifmm__alloc(&o->alloc, kmb), *tmp = (double *)kifmm__alloc(&o->alloc, tmpb);
    double *pts = (double *)kifmm__alloc(&o->alloc, pb);
    kifmm_status st = KIFMM_ERR_OUT_OF_MEMORY;
    int nthr = 1;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
    if (o->kern.kind == KIFMM_KERNEL_USER) {   /* the callbacks' interleaved blocks, per thread */
        o->uscratch_len = (size_t)o->n * (3 + o->kern.tdim) + 3 + KIFMM__MAX_KDIM;
        ub = (size_t)nthr * o->uscratch_len * sizeof(double);
        o->uscratch = (double *)kifmm__alloc(&o->alloc, ub);
        if (!o->uscratch) goto done;
    }
    if (!km || !tmp || !pts) goto done;
    st = kifmm__gen_pinv(o, blas, KIFMM_RADIUS_OUTER, KIFMM_RADIUS_INNER, &o->c2e_v, &o->c2e_u, &o->c2e_rank, km, pts);
    if (st == KIFMM_OK)
        st = kifmm__gen_pinv(o, blas, KIFMM_RADIUS_INNER, KIFMM_RADIUS_OUTER, &o->dc2e_v, &o->dc2e_u, &o->dc2e_rank, km,
                             pts);
    if (st == KIFMM_OK) st = kifmm__gen_translations(o, blas, km, pts, tmp);
    if (st == KIFMM_OK && with_m2l) st = kifmm__gen_m2l(o, blas, m2l_rank, tol, seed, km, pts);
done:
    kifmm__free(&o->alloc, km, kmb);
    kifmm__free(&o->alloc, tmp, tmpb);
    kifmm__free(&o->alloc, pts, pb);
    kifmm__free(&o->alloc, o->uscratch, ub);
    o->uscratch = NULL;
    return st;
}

KIFMM__FN kifmm_status kifmm__ops_build(kifmm__ops *o, const kifmm_allocator *alloc, const kifmm_blas *blas,
                                        const kifmm__kernel *kern, double w0, int order, int m2l_rank,
                                        double m2l_tol, uint64_t seed, int with_m2l) {
    int n, chunk, *lut = NULL;
    size_t nn = 0, fatn = 0, tmpn = 0, pbytes = 0, lutn = (size_t)order * order * order + kifmm__surface_size(order);
    double *kbuf = NULL, *tmp = NULL, *fat = NULL, *u = NULL;
    kifmm__parity par;
    kifmm_status st = KIFMM_ERR_OUT_OF_MEMORY;
    memset(o, 0, sizeof *o);
    memset(&par, 0, sizeof par);
    if (order < 2 || order > 16 || m2l_rank < 0 || !(m2l_tol >= 0)) return KIFMM_ERR_INVALID_ARGUMENT;
    if (alloc) o->alloc = *alloc;
    o->kern = *kern;
    o->w0 = w0;
    o->h = kern->kind == KIFMM_KERNEL_YUKAWA ? -1.0 : kern->h;   /* (Yukawa: on the unit box, see kifmm__ops) */
    o->order = order;
    o->n = n = kifmm__surface_size(order);
    o->ne = n * kern->sdim;
    o->nc = n * kern->tdim;
    if (kern->kind != KIFMM_KERNEL_LAPLACE && kern->kind != KIFMM_KERNEL_YUKAWA) {   /* no radial symmetry */
        KIFMM__OALLOC(o, o->surf, 3 * (size_t)n);
        kifmm__surface(order, o->surf);
        st = kifmm__ops_build_generic(o, blas, m2l_rank, m2l_tol, seed, with_m2l);
        if (st != KIFMM_OK) kifmm__ops_free(o);
        return st;
    }
    nn = (size_t)n * n;
    KIFMM__OALLOC(o, o->surf, 3 * (size_t)n);
    KIFMM__OALLOC(o, o->c2e_v, nn);
    KIFMM__OALLOC(o, o->c2e_u, nn);
    KIFMM__OALLOC(o, o->m2m, 8 * nn);
    KIFMM__OALLOC(o, o->l2l, 8 * nn);
    KIFMM__OALLOC(o, o->sigma, (size_t)n);
    kifmm__surface(order, o->surf);
    tmpn = nn + 6 * (size_t)n;
    kbuf = (double *)kifmm__alloc(&o->alloc, nn * sizeof *kbuf);
    tmp = (double *)kifmm__alloc(&o->alloc, tmpn * sizeof *tmp);
    u = (double *)kifmm__alloc(&o->alloc, nn * sizeof *u);
    /* chunks of at most 64 MiB (and KIFMM__CORE_CHUNK vectors) of fat-matrix blocks */
    chunk = (int)((size_t)(64u << 20) / (nn * sizeof(double)));
    chunk = chunk < 1 ? 1 : chunk > KIFMM__CORE_CHUNK ? KIFMM__CORE_CHUNK : chunk;
    fatn = (size_t)chunk * nn;
    fat = (double *)kifmm__alloc(&o->alloc, fatn * sizeof *fat);
    pbytes = (size_t)n * (9 * sizeof(int) + 8 * sizeof(double));      /* cnt, idx, coef */
    par.coef = (double *)kifmm__alloc(&o->alloc, pbytes);
    lut = (int *)kifmm__alloc(&o->alloc, lutn * sizeof *lut);
    if (!kbuf || !tmp || !u || !fat || !par.coef || !lut) goto oom;
    par.cnt = (int *)(par.coef + 8 * (size_t)n);
    par.idx = par.cnt + n;
    kifmm__parity_build(order, lut, &par);
    st = kifmm__ops_translations(o, blas, &par, kbuf, tmp, lut, lut + (size_t)order * order * order);
    if (st == KIFMM_OK && with_m2l) st = kifmm__ops_m2l(o, blas, &par, m2l_rank, m2l_tol, seed, u, fat, chunk);
oom:
    kifmm__free(&o->alloc, par.coef, pbytes);
    kifmm__free(&o->alloc, lut, lutn * sizeof *lut);
    kifmm__free(&o->alloc, kbuf, nn * sizeof *kbuf);
    kifmm__free(&o->alloc, tmp, tmpn * sizeof *tmp);
    kifmm__free(&o->alloc, u, nn * sizeof *u);
    kifmm__free(&o->alloc, fat, fatn * sizeof *fat);
    if (st != KIFMM_OK) kifmm__ops_free(o);
    return st;
}

/* ==== EVALUATION: state and the passes ======================================================== */
/* the operator set of level l */
static const kifmm__ops *kifmm__lops(const kifmm__eval *e, int l) { return e->ops + (e->nops > 1 ? l : 0); }

static double kifmm__box_hw(const kifmm_tree *t, int b) {
    return t->half_width / (double)((uint64_t)1 << kifmm__key_level(t->key[b]));
}

/* (w / w0)^p for a box of half-width w and the set o (p = -h: check-to-equivalent, p = h: M2L) */
static double kifmm__scale(const kifmm__ops *o, double w, double p) {
    if (p == 0) return 1.0;
    if (p == 1) return w / o->w0;
    if (p == -1) return o->w0 / w;
    return pow(w / o->w0, p);
}

/* what each thread owns in thread_buf, in doubles: one surface (3n); the M2L task's compressed
   locals, gathered and transformed columns and the factored cores' middle products (4 k
   m2l_block ndmax); kifmm__interact's scratch; the leaf pass's block of results (tgt_block x
   (4 tdim + 6) ndmax, and harm's Stokes block, 3 ndmax more); 8 operator timers */
typedef struct kifmm__parts { double *surf, *m2l, *scratch, *out, *timer; } kifmm__parts;
static size_t kifmm__thread_len(const kifmm__eval *e, size_t *m2l, size_t *out) {
    size_t k = 0;
    int i;
    for (i = 0; i < e->nops; i++) k = (size_t)e->ops[i].k > k ? (size_t)e->ops[i].k : k;
    *m2l = 4 * k * (size_t)e->m2l_block * (size_t)e->ndmax;
    *out = e->tgt_block * (size_t)(4 * e->tdim + 6 + (e->harm ? 3 : 0)) * (size_t)e->ndmax;
    return 3 * (size_t)e->n + *m2l + KIFMM__INTERACT_SCRATCH + *out + 8;
}
static kifmm__parts kifmm__thread_parts(const kifmm__eval *e) {
    kifmm__parts p;
    size_t m2l, out;
    kifmm__thread_len(e, &m2l, &out);
    p.surf = e->thread_buf + e->thread_len * (size_t)kifmm__thread();
    p.m2l = p.surf + 3 * (size_t)e->n;
    p.scratch = p.m2l + m2l;
    p.out = p.scratch + KIFMM__INTERACT_SCRATCH;
    p.timer = p.out + out;
    return p;
}

KIFMM__FN void kifmm__eval_free(kifmm__eval *e, const kifmm_allocator *al) {
    const kifmm_tree *t = e->tree;
    size_t nd, k = 0;
    int i;
    if (!t || !e->ops) { memset(e, 0, sizeof *e); return; }
    nd = (size_t)e->ndmax;
    for (i = 0; i < e->nops; i++) k = (size_t)e->ops[i].k > k ? (size_t)e->ops[i].k : k;
    kifmm__free(al, e->slot, e->slot ? (size_t)t->nboxes * sizeof *e->slot : 0);
    kifmm__free(al, e->equiv, nd * e->ne * e->nslot * sizeof(double));
    kifmm__free(al, e->check, nd * e->nc * e->nslot * sizeof(double));
    kifmm__free(al, e->q, nd * e->sdim * t->nsources * sizeof(double));
    kifmm__free(al, e->dip, e->dip ? 3 * nd * t->nsources * sizeof(double) : 0);
    kifmm__free(al, e->leafbuf, 2 * (size_t)(e->ne > e->nc ? e->ne : e->nc) * e->leaf_cols * nd * sizeof(double));
    kifmm__free(al, e->leaf_src, (size_t)t->nleaves * sizeof(int));
    kifmm__free(al, e->leaf_tgt, (size_t)t->nleaves * sizeof(int));
    kifmm__free(al, e->m2l_buf, nd * k * e->m2l_level_max * sizeof(double));
    kifmm__free(al, e->thread_buf, e->thread_len * e->nthreads * sizeof(double));
    kifmm__free(al, e->m2l_src, (size_t)e->m2l_block * nd * e->nthreads * sizeof *e->m2l_src);
    kifmm__free(al, e->m2l_dst, (size_t)e->m2l_block * nd * e->nthreads * sizeof *e->m2l_dst);
    memset(e, 0, sizeof *e);
}

/* the tree's V pairs of each (level, vector) group have strictly increasing targets: a target
   has at most one source per vector, what lets the M2L tasks write their blocks without locks
   and bounds a task's columns (kifmm__m2l_block_run) */
static int kifmm__m2l_groups_ok(const kifmm_tree *t) {
    size_t g, j, ng = (size_t)(KIFMM_MAX_DEPTH + 1) * KIFMM_NUM_TRANSFER;
    for (g = 0; g < ng; g++)
        for (j = t->m2l_off[g] + 1; j < t->m2l_off[g + 1]; j++)
            if (t->m2l_tgt[j] <= t->m2l_tgt[j - 1]) return 0;
    return 1;
}

KIFMM__FN size_t kifmm__slot(const kifmm__eval *e, int b) {
    if (!e->slot) return (size_t)b;
    KIFMM_ASSERT(e->slot[b] >= 0);
    return (size_t)e->slot[b];
}
static int kifmm__has_slot(const kifmm__eval *e, int b) { return !e->slot || e->slot[b] >= 0; }

KIFMM__FN kifmm_status kifmm__eval_init(kifmm__eval *e, const kifmm__ops *ops, int nops, const kifmm_tree *t,
                                        const kifmm__kernel *kern, const kifmm__kernel *near, const kifmm_blas *blas,
                                        int nthreads, int ndmax, const unsigned char *stored) {
    const kifmm_allocator *al = &ops->alloc;
    int harm = near && near->kind == KIFMM_KERNEL_STOKES && kern->kind == KIFMM_KERNEL_LAPLACE;
    size_t k = 0, nd = (size_t)(ndmax < 1 ? 1 : ndmax) * (harm ? 4 : 1), m2l, out, big;
    int l, dips = !harm && (kern->kind == KIFMM_KERNEL_LAPLACE || kern->kind == KIFMM_KERNEL_YUKAWA);
    memset(e, 0, sizeof *e);
    e->ops = ops;
    e->nops = nops;
    e->tree = t;
    e->kern = *kern;
    e->near = harm ? *near : *kern;
    e->harm = harm;
    memcpy(e->harm_c, t->center, sizeof e->harm_c);
    if (blas) e->blas = *blas;
    e->nthreads = nthreads < 1 ? 1 : nthreads;
    e->ndmax = (int)nd;
    e->sdim = kern->sdim;
    e->tdim = kern->tdim;
    e->n = ops->n;
    e->ne = ops->ne;
    e->nc = ops->nc;
    if (!kifmm__m2l_groups_ok(t)) return KIFMM_ERR_INTERNAL;
    for (l = 0; l < nops; l++) k = (size_t)ops[l].k > k ? (size_t)ops[l].k : k;
    if (stored) KIFMM__HOLD(al, &e->bytes, e->slot, (size_t)t->nboxes);
    for (l = 0; l <= KIFMM_MAX_DEPTH; l++) {     /* the stored boxes of each level, their slots */
        int b;
        e->slot_off[l] = e->nslot;
        for (b = t->level_begin[l]; b < t->level_begin[l + 1]; b++)
            if (!stored || stored[b]) {
                if (stored) e->slot[b] = (int)e->nslot;
                e->nslot++;
            } else
                e->slot[b] = -1;
        e->slot_cnt[l] = e->nslot - e->slot_off[l];
        if (e->slot_cnt[l] > e->m2l_level_max) e->m2l_level_max = e->slot_cnt[l];
    }
    e->m2l_block = KIFMM__M2L_BLOCK / (int)nd > 8 ? KIFMM__M2L_BLOCK / (int)nd : 8;
    e->tgt_block = KIFMM__TGT_BLOCK;
    e->thread_len = kifmm__thread_len(e, &m2l, &out);
    /* leaves per batched GEMM: its columns are (leaf, density set) pairs */
    e->leaf_cols = KIFMM__LEAF_CHUNK / (int)nd > 1 ? KIFMM__LEAF_CHUNK / (int)nd : 1;
    if (t->nleaves < e->leaf_cols) e->leaf_cols = t->nleaves > 0 ? t->nleaves : 1;
    big = (size_t)(e->ne > e->nc ? e->ne : e->nc);
#define KIFMM__EALLOC(p, count) KIFMM__HOLD(al, &e->bytes, p, count)
    KIFMM__EALLOC(e->equiv, nd * e->ne * e->nslot);
    KIFMM__EALLOC(e->check, nd * e->nc * e->nslot);
    KIFMM__EALLOC(e->q, nd * e->sdim * t->nsources);
    if (dips) KIFMM__EALLOC(e->dip, 3 * nd * t->nsources);
    KIFMM__EALLOC(e->leafbuf, 2 * big * (size_t)e->leaf_cols * nd);
    KIFMM__EALLOC(e->leaf_src, (size_t)t->nleaves);
    KIFMM__EALLOC(e->leaf_tgt, (size_t)t->nleaves);
    KIFMM__EALLOC(e->m2l_buf, nd * k * e->m2l_level_max);
    KIFMM__EALLOC(e->thread_buf, e->thread_len * e->nthreads);
    KIFMM__EALLOC(e->m2l_src, (size_t)e->m2l_block * nd * e->nthreads);
    KIFMM__EALLOC(e->m2l_dst, (size_t)e->m2l_block * nd * e->nthreads);
#undef KIFMM__EALLOC
    /* leaves in box order, which is level order (the batched solves need one level's set at a
       time when the sets differ per level); an empty leaf's multipole, which M2M and the M2L
       compression read and nothing writes, is zero once and for all */
    for (l = 0; l < t->nboxes; l++) {
        size_t d;
        if (t->child[l] >= 0) continue;
        if (t->src_end[l] > t->src_begin[l]) e->leaf_src[e->nleaf_src++] = l;
        else if (kifmm__has_slot(e, l))
            for (d = 0; d < nd; d++) memset(e->equiv + (d * e->nslot + kifmm__slot(e, l)) * e->ne, 0, (size_t)e->ne * sizeof(double));
        if (t->tgt_end[l] > t->tgt_begin[l]) e->leaf_tgt[e->nleaf_tgt++] = l;
    }
    return KIFMM_OK;
oom:
    kifmm__eval_free(e, al);
    return KIFMM_ERR_OUT_OF_MEMORY;
}

/* ---- sources and targets as kifmm__interact sees them ------------------------------------- */
/* the sorted sources s0 .. s1-1 with what this evaluation gives them */
static kifmm__src kifmm__particles(const kifmm__eval *e, size_t s0, size_t s1) {
    const kifmm_tree *t = e->tree;
    size_t ns = t->nsources;
    kifmm__src s;
    s.x = t->src + s0; s.y = t->src + ns + s0; s.z = t->src + 2 * ns + s0;
    s.n = s1 - s0;
    s.q = e->call.has_q ? e->q + s0 : NULL;
    s.q_b = ns;
    s.q_d = (size_t)e->sdim * ns;
    s.dip = e->call.has_dip ? e->dip + s0 : NULL;
    s.dip_c = ns;
    s.dip_d = 3 * ns;
    return s;
}

/* the same sources as the U list's kernel sees them: harm's planes hold each set's three forces
   and then its fourth (harmonic) density, which Stokes skips */
static kifmm__src kifmm__particles_near(const kifmm__eval *e, size_t s0, size_t s1) {
    kifmm__src s = kifmm__particles(e, s0, s1);
    if (e->harm) s.q_d = 4 * e->tree->nsources;
    return s;
}

/* the surface of box b at radius alpha, into this thread's buffer */
static const double *kifmm__box_surface(const kifmm__eval *e, int b, double alpha, double *buf) {
    double c[3], hw;
    kifmm__tree_box_center(e->tree, b, c, &hw);
    kifmm__surface_at(e->ops->surf, e->n, c, alpha * hw, buf);
    return buf;
}

/* densities on a surface (planes n apart, sets dens_d apart) as sources */
static kifmm__src kifmm__surface_src(const kifmm__eval *e, const double *s, const double *dens, size_t dens_d) {
    kifmm__src q;
    size_t n = (size_t)e->n;
    memset(&q, 0, sizeof q);
    q.x = s; q.y = s + n; q.z = s + 2 * n; q.n = n;
    q.q = dens; q.q_b = n; q.q_d = dens_d;
    return q;
}

/* a surface's points as targets of check values (planes n apart, sets chk_d apart) */
static kifmm__tgt kifmm__surface_tgt(const kifmm__eval *e, const double *s, double *chk, size_t chk_d) {
    kifmm__tgt t;
    size_t n = (size_t)e->n;
    memset(&t, 0, sizeof t);
    t.x = s; t.y = s + n; t.z = s + 2 * n; t.n = n;
    t.pot = chk; t.pot_a = n; t.pot_d = chk_d;
    return t;
}

/* the end of the batch of leaves from list[c0]: at most leaf_cols, and one level when the
   operator sets differ per level */
static int kifmm__batch_end(const kifmm__eval *e, const int *list, int c0, int count) {
    int c1 = c0 + 1, l = kifmm__key_level(e->tree->key[list[c0]]);
    while (c1 < count && c1 - c0 < e->leaf_cols && (e->nops == 1 || kifmm__key_level(e->tree->key[list[c1]]) == l)) c1++;
    return c1;
}

/* ---- upward pass -------------------------------------------------------------------------- */
KIFMM__FN void kifmm__op_p2m(kifmm__eval *e) {
    const kifmm_tree *t = e->tree;
    int nd = e->call.nd, ne = e->ne, nc = e->nc, na = e->nleaf_src, c0, c1;
    double *chk = e->leafbuf, *y = e->leafbuf + (size_t)(ne > nc ? ne : nc) * e->leaf_cols * e->ndmax;
    for (c0 = 0; c0 < na; c0 = c1) {
        const kifmm__ops *o = kifmm__lops(e, kifmm__key_level(t->key[e->leaf_src[c0]]));
        int cnt, r = o->c2e_rank;
        ptrdiff_t i;
        c1 = kifmm__batch_end(e, e->leaf_src, c0, na);
        cnt = c1 - c0;
        KIFMM__OMP(omp parallel for schedule(dynamic, 16) num_threads(e->nthreads))
        for (i = 0; i < cnt; i++) {
            kifmm__parts p = kifmm__thread_parts(e);
            double *c = chk + (size_t)i * nd * nc;
            int b = e->leaf_src[c0 + i];
            kifmm__src s = kifmm__particles(e, t->src_begin[b], t->src_end[b]);
            kifmm__tgt g = kifmm__surface_tgt(e, kifmm__box_surface(e, b, KIFMM_RADIUS_OUTER, p.surf), c, (size_t)nc);
            memset(c, 0, (size_t)nd * nc * sizeof *c);
            kifmm__interact(&e->kern, nd, &s, &g, p.scratch);
        }
        /* a batch's solves at once: equivalent = (w / w0)^-h c2e_v (c2e_u check) */
        kifmm__dgemm(&e->blas, 0, 0, r, cnt * nd, nc, 1.0, o->c2e_u, r, chk, nc, 0.0, y, r);
        kifmm__dgemm(&e->blas, 0, 0, ne, cnt * nd, r, 1.0, o->c2e_v, ne, y, r, 0.0, chk, ne);
        KIFMM__OMP(omp parallel for schedule(static) num_threads(e->nthreads))
        for (i = 0; i < cnt; i++) {
            int b = e->leaf_src[c0 + i], j, d;
            double f = kifmm__scale(o, kifmm__box_hw(t, b), -o->h);
            for (d = 0; d < nd; d++) {
                double *eq = e->equiv + ((size_t)d * e->nslot + kifmm__slot(e, b)) * ne;
                const double *src = chk + ((size_t)i * nd + d) * ne;
                for (j = 0; j < ne; j++) eq[j] = f * src[j];
            }
        }
    }
}

/* sibling groups per batched M2M / L2L GEMM: the leaf batches' room, one density set at a time */
static int kifmm__group_cols(const kifmm__eval *e) { return e->leaf_cols * e->ndmax; }

/* children are contiguous: per density set, one GEMM per batch of sibling groups, then each
   column to its group's parent */
/* the child groups j0 .. j1-1 of level l (group j: boxes lc + 8j ..; lc = the level's first box)
   whose parent is one this rank works on (all of them on one node) */
static void kifmm__groups(const kifmm__eval *e, int l, int *j0, int *j1) {
    const kifmm_tree *t = e->tree;
    int lc = t->level_begin[l], n = (t->level_begin[l + 1] - lc) / 8, a = 0, b = n;
    const int *r;
    *j0 = 0; *j1 = n;
    if (!e->has_range || l < 1 || n == 0) return;
    r = e->range[l - 1];
    while (a < b) { int c = (a + b) / 2; if (t->parent[lc + 8 * c] < r[0]) a = c + 1; else b = c; }
    *j0 = a;
    b = n;
    while (a < b) { int c = (a + b) / 2; if (t->parent[lc + 8 * c] < r[1]) a = c + 1; else b = c; }
    *j1 = a;
}

KIFMM__FN void kifmm__op_m2m(kifmm__eval *e, int l) {
    const kifmm_tree *t = e->tree;
    const kifmm__ops *o;
    int ne = e->ne, lb = t->level_begin[l], nsplit, js, j0, d, gc = kifmm__group_cols(e);
    kifmm__groups(e, l, &js, &nsplit);
    if (l < 1 || nsplit <= js) return;
    o = kifmm__lops(e, l - 1);
    for (d = 0; d < e->call.nd; d++) {
        double *eq = e->equiv + (size_t)d * e->nslot * ne;
        for (j0 = js; j0 < nsplit; j0 += gc) {
            int cnt = nsplit - j0 < gc ? nsplit - j0 : gc;
            ptrdiff_t j;
            kifmm__dgemm(&e->blas, 0, 0, ne, cnt, 8 * ne, 1.0, o->m2m, ne, eq + kifmm__slot(e, lb + 8 * j0) * ne,
                         8 * ne, 0.0, e->leafbuf, ne);
            KIFMM__OMP(omp parallel for schedule(static) num_threads(e->nthreads))
            for (j = 0; j < cnt; j++)
                memcpy(eq + kifmm__slot(e, t->parent[lb + 8 * (j0 + j)]) * ne, e->leafbuf + (size_t)j * ne,
                       (size_t)ne * sizeof(double));
        }
    }
}

/* ---- M2L -----------------------------------------------------------------------------------
   For the targets b0 .. b1-1 of level l: per transfer vector, the compressed multipoles of the
   sources (a column per pair and density set), one GEMM with the core (or its two factors), added
   into the task's compressed locals; then expanded into the check vectors. Within a vector every
   target has at most one source (kifmm__m2l_groups_ok), so a task's block is all it writes. */
static void kifmm__m2l_block_run(kifmm__eval *e, const kifmm__ops *o, int l, int b0, int b1, double scale) {
    const kifmm_tree *t = e->tree;
    int nc = e->nc, k = o->k, tv, d, nd = e->call.nd;
    size_t bw = (size_t)e->m2l_block * nd, kb = (size_t)k * bw, nk = (size_t)nd * k;
    kifmm__parts parts = kifmm__thread_parts(e);
    double *lh = parts.m2l, *gat = lh + kb, *res = gat + kb, *mid = res + kb;
    double **dst = e->m2l_dst + bw * (size_t)kifmm__thread();
    const double **src = e->m2l_src + bw * (size_t)kifmm__thread();
    size_t base = (size_t)l * KIFMM_NUM_TRANSFER;
    memset(lh, 0, nk * (size_t)(b1 - b0) * sizeof *lh);   /* [box][d][k], as m2l_buf */
    for (tv = 0; tv < KIFMM_NUM_TRANSFER; tv++) {
        size_t lo = t->m2l_off[base + tv], hi = t->m2l_off[base + tv + 1], p0, p1, j;
        int np, i, r = o->m2l_r[tv];
        const double *c = o->m2l_c + o->m2l_coff[tv];
        /* pairs of a vector are sorted by target: find this block's */
        while (lo < hi) { size_t m = lo + (hi - lo) / 2; if (t->m2l_tgt[m] < b0) lo = m + 1; else hi = m; }
        p0 = lo;
        for (p1 = p0; p1 < t->m2l_off[base + tv + 1] && t->m2l_tgt[p1] < b1; p1++) {}
        np = (int)(p1 - p0) * nd;           /* <= (b1 - b0) nd <= bw: a target once per vector */
        if (np == 0 || r == 0) continue;
        for (j = p0; j < p1; j++)
            for (d = 0; d < nd; d++) {
                size_t col = (j - p0) * (size_t)nd + (size_t)d;
                src[col] = e->m2l_buf + (kifmm__slot(e, t->m2l_src[j]) - e->slot_off[l]) * nk + (size_t)d * k;
                dst[col] = lh + (size_t)(t->m2l_tgt[j] - b0) * nk + (size_t)d * k;
            }
        if (!e->blas.dgemm) {              /* the built-in GEMM reads and adds in place */
            if (r == k)
                kifmm__la_gemm(0, 0, k, np, k, 1.0, c, k, NULL, 0, src, 1.0, NULL, 0, dst);
            else {   /* A_t (B_t^T x) */
                kifmm__la_gemm(0, 0, r, np, k, 1.0, c + (size_t)k * r, r, NULL, 0, src, 0.0, mid, r, NULL);
                kifmm__la_gemm(0, 0, k, np, r, 1.0, c, k, mid, r, NULL, 1.0, NULL, 0, dst);
            }
            continue;
        }
        /* the caller's GEMM: gather, multiply, scatter */
        for (j = 0; j < (size_t)np; j++) memcpy(gat + j * k, src[j], (size_t)k * sizeof *gat);
        if (r == k)
            kifmm__dgemm_local(&e->blas, 0, 0, k, np, k, 1.0, c, k, gat, k, 0.0, res, k);
        else {
            kifmm__dgemm_local(&e->blas, 0, 0, r, np, k, 1.0, c + (size_t)k * r, r, gat, k, 0.0, mid, r);
            kifmm__dgemm_local(&e->blas, 0, 0, k, np, r, 1.0, c, k, mid, r, 0.0, res, k);
        }
        for (j = 0; j < (size_t)np; j++) {
            double *x = res + j * k;
            for (i = 0; i < k; i++) dst[j][i] += x[i];
        }
    }
    for (d = 0; d < nd; d++)
        kifmm__dgemm_local(&e->blas, 0, 0, nc, b1 - b0, k, scale, o->m2l_u, nc, lh + (size_t)d * k, (int)nk, 1.0,
                           e->check + ((size_t)d * e->nslot + kifmm__slot(e, b0)) * nc, nc);
}

KIFMM__FN void kifmm__op_m2l(kifmm__eval *e, int l) {
    const kifmm_tree *t = e->tree;
    const kifmm__ops *o = kifmm__lops(e, l);
    int ne = e->ne, k = o->k, lb = t->level_begin[l], le = t->level_begin[l + 1], d;
    int tlo = e->has_range ? e->range[l][0] : lb, thi = e->has_range ? e->range[l][1] : le;
    size_t base = (size_t)l * KIFMM_NUM_TRANSFER;
    ptrdiff_t blk, nblk = thi > tlo ? (thi - tlo + e->m2l_block - 1) / e->m2l_block : 0;
    double scale;
    if (l < 2 || t->m2l_off[base + KIFMM_NUM_TRANSFER] == t->m2l_off[base] || nblk == 0) return;
    scale = kifmm__scale(o, t->half_width / (double)((uint64_t)1 << l), o->h);
    /* compress every stored multipole of the level at once, set by set */
    for (d = 0; d < e->call.nd && e->slot_cnt[l]; d++)
        kifmm__dgemm(&e->blas, 1, 0, k, (int)e->slot_cnt[l], ne, 1.0, o->m2l_v, ne,
                     e->equiv + ((size_t)d * e->nslot + e->slot_off[l]) * ne, ne, 0.0,
                     e->m2l_buf + (size_t)d * k, k * e->call.nd);
    KIFMM__OMP(omp parallel for schedule(dynamic, 1) num_threads(e->nthreads))
    for (blk = 0; blk < nblk; blk++) {
        int b0 = tlo + (int)blk * e->m2l_block, b1 = b0 + e->m2l_block < thi ? b0 + e->m2l_block : thi;
        kifmm__m2l_block_run(e, o, l, b0, b1, scale);
    }
}

/* X list of the boxes with more targets than surface points: the sources' field on the box's
   check surface. (Boxes with fewer take their X sources directly at their targets, in the leaf
   pass: exact, and cheaper.) */
KIFMM__FN void kifmm__op_p2l(kifmm__eval *e) {
    const kifmm_tree *t = e->tree;
    size_t n = (size_t)e->n;
    ptrdiff_t b;
    KIFMM__OMP(omp parallel for schedule(dynamic, 16) num_threads(e->nthreads))
    for (b = 0; b < t->nboxes; b++) {
        kifmm__parts p;
        kifmm__tgt g;
        size_t j;
        if (kifmm__box_nt(t, (int)b) <= n || t->x_off[b] == t->x_off[b + 1] || t->tgt_end[b] == t->tgt_begin[b]) continue;
        p = kifmm__thread_parts(e);
        g = kifmm__surface_tgt(e, kifmm__box_surface(e, (int)b, KIFMM_RADIUS_INNER, p.surf),
                               e->check + kifmm__slot(e, (int)b) * e->nc, e->nslot * e->nc);
        for (j = t->x_off[b]; j < t->x_off[b + 1]; j++) {
            int x = t->x_idx[j];
            kifmm__src s = kifmm__particles(e, t->src_begin[x], t->src_end[x]);
            kifmm__interact(&e->kern, e->call.nd, &s, &g, p.scratch);
        }
    }
}

KIFMM__FN void kifmm__op_l2l(kifmm__eval *e, int l) {
    const kifmm_tree *t = e->tree;
    const kifmm__ops *o;
    int nc = e->nc, lc, nsplit, js, j0, d, gc = kifmm__group_cols(e);
    if (l < 2 || l >= KIFMM_MAX_DEPTH) return;
    o = kifmm__lops(e, l);
    lc = t->level_begin[l + 1];
    kifmm__groups(e, l + 1, &js, &nsplit);
    for (d = 0; d < e->call.nd; d++) {
        double *ck = e->check + (size_t)d * e->nslot * nc;
        for (j0 = js; j0 < nsplit; j0 += gc) {
            int cnt = nsplit - j0 < gc ? nsplit - j0 : gc;
            ptrdiff_t j;
            KIFMM__OMP(omp parallel for schedule(static) num_threads(e->nthreads))
            for (j = 0; j < cnt; j++)
                memcpy(e->leafbuf + (size_t)j * nc, ck + kifmm__slot(e, t->parent[lc + 8 * (j0 + j)]) * nc,
                       (size_t)nc * sizeof(double));
            kifmm__dgemm(&e->blas, 0, 0, 8 * nc, cnt, nc, 1.0, o->l2l, 8 * nc, e->leafbuf, nc, 1.0,
                         ck + kifmm__slot(e, lc + 8 * j0) * nc, 8 * nc);
        }
    }
}

/* ---- the leaf pass -------------------------------------------------------------------------- */
/* the block of targets j0 .. j0+m-1 as targets of a result block at out: nd sets of td values,
   with gradients (wg) and Hessians (wh); the block's width in doubles into *width */
static kifmm__tgt kifmm__block_tgt(const kifmm__eval *e, size_t j0, size_t m, double *out, size_t td, size_t nd,
                                   int wg, int wh, size_t *width) {
    const kifmm_tree *t = e->tree;
    size_t nt = t->ntargets, tb = e->tgt_block;
    kifmm__tgt g;
    g.x = t->tgt + j0; g.y = t->tgt + nt + j0; g.z = t->tgt + 2 * nt + j0;
    g.n = m;
    g.pot = out; g.pot_a = tb; g.pot_d = td * tb;
    g.grad = wg || wh ? out + td * nd * tb : NULL;
    g.grad_a = tb; g.grad_d = 3 * td * tb;
    g.hess = wh ? out + 4 * td * nd * tb : NULL;
    g.hess_a = tb; g.hess_d = 6 * tb;
    *width = td * nd * tb * (wg || wh ? 4 : 1) + (wh ? 6 * nd * tb : 0);
    memset(out, 0, *width * sizeof *out);
    return g;
}

/* Stokes from its four harmonic fields per set (Laplace's phi_k of the forces f_k, k < 3, and
   phi_3 of (y - c) . f; x' = x - c): with sum_k x_a x_k f_k / r^3 = -sum_k x_k f_k d_a (1/r),
     u_a = 4 pi c_s (phi_a - x'_k d_a phi_k + d_a phi_3),
     d_m u_a = 4 pi c_s (d_m phi_a - d_a phi_m - x'_k d_m d_a phi_k + d_m d_a phi_3).
   The FMM's error in each phi is linear in the sources, so the combination's error per source
   scales with |y - x|, not |x'|: no accuracy lost to the large coordinates. */
static void kifmm__harm_combine(const kifmm__eval *e, const kifmm__tgt *g, const kifmm__tgt *u) {
    static const int hi[3][3] = {{0, 3, 4}, {3, 1, 5}, {4, 5, 2}};
    double f = 4 * 3.14159265358979323846 * e->near.c;
    size_t nd = (size_t)e->call.nd / 4, d, j;
    int a, k, m;
    for (d = 0; d < nd; d++) {
        const double *ph = g->pot + 4 * d * g->pot_d, *gr = g->grad + 4 * d * g->grad_d;
        const double *hs = g->hess ? g->hess + 4 * d * g->hess_d : NULL;
        for (j = 0; j < g->n; j++) {
            double x[3];
            x[0] = g->x[j] - e->harm_c[0]; x[1] = g->y[j] - e->harm_c[1]; x[2] = g->z[j] - e->harm_c[2];
            for (a = 0; a < 3; a++) {
                double v = ph[a * g->pot_d + j] + gr[3 * g->grad_d + a * g->grad_a + j];
                for (k = 0; k < 3; k++) v -= x[k] * gr[k * g->grad_d + a * g->grad_a + j];
                u->pot[d * u->pot_d + a * u->pot_a + j] += f * v;
                if (!u->grad) continue;
                for (m = 0; m < 3; m++) {
                    size_t h = (size_t)hi[m][a] * g->hess_a + j;
                    double w = gr[a * g->grad_d + m * g->grad_a + j] - gr[m * g->grad_d + a * g->grad_a + j] +
                               hs[3 * g->hess_d + h];
                    for (k = 0; k < 3; k++) w -= x[k] * hs[k * g->hess_d + h];
                    u->grad[d * u->grad_d + (3 * a + m) * u->grad_a + j] += f * w;
                }
            }
        }
    }
}

/* the result block g (nd sets of td values) into the caller's arrays, in the caller's order
   (every target is in one leaf: written once) */
static void kifmm__block_out(const kifmm__eval *e, const kifmm__tgt *g, size_t j0, size_t td, size_t nd) {
    const size_t *perm = e->tree->tgt_perm;
    size_t j, d, a, c;
    for (j = 0; j < g->n; j++) {
        size_t u = perm[j0 + j];
        for (d = 0; d < nd; d++)
            for (a = 0; a < td; a++) {
                if (e->call.pot) e->call.pot[(u * td + a) * nd + d] = g->pot[d * g->pot_d + a * g->pot_a + j];
                if (e->call.grad)
                    for (c = 0; c < 3; c++)
                        e->call.grad[((u * td + a) * 3 + c) * nd + d] = g->grad[d * g->grad_d + (3 * a + c) * g->grad_a + j];
            }
        if (e->call.hess)
            for (d = 0; d < nd; d++)
                for (c = 0; c < 6; c++) e->call.hess[(6 * u + c) * nd + d] = g->hess[d * g->hess_d + c * g->hess_a + j];
    }
}

/* the parts of the leaf pass for one block of leaf b's targets; dq: its downward equivalent
   vectors (sets ne apart), or NULL */
static void kifmm__leaf_block(kifmm__eval *e, int b, size_t j0, size_t m, const double *dq, unsigned mask,
                              const kifmm__parts *p) {
    const kifmm_tree *t = e->tree;
    size_t n = (size_t)e->n, j, width, lo[KIFMM_MAX_U], hi[KIFMM_MAX_U];
    size_t td = e->harm ? 3 : (size_t)e->tdim, ndo = (size_t)e->call.nd / (e->harm ? 4 : 1), wu;
    int nd = e->call.nd, a, nr = 0, r;
    double t0 = kifmm__now(), t1;
    kifmm__tgt g = kifmm__block_tgt(e, j0, m, p->out, (size_t)e->tdim, (size_t)nd, e->call.want_grad,
                                    e->call.want_hess, &width), u = g, *near = &g;
    /* harm: the far field's harmonics in g, what is taken from particles (the near kernel, exact
       and cheaper than four densities with Hessians) in u, the block the caller receives */
    if (e->harm) {
        u = kifmm__block_tgt(e, j0, m, p->out + width, 3, ndo, e->call.grad != NULL, 0, &wu);
        near = &u;
    }
    if ((mask & KIFMM__LEAF_L2P) && dq) {
        kifmm__src s = kifmm__surface_src(e, kifmm__box_surface(e, b, KIFMM_RADIUS_OUTER, p->surf), dq, (size_t)e->ne);
        kifmm__interact(&e->kern, nd, &s, &g, p->scratch);
    }
    t1 = kifmm__now(); p->timer[KIFMM_OP_L2P] += t1 - t0; t0 = t1;
    if (mask & KIFMM__LEAF_M2P)
        for (j = t->w_off[b]; j < t->w_off[b + 1]; j++) {
            int w = t->w_idx[j];
            size_t s0 = t->src_begin[w], s1 = t->src_end[w], ns = kifmm__box_ns(t, w);
            kifmm__src s;
            if (ns == 0) continue;
            if (ns <= n) {                 /* fewer sources than surface points: take them directly */
                s = kifmm__particles_near(e, s0, s1);
                kifmm__interact(&e->near, (int)ndo, &s, near, p->scratch);
                continue;
            }
            s = kifmm__surface_src(e, kifmm__box_surface(e, w, KIFMM_RADIUS_INNER, p->surf),
                                   e->equiv + kifmm__slot(e, w) * e->ne, e->nslot * e->ne);
            kifmm__interact(&e->kern, nd, &s, &g, p->scratch);
        }
    t1 = kifmm__now(); p->timer[KIFMM_OP_M2P] += t1 - t0; t0 = t1;
    /* X lists of b and of its ancestors with at most n targets (target counts grow towards the
       root: stop at the first above), taken directly */
    if (mask & KIFMM__LEAF_X)
        for (a = b; a >= 0 && kifmm__box_nt(t, a) <= n; a = t->parent[a])
            for (j = t->x_off[a]; j < t->x_off[a + 1]; j++) {
                int x = t->x_idx[j];
                kifmm__src s = kifmm__particles_near(e, t->src_begin[x], t->src_end[x]);
                kifmm__interact(&e->near, (int)ndo, &s, near, p->scratch);
            }
    t1 = kifmm__now(); p->timer[KIFMM_OP_P2L] += t1 - t0; t0 = t1;
    if (e->harm) kifmm__harm_combine(e, &g, &u);   /* (its time counts as P2P's) */
    if (mask & KIFMM__LEAF_P2P) {
        /* U-list sources that are contiguous in Morton order merge into one range, so the
           targets' sums are loaded and stored once per range, not once per box */
        for (j = t->u_off[b]; j < t->u_off[b + 1]; j++) {
            size_t s0 = t->src_begin[t->u_idx[j]], s1 = t->src_end[t->u_idx[j]];
            if (s1 == s0) continue;
            for (r = nr; r > 0 && lo[r - 1] > s0; r--) { lo[r] = lo[r - 1]; hi[r] = hi[r - 1]; }
            lo[r] = s0;
            hi[r] = s1;
            nr++;                          /* <= KIFMM_MAX_U: the U list's bound */
        }
        for (r = 0; r < nr;) {
            size_t s0 = lo[r], s1 = hi[r];
            kifmm__src s;
            for (r++; r < nr && lo[r] == s1; r++) s1 = hi[r];
            s = kifmm__particles_near(e, s0, s1);
            kifmm__interact(&e->near, (int)ndo, &s, near, p->scratch);
        }
    }
    kifmm__block_out(e, near, j0, td, ndo);
    t1 = kifmm__now(); p->timer[KIFMM_OP_P2P] += t1 - t0;
}

KIFMM__FN void kifmm__op_leaves(kifmm__eval *e, unsigned mask, double sec[8]) {
    const kifmm_tree *t = e->tree;
    int nd = e->call.nd, ne = e->ne, nc = e->nc, na = e->nleaf_tgt, c0, c1, th, op;
    double *chk = e->leafbuf, *y = e->leafbuf + (size_t)(ne > nc ? ne : nc) * e->leaf_cols * e->ndmax;
    for (th = 0; th < e->nthreads; th++)
        memset(e->thread_buf + e->thread_len * (size_t)th + e->thread_len - 8, 0, 8 * sizeof(double));
    for (c0 = 0; c0 < na; c0 = c1) {
        const kifmm__ops *o = kifmm__lops(e, kifmm__key_level(t->key[e->leaf_tgt[c0]]));
        int cnt, l2p = 0;
        ptrdiff_t i;
        double t0 = kifmm__now();
        c1 = kifmm__batch_end(e, e->leaf_tgt, c0, na);
        cnt = c1 - c0;
        for (i = 0; i < cnt; i++) l2p |= kifmm__key_level(t->key[e->leaf_tgt[c0 + i]]) >= 2;
        l2p &= (mask & KIFMM__LEAF_L2P) != 0;
        if (l2p) {                 /* the batch's downward equivalents: (w / w0)^-h pinv^T check */
            int r = o->dc2e_v ? o->dc2e_rank : o->c2e_rank;
            KIFMM__OMP(omp parallel for schedule(static) num_threads(e->nthreads))
            for (i = 0; i < cnt; i++) {
                int d;
                for (d = 0; d < nd; d++)
                    memcpy(chk + ((size_t)i * nd + d) * nc, e->check + ((size_t)d * e->nslot + kifmm__slot(e, e->leaf_tgt[c0 + i])) * nc,
                           (size_t)nc * sizeof *chk);
            }
            if (o->dc2e_v) {
                kifmm__dgemm(&e->blas, 0, 0, r, cnt * nd, nc, 1.0, o->dc2e_u, r, chk, nc, 0.0, y, r);
                kifmm__dgemm(&e->blas, 0, 0, ne, cnt * nd, r, 1.0, o->dc2e_v, ne, y, r, 0.0, chk, ne);
            } else {               /* symmetric kernel: c2e_u^T (c2e_v^T check) */
                kifmm__dgemm(&e->blas, 1, 0, r, cnt * nd, nc, 1.0, o->c2e_v, ne, chk, nc, 0.0, y, r);
                kifmm__dgemm(&e->blas, 1, 0, ne, cnt * nd, r, 1.0, o->c2e_u, r, y, r, 0.0, chk, ne);
            }
        }
        sec[KIFMM_OP_L2P] += kifmm__now() - t0;
        KIFMM__OMP(omp parallel for schedule(dynamic, 4) num_threads(e->nthreads))
        for (i = 0; i < cnt; i++) {
            kifmm__parts p = kifmm__thread_parts(e);
            int b = e->leaf_tgt[c0 + i], d, j;
            size_t j0;
            double *dq = NULL;
            if (l2p && kifmm__key_level(t->key[b]) >= 2) {   /* above level 2 nothing is far enough */
                double f = kifmm__scale(o, kifmm__box_hw(t, b), -o->h);
                dq = chk + (size_t)i * nd * ne;
                for (d = 0; d < nd; d++)
                    for (j = 0; j < ne; j++) dq[(size_t)d * ne + j] *= f;
            }
            for (j0 = t->tgt_begin[b]; j0 < t->tgt_end[b]; j0 += e->tgt_block) {
                size_t m = t->tgt_end[b] - j0 < e->tgt_block ? t->tgt_end[b] - j0 : e->tgt_block;
                kifmm__leaf_block(e, b, j0, m, dq, mask, &p);
            }
        }
    }
    for (th = 0; th < e->nthreads; th++)
        for (op = 0; op < 8; op++) sec[op] += e->thread_buf[e->thread_len * (size_t)th + e->thread_len - 8 + op] / e->nthreads;
}

#endif /* KIFMM_OPS_IMPLEMENTATION */
