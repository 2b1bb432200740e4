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
     signed byte per charge. */
#define KIFMM_IMPLEMENTATION
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
