/* Shared helpers for the kifmm tests: point clouds, a counting allocator that can fail on the
   k-th allocation, and a tiny check macro. Included by each test after the kifmm headers. */
#ifndef KIFMM_TESTUTIL_H
#define KIFMM_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

static int tu_failures = 0;

/* wall-clock seconds (the library's clock is internal: these tests may link against its public API only) */
#ifdef _OPENMP
#include <omp.h>
static inline double tu_now(void) { return omp_get_wtime(); }
#else
#include <time.h>
static inline double tu_now(void) { return (double)clock() / CLOCKS_PER_SEC; }
#endif
#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            tu_failures++;                                                                     \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                             \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
        }                                                                                      \
    } while (0)

/* Laplace, 1 / (4 pi r), as a KIFMM_KERNEL_USER callback (interleaved points, adds into v; a pair
   at zero distance contributes nothing): the user-kernel tests' and the fuzzer's one copy */
static inline void tu_user_laplace(const double *t, size_t nt, const double *s, size_t ns, const double *q, double *v,
                                   void *u) {
    size_t i, j;
    (void)u;
    for (i = 0; i < nt; i++) {
        double acc = 0;
        for (j = 0; j < ns; j++) {
            double dx = t[3 * i] - s[3 * j], dy = t[3 * i + 1] - s[3 * j + 1], dz = t[3 * i + 2] - s[3 * j + 2];
            double r2 = dx * dx + dy * dy + dz * dz;
            if (r2 > 0) acc += q[j] / sqrt(r2);
        }
        v[i] += acc / (4 * 3.14159265358979323846);
    }
}

/* splitmix64: deterministic test data */
static uint64_t tu_state = 0x9e3779b97f4a7c15ULL;
static inline void tu_seed(uint64_t s) { tu_state = s * 0x9e3779b97f4a7c15ULL + 1; }
static inline double tu_rand(void) {                              /* [0, 1) */
    uint64_t z = (tu_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

enum { TU_CUBE, TU_SPHERE, TU_PLUMMER, TU_LINE, TU_PLANE, TU_TWO_CLUSTERS, TU_DUPLICATES, TU_NDIST };
static const char *const tu_dist_name[TU_NDIST] = {"cube", "sphere", "plummer", "line", "plane",
                                             "two-clusters", "duplicates"};

/* n points of distribution d into x (3n, interleaved) */
static inline void tu_points(double *x, size_t n, int d) {
    size_t i;
    for (i = 0; i < n; i++) {
        double *p = x + 3 * i, u = tu_rand(), v = tu_rand(), w = tu_rand();
        switch (d) {
        case TU_CUBE: p[0] = u; p[1] = v; p[2] = w; break;
        case TU_SPHERE: {
            double z = 2 * u - 1, ph = 2 * 3.141592653589793 * v, r = sqrt(1 - z * z);
            p[0] = r * cos(ph); p[1] = r * sin(ph); p[2] = z;
            break;
        }
        case TU_PLUMMER: {                                   /* Plummer radii, capped */
            double m = 0.01 + 0.98 * u, r = 1.0 / sqrt(pow(m, -2.0 / 3.0) - 1.0);
            double z = 2 * v - 1, ph = 2 * 3.141592653589793 * w, s = sqrt(1 - z * z);
            if (r > 50) r = 50;
            p[0] = r * s * cos(ph); p[1] = r * s * sin(ph); p[2] = r * z;
            break;
        }
        case TU_LINE: p[0] = u; p[1] = 0.5; p[2] = 0.25; break;
        case TU_PLANE: p[0] = u; p[1] = v; p[2] = 0.5; break;
        case TU_TWO_CLUSTERS: {
            double off = (i & 1) ? 100.0 : 0.0;
            p[0] = off + 0.1 * u; p[1] = 0.1 * v; p[2] = off + 0.1 * w;
            break;
        }
        default:                                            /* each point appears 4 times */
            if (i % 4 && i >= 1) { memcpy(p, x + 3 * (i - i % 4), 3 * sizeof *p); }
            else { p[0] = u; p[1] = v; p[2] = w; }
            break;
        }
    }
}

/* counting allocator: tracks live blocks and bytes, checks the size given back, fails the
   fail_at-th allocation (counting from 0; -1 = never) */
typedef struct tu_alloc {
    long calls, fail_at, live_blocks, bad_frees;
    size_t live_bytes, peak_bytes;
} tu_alloc;

static inline void *tu_alloc_fn(size_t size, size_t align, void *user) {
    tu_alloc *a = (tu_alloc *)user;
    unsigned char *raw;
    if (a->fail_at >= 0 && a->calls++ == a->fail_at) return NULL;
    if (a->fail_at < 0) a->calls++;
    if (align < 16) align = 16;
    raw = (unsigned char *)malloc(size + align + 16);
    if (!raw) return NULL;
    {   /* header: raw pointer and size, just below the aligned block */
        unsigned char *p = raw + 16;
        p += (align - (size_t)((uintptr_t)p % align)) % align;
        memcpy(p - 16, &raw, sizeof raw);
        memcpy(p - 8, &size, sizeof size);
        a->live_blocks++;
        a->live_bytes += size;
        if (a->live_bytes > a->peak_bytes) a->peak_bytes = a->live_bytes;
        return p;
    }
}

static inline void tu_free_fn(void *ptr, size_t size, void *user) {
    tu_alloc *a = (tu_alloc *)user;
    unsigned char *raw;
    size_t got;
    if (!ptr) return;
    memcpy(&raw, (unsigned char *)ptr - 16, sizeof raw);
    memcpy(&got, (unsigned char *)ptr - 8, sizeof got);
    if (got != size) a->bad_frees++;
    a->live_blocks--;
    a->live_bytes -= got;
    free(raw);
}

static inline kifmm_allocator tu_allocator(tu_alloc *a, long fail_at) {
    kifmm_allocator al;
    memset(a, 0, sizeof *a);
    a->fail_at = fail_at;
    al.alloc_fn = tu_alloc_fn;
    al.free_fn = tu_free_fn;
    al.user = a;
    return al;
}

static inline double *tu_new_points(size_t n, int d) {
    double *x = (double *)malloc((3 * n + 1) * sizeof *x);
    tu_points(x, n, d);
    return x;
}

#endif
