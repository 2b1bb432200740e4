/* libFuzzer harness for kifmm: arbitrary bytes -> a config and a few points, then create, evaluate,
   set_points, evaluate, destroy, all under a counting allocator.

   What counts as a finding (abort, so the fuzzer keeps the input):
     - a crash, sanitizer report, assertion or hang (the usual),
     - a status outside the documented set, or a failed call that did not log a message,
     - a failed create that left *out non-NULL, or anything still allocated after destroy,
     - non-finite potentials or gradients where kifmm_direct gives finite values,
     - a potential further from kifmm_direct than tol(order) * sum_j |q_j| G(x_i, y_j), which
       bounds the error of every term; a gradient further than
       10 tol(order) * (sum_j |q_j| |grad G(x_i, y_j)| + sum_j |q_j| G(x_i, y_j) / w), w the width
       of the deepest boxes: each L2L refit adds an error of relative size tol to the local field,
       whose gradient is about tol * potential / (box width), so a far field seen in a deep leaf
       has a gradient error relative to the potential, not to the gradient.

   Build: CC=clang meson setup build-fuzz -Dsanitize=true -Dbuildtype=debugoptimized &&
          ninja -C build-fuzz tests/fuzz_tree
   or tools/fuzz.sh, which builds it with clang directly and runs it for a given time.

   Input layout (missing bytes read as zero):
     0 order selector   1 leaf_size   2 max_depth   3 scale exponent   4 offset exponent
     5 nsources         6 ntargets    7 flags       then 6 bytes per point (three int16 coordinates,
     or, with flag 0x08, 8 raw bytes of a double for coordinates whose int16 is -32768), then one
     signed byte per charge.

   Then, for kifmm_evaluate_ex (inputs shorter than this take the old path unchanged): one byte
   kernel (0 Laplace, 1 Yukawa, 2 Stokes, 3 Laplace by callback, 4 an invalid kind, 5 Yukawa with
   lambda 0), one byte lambda exponent, one byte what (bits 0-1: nd - 1, bit 2 dipoles, bit 3 no
   charges, bit 4 Hessians, bit 5 no potentials, bit 6 gradients), then signed bytes for the
   extra charge components and sets and for the dipoles. There the check is against
   kifmm_direct_ex with a bound from the absolute size of every term. */
#ifndef KIFMM_TEST_LINKED   /* meson links this test against one compiled copy: tests/impl.c */
#define KIFMM_IMPLEMENTATION
#endif
#include "kifmm.h"
#include "testutil.h"

#include <stdint.h>
#include <stdlib.h>

#define FZ_MAX_POINTS 96

typedef struct fz_in { const uint8_t *p; size_t n, at; } fz_in;

static unsigned fz_byte(fz_in *in) { return in->at < in->n ? in->p[in->at++] : 0; }

static double fz_raw_double(fz_in *in) {
    uint8_t b[8];
    double d;
    int i;
    for (i = 0; i < 8; i++) b[i] = (uint8_t)fz_byte(in);
    memcpy(&d, b, sizeof d);
    return d;
}

typedef struct fz_log { int calls; kifmm_status last; } fz_log;

static void fz_logger(kifmm_status st, const char *msg, void *user) {
    fz_log *l = (fz_log *)user;
    if (!msg || !msg[0]) abort();
    l->calls++;
    l->last = st;
}

static void fz_fail(const char *what) {
    fprintf(stderr, "fuzz_tree finding: %s\n", what);
    abort();
}

static int fz_status_ok(kifmm_status st) {
    return st == KIFMM_OK || st == KIFMM_ERR_INVALID_ARGUMENT || st == KIFMM_ERR_NONFINITE_INPUT ||
           st == KIFMM_ERR_OUT_OF_MEMORY;
}

/* the error bound of every term: the FMM approximates each source's contribution to a relative
   accuracy set by the order, so |error| <= tol * sum |q_j| |K(x_i, y_j)| (+ rounding) */
static double fz_tol(int order) {
    static const double t[17] = {0, 0, 2e-1, 5e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5,
                                 1e-5, 1e-5, 1e-5, 1e-5, 1e-5, 1e-5};
    return t[order];
}

static void fz_compare(const double *s, size_t ns, const double *q, const double *t, size_t nt,
                       const double *pot, const double *grad, int order, double wmin) {
    double *rp = (double *)malloc((nt + 1) * sizeof *rp), *rg = (double *)malloc((3 * nt + 1) * sizeof *rg);
    double tol = fz_tol(order);
    size_t i, j;
    if (!rp || !rg) abort();
    if (kifmm_direct(s, ns, q, t, nt, rp, rg) != KIFMM_OK) fz_fail("kifmm_direct failed on valid input");
    for (i = 0; i < nt; i++) {
        double ap = 0, ag = 0;
        int d, finite = isfinite(rp[i]) && isfinite(rg[3 * i]) && isfinite(rg[3 * i + 1]) && isfinite(rg[3 * i + 2]);
        for (j = 0; j < ns; j++) {
            double dx = t[3 * i] - s[3 * j], dy = t[3 * i + 1] - s[3 * j + 1], dz = t[3 * i + 2] - s[3 * j + 2];
            double r2 = dx * dx + dy * dy + dz * dz;
            if (r2 == 0) continue;
            ap += fabs(q[j]) / sqrt(r2);
            ag += fabs(q[j]) / r2;
        }
        ap *= KIFMM_INV_4PI;
        ag *= KIFMM_INV_4PI;
        ag += ap / wmin;
        if (!finite || !isfinite(ap) || !isfinite(ag) || ag > 1e250) continue;   /* no reference */
        if (!isfinite(pot[i])) fz_fail("non-finite potential where the direct sum is finite");
        for (d = 0; d < 3; d++)
            if (grad && !isfinite(grad[3 * i + d])) fz_fail("non-finite gradient where the direct sum is finite");
        if (fabs(pot[i] - rp[i]) > tol * ap + 1e-300) {
            fprintf(stderr, "target %zu: fmm %.17g direct %.17g bound %.3g (order %d)\n", i, pot[i], rp[i],
                    tol * ap, order);
            fz_fail("potential error beyond the order's bound");
        }
        if (grad)
            for (d = 0; d < 3; d++)
                if (fabs(grad[3 * i + d] - rg[3 * i + d]) > 10 * tol * ag + 1e-300) {
                    fprintf(stderr, "target %zu dim %d: fmm %.17g direct %.17g bound %.3g (order %d)\n", i, d,
                            grad[3 * i + d], rg[3 * i + d], 10 * tol * ag, order);
                    fz_fail("gradient error beyond the order's bound");
                }
    }
    free(rp);
    free(rg);
}

/* width of the deepest boxes of a tree of this depth over these points (the root cube is the
   points' bounding cube, as in kifmm_tree.h, up to its small margin) */
static double fz_deepest_width(const double *s, size_t ns, const double *t, size_t nt, int depth) {
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY}, h = 0;
    size_t i;
    int d;
    for (i = 0; i < ns + nt; i++)
        for (d = 0; d < 3; d++) {
            double v = i < ns ? s[3 * i + d] : t[3 * (i - ns) + d];
            if (v < lo[d]) lo[d] = v;
            if (v > hi[d]) hi[d] = v;
        }
    for (d = 0; d < 3; d++)
        if (0.5 * hi[d] - 0.5 * lo[d] > h) h = 0.5 * hi[d] - 0.5 * lo[d];
    h = ldexp(2 * h, -depth);
    return h > 1e-300 ? h : 1e-300;
}


/* per target, the sum over sources of the absolute size of each term of the potential, the
   gradient and the Hessian (Laplace's 1/r^k; Yukawa's are smaller; Stokes's 2 |f| / r^k) */
static void fz_term_sizes(const double *s, size_t ns, const double *q, const double *v, int sdim, int nd,
                          const double *x, double wmin, double out[3]) {
    size_t j;
    int k;
    out[0] = out[1] = out[2] = 0;
    for (j = 0; j < ns; j++) {
        double dx = x[0] - s[3 * j], dy = x[1] - s[3 * j + 1], dz = x[2] - s[3 * j + 2], r2 = dx * dx + dy * dy + dz * dz;
        double ir, aq = 0, av = 0;
        if (r2 == 0) continue;
        ir = 1 / sqrt(r2);
        for (k = 0; k < sdim * nd; k++) aq += q ? fabs(q[j * (size_t)sdim * nd + k]) : 0;
        for (k = 0; k < 3 * nd; k++) av += v ? fabs(v[j * 3 * (size_t)nd + k]) : 0;
        aq *= sdim > 1 ? 2 : 1;
        out[0] += KIFMM_INV_4PI * (aq * ir + av * ir * ir);
        out[1] += KIFMM_INV_4PI * (aq * ir * ir + 3 * av * ir * ir * ir);
        out[2] += KIFMM_INV_4PI * (3 * aq * ir * ir * ir + 15 * av * ir * ir * ir * ir);
    }
    out[1] += out[0] / wmin;                 /* (the far field's refits, as in fz_compare) */
    out[2] += out[1] / wmin;
}

/* kifmm_evaluate_ex on the object f against kifmm_direct_ex, every output within its bound */
static void fz_compare_ex(const kifmm_config *cfg, const double *s, size_t ns, const double *t, size_t nt,
                          const kifmm_eval_desc *d, const kifmm_eval_desc *r, int sdim, int tdim, int order,
                          double wmin) {
    double tol = fz_tol(order);
    size_t i, nd = (size_t)(d->nd ? d->nd : 1), k;
    (void)cfg;
    for (i = 0; i < nt; i++) {
        double sz[3];
        int fin = 1;
        fz_term_sizes(s, ns, d->charges, d->dipoles, sdim, (int)nd, t + 3 * i, wmin, sz);
        if (!isfinite(sz[2]) || sz[2] > 1e250) continue;
        for (k = 0; k < (size_t)tdim * nd; k++) fin &= !r->potentials || isfinite(r->potentials[i * tdim * nd + k]);
        if (!fin) continue;
        for (k = 0; d->potentials && k < (size_t)tdim * nd; k++) {
            double a = d->potentials[i * tdim * nd + k], b = r->potentials[i * tdim * nd + k];
            if (!isfinite(a)) fz_fail("non-finite potential (evaluate_ex) where the direct sum is finite");
            if (fabs(a - b) > tol * sz[0] * (sdim > 1 ? 10 : 1) + 1e-300) fz_fail("potential (evaluate_ex) beyond the bound");
        }
        for (k = 0; d->gradients && k < 3 * (size_t)tdim * nd; k++) {
            double a = d->gradients[i * 3 * tdim * nd + k], b = r->gradients[i * 3 * tdim * nd + k];
            if (!isfinite(b)) continue;
            if (!isfinite(a)) fz_fail("non-finite gradient (evaluate_ex) where the direct sum is finite");
            if (fabs(a - b) > 10 * tol * sz[1] * (sdim > 1 ? 10 : 1) + 1e-300) fz_fail("gradient (evaluate_ex) beyond the bound");
        }
        for (k = 0; d->hessians && k < 6 * nd; k++) {
            double a = d->hessians[i * 6 * nd + k], b = r->hessians[i * 6 * nd + k];
            if (!isfinite(b)) continue;
            if (!isfinite(a)) fz_fail("non-finite Hessian where the direct sum is finite");
            if (fabs(a - b) > 100 * tol * sz[2] + 1e-300) fz_fail("Hessian beyond the bound");
        }
    }
}

/* the evaluate_ex path: kernel, sets, dipoles and outputs from the trailing bytes */
static void fz_ex(fz_in *in, kifmm_config cfg, const double *src, size_t ns, const double *tgt, size_t nt, int same,
                  const double *q0, int order) {
    unsigned kb = fz_byte(in), lb = fz_byte(in), what = fz_byte(in);
    int nd = 1 + (int)(what & 3), sdim = 1, tdim = 1, radial = 1;
    size_t i, nq, nv;
    double *q, *v, *pot, *grad, *hess, *rp, *rg, *rh;
    kifmm_eval_desc d, r;
    kifmm *f = NULL;
    kifmm_status st;
    fz_log *log = (fz_log *)cfg.logger.user;
    kb %= 6;
    cfg.nd = nd;
    if (kb == 1 || kb == 5) { cfg.kernel.kind = KIFMM_KERNEL_YUKAWA; cfg.kernel.param = kb == 5 ? 0 : ldexp(1.0, (int)(lb % 24) - 12); }
    if (kb == 2) { cfg.kernel.kind = KIFMM_KERNEL_STOKES; sdim = tdim = 3; radial = 0; }
    if (kb == 3) {
        cfg.kernel.kind = KIFMM_KERNEL_USER; cfg.kernel.source_dim = cfg.kernel.target_dim = 1;
        cfg.kernel.homogeneity = (lb & 1) ? NAN : -1; cfg.kernel.eval = tu_user_laplace; radial = 0;
    }
    if (kb == 4) cfg.kernel.kind = (kifmm_kernel_kind)7;
    if (kb == 2 || kb == 3) cfg.order = order = 2;   /* (their precomputation is dense: the cheapest order) */
    nq = ns * sdim * nd;
    nv = 3 * ns * nd;
    q = (double *)malloc((nq + 1) * sizeof *q);
    v = (double *)malloc((nv + 1) * sizeof *v);
    pot = (double *)malloc((nt * tdim * nd + 1) * sizeof *pot);
    grad = (double *)malloc((3 * nt * tdim * nd + 1) * sizeof *grad);
    hess = (double *)malloc((6 * nt * nd + 1) * sizeof *hess);
    rp = (double *)malloc((nt * tdim * nd + 1) * sizeof *rp);
    rg = (double *)malloc((3 * nt * tdim * nd + 1) * sizeof *rg);
    rh = (double *)malloc((6 * nt * nd + 1) * sizeof *rh);
    if (!q || !v || !pot || !grad || !hess || !rp || !rg || !rh) abort();
    for (i = 0; i < nq; i++) q[i] = i < ns ? q0[i] : (double)(int8_t)fz_byte(in) / 16.0;
    for (i = 0; i < nv; i++) v[i] = (double)(int8_t)fz_byte(in) / 16.0;
    memset(&d, 0, sizeof d);
    d.nd = nd;
    d.charges = (what & 8) ? NULL : q;
    d.dipoles = (what & 4) && radial ? v : NULL;
    d.potentials = (what & 32) ? NULL : pot;
    d.gradients = (what & 64) && kb != 3 ? grad : NULL;
    d.hessians = (what & 16) && radial ? hess : NULL;
    if (!d.charges && !d.dipoles) d.charges = q;
    if (!d.potentials && !d.gradients && !d.hessians) d.potentials = pot;
    log->calls = 0;
    st = kifmm_create(&f, &cfg, src, ns, tgt, nt);
    if (!fz_status_ok(st) && st != KIFMM_ERR_NUMERICAL) fz_fail("undocumented status from create (ex)");
    if (st != KIFMM_OK) {
        if (f != NULL) fz_fail("failed create (ex) left *out non-NULL");
        if (log->calls == 0) fz_fail("failed create (ex) did not log");
    } else {
        kifmm_stats stats;
        kifmm_get_stats(f, &stats);
        st = kifmm_evaluate_ex(f, &d);
        if (st != KIFMM_OK) fz_fail("evaluate_ex failed on valid input");
        r = d;
        r.potentials = d.potentials ? rp : NULL;
        r.gradients = d.gradients ? rg : NULL;
        r.hessians = d.hessians ? rh : NULL;
        if (kifmm_direct_ex(&cfg, src, ns, same ? src : tgt, nt, &r) != KIFMM_OK) fz_fail("direct_ex failed");
        fz_compare_ex(&cfg, src, ns, same ? src : tgt, nt, &d, &r, sdim, tdim, stats.order,
                      fz_deepest_width(src, ns, same ? src : tgt, nt, stats.depth));
        kifmm_destroy(f);
    }
    free(q); free(v); free(pot); free(grad); free(hess); free(rp); free(rg); free(rh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_in in = {data, size, 0};
    unsigned b_order = fz_byte(&in), b_leaf = fz_byte(&in), b_depth = fz_byte(&in);
    int e_scale = (int)(int8_t)fz_byte(&in), e_off = (int)(int8_t)fz_byte(&in);
    size_t ns = fz_byte(&in) % (FZ_MAX_POINTS + 1), nt = fz_byte(&in) % (FZ_MAX_POINTS + 1), i;
    unsigned flags = fz_byte(&in);
    int same = (flags & 1) != 0, want_grad = (flags & 2) != 0, raw = (flags & 8) != 0;
    double scale = ldexp(1.0, e_scale * 4), off = (flags & 4) ? -ldexp(1.0, e_off * 4) : ldexp(1.0, e_off * 4);
    double *src, *tgt, *q, *pot, *grad;
    kifmm_config cfg;
    tu_alloc acct;
    fz_log log = {0, KIFMM_OK};
    kifmm *f = (kifmm *)&in;                  /* must come back NULL on failure */
    kifmm_status st;
    int order;

    (void)tu_failures;                       /* testutil's CHECK counter: unused here */
    memset(&cfg, 0, sizeof cfg);
    /* mostly cheap valid orders (the precomputation grows fast with the order), sometimes an
       invalid value; order 6 (the default) now and then */
    if (b_order < 200) order = 2 + (int)(b_order % 2);       /* 2, 3 */
    else if (b_order < 246) order = 4;
    else if (b_order < 252) order = 5;
    else order = b_order == 252 ? 1 : b_order == 253 ? 17 : b_order == 254 ? -1 : 6;
    cfg.order = order;
    cfg.leaf_size = b_leaf == 255 ? -1 : (int)(b_leaf % 24);  /* 0 = default */
    cfg.max_depth = (int)(b_depth % 22) - (b_depth >= 242 ? 30 : 0);   /* includes 20, 21, negatives */
    cfg.threads = 1;
    cfg.allocator = tu_allocator(&acct, -1);
    cfg.logger.log_fn = fz_logger;
    cfg.logger.user = &log;
    if (flags & 16) cfg.tolerance = ldexp(1.0, -(int)(b_order % 10));  /* order from the tolerance: 3 or 4 */
    if (flags & 16) cfg.order = order = 0;
    if (same) nt = ns;

    src = (double *)malloc((3 * ns + 1) * sizeof *src);
    tgt = same ? src : (double *)malloc((3 * nt + 1) * sizeof *tgt);
    q = (double *)malloc((ns + 1) * sizeof *q);
    pot = (double *)malloc((nt + 1) * sizeof *pot);
    grad = want_grad ? (double *)malloc((3 * nt + 1) * sizeof *grad) : NULL;
    if (!src || !tgt || !q || !pot || (want_grad && !grad)) abort();
    for (i = 0; i < 3 * ns; i++) {
        int16_t v = (int16_t)(fz_byte(&in) | fz_byte(&in) << 8);
        src[i] = (raw && v == INT16_MIN) ? fz_raw_double(&in) : off + scale * ((double)v / 32768.0);
    }
    if (!same)
        for (i = 0; i < 3 * nt; i++) {
            int16_t v = (int16_t)(fz_byte(&in) | fz_byte(&in) << 8);
            tgt[i] = (raw && v == INT16_MIN) ? fz_raw_double(&in) : off + scale * ((double)v / 32768.0);
        }
    for (i = 0; i < ns; i++) q[i] = (double)(int8_t)fz_byte(&in) / 16.0;

    st = kifmm_create(&f, &cfg, src, ns, same ? src : tgt, same ? ns : nt);
    if (!fz_status_ok(st)) fz_fail("undocumented status from create");
    if (st != KIFMM_OK) {
        if (f != NULL) fz_fail("failed create left *out non-NULL");
        if (log.calls == 0 || log.last != st) fz_fail("failed create did not log its status");
    } else {
        kifmm_stats stats;
        if (kifmm_get_stats(f, &stats) != KIFMM_OK) fz_fail("get_stats");
        if (order == 0) order = stats.order;
        st = kifmm_evaluate(f, q, pot, grad);
        if (st != KIFMM_OK) fz_fail("evaluate failed on a valid object and finite charges");
        fz_compare(src, ns, q, same ? src : tgt, nt, pot, grad, order,
                   fz_deepest_width(src, ns, same ? src : tgt, nt, stats.depth));
        /* the other way round: targets become sources */
        if (!same && nt) {
            double *q2 = (double *)malloc(nt * sizeof *q2), *pot2 = (double *)malloc((ns + 1) * sizeof *pot2);
            if (!q2 || !pot2) abort();
            for (i = 0; i < nt; i++) q2[i] = (i & 1) ? 1.0 : -0.5;
            log.calls = 0;
            st = kifmm_set_points(f, tgt, nt, src, ns);
            if (!fz_status_ok(st)) fz_fail("undocumented status from set_points");
            if (st == KIFMM_OK) {
                if (kifmm_evaluate(f, q2, pot2, NULL) != KIFMM_OK) fz_fail("evaluate after set_points");
                fz_compare(tgt, nt, q2, src, ns, pot2, NULL, order, 1);
            } else if (log.calls == 0) {
                fz_fail("failed set_points did not log");
            }
            free(q2);
            free(pot2);
        }
        kifmm_destroy(f);
        if (in.at < in.n) fz_ex(&in, cfg, src, ns, same ? src : tgt, same ? ns : nt, same, q, order);
    }
    if (acct.live_blocks != 0 || acct.bad_frees != 0) fz_fail("allocator imbalance after destroy");
    if (!same) free(tgt);
    free(src);
    free(q);
    free(pot);
    free(grad);
    return 0;
}

#ifdef FUZZ_STANDALONE
/* without libFuzzer (gcc builds, meson test): replay every file given, or every file in a given
   directory, once */
#include <dirent.h>
#include <sys/stat.h>

static int fz_replay_file(const char *path) {
    FILE *fp = fopen(path, "rb");
    uint8_t *buf;
    long len;
    if (!fp) { fprintf(stderr, "cannot open %s\n", path); return 0; }
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = (uint8_t *)malloc((size_t)len + 1);
    if (!buf || len < 0 || fread(buf, 1, (size_t)len, fp) != (size_t)len) { fclose(fp); free(buf); return 0; }
    fclose(fp);
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 1;
}

int main(int argc, char **argv) {
    int a, count = 0;
    for (a = 1; a < argc; a++) {
        struct stat sb;
        if (stat(argv[a], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            DIR *d = opendir(argv[a]);
            struct dirent *e;
            char path[4096];
            if (!d) return 2;
            while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.') continue;
                snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
                if (!fz_replay_file(path)) { closedir(d); return 2; }
                count++;
            }
            closedir(d);
        } else {
            if (!fz_replay_file(argv[a])) return 2;
            count++;
        }
    }
    printf("fuzz_tree: %d inputs replayed, no findings\n", count);
    return count > 0 ? 0 : 2;
}
#endif
