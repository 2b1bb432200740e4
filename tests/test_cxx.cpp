// The headers, implementation included, compiled as C++ (C++11 and later, g++ and clang++):
// a small FMM from C++ with the Laplace and Stokes kernels through kifmm_evaluate_ex, against
// kifmm_direct_ex; the octree's own API from the same translation unit.
#define KIFMM_IMPLEMENTATION
#define KIFMM_TREE_IMPLEMENTATION
#include "kifmm.h"

#include <cmath>
#include <cstdio>
#include <vector>

static double rel(const std::vector<double> &a, const std::vector<double> &b) {
    double e = 0, r = 0;
    for (size_t i = 0; i < a.size(); i++) { e += (a[i] - b[i]) * (a[i] - b[i]); r += b[i] * b[i]; }
    return std::sqrt(e / r);
}

int main() {
    const size_t n = 2000;
    std::vector<double> x(3 * n), q(3 * n);
    unsigned s = 7;
    for (size_t i = 0; i < 3 * n; i++) {
        s = s * 1103515245u + 12345u; x[i] = (s >> 8) / 16777216.0;
        s = s * 1103515245u + 12345u; q[i] = (s >> 8) / 16777216.0 - 0.5;
    }
    int failures = 0;
    for (int kind = 0; kind < 2; kind++) {
        kifmm_config cfg = kifmm_config();          // value-initialised: every field zero
        cfg.order = 5;
        cfg.leaf_size = 40;
        if (kind) cfg.kernel.kind = KIFMM_KERNEL_STOKES;
        size_t dim = kind ? 3 : 1;
        std::vector<double> pot(dim * n), grad(3 * dim * n), ref(dim * n), refg(3 * dim * n);
        kifmm *fmm = nullptr;
        kifmm_eval_desc d = kifmm_eval_desc();
        d.charges = q.data();
        d.potentials = pot.data();
        d.gradients = grad.data();
        if (kifmm_create(&fmm, &cfg, x.data(), n, x.data(), n) != KIFMM_OK || kifmm_evaluate_ex(fmm, &d) != KIFMM_OK) {
            std::printf("C++: %s FMM failed\n", kind ? "Stokes" : "Laplace");
            return 1;
        }
        d.potentials = ref.data();
        d.gradients = refg.data();
        kifmm_direct_ex(&cfg, x.data(), n, x.data(), n, &d);
        double ep = rel(pot, ref), eg = rel(grad, refg);
        std::printf("C++ %s: potential %.2e gradient %.2e\n", kind ? "Stokes" : "Laplace", ep, eg);
        if (!(ep < 2e-3 && eg < 5e-3)) failures++;
        kifmm_destroy(fmm);
    }
    kifmm_tree t;
    if (kifmm_tree_build(&t, nullptr, x.data(), n, x.data(), n, 50, KIFMM_MAX_DEPTH, nullptr) != KIFMM_OK) return 1;
    std::printf("C++ tree: depth %d, %d leaves\n", t.depth, t.nleaves);
    if (t.nleaves < 8) failures++;
    kifmm_tree_free(&t);
    std::printf("%s: %d failures\n", failures ? "FAIL" : "OK", failures);
    return failures != 0;
}
