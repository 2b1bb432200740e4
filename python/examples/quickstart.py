"""kifmm from Python, the first script: random charges in the unit cube, potentials and gradients
at every point by the FMM, checked against the direct sum on a sample of targets.

    python examples/quickstart.py            # 200 000 points
    python examples/quickstart.py 1e6        # as the C quickstart (examples/quickstart.c)
"""
import sys
import time

import numpy as np

import kifmm

n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 200_000
rng = np.random.default_rng(0)
points = rng.random((n, 3))                 # (n, 3) float64: sources, and the targets too
charges = rng.random(n) - 0.5

t0 = time.perf_counter()
fmm = kifmm.Fmm(points, tolerance=1e-6)     # octree + precomputed operators (order from the tolerance)
t1 = time.perf_counter()
res = fmm.evaluate(charges, gradient=True)  # res.pot (n,), res.grad (n, 3); the self-interaction excluded
t2 = time.perf_counter()

sample = rng.choice(n, size=1000, replace=False)
ref = kifmm.direct(points, points[sample], charges=charges, gradient=True)   # O(n * 1000)
t3 = time.perf_counter()


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


s = fmm.stats
print("kifmm %s: %d points, order %d, M2L rank %d, depth %d, %d leaves, %.0f MiB"
      % (kifmm.__version__, n, s["order"], s["m2l_rank"], s["depth"], s["leaves"], s["bytes"] / 2**20))
print("time: create %.3f s (tree %.3f, precompute %.3f), evaluate %.3f s (inside C %.3f), direct on 1000 "
      "targets %.3f s" % (t1 - t0, s["seconds_tree"], s["seconds_precompute"], t2 - t1, s["seconds_evaluate"],
                          t3 - t2))
print("evaluate: " + " ".join("%s %.3f" % kv for kv in s["seconds_op"].items()))
print("relative L2 error on 1000 targets vs kifmm.direct: potential %.2e, gradient %.2e"
      % (rel(res.pot[sample], ref.pot), rel(res.grad[sample], ref.grad)))
