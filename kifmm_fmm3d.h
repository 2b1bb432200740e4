/* kifmm_fmm3d.h - FMM3D's Laplace interface (C and Fortran) on top of kifmm: FMM3D's callers
   switch by linking. Part of kifmm, MIT licence at the end of kifmm_tree.h.

   USAGE
     #define KIFMM_FMM3D_IMPLEMENTATION   (in exactly one .c file)
     #include "kifmm_fmm3d.h"
   and KIFMM_IMPLEMENTATION in that file or another one (the routines call kifmm's public API
   only). From C the declarations below are FMM3D's own (c/lfmm3d_c.h: every argument by pointer,
   counts int64_t); from Fortran call lfmm3d_s_c_p(eps, ns, source, charge, pot, ier) and so on as
   with FMM3D (gfortran appends the underscore these names carry).

   The routines: lfmm3d_{s,t,st}_{c,d,cd}_{p,g,h}_ (sources only, targets only, both; charges,
   dipoles, both; potential, + gradient, + Hessian), the same with _vec_ and a leading nd (density
   sets), FMM3D's general lfmm3d_, and the direct sums l3ddirect{c,d,cd}{p,g,h}_, which add into
   their outputs as FMM3D's do and skip pairs closer than thresh (coincident ones always).

   Layouts are FMM3D's: source(3, n), charge(nd, n), dipvec(nd, 3, n), pot(nd, n),
   grad(nd, 3, n), hess(nd, 6, n) in the order xx yy zz xy xz yz, Fortran order (so in C: x0 y0
   z0 x1 ..., the set index fastest); the kernel 1 / (4 pi r) (FMM3D 2.1 and later), a dipole v
   at y giving v . (x - y) / (4 pi |x - y|^3). Self-interaction (a source at a target's position)
   is excluded, as in FMM3D.

   eps: the relative accuracy wanted; kifmm picks its order from it (config.tolerance = eps for
   the potential; eps / 3 when gradients are wanted too, whose errors run about three times the
   potential's, eps / 10 with Hessians; with dipoles, one step further: eps / 3 for potentials,
   eps / 10 with gradients, eps / 30 with Hessians), so the error of every output is below eps
   (tests/test_fmm3d.c checks FMM3D's own test matrix at eps = 0.51e-3 and 0.51e-6).

   ier (int64_t): 0 on success, else one of the values below, where FMM3D would crash or return
   garbage; the outputs are then untouched:
     KIFMM_FMM3D_IER_ARGUMENT   1  a NULL array with a non-zero count, a negative count, nd < 1,
                                   eps not finite and > 0, ifpgh / ifpghtarg outside 0..3, no
                                   charges and no dipoles asked for
     KIFMM_FMM3D_IER_NONFINITE  2  a NaN or Inf coordinate, charge or dipole
     KIFMM_FMM3D_IER_MEMORY     4  out of memory (FMM3D's own value for it)
     KIFMM_FMM3D_IER_NUMERICAL  8  a factorisation of the precomputation failed (not seen)
     KIFMM_FMM3D_IER_INTERNAL  16  kifmm found an internal bound broken (a bug: please report)
   iper (FMM3D's periodicity flag, unused there too) is ignored. The direct routines have no ier
   (as FMM3D's): bad input (a negative count, a NaN, thresh not finite and >= 0) changes nothing.
*/
#ifndef KIFMM_FMM3D_H
#define KIFMM_FMM3D_H

#include <stdint.h>

#define KIFMM_FMM3D_IER_ARGUMENT 1
#define KIFMM_FMM3D_IER_NONFINITE 2
#define KIFMM_FMM3D_IER_MEMORY 4
#define KIFMM_FMM3D_IER_NUMERICAL 8
#define KIFMM_FMM3D_IER_INTERNAL 16

#ifdef __cplusplus
extern "C" {
#endif

#define KIFMM__F3D_S(name, ...) void name(double *eps, int64_t *nsource, double *source, __VA_ARGS__, int64_t *ier)
#define KIFMM__F3D_V(name, ...) void name(int64_t *nd, double *eps, int64_t *nsource, double *source, __VA_ARGS__, int64_t *ier)
/* sources only */
KIFMM__F3D_S(lfmm3d_s_c_p_, double *charge, double *pot);
KIFMM__F3D_S(lfmm3d_s_c_g_, double *charge, double *pot, double *grad);
KIFMM__F3D_S(lfmm3d_s_c_h_, double *charge, double *pot, double *grad, double *hess);
KIFMM__F3D_S(lfmm3d_s_d_p_, double *dipvec, double *pot);
KIFMM__F3D_S(lfmm3d_s_d_g_, double *dipvec, double *pot, double *grad);
KIFMM__F3D_S(lfmm3d_s_d_h_, double *dipvec, double *pot, double *grad, double *hess);
KIFMM__F3D_S(lfmm3d_s_cd_p_, double *charge, double *dipvec, double *pot);
KIFMM__F3D_S(lfmm3d_s_cd_g_, double *charge, double *dipvec, double *pot, double *grad);
KIFMM__F3D_S(lfmm3d_s_cd_h_, double *charge, double *dipvec, double *pot, double *grad, double *hess);
/* targets only */
KIFMM__F3D_S(lfmm3d_t_c_p_, double *charge, int64_t *nt, double *targ, double *pottarg);
KIFMM__F3D_S(lfmm3d_t_c_g_, double *charge, int64_t *nt, double *targ, double *pottarg, double *gradtarg);
KIFMM__F3D_S(lfmm3d_t_c_h_, double *charge, int64_t *nt, double *targ, double *pottarg, double *gradtarg, double *hesstarg);
KIFMM__F3D_S(lfmm3d_t_d_p_, double *dipvec, int64_t *nt, double *targ, double *pottarg);
KIFMM__F3D_S(lfmm3d_t_d_g_, double *dipvec, int64_t *nt, double *targ, double *pottarg, double *gradtarg);
KIFMM__F3D_S(lfmm3d_t_d_h_, double *dipvec, int64_t *nt, double *targ, double *pottarg, double *gradtarg, double *hesstarg);
KIFMM__F3D_S(lfmm3d_t_cd_p_, double *charge, double *dipvec, int64_t *nt, double *targ, double *pottarg);
KIFMM__F3D_S(lfmm3d_t_cd_g_, double *charge, double *dipvec, int64_t *nt, double *targ, double *pottarg, double *gradtarg);
KIFMM__F3D_S(lfmm3d_t_cd_h_, double *charge, double *dipvec, int64_t *nt, double *targ, double *pottarg,
             double *gradtarg, double *hesstarg);
/* sources and targets */
KIFMM__F3D_S(lfmm3d_st_c_p_, double *charge, double *pot, int64_t *nt, double *targ, double *pottarg);
KIFMM__F3D_S(lfmm3d_st_c_g_, double *charge, double *pot, double *grad, int64_t *nt, double *targ, double *pottarg,
             double *gradtarg);
KIFMM__F3D_S(lfmm3d_st_c_h_, double *charge, double *pot, double *grad, double *hess, int64_t *nt, double *targ,
             double *pottarg, double *gradtarg, double *hesstarg);
KIFMM__F3D_S(lfmm3d_st_d_p_, double *dipvec, double *pot, int64_t *nt, double *targ, double *pottarg);
KIFMM__F3D_S(lfmm3d_st_d_g_, double *dipvec, double *pot, double *grad, int64_t *nt, double *targ, double *pottarg,
             double *gradtarg);
KIFMM__F3D_S(lfmm3d_st_d_h_, double *dipvec, double *pot, double *grad, double *hess, int64_t *nt, double *targ,
             double *pottarg, double *gradtarg, double *hesstarg);
KIFMM__F3D_S(lfmm3d_st_cd_p_, double *charge, double *dipvec, double *pot, int64_t *nt, double *targ, double *pottarg);
KIFMM__F3D_S(lfmm3d_st_cd_g_, double *charge, double *dipvec, double *pot, double *grad, int64_t *nt, double *targ,
             double *pottarg, double *gradtarg);
KIFMM__F3D_S(lfmm3d_st_cd_h_, double *charge, double *dipvec, double *pot, double *grad, double *hess, int64_t *nt,
             double *targ, double *pottarg, double *gradtarg, double *hesstarg);
/* the same with nd density sets */
KIFMM__F3D_V(lfmm3d_s_c_p_vec_, double *charge, double *pot);
KIFMM__F3D_V(lfmm3d_s_c_g_vec_, double *charge, double *pot, double *grad);
KIFMM__F3D_V(lfmm3d_s_c_h_vec_, double *charge, double *pot, double *grad, double *hess);
KIFMM__F3D_V(lfmm3d_s_d_p_vec_, double *dipvec, double *pot);
KIFMM__F3D_V(lfmm3d_s_d_g_vec_, double *dipvec, double *pot, double *grad);
KIFMM__F3D_V(lfmm3d_s_d_h_vec_, double *dipvec, double *pot, double *grad, double *hess);
KIFMM__F3D_V(lfmm3d_s_cd_p_vec_, double *charge, double *dipvec, double *pot);
KIFMM__F3D_V(lfmm3d_s_cd_g_vec_, double *charge, double *dipvec, double *pot, double *grad);
KIFMM__F3D_V(lfmm3d_s_cd_h_vec_, double *charge, double *dipvec, double *pot, double *grad, double *hess);
KIFMM__F3D_V(lfmm3d_t_c_p_vec_, double *charge, int64_t *nt, double *targ, double *pottarg);
KIFMM__F3D_V(lfmm3d_t_c_g_vec_, double *charge, int64_t *nt, double *targ, double *pottarg, double *gradtarg);
KIFMM__F3D_V(lfmm3d_t_c_h_vec_, double *charge, int64_t *nt, double *targ, double *pottarg, double *gradtarg,
             double *hesstarg);
KIFMM__F3D_V(lfmm3d_t_d_p_vec_, double *dipvec, int64_t *nt, double *targ, double *pottarg);
KIFMM__F3D_V(lfmm3d_t_d_g_vec_, double *dipvec, int64_t *nt, double *targ, double *pottarg, double *gradtarg);
KIFMM__F3D_V(lfmm3d_t_d_h_vec_, double *dipvec, int64_t *nt, double *targ, double *pottarg, double *gradtarg,
             double *hesstarg);
KIFMM__F3D_V(lfmm3d_t_cd_p_vec_, double *charge, double *dipvec, int64_t *nt, double *targ, double *pottarg);
KIFMM__F3D_V(lfmm3d_t_cd_g_vec_, double *charge, double *dipvec, int64_t *nt, double *targ, double *pottarg,
             double *gradtarg);
KIFMM__F3D_V(lfmm3d_t_cd_h_vec_, double *charge, double *dipvec, int64_t *nt, double *targ, double *pottarg,
             double *gradtarg, double *hesstarg);
KIFMM__F3D_V(lfmm3d_st_c_p_vec_, double *charge, double *pot, int64_t *nt, double *targ, double *pottarg);
KIFMM__F3D_V(lfmm3d_st_c_g_vec_, double *charge, double *pot, double *grad, int64_t *nt, double *targ,
             double *pottarg, double *gradtarg);
KIFMM__F3D_V(lfmm3d_st_c_h_vec_, double *charge, double *pot, double *grad, double *hess, int64_t *nt, double *targ,
             double *pottarg, double *gradtarg, double *hesstarg);
KIFMM__F3D_V(lfmm3d_st_d_p_vec_, double *dipvec, double *pot, int64_t *nt, double *targ, double *pottarg);
KIFMM__F3D_V(lfmm3d_st_d_g_vec_, double *dipvec, double *pot, double *grad, int64_t *nt, double *targ,
             double *pottarg, double *gradtarg);
KIFMM__F3D_V(lfmm3d_st_d_h_vec_, double *dipvec, double *pot, double *grad, double *hess, int64_t *nt, double *targ,
             double *pottarg, double *gradtarg, double *hesstarg);
KIFMM__F3D_V(lfmm3d_st_cd_p_vec_, double *charge, double *dipvec, double *pot, int64_t *nt, double *targ,
             double *pottarg);
KIFMM__F3D_V(lfmm3d_st_cd_g_vec_, double *charge, double *dipvec, double *pot, double *grad, int64_t *nt,
             double *targ, double *pottarg, double *gradtarg);
KIFMM__F3D_V(lfmm3d_st_cd_h_vec_, double *charge, double *dipvec, double *pot, double *grad, double *hess,
             int64_t *nt, double *targ, double *pottarg, double *gradtarg, double *hesstarg);
#undef KIFMM__F3D_S
#undef KIFMM__F3D_V

/* FMM3D's general routine (Fortran's lfmm3d): ifcharge, ifdipole 0 / 1; ifpgh, ifpghtarg 0..3 */
void lfmm3d_(int64_t *nd, double *eps, int64_t *nsource, double *source, int64_t *ifcharge, double *charge,
             int64_t *ifdipole, double *dipvec, int64_t *iper, int64_t *ifpgh, double *pot, double *grad,
             double *hess, int64_t *ntarg, double *targ, int64_t *ifpghtarg, double *pottarg, double *gradtarg,
             double *hesstarg, int64_t *ier);

/* the direct sums: add into their outputs, pairs closer than *thresh skipped */
void l3ddirectcp_(int64_t *nd, double *source, double *charge, int64_t *ns, double *targ, int64_t *nt, double *pot,
                  double *thresh);
void l3ddirectcg_(int64_t *nd, double *source, double *charge, int64_t *ns, double *targ, int64_t *nt, double *pot,
                  double *grad, double *thresh);
void l3ddirectch_(int64_t *nd, double *source, double *charge, int64_t *ns, double *targ, int64_t *nt, double *pot,
                  double *grad, double *hess, double *thresh);
void l3ddirectdp_(int64_t *nd, double *source, double *dipvec, int64_t *ns, double *targ, int64_t *nt, double *pot,
                  double *thresh);
void l3ddirectdg_(int64_t *nd, double *source, double *dipvec, int64_t *ns, double *targ, int64_t *nt, double *pot,
                  double *grad, double *thresh);
void l3ddirectdh_(int64_t *nd, double *source, double *dipvec, int64_t *ns, double *targ, int64_t *nt, double *pot,
                  double *grad, double *hess, double *thresh);
void l3ddirectcdp_(int64_t *nd, double *source, double *charge, double *dipvec, int64_t *ns, double *targ,
                   int64_t *nt, double *pot, double *thresh);
void l3ddirectcdg_(int64_t *nd, double *source, double *charge, double *dipvec, int64_t *ns, double *targ,
                   int64_t *nt, double *pot, double *grad, double *thresh);
void l3ddirectcdh_(int64_t *nd, double *source, double *charge, double *dipvec, int64_t *ns, double *targ,
                   int64_t *nt, double *pot, double *grad, double *hess, double *thresh);

#ifdef __cplusplus
}
#endif
#endif /* KIFMM_FMM3D_H */

/* =========================================================================================== */
#if defined(KIFMM_FMM3D_IMPLEMENTATION) && !defined(KIFMM_FMM3D_IMPLEMENTED)
#define KIFMM_FMM3D_IMPLEMENTED
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "kifmm.h"

static int64_t kifmm__f3d_ier(kifmm_status st) {
    switch (st) {
    case KIFMM_OK: return 0;
    case KIFMM_ERR_NONFINITE_INPUT: return KIFMM_FMM3D_IER_NONFINITE;
    case KIFMM_ERR_OUT_OF_MEMORY: return KIFMM_FMM3D_IER_MEMORY;
    case KIFMM_ERR_NUMERICAL: return KIFMM_FMM3D_IER_NUMERICAL;
    case KIFMM_ERR_INTERNAL: return KIFMM_FMM3D_IER_INTERNAL;
    default: return KIFMM_FMM3D_IER_ARGUMENT;
    }
}

/* what a call wants at one set of points: potentials (1), + gradients (2), + Hessians (3) */
static void kifmm__f3d_want(kifmm_eval_desc *d, int level, double *pot, double *grad, double *hess) {
    d->potentials = level >= 1 ? pot : NULL;
    d->gradients = level >= 2 ? grad : NULL;
    d->hessians = level >= 3 ? hess : NULL;
}

/* Everything: pg / pgt are the levels wanted at the sources / targets. Values at the sources and
   at the targets come from one FMM whose targets are both sets, written to scratch, then split. */
static void kifmm__f3d(int64_t nd, const double *eps, const int64_t *nsource, const double *source,
                       const double *charge, const double *dipvec, int pg, double *pot, double *grad, double *hess,
                       const int64_t *ntarg, const double *targ, int pgt, double *pottarg, double *gradtarg,
                       double *hesstarg, int64_t *ier) {
    int64_t ns = nsource ? *nsource : -1, nt = pgt ? (ntarg ? *ntarg : -1) : 0;
    size_t nsz, ntz, ndz = nd > 0 ? (size_t)nd : 0, all;
    double *cat = NULL, *out = NULL;
    kifmm_config c;
    kifmm_eval_desc d;
    kifmm *f = NULL;
    kifmm_status st;
    int level = pg > pgt ? pg : pgt;
    if (!ier) return;
    if (!eps || !(*eps > 0) || *eps > 1e300 || ns < 0 || nt < 0 || nd < 1 || (ns && !source) || (nt && !targ) ||
        (!charge && !dipvec) || (ns && pg && (!pot || (pg >= 2 && !grad) || (pg >= 3 && !hess))) ||
        (nt && (!pottarg || (pgt >= 2 && !gradtarg) || (pgt >= 3 && !hesstarg)))) {
        *ier = KIFMM_FMM3D_IER_ARGUMENT;
        return;
    }
    nsz = (size_t)ns;
    ntz = (size_t)nt;
    memset(&c, 0, sizeof c);
    /* a dipole's field is a derivative of a charge's: one level up the same ladder */
    if (dipvec) level++;
    c.tolerance = level >= 4 ? *eps / 30 : level >= 3 ? *eps / 10 : level >= 2 ? *eps / 3 : *eps;
    c.nd = (int)(nd < KIFMM_MAX_ND ? nd : KIFMM_MAX_ND + 1);     /* (above: refused by kifmm_create) */
    memset(&d, 0, sizeof d);
    d.nd = c.nd;
    d.charges = charge;
    d.dipoles = dipvec;
    if (pg && pgt) {                   /* one target set: the sources, then the targets */
        all = nsz + ntz;
        cat = (double *)malloc((3 * all + 1) * sizeof *cat);
        out = (double *)malloc((10 * all * ndz + 1) * sizeof *out);
        if (!cat || !out) { *ier = KIFMM_FMM3D_IER_MEMORY; goto done; }
        memcpy(cat, source, 3 * nsz * sizeof *cat);
        memcpy(cat + 3 * nsz, targ, 3 * ntz * sizeof *cat);
        kifmm__f3d_want(&d, level, out, out + all * ndz, out + 4 * all * ndz);
        st = kifmm_create(&f, &c, source, nsz, cat, all);
        if (st == KIFMM_OK) st = kifmm_evaluate_ex(f, &d);
        if (st == KIFMM_OK) {          /* split: the sources' block first in every output */
            memcpy(pot, out, nsz * ndz * sizeof *out);
            memcpy(pottarg, out + nsz * ndz, ntz * ndz * sizeof *out);
            if (pg >= 2) memcpy(grad, d.gradients, 3 * nsz * ndz * sizeof *out);
            if (pgt >= 2) memcpy(gradtarg, d.gradients + 3 * nsz * ndz, 3 * ntz * ndz * sizeof *out);
            if (pg >= 3) memcpy(hess, d.hessians, 6 * nsz * ndz * sizeof *out);
            if (pgt >= 3) memcpy(hesstarg, d.hessians + 6 * nsz * ndz, 6 * ntz * ndz * sizeof *out);
        }
    } else if (pg) {
        kifmm__f3d_want(&d, pg, pot, grad, hess);
        st = kifmm_create(&f, &c, source, nsz, source, nsz);
        if (st == KIFMM_OK) st = kifmm_evaluate_ex(f, &d);
    } else {
        kifmm__f3d_want(&d, pgt, pottarg, gradtarg, hesstarg);
        st = kifmm_create(&f, &c, source, nsz, targ, ntz);
        if (st == KIFMM_OK) st = kifmm_evaluate_ex(f, &d);
    }
    *ier = kifmm__f3d_ier(st);
done:
    kifmm_destroy(f);
    free(cat);
    free(out);
}

#define KIFMM__F3D_NONE NULL, NULL, 0, NULL, NULL, NULL   /* no targets */
/* sources only */
void lfmm3d_s_c_p_(double *eps, int64_t *ns, double *src, double *q, double *pot, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, NULL, 1, pot, NULL, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_c_g_(double *eps, int64_t *ns, double *src, double *q, double *pot, double *grad, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, NULL, 2, pot, grad, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_c_h_(double *eps, int64_t *ns, double *src, double *q, double *pot, double *grad, double *hess,
                   int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, NULL, 3, pot, grad, hess, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_d_p_(double *eps, int64_t *ns, double *src, double *v, double *pot, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, NULL, v, 1, pot, NULL, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_d_g_(double *eps, int64_t *ns, double *src, double *v, double *pot, double *grad, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, NULL, v, 2, pot, grad, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_d_h_(double *eps, int64_t *ns, double *src, double *v, double *pot, double *grad, double *hess,
                   int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, NULL, v, 3, pot, grad, hess, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_cd_p_(double *eps, int64_t *ns, double *src, double *q, double *v, double *pot, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, v, 1, pot, NULL, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_cd_g_(double *eps, int64_t *ns, double *src, double *q, double *v, double *pot, double *grad,
                    int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, v, 2, pot, grad, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_cd_h_(double *eps, int64_t *ns, double *src, double *q, double *v, double *pot, double *grad,
                    double *hess, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, v, 3, pot, grad, hess, KIFMM__F3D_NONE, ier);
}
/* targets only */
void lfmm3d_t_c_p_(double *eps, int64_t *ns, double *src, double *q, int64_t *nt, double *t, double *pt,
                   int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, NULL, 0, NULL, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_t_c_g_(double *eps, int64_t *ns, double *src, double *q, int64_t *nt, double *t, double *pt, double *gt,
                   int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, NULL, 0, NULL, NULL, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_t_c_h_(double *eps, int64_t *ns, double *src, double *q, int64_t *nt, double *t, double *pt, double *gt,
                   double *ht, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, NULL, 0, NULL, NULL, NULL, nt, t, 3, pt, gt, ht, ier);
}
void lfmm3d_t_d_p_(double *eps, int64_t *ns, double *src, double *v, int64_t *nt, double *t, double *pt,
                   int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, NULL, v, 0, NULL, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_t_d_g_(double *eps, int64_t *ns, double *src, double *v, int64_t *nt, double *t, double *pt, double *gt,
                   int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, NULL, v, 0, NULL, NULL, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_t_d_h_(double *eps, int64_t *ns, double *src, double *v, int64_t *nt, double *t, double *pt, double *gt,
                   double *ht, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, NULL, v, 0, NULL, NULL, NULL, nt, t, 3, pt, gt, ht, ier);
}
void lfmm3d_t_cd_p_(double *eps, int64_t *ns, double *src, double *q, double *v, int64_t *nt, double *t, double *pt,
                    int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, v, 0, NULL, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_t_cd_g_(double *eps, int64_t *ns, double *src, double *q, double *v, int64_t *nt, double *t, double *pt,
                    double *gt, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, v, 0, NULL, NULL, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_t_cd_h_(double *eps, int64_t *ns, double *src, double *q, double *v, int64_t *nt, double *t, double *pt,
                    double *gt, double *ht, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, v, 0, NULL, NULL, NULL, nt, t, 3, pt, gt, ht, ier);
}
/* sources and targets */
void lfmm3d_st_c_p_(double *eps, int64_t *ns, double *src, double *q, double *pot, int64_t *nt, double *t,
                    double *pt, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, NULL, 1, pot, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_st_c_g_(double *eps, int64_t *ns, double *src, double *q, double *pot, double *grad, int64_t *nt,
                    double *t, double *pt, double *gt, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, NULL, 2, pot, grad, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_st_c_h_(double *eps, int64_t *ns, double *src, double *q, double *pot, double *grad, double *hess,
                    int64_t *nt, double *t, double *pt, double *gt, double *ht, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, NULL, 3, pot, grad, hess, nt, t, 3, pt, gt, ht, ier);
}
void lfmm3d_st_d_p_(double *eps, int64_t *ns, double *src, double *v, double *pot, int64_t *nt, double *t,
                    double *pt, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, NULL, v, 1, pot, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_st_d_g_(double *eps, int64_t *ns, double *src, double *v, double *pot, double *grad, int64_t *nt,
                    double *t, double *pt, double *gt, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, NULL, v, 2, pot, grad, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_st_d_h_(double *eps, int64_t *ns, double *src, double *v, double *pot, double *grad, double *hess,
                    int64_t *nt, double *t, double *pt, double *gt, double *ht, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, NULL, v, 3, pot, grad, hess, nt, t, 3, pt, gt, ht, ier);
}
void lfmm3d_st_cd_p_(double *eps, int64_t *ns, double *src, double *q, double *v, double *pot, int64_t *nt,
                     double *t, double *pt, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, v, 1, pot, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_st_cd_g_(double *eps, int64_t *ns, double *src, double *q, double *v, double *pot, double *grad,
                     int64_t *nt, double *t, double *pt, double *gt, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, v, 2, pot, grad, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_st_cd_h_(double *eps, int64_t *ns, double *src, double *q, double *v, double *pot, double *grad,
                     double *hess, int64_t *nt, double *t, double *pt, double *gt, double *ht, int64_t *ier) {
    kifmm__f3d(1, eps, ns, src, q, v, 3, pot, grad, hess, nt, t, 3, pt, gt, ht, ier);
}

/* with nd sets: nd NULL or < 1 is refused inside (as -1) */
#define KIFMM__F3D_ND (nd ? *nd : -1)
void lfmm3d_s_c_p_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *pot, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, NULL, 1, pot, NULL, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_c_g_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *pot, double *grad,
                       int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, NULL, 2, pot, grad, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_c_h_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *pot, double *grad,
                       double *hess, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, NULL, 3, pot, grad, hess, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_d_p_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *v, double *pot, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, NULL, v, 1, pot, NULL, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_d_g_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *v, double *pot, double *grad,
                       int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, NULL, v, 2, pot, grad, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_d_h_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *v, double *pot, double *grad,
                       double *hess, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, NULL, v, 3, pot, grad, hess, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_cd_p_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *v, double *pot,
                        int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, v, 1, pot, NULL, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_cd_g_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *v, double *pot,
                        double *grad, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, v, 2, pot, grad, NULL, KIFMM__F3D_NONE, ier);
}
void lfmm3d_s_cd_h_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *v, double *pot,
                        double *grad, double *hess, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, v, 3, pot, grad, hess, KIFMM__F3D_NONE, ier);
}
void lfmm3d_t_c_p_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, int64_t *nt, double *t,
                       double *pt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, NULL, 0, NULL, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_t_c_g_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, int64_t *nt, double *t,
                       double *pt, double *gt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, NULL, 0, NULL, NULL, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_t_c_h_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, int64_t *nt, double *t,
                       double *pt, double *gt, double *ht, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, NULL, 0, NULL, NULL, NULL, nt, t, 3, pt, gt, ht, ier);
}
void lfmm3d_t_d_p_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *v, int64_t *nt, double *t,
                       double *pt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, NULL, v, 0, NULL, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_t_d_g_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *v, int64_t *nt, double *t,
                       double *pt, double *gt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, NULL, v, 0, NULL, NULL, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_t_d_h_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *v, int64_t *nt, double *t,
                       double *pt, double *gt, double *ht, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, NULL, v, 0, NULL, NULL, NULL, nt, t, 3, pt, gt, ht, ier);
}
void lfmm3d_t_cd_p_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *v, int64_t *nt,
                        double *t, double *pt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, v, 0, NULL, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_t_cd_g_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *v, int64_t *nt,
                        double *t, double *pt, double *gt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, v, 0, NULL, NULL, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_t_cd_h_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *v, int64_t *nt,
                        double *t, double *pt, double *gt, double *ht, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, v, 0, NULL, NULL, NULL, nt, t, 3, pt, gt, ht, ier);
}
void lfmm3d_st_c_p_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *pot, int64_t *nt,
                        double *t, double *pt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, NULL, 1, pot, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_st_c_g_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *pot, double *grad,
                        int64_t *nt, double *t, double *pt, double *gt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, NULL, 2, pot, grad, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_st_c_h_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *pot, double *grad,
                        double *hess, int64_t *nt, double *t, double *pt, double *gt, double *ht, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, NULL, 3, pot, grad, hess, nt, t, 3, pt, gt, ht, ier);
}
void lfmm3d_st_d_p_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *v, double *pot, int64_t *nt,
                        double *t, double *pt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, NULL, v, 1, pot, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_st_d_g_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *v, double *pot, double *grad,
                        int64_t *nt, double *t, double *pt, double *gt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, NULL, v, 2, pot, grad, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_st_d_h_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *v, double *pot, double *grad,
                        double *hess, int64_t *nt, double *t, double *pt, double *gt, double *ht, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, NULL, v, 3, pot, grad, hess, nt, t, 3, pt, gt, ht, ier);
}
void lfmm3d_st_cd_p_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *v, double *pot,
                         int64_t *nt, double *t, double *pt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, v, 1, pot, NULL, NULL, nt, t, 1, pt, NULL, NULL, ier);
}
void lfmm3d_st_cd_g_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *v, double *pot,
                         double *grad, int64_t *nt, double *t, double *pt, double *gt, int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, v, 2, pot, grad, NULL, nt, t, 2, pt, gt, NULL, ier);
}
void lfmm3d_st_cd_h_vec_(int64_t *nd, double *eps, int64_t *ns, double *src, double *q, double *v, double *pot,
                         double *grad, double *hess, int64_t *nt, double *t, double *pt, double *gt, double *ht,
                         int64_t *ier) {
    kifmm__f3d(KIFMM__F3D_ND, eps, ns, src, q, v, 3, pot, grad, hess, nt, t, 3, pt, gt, ht, ier);
}

void lfmm3d_(int64_t *nd, double *eps, int64_t *nsource, double *source, int64_t *ifcharge, double *charge,
             int64_t *ifdipole, double *dipvec, int64_t *iper, int64_t *ifpgh, double *pot, double *grad,
             double *hess, int64_t *ntarg, double *targ, int64_t *ifpghtarg, double *pottarg, double *gradtarg,
             double *hesstarg, int64_t *ier) {
    int64_t pg = ifpgh ? *ifpgh : -1, pgt = ifpghtarg ? *ifpghtarg : -1;
    (void)iper;
    if (!ier) return;
    if (!ifcharge || !ifdipole || pg < 0 || pg > 3 || pgt < 0 || pgt > 3 || (pg == 0 && pgt == 0)) {
        *ier = KIFMM_FMM3D_IER_ARGUMENT;
        return;
    }
    kifmm__f3d(KIFMM__F3D_ND, eps, nsource, source, *ifcharge == 1 ? charge : NULL, *ifdipole == 1 ? dipvec : NULL,
               (int)pg, pot, grad, hess, ntarg, targ, (int)pgt, pottarg, gradtarg, hesstarg, ier);
}

/* ---- the direct sums ----------------------------------------------------------------------- */
static void kifmm__f3d_direct(int64_t *nd, double *source, double *charge, double *dipvec, int64_t *ns,
                              double *targ, int64_t *nt, double *pot, double *grad, double *hess, double *thresh) {
    kifmm_config c;
    kifmm_eval_desc d;
    if (!nd || !ns || !nt || !thresh || *nd < 1 || *nd > KIFMM_MAX_ND || *ns < 0 || *nt < 0) return;
    memset(&c, 0, sizeof c);
    c.nd = (int)*nd;
    memset(&d, 0, sizeof d);
    d.nd = c.nd;
    d.charges = charge;
    d.dipoles = dipvec;
    d.potentials = pot;
    d.gradients = grad;
    d.hessians = hess;
    /* (FMM3D's direct routines have no status: bad input changes nothing) */
    (void)kifmm_direct_add(&c, source, (size_t)*ns, targ, (size_t)*nt, &d, *thresh);
}
void l3ddirectcp_(int64_t *nd, double *s, double *q, int64_t *ns, double *t, int64_t *nt, double *pot, double *th) {
    kifmm__f3d_direct(nd, s, q, NULL, ns, t, nt, pot, NULL, NULL, th);
}
void l3ddirectcg_(int64_t *nd, double *s, double *q, int64_t *ns, double *t, int64_t *nt, double *pot, double *grad,
                  double *th) {
    kifmm__f3d_direct(nd, s, q, NULL, ns, t, nt, pot, grad, NULL, th);
}
void l3ddirectch_(int64_t *nd, double *s, double *q, int64_t *ns, double *t, int64_t *nt, double *pot, double *grad,
                  double *hess, double *th) {
    kifmm__f3d_direct(nd, s, q, NULL, ns, t, nt, pot, grad, hess, th);
}
void l3ddirectdp_(int64_t *nd, double *s, double *v, int64_t *ns, double *t, int64_t *nt, double *pot, double *th) {
    kifmm__f3d_direct(nd, s, NULL, v, ns, t, nt, pot, NULL, NULL, th);
}
void l3ddirectdg_(int64_t *nd, double *s, double *v, int64_t *ns, double *t, int64_t *nt, double *pot, double *grad,
                  double *th) {
    kifmm__f3d_direct(nd, s, NULL, v, ns, t, nt, pot, grad, NULL, th);
}
void l3ddirectdh_(int64_t *nd, double *s, double *v, int64_t *ns, double *t, int64_t *nt, double *pot, double *grad,
                  double *hess, double *th) {
    kifmm__f3d_direct(nd, s, NULL, v, ns, t, nt, pot, grad, hess, th);
}
void l3ddirectcdp_(int64_t *nd, double *s, double *q, double *v, int64_t *ns, double *t, int64_t *nt, double *pot,
                   double *th) {
    kifmm__f3d_direct(nd, s, q, v, ns, t, nt, pot, NULL, NULL, th);
}
void l3ddirectcdg_(int64_t *nd, double *s, double *q, double *v, int64_t *ns, double *t, int64_t *nt, double *pot,
                   double *grad, double *th) {
    kifmm__f3d_direct(nd, s, q, v, ns, t, nt, pot, grad, NULL, th);
}
void l3ddirectcdh_(int64_t *nd, double *s, double *q, double *v, int64_t *ns, double *t, int64_t *nt, double *pot,
                   double *grad, double *hess, double *th) {
    kifmm__f3d_direct(nd, s, q, v, ns, t, nt, pot, grad, hess, th);
}
#undef KIFMM__F3D_NONE
#undef KIFMM__F3D_ND
#endif /* KIFMM_FMM3D_IMPLEMENTATION */
