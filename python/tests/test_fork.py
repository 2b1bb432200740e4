"""A child forked after kifmm ran (multiprocessing's default on Linux) must not hang in GNU
OpenMP: it runs on one thread, with a RuntimeWarning; an Fmm inherited with threads raises."""
import multiprocessing as mp
import os
import sys
import warnings

import numpy as np
import pytest

import kifmm

pytestmark = pytest.mark.skipif(sys.platform != "linux" or not hasattr(os, "fork"), reason="fork: Linux")

X = np.random.default_rng(3).random((20000, 3))
Q = np.ones(20000)


def child_new(_):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with kifmm.Fmm(X, order=4) as f:
            pot = f.evaluate(Q).pot
        d = kifmm.direct(X[:200], charges=Q[:200]).pot
    return float(pot.sum()), float(d.sum()), [str(m.message) for m in w]


INHERITED = {}


def child_inherited(_):
    try:
        INHERITED["fmm"].evaluate(Q)
    except RuntimeError as e:
        return str(e)
    return "no error"


def run_in_fork(fn, n=2):
    ctx = mp.get_context("fork")
    pool = ctx.Pool(n)
    try:
        return pool.map_async(fn, range(n)).get(timeout=60)
    finally:
        pool.terminate()
        pool.join()


def test_fork_after_use():
    with kifmm.Fmm(X, order=4, threads=2) as f:           # OpenMP threads exist in this process now
        ref = float(f.evaluate(Q).pot.sum())
    res = run_in_fork(child_new)
    for pot, d, msgs in res:
        assert abs(pot - ref) <= 1e-9 * abs(ref)
        assert any("forked" in m for m in msgs)


def test_inherited_object_raises():
    f = kifmm.Fmm(X, order=4, threads=2)
    f.evaluate(Q)
    INHERITED["fmm"] = f
    try:
        res = run_in_fork(child_inherited, 1)
    finally:
        INHERITED.clear()
        f.close()
    assert "created in another process" in res[0]
