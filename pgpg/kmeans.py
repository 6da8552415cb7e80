"""k-means with k-means++ seeding and missing values, deterministic by seed.

Used twice in PGPG: to cluster normalised poses into atomic poses (joints that are not
visible are missing values) and to initialise the Gaussian mixtures of the box offsets
(no missing values).

Distance with missing values: for a point x with observed-dimension mask m (D dims),

    dist(x, c) = D / sum_d m_d * sum_d m_d (x_d - c_d)^2,

the squared Euclidean distance over the observed dimensions, rescaled as if all D were
observed (it equals the plain squared distance when nothing is missing). Lloyd's
algorithm minimises sum_i dist(x_i, c_label(i)): the centre update is the per-dimension
mean of the observed values weighted by D / sum_d m_d, so every iteration lowers the
objective. Centres always have all D dimensions; a dimension no member observes keeps its
previous value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import PGPGError


@dataclass
class KMeansResult:
    """Outcome of :func:`kmeans`.

    Attributes:
        centres: (k, D) float64 cluster centres.
        labels: (N,) int64 index of each point's nearest centre.
        inertia: sum over points of the distance to their centre.
        n_iter: Lloyd iterations of the kept run.
    """

    centres: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int


def _prepare(x: np.ndarray, mask: Optional[np.ndarray]):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise PGPGError(f"k-means expects points of shape (N, D), got {x.shape}")
    if mask is None:
        m = np.ones_like(x)
    else:
        m = np.asarray(mask, dtype=np.float64)
        if m.shape != x.shape:
            raise PGPGError(f"k-means mask shape {m.shape} differs from the points' shape {x.shape}")
    x = np.where(m > 0, x, 0.0)
    m = (m > 0).astype(np.float64)
    observed = m.sum(1)
    if np.any(observed == 0):
        raise PGPGError("k-means got a point with no observed values; drop such points first")
    if not np.isfinite(x).all():
        raise PGPGError("k-means got non-finite observed values")
    return x, m, x.shape[1] / observed


def masked_sq_distances(x: np.ndarray, mask: Optional[np.ndarray], centres: np.ndarray) -> np.ndarray:
    """Distances between points with missing values and full centres (module docstring).

    Args:
        x: (N, D) points; values where ``mask`` is 0 are ignored.
        mask: (N, D) 1 where observed, or None for all observed.
        centres: (k, D) centres.

    Returns:
        (N, k) float64 distances, >= 0.
    """
    x, m, scale = _prepare(x, mask)
    return _distances(x, m, scale, np.asarray(centres, dtype=np.float64))


def _distances(x: np.ndarray, m: np.ndarray, scale: np.ndarray, centres: np.ndarray) -> np.ndarray:
    # sum_d m (x - c)^2 = sum_d m x^2 - 2 (m x) . c + m . c^2, as (N, D) x (D, k) products.
    # einsum rather than a BLAS matmul: D and k are small, and a multi-threaded BLAS on a busy
    # machine was 5-10x slower on these thin products.
    mx = m * x
    d = (mx * x).sum(1)[:, None] - 2.0 * np.einsum("nd,kd->nk", mx, centres) + np.einsum("nd,kd->nk", m, centres**2)
    return np.maximum(d, 0.0) * scale[:, None]


def _plus_plus(x, m, scale, fill, k, rng) -> np.ndarray:
    n = x.shape[0]
    filled = np.where(m > 0, x, fill)
    centres = np.empty((k, x.shape[1]))
    centres[0] = filled[rng.integers(n)]
    closest = _distances(x, m, scale, centres[:1])[:, 0]
    for j in range(1, k):
        total = closest.sum()
        if not total > 0:
            raise PGPGError(f"k-means: the data hold only {j} distinct points, fewer than k={k}; lower k")
        idx = rng.choice(n, p=closest / total)
        centres[j] = filled[idx]
        closest = np.minimum(closest, _distances(x, m, scale, centres[j : j + 1])[:, 0])
    return centres


def _lloyd(x, m, scale, centres, max_iter, tol):
    n, k = x.shape[0], centres.shape[0]
    wm = m * scale[:, None]
    wmx = wm * x
    labels = None
    it = 0
    for it in range(1, max_iter + 1):
        dist = _distances(x, m, scale, centres)
        new_labels = dist.argmin(1)
        onehot = np.zeros((n, k))
        onehot[np.arange(n), new_labels] = 1.0
        num, den = np.einsum("nk,nd->kd", onehot, wmx), np.einsum("nk,nd->kd", onehot, wm)
        new_centres = np.where(den > 0, num / np.where(den > 0, den, 1.0), centres)
        counts = np.bincount(new_labels, minlength=k)
        if np.any(counts == 0):
            # re-seed each empty cluster with the point farthest from its own centre
            own = dist[np.arange(n), new_labels].copy()
            filled = np.where(m > 0, x, new_centres[new_labels])
            for j in np.flatnonzero(counts == 0):
                far = int(own.argmax())
                new_centres[j] = filled[far]
                own[far] = -1.0
        shift = float(((new_centres - centres) ** 2).sum())
        centres = new_centres
        converged = labels is not None and np.array_equal(labels, new_labels) and shift <= tol
        labels = new_labels
        if converged:
            break
    dist = _distances(x, m, scale, centres)
    labels = dist.argmin(1)
    inertia = float(dist[np.arange(n), labels].sum())
    return centres, labels, inertia, it


def kmeans(
    x: np.ndarray,
    k: int,
    *,
    mask: Optional[np.ndarray] = None,
    seed: int = 0,
    n_init: int = 4,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> KMeansResult:
    """Cluster points into ``k`` groups; the run with the lowest inertia of ``n_init`` is kept.

    Deterministic: the same inputs and ``seed`` give the same result (one
    ``numpy.random.default_rng(seed)`` drives all k-means++ seedings in turn).

    Args:
        x: (N, D) points.
        k: number of clusters, 1 <= k <= N.
        mask: (N, D) 1 where a value is observed, 0 where missing; None means all observed.
            Every point needs at least one observed value.
        seed: random seed of the k-means++ seeding.
        n_init: number of seedings tried.
        max_iter: Lloyd iterations per seeding at most.
        tol: stop when the labels repeat and the centres moved less than this (squared).

    Returns:
        :class:`KMeansResult`.

    Raises:
        PGPGError: bad k, shapes, or fewer distinct points than k.
    """
    x, m, scale = _prepare(x, mask)
    n = x.shape[0]
    k = int(k)
    if k < 1:
        raise PGPGError(f"k-means needs k >= 1 clusters, got k={k}")
    if n < k:
        raise PGPGError(f"k-means: {n} points cannot form k={k} clusters; lower k or add data")
    if n_init < 1 or max_iter < 1:
        raise PGPGError(f"k-means needs n_init >= 1 and max_iter >= 1, got {n_init} and {max_iter}")
    col_obs = m.sum(0)
    fill = np.where(col_obs > 0, (m * x).sum(0) / np.maximum(col_obs, 1.0), 0.0)
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_init):
        centres = _plus_plus(x, m, scale, fill, k, rng)
        run = _lloyd(x, m, scale, centres, max_iter, tol)
        if best is None or run[2] < best[2]:
            best = run
    centres, labels, inertia, n_iter = best
    return KMeansResult(centres=centres, labels=labels.astype(np.int64), inertia=inertia, n_iter=n_iter)
