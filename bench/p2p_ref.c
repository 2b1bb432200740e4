/* p2p_ref.c - a reference P2P kernel for bench/peak.h, not part of the library.

   Same arithmetic and conventions as kifmm__p2p (G = 1/(4 pi r), r = 0 contributes nothing,
   gradient with respect to the target), with the loops swapped: sources outer, targets inner. The
   inner loop then has no reduction, so the compiler vectorises it without -ffast-math. It must be
   compiled with -fno-math-errno (the scripts and bench/meson.build do): under the default
   -fmath-errno every sqrt may set errno, a side effect that stops vectorisation. The results are
   the same either way; only the speed differs. */
#include <stddef.h>
#include <math.h>

void bench_p2p_simd(const double *restrict sx, const double *restrict sy, const double *restrict sz,
                    const double *restrict q, size_t ns, const double *restrict tx, const double *restrict ty,
                    const double *restrict tz, size_t nt, double *restrict pot, double *restrict gx,
                    double *restrict gy, double *restrict gz);

void bench_p2p_simd(const double *restrict sx, const double *restrict sy, const double *restrict sz,
                    const double *restrict q, size_t ns, const double *restrict tx, const double *restrict ty,
                    const double *restrict tz, size_t nt, double *restrict pot, double *restrict gx,
                    double *restrict gy, double *restrict gz) {
    const double inv4pi = 0.079577471545947667884;
    size_t i, j;
    for (j = 0; j < ns; j++) {
        const double x = sx[j], y = sy[j], z = sz[j], qj = inv4pi * q[j];
        if (gx) {
            for (i = 0; i < nt; i++) {
                double dx = tx[i] - x, dy = ty[i] - y, dz = tz[i] - z;
                double r2 = dx * dx + dy * dy + dz * dz, inv = r2 > 0 ? 1.0 / sqrt(r2) : 0.0;
                double qi = qj * inv, qi3 = qi * inv * inv;
                pot[i] += qi;
                gx[i] -= qi3 * dx;
                gy[i] -= qi3 * dy;
                gz[i] -= qi3 * dz;
            }
        } else {
            for (i = 0; i < nt; i++) {
                double dx = tx[i] - x, dy = ty[i] - y, dz = tz[i] - z;
                double r2 = dx * dx + dy * dy + dz * dz;
                pot[i] += r2 > 0 ? qj / sqrt(r2) : 0.0;
            }
        }
    }
}
