"""Costs between tracks and detections, and their optimal assignment.

All functions are batched over T tracks and N detections (no loop over people or joints).
Coordinates are image pixels, boxes ``xyxy``.

* :func:`box_iou`: ``(T, N)`` IoU of two box sets (``pgpg.matching.box_iou``, the one numpy IoU).
* :func:`pose_oks`: ``(T, N)`` object keypoint similarity (COCO's formula) between the tracks'
  predicted poses and the detections' poses, over the keypoints both sides see.
* :func:`appearance_distance`: ``(T, N)`` cosine distance of appearance features.
* :func:`combined_cost`: the weighted cost the tracker minimises, with impossible pairs gated.
* :func:`assign`: Hungarian assignment (``scipy.optimize.linear_sum_assignment``) where leaving a
  track or a detection unmatched is allowed and costs half the gate.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from pgpg.matching import box_iou  # the one numpy box IoU: (T,4), (N,4) xyxy -> (T,N)

#: Cost written for a forbidden pair (kept finite so the solver always has a solution).
FORBIDDEN = 1e6


def pose_oks(track_keypoints: np.ndarray, track_visible: np.ndarray, det_keypoints: np.ndarray,
             det_visible: np.ndarray, areas: np.ndarray, sigmas: Sequence[float],
             min_keypoints: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """Object keypoint similarity between T poses and N poses.

    ``OKS = mean over joints k seen by both of exp(-d_k^2 / (2 * area * (2 sigma_k)^2))``, the
    COCOeval formula with ``area`` in the role of the ground truth's area.

    Args:
        track_keypoints: ``(T, K, 2)`` image px (the tracks' predicted poses).
        track_visible: ``(T, K)`` bool, joints the track has seen.
        det_keypoints: ``(N, K, 2)`` image px.
        det_visible: ``(N, K)`` bool, joints the detection sees (score above threshold).
        areas: ``(T,)`` px^2 scale of each track (its predicted box's w * h).
        sigmas: K COCO OKS sigmas.
        min_keypoints: a pair with fewer joints seen by both is not comparable.

    Returns:
        ``oks`` ``(T, N)`` in [0, 1] (0 where not comparable) and ``comparable`` ``(T, N)`` bool.
    """
    tk = np.asarray(track_keypoints, dtype=np.float64)
    dk = np.asarray(det_keypoints, dtype=np.float64)
    both = np.asarray(track_visible, bool)[:, None, :] & np.asarray(det_visible, bool)[None, :, :]  # (T, N, K)
    var = np.square(2 * np.asarray(sigmas, dtype=np.float64))  # (K,)
    factor = -0.5 / (np.maximum(np.asarray(areas, dtype=np.float64), 1e-6)[:, None] * var[None, :])  # (T, K)
    # in place on one (T, N, K) buffer: x and y apart, no (T, N, K, 2) temporary (the tracker's hot spot)
    sim = tk[:, None, :, 0] - dk[None, :, :, 0]
    dy = tk[:, None, :, 1] - dk[None, :, :, 1]
    sim *= sim
    dy *= dy
    sim += dy
    sim *= factor[:, None, :]
    np.exp(sim, out=sim)
    sim *= both
    count = both.sum(axis=-1)
    comparable = count >= max(int(min_keypoints), 1)
    oks = np.where(comparable, sim.sum(axis=-1) / np.maximum(count, 1), 0.0)
    return oks, comparable


def appearance_distance(track_features: np.ndarray, det_features: np.ndarray) -> np.ndarray:
    """Cosine distance ``1 - cos`` between ``(T, F)`` and ``(N, F)`` features, clipped to [0, 1] -> ``(T, N)``.

    Pooled ReLU features have non-negative cosines, so the clip only matters for other features
    (opposite directions count as fully different).
    """
    a = np.asarray(track_features, dtype=np.float64)
    b = np.asarray(det_features, dtype=np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.clip(1.0 - a @ b.T, 0.0, 1.0)


def combined_cost(iou: np.ndarray, oks: np.ndarray, comparable: np.ndarray, *, oks_weight: float,
                  iou_weight: float, appearance: Optional[np.ndarray] = None, appearance_weight: float = 0.0,
                  min_overlap: float = 0.0, max_appearance_distance: float = 1.0) -> np.ndarray:
    """The tracker's pair cost, ``np.inf`` where a pair is impossible.

    ``cost = (w_oks (1 - OKS) + w_iou (1 - IoU) + w_app d_app) / (sum of the weights used)``; the
    OKS term is used only where the poses are comparable, the appearance term only when features
    are given, so the cost stays in [0, 1]. A pair is impossible when neither the boxes nor the
    poses overlap (IoU and OKS both below ``min_overlap``) or when the appearance distance exceeds
    ``max_appearance_distance``.

    Args:
        iou: ``(T, N)`` box IoU of the predicted track boxes and the detections.
        oks: ``(T, N)`` OKS of the predicted track poses and the detections.
        comparable: ``(T, N)`` bool, where ``oks`` is meaningful.
        oks_weight, iou_weight, appearance_weight: non-negative weights.
        appearance: optional ``(T, N)`` appearance distance in [0, 1]; NaN where a track has no feature.
        min_overlap: geometric gate.
        max_appearance_distance: appearance gate.

    Returns:
        ``(T, N)`` float64 costs in [0, 1] or ``inf``.
    """
    w_oks = oks_weight * comparable
    num = w_oks * (1.0 - oks) + iou_weight * (1.0 - iou)
    den = w_oks + iou_weight
    gate = (iou < min_overlap) & (~comparable | (oks < min_overlap))
    if appearance is not None and appearance_weight > 0:
        known = ~np.isnan(appearance)
        app = np.where(known, appearance, 0.0)
        num = num + appearance_weight * known * app
        den = den + appearance_weight * known
        gate |= known & (app > max_appearance_distance)
    cost = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
    return np.where(gate, np.inf, cost)


def assign(cost: np.ndarray, threshold: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost matching where any row or column may stay unmatched.

    A pair is taken only if its cost is at most ``threshold``. Leaving a track or a detection
    unmatched costs ``threshold / 2`` each, so the solver matches a pair exactly when doing so is
    cheaper than leaving both alone, and otherwise finds the assignment of least total cost.

    Args:
        cost: ``(T, N)`` costs, ``inf`` for impossible pairs.
        threshold: gate on the cost of a matched pair.

    Returns:
        ``matches`` ``(M, 2)`` int64 (track row, detection column), the unmatched rows ``(T - M,)``
        and the unmatched columns ``(N - M,)``.
    """
    cost = np.asarray(cost, dtype=np.float64)
    t, n = cost.shape
    if t == 0 or n == 0:
        return np.zeros((0, 2), np.int64), np.arange(t), np.arange(n)
    allowed = np.isfinite(cost) & (cost <= threshold)
    half = threshold / 2.0
    big = np.full((t + n, n + t), FORBIDDEN)
    big[:t, :n] = np.where(allowed, cost, FORBIDDEN)
    big[:t, n:][np.diag_indices(t)] = half  # track left alone
    big[t:, :n][np.diag_indices(n)] = half  # detection left alone
    big[t:, n:] = 0.0
    rows, cols = linear_sum_assignment(big)
    keep = (rows < t) & (cols < n)
    matches = np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
    keep_pairs = allowed[matches[:, 0], matches[:, 1]]
    matches = matches[keep_pairs]
    free_rows = np.ones(t, bool)
    free_rows[matches[:, 0]] = False
    free_cols = np.ones(n, bool)
    free_cols[matches[:, 1]] = False
    return matches, np.flatnonzero(free_rows), np.flatnonzero(free_cols)
