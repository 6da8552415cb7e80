"""Small factories of synthetic heatmaps, poses and boxes shared by the tests and benchmarks.

Everything is deterministic given a ``numpy.random.Generator``; arrays are numpy float64
unless stated, so tests can build plain-loop references from them.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np


def gaussian_heatmaps(centres: np.ndarray, size: Tuple[int, int], sigma: float = 2.0) -> np.ndarray:
    """Render ``exp(-d^2 / 2 sigma^2)`` maps with plain numpy.

    Args:
        centres: (N,K,2) sub-pixel centres (x, y) in heatmap pixels.
        size: (h, w).

    Returns:
        (N,K,h,w) float32 heatmaps with peak value 1 at the exact centre.
    """
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    c = np.asarray(centres, dtype=np.float64)
    d2 = (xs - c[..., 0, None, None]) ** 2 + (ys - c[..., 1, None, None]) ** 2
    return np.exp(-d2 / (2.0 * sigma**2)).astype(np.float32)


def random_centres(
    rng: np.random.Generator, n: int, k: int, size: Tuple[int, int], margin: float = 3.0
) -> np.ndarray:
    """(N,K,2) random sub-pixel centres at least ``margin`` px from every border of an (h, w) map."""
    h, w = size
    x = rng.uniform(margin, w - 1 - margin, size=(n, k))
    y = rng.uniform(margin, h - 1 - margin, size=(n, k))
    return np.stack([x, y], axis=-1)


def random_boxes(
    rng: np.random.Generator, n: int, image_size: Tuple[int, int] = (480, 640),
    min_size: float = 20.0, max_size: float = 300.0,
) -> np.ndarray:
    """(N,4) xyxy boxes with random centres inside an (H, W) image and random sizes."""
    h, w = image_size
    bw = rng.uniform(min_size, max_size, n)
    bh = rng.uniform(min_size, max_size, n)
    cx = rng.uniform(0, w, n)
    cy = rng.uniform(0, h, n)
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)


def random_poses(
    rng: np.random.Generator, boxes: np.ndarray, k: int = 17
) -> Tuple[np.ndarray, np.ndarray]:
    """Random keypoints inside each box.

    Args:
        boxes: (N,4) xyxy.

    Returns:
        keypoints (N,K,2) in the boxes' frame (image pixels) and scores (N,K) in [0, 1).
    """
    b = np.asarray(boxes, dtype=np.float64)
    u = rng.uniform(0.0, 1.0, size=(b.shape[0], k, 2))
    kp = b[:, None, :2] + u * (b[:, None, 2:] - b[:, None, :2])
    return kp, rng.uniform(0.0, 1.0, size=(b.shape[0], k))


def clustered_proposals(
    rng: np.random.Generator, num_people: int, per_person: int, k: int = 17,
    image_size: Tuple[int, int] = (480, 640), jitter: float = 3.0,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Redundant pose proposals: several noisy copies of each of ``num_people`` poses.

    Returns:
        boxes (M,4), box_scores (M,), keypoints (M,K,2), keypoint_scores (M,K) with
        ``M = num_people * per_person``, all in image pixels.
    """
    base = random_boxes(rng, num_people, image_size, 60.0, 250.0)
    kp, _ = random_poses(rng, base, k)
    boxes = np.repeat(base, per_person, axis=0) + rng.normal(0, jitter, (num_people * per_person, 4))
    kps = np.repeat(kp, per_person, axis=0) + rng.normal(0, jitter, (num_people * per_person, k, 2))
    kp_scores = rng.uniform(0.05, 1.0, (num_people * per_person, k))
    box_scores = rng.uniform(0.3, 1.0, num_people * per_person)
    return boxes, box_scores, kps, kp_scores
