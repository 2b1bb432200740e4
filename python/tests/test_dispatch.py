"""The instruction-set variants of the extension (baseline, x86-64-v3, x86-64-v4) agree."""
import os
import subprocess
import sys

import numpy as np
import pytest

import kifmm

SCRIPT = """
import sys, numpy as np, kifmm
rng = np.random.default_rng(4)
x, q = rng.random((3000, 3)), rng.random(3000) - 0.5
with kifmm.Fmm(x, order=6, leaf_size=40) as f:
    r = f.evaluate(q, gradient=True)
d = kifmm.direct(x, x[:300], charges=q, gradient=True)
np.save(sys.argv[1], np.concatenate([r.pot, r.grad.ravel(), d.pot, d.grad.ravel()]))
print(kifmm.build_info()["isa"])
"""


def variants():
    import importlib
    out = ["baseline"]
    for v in ("v3", "v4"):
        try:
            importlib.import_module("kifmm._kifmm_" + v)
            out.append(v)
        except ImportError:
            pass
    return out


def test_best_variant_loaded():
    info = kifmm.build_info()
    have = variants()
    if info["native"]:
        assert info["isa"] == "native"
    elif info["cpu_level"] >= 4 and "v4" in have:
        assert info["isa"] == "x86-64-v4"
    elif info["cpu_level"] >= 3 and "v3" in have:
        assert info["isa"] == "x86-64-v3"
    else:
        assert info["isa"] == "baseline"


def test_variants_agree(tmp_path):
    level = kifmm.build_info()["cpu_level"]
    runnable = [v for v in variants() if v == "baseline" or int(v[1]) <= level]
    if len(runnable) < 2:
        pytest.skip("one variant only")
    res = {}
    for v in runnable:
        path = str(tmp_path / (v + ".npy"))
        env = dict(os.environ, KIFMM_ISA=v)
        p = subprocess.run([sys.executable, "-c", SCRIPT, path], env=env, stdout=subprocess.PIPE,
                           universal_newlines=True, check=True, cwd=str(tmp_path))
        assert p.stdout.strip() == ("baseline" if v == "baseline" else "x86-64-" + v)
        res[v] = np.load(path)
    nf = 3000 * 4
    base = res["baseline"]
    for v, r in res.items():
        # the direct sums differ by rounding (FMA contraction, vector widths); the FMM by up to its own
        # error (about 2e-6 at order 6): rounding moves the precomputation's SVD truncations
        assert np.linalg.norm(r[nf:] - base[nf:]) / np.linalg.norm(base[nf:]) < 1e-13, v
        assert np.linalg.norm(r[:nf] - base[:nf]) / np.linalg.norm(base[:nf]) < 1e-5, v
