"""The Python call's overhead over the C call, at 10^6 points.

    python bench/overhead.py [--n 1e6] [--runs 5] [--order 6] [--no-gradient]

One Fmm over n uniform points (sources = targets, leaf 150, order 6: the C quickstart's
configuration); each run times Fmm.evaluate(charges, gradient=True) with time.perf_counter around
the Python call, and compares it with the C library's own timing of the same call,
stats["seconds_evaluate"] (taken inside kifmm_evaluate_ex). The difference is everything the Python
layer adds: argument checks and shape handling, the output arrays (np.empty), the C call's input
validation (the NaN scan of the charges, which kifmm times outside seconds_evaluate), the GIL
release and re-acquisition. Reports per run and the median; the target is <= 2 %.

--c also times the same evaluation from a C program (bench/overhead_c.c, the same points and
charges through a file), compiled twice: with the extension's exact flags (Python's CFLAGS, -fPIC,
the loaded module's -march) and plain (-O3 -fopenmp and the same -march, as a C user would):
it shows what Python's compile flags cost, which seconds_evaluate alone cannot. The runs
alternate (C, C, Python, C, C, Python, ...) so that the machine's load drift hits all alike; the
comparison is the median of the per-round ratios.
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sysconfig
import tempfile
import time

import numpy as np

import kifmm

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--n", type=float, default=1e6)
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--order", type=int, default=6)
ap.add_argument("--no-gradient", action="store_true")
ap.add_argument("--c", action="store_true", help="also time a C program on the same data (needs a C compiler)")
args = ap.parse_args()

n = int(args.n)
rng = np.random.default_rng(0)
x = rng.random((n, 3))
q = rng.random(n) - 0.5
grad = not args.no_gradient

t0 = time.perf_counter()
fmm = kifmm.Fmm(x, order=args.order, leaf_size=150)
t_create = time.perf_counter() - t0
s = fmm.stats
print("kifmm %s %s: %d points, order %d, depth %d, %d leaves, create %.2f s (tree %.2f, precompute %.2f)"
      % (kifmm.__version__, kifmm.build_info(), n, s["order"], s["depth"], s["leaves"], t_create,
         s["seconds_tree"], s["seconds_precompute"]))
fmm.evaluate(q, gradient=grad)          # warm-up: first-touch of the library's buffers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def c_programs(tmp):
    """overhead_c built with the extension's flags and plain; [(label, path)]"""
    info = kifmm.build_info()
    march = {"x86-64-v4": ["-march=x86-64-v4"], "x86-64-v3": ["-march=x86-64-v3"], "native": ["-march=native"]}.get(
        info["isa"], [])
    blas, libs = [], []
    if info["cblas"]:
        blas = ["-DKIFMM_USE_CBLAS"] + shlex.split(subprocess.run(["pkg-config", "--cflags", "openblas"],
                                                                  stdout=subprocess.PIPE, universal_newlines=True).stdout)
        libs = shlex.split(subprocess.run(["pkg-config", "--libs", "openblas"], stdout=subprocess.PIPE,
                                          universal_newlines=True).stdout)
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    pyflags = [f for f in shlex.split((sysconfig.get_config_var("CFLAGS") or "") + " " +
                                      (sysconfig.get_config_var("CCSHARED") or "")) if f != "-g"]
    ours = ["-O3", "-fopenmp", "-fvisibility=hidden"]
    out = []
    for label, flags in (("C, the extension's flags", pyflags + ours + march),
                         ("C, plain -O3 -fopenmp " + " ".join(march), ["-O3", "-fopenmp"] + march)):
        exe = os.path.join(tmp, "overhead_c_%d" % len(out))
        cmd = cc + flags + ["-D_POSIX_C_SOURCE=200809L", "-I" + ROOT] + blas + [os.path.join(HERE, "overhead_c.c"),
                                                                              "-o", exe] + libs + ["-lm"]
        subprocess.run(cmd, check=True)
        out.append((label, exe))
    return out


def start_c(exe, path):
    p = subprocess.Popen([exe, path, "0", str(args.order), "1" if grad else "0"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, universal_newlines=True, bufsize=1)
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError("%s did not start" % exe)
    return p


def run_c(p):
    p.stdin.write("\n")
    p.stdin.flush()
    wall, c = (float(v) for v in p.stdout.readline().split())
    return wall, c


procs = []
tmp = None
if args.c:
    tmp = tempfile.mkdtemp(prefix="kifmm-overhead-")
    path = os.path.join(tmp, "data.bin")
    with open(path, "wb") as fh:
        np.array([n], dtype=np.uint64).tofile(fh)
        x.tofile(fh)
        q.tofile(fh)
    procs = [(label, start_c(exe, path)) for label, exe in c_programs(tmp)]      # created + warmed up
c_results = {label: [] for label, _ in procs}

walls, cs, ratios = [], [], []
for i in range(args.runs):
    for label, p in procs:
        c_results[label].append(run_c(p))
    t0 = time.perf_counter()
    fmm.evaluate(q, gradient=grad)
    wall = time.perf_counter() - t0
    c = fmm.stats["seconds_evaluate"]
    walls.append(wall)
    cs.append(c)
    ratios.append(wall / c - 1)
    print("run %d: Python %.4f s, C %.4f s, overhead %+.3f %% (%.2f ms)" % (i + 1, wall, c, 100 * (wall / c - 1),
                                                                            1e3 * (wall - c)), flush=True)
print("median: Python %.4f s, C %.4f s, overhead %+.3f %% (median of per-run overheads; %.2f ms absolute)"
      % (statistics.median(walls), statistics.median(cs), 100 * statistics.median(ratios),
         1e3 * statistics.median(w - c for w, c in zip(walls, cs))))
print("target <= 2 %%: %s" % ("met" if statistics.median(ratios) <= 0.02 else "NOT met"))

if args.c:
    for label, p in procs:
        p.stdin.close()
        p.wait()
        rows = c_results[label]
        ratio = statistics.median(w / r[0] - 1 for w, r in zip(walls, rows))
        cmin = min(r[0] for r in rows)
        print("%s: kifmm_evaluate wall median %.4f s (range %.4f .. %.4f); Python / C per round: median %+.2f %%; "
              "fastest Python run / fastest C run: %+.2f %%"
              % (label, statistics.median(r[0] for r in rows), cmin, max(r[0] for r in rows), 100 * ratio,
                 100 * (min(walls) / cmin - 1)))
    for f in os.listdir(tmp):
        os.remove(os.path.join(tmp, f))
    os.rmdir(tmp)
