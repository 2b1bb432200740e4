"""Shared helpers: independent NumPy direct sums (no kifmm code) and random problems."""
import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

FOUR_PI = 4.0 * np.pi


def pairs(targets, sources):
    """d[j, i] = t_j - s_i, r, and a mask of the pairs at zero distance (excluded, as kifmm and FMM3D do)"""
    d = targets[:, None, :] - sources[None, :, :]
    r = np.sqrt(np.einsum("jik,jik->ji", d, d))
    zero = r == 0
    r = np.where(zero, 1.0, r)
    return d, r, zero


def laplace(targets, sources, q=None, v=None):
    """potential, gradient (nt, 3), Hessian (nt, 6: xx yy zz xy xz yz) of
    sum_i q_i / (4 pi r) + v_i . (x - y_i) / (4 pi r^3), straight from the formulas"""
    d, r, zero = pairs(targets, sources)
    nt = targets.shape[0]
    pot, grad, hess = np.zeros(nt), np.zeros((nt, 3)), np.zeros((nt, 6))
    ia, ib = [0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2]
    eye = np.eye(3)
    if q is not None:
        w = np.where(zero, 0.0, 1.0 / (FOUR_PI * r))              # G
        pot += w @ q
        g = -d / (FOUR_PI * r[..., None] ** 3)                    # grad_x G
        g[zero] = 0
        grad += np.einsum("jik,i->jk", g, q)
        for c, (a, b) in enumerate(zip(ia, ib)):
            h = (3 * d[..., a] * d[..., b] / r ** 5 - eye[a, b] / r ** 3) / FOUR_PI
            hess[:, c] += np.where(zero, 0.0, h) @ q
    if v is not None:
        vd = np.einsum("jik,ik->ji", d, v)                        # v . (x - y)
        pot += np.where(zero, 0.0, vd / (FOUR_PI * r ** 3)).sum(1)
        for a in range(3):
            ga = (v[None, :, a] / r ** 3 - 3 * vd * d[..., a] / r ** 5) / FOUR_PI
            grad[:, a] += np.where(zero, 0.0, ga).sum(1)
        for c, (a, b) in enumerate(zip(ia, ib)):
            h = (-3 * (v[None, :, a] * d[..., b] + v[None, :, b] * d[..., a] + vd * eye[a, b]) / r ** 5
                 + 15 * vd * d[..., a] * d[..., b] / r ** 7) / FOUR_PI
            hess[:, c] += np.where(zero, 0.0, h).sum(1)
    return pot, grad, hess


def yukawa(targets, sources, q, lam):
    """potential and gradient of sum_i q_i exp(-lam r) / (4 pi r)"""
    d, r, zero = pairs(targets, sources)
    e = np.exp(-lam * r)
    pot = np.where(zero, 0.0, e / (FOUR_PI * r)) @ q
    g = -(1 + lam * r)[..., None] * e[..., None] * d / (FOUR_PI * r[..., None] ** 3)
    g[zero] = 0
    return pot, np.einsum("jik,i->jk", g, q)


def stokes(targets, sources, f, mu=1.0):
    """velocity of sum_i (delta / r + d d^T / r^3) f_i / (8 pi mu)"""
    d, r, zero = pairs(targets, sources)
    df = np.einsum("jik,ik->ji", d, f)
    u = f[None, :, :] / r[..., None] + d * (df / r ** 3)[..., None]
    u[zero] = 0
    return u.sum(1) / (8 * np.pi * mu)


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)
