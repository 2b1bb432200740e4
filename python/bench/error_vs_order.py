"""Error versus expansion order, Laplace, Yukawa and Stokes, written as a PNG (matplotlib, Agg).

    python bench/error_vs_order.py [--n 20000] [--out bench/error_vs_order.png]

Uniform random points in the unit cube (sources = targets), charges uniform in [-0.5, 0.5]
(Stokes: forces, each component), leaf size 100; relative L2 error of the potential and of the
gradient on 500 sampled targets against kifmm.direct. Stokes stops at order 10 (its operators are
Laplace's, four harmonic densities per force set: the precomputation is Laplace's).
"""
import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import kifmm  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--n", type=float, default=20000)
ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "error_vs_order.png"))
ap.add_argument("--lam", type=float, default=10.0, help="Yukawa's lambda on the unit cube")
ap.add_argument("--laplace-orders", default="3-12")
ap.add_argument("--yukawa-orders", default="3-10")
ap.add_argument("--stokes-orders", default="3-10")
args = ap.parse_args()


def orders(spec):
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


n = int(args.n)
rng = np.random.default_rng(1)
x = rng.random((n, 3))
q = rng.random(n) - 0.5
f = rng.random((n, 3)) - 0.5
sample = rng.choice(n, 500, replace=False)


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


cases = [("Laplace", "laplace", None, q, orders(args.laplace_orders)),
         ("Yukawa, $\\lambda$ = %g" % args.lam, "yukawa", args.lam, q, orders(args.yukawa_orders)),
         ("Stokes", "stokes", None, f, orders(args.stokes_orders))]
results = []
print("%-22s %5s %10s %10s %6s %10s %10s" % ("kernel", "order", "pot err", "grad err", "rank", "precomp s",
                                            "eval s"))
for label, kernel, param, dens, ords in cases:
    ref = kifmm.direct(x, x[sample], charges=dens, gradient=True, kernel=kernel, kernel_param=param)
    fmm = None
    rows = []
    for p in ords:
        t0 = time.perf_counter()
        with kifmm.Fmm(x, order=p, leaf_size=100, kernel=kernel, kernel_param=param) as fmm:
            r = fmm.evaluate(dens, gradient=True)
            s = fmm.stats
        ep, eg = rel(r.pot[sample], ref.pot), rel(r.grad[sample], ref.grad)
        rows.append((p, ep, eg))
        print("%-22s %5d %10.2e %10.2e %6d %10.2f %10.2f" % (label.replace("$\\lambda$", "lambda"), p, ep, eg,
                                                             s["m2l_rank"], s["seconds_precompute"],
                                                             s["seconds_evaluate"]), flush=True)
    results.append((label, rows))

fig, ax = plt.subplots(figsize=(7, 4.8), dpi=120)
colors = ["C0", "C1", "C2"]
for (label, rows), c in zip(results, colors):
    p = [r[0] for r in rows]
    ax.semilogy(p, [r[1] for r in rows], "o-", color=c, label=label + ": potential")
    ax.semilogy(p, [r[2] for r in rows], "s--", color=c, mfc="none", label=label + ": gradient")
ax.set_xlabel("expansion order p")
ax.set_ylabel("relative L2 error vs kifmm.direct")
ax.set_title("kifmm %s: %d uniform points, leaf size 100, 500 sampled targets" % (kifmm.__version__, n),
             fontsize=10)
ax.grid(True, which="major", alpha=0.4)
ax.legend(fontsize=8)
allp = sorted({r[0] for _, rows in results for r in rows})
ax.set_xticks(allp)
fig.tight_layout()
fig.savefig(args.out)
print("wrote", args.out)
