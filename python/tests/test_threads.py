"""The GIL is released while the library computes.

Robust on a busy 2-core machine: nothing here compares wall times of serial and parallel runs.
(1) While one thread is inside a long evaluate, the main thread keeps running Python code: it
    timestamps a counter loop, and increments must fall inside the middle half of the C call
    (with the GIL held during the call there would be none there at all).
(2) Two threads evaluate two Fmm objects at once: the wall time of both is well below the sum
    of the two calls' own C-side times (impossible unless they overlapped), and the results are
    the same bits as serial ones.
"""
import threading
import time

import numpy as np
import pytest

import kifmm


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(9)
    n = 60000
    x, q = rng.random((n, 3)), rng.random(n) - 0.5
    return x, q


def timed_eval(fmm, q, log, key, **kw):
    t0 = time.perf_counter()
    r = fmm.evaluate(q, **kw)
    log[key] = (t0, time.perf_counter(), r)


def test_python_runs_during_evaluate(big):
    x, q = big
    with kifmm.Fmm(x, order=6, threads=1) as f:
        log = {}
        for _ in range(3):                       # make the call long enough to measure: >= 0.2 s
            th = threading.Thread(target=timed_eval, args=(f, q, log, "a"), kwargs=dict(gradient=True, hessian=True))
            stamps = []
            th.start()
            while th.is_alive():
                stamps.append(time.perf_counter())
                for _ in range(200):              # a little pure-Python work per stamp
                    pass
            th.join()
            t0, t1, _ = log["a"]
            if t1 - t0 >= 0.2:
                break
        assert t1 - t0 >= 0.05, "evaluate too short to test"
        lo, hi = t0 + 0.25 * (t1 - t0), t1 - 0.25 * (t1 - t0)
        inside = sum(lo <= s <= hi for s in stamps)
        assert inside > 100, "the main thread ran %d times in the middle of a %.2f s evaluate" % (inside, t1 - t0)


def test_two_objects_at_once(big):
    """Each library call times itself (stats["seconds_evaluate"], inside C). If the GIL were held,
    the two C calls could not overlap and the wall time of both threads would be at least the sum
    of the two; overlapping, it is about the longer one (on one free core, time-sliced, each call
    then lasts about the whole wall time: the sum is still twice the wall time)."""
    x, q = big
    y = x[::-1].copy()
    with kifmm.Fmm(x, order=5, threads=1) as f, kifmm.Fmm(y, order=5, threads=1) as g:
        serial = (f.evaluate(q).pot, g.evaluate(q).pot)
        log = {}
        ths = [threading.Thread(target=timed_eval, args=(f, q, log, "f")),
               threading.Thread(target=timed_eval, args=(g, q, log, "g"))]
        w0 = time.perf_counter()
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        wall = time.perf_counter() - w0
        c_f, c_g = f.stats["seconds_evaluate"], g.stats["seconds_evaluate"]
        assert wall < 0.8 * (c_f + c_g), "no overlap: wall %.3f s, C calls %.3f + %.3f s" % (wall, c_f, c_g)
        assert np.array_equal(log["f"][2].pot, serial[0]) and np.array_equal(log["g"][2].pot, serial[1])


def test_one_object_two_threads_serialised(big):
    """the library forbids one object in two threads at once: the per-object lock queues the calls"""
    x, q = big
    x, q = x[:20000], q[:20000]
    with kifmm.Fmm(x, order=4, threads=1) as f:
        ref = f.evaluate(q).pot
        out = [None] * 4

        def work(i):
            if i % 2:
                f.set_points(x)                  # same points: results unchanged
            out[i] = f.evaluate(q).pot

        ths = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        assert all(np.array_equal(o, ref) for o in out)


def test_direct_releases_gil():
    rng = np.random.default_rng(2)
    x = rng.random((4000, 3))
    q = rng.random(4000)
    log = {}
    th = threading.Thread(target=lambda: log.setdefault("r", kifmm.direct(x, charges=q, gradient=True, threads=1)))
    stamps = []
    t0 = time.perf_counter()
    th.start()
    while th.is_alive():
        stamps.append(time.perf_counter())
        for _ in range(200):
            pass
    th.join()
    t1 = time.perf_counter()
    lo, hi = t0 + 0.25 * (t1 - t0), t1 - 0.25 * (t1 - t0)
    assert sum(lo <= s <= hi for s in stamps) > 10
    assert log["r"].pot.shape == (4000,)
