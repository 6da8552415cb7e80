"""Box IoU, one-to-one matching of detections to ground truth, and normalised side offsets.

Boxes are ``xyxy`` in image pixels (x right, y down); width = x2 - x1 and height = y2 - y1
(continuous coordinates, no "+1"), so a COCO ``[x, y, w, h]`` box is ``[x, y, x + w, y + h]``.

Offsets of a detection d relative to its ground-truth box g (RMPE's PGPG):

    (d.x1 - g.x1) / g.w,  (d.y1 - g.y1) / g.h,  (d.x2 - g.x2) / g.w,  (d.y2 - g.y2) / g.h

so a negative first or second offset and a positive third or fourth one mean the detection
is larger than the ground truth on that side.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from .errors import PGPGError


def check_boxes(boxes: np.ndarray, name: str = "boxes") -> np.ndarray:
    """Return ``boxes`` as a float64 (N, 4) array, or raise :class:`PGPGError`."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1 and b.shape[0] == 4:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise PGPGError(f"{name} must have shape (N, 4) as x1, y1, x2, y2, got {b.shape}")
    if not np.isfinite(b).all():
        raise PGPGError(f"{name} contain non-finite coordinates")
    return b


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of boxes.

    Args:
        a: (N, 4) xyxy boxes.
        b: (M, 4) xyxy boxes.

    Returns:
        (N, M) float64 IoU; 0 where the union is empty.
    """
    a, b = check_boxes(a, "boxes a"), check_boxes(b, "boxes b")
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def match_boxes(gt: np.ndarray, dets: np.ndarray, iou_threshold: float = 0.5) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy one-to-one matching, highest IoU first.

    All (gt, det) pairs with IoU >= ``iou_threshold`` are visited in decreasing IoU order
    (ties: lower gt index, then lower detection index); a pair is kept when neither box is
    matched yet.

    Args:
        gt: (G, 4) ground-truth boxes, xyxy pixels.
        dets: (D, 4) detection boxes, xyxy pixels.
        iou_threshold: minimum IoU of a match.

    Returns:
        (gt_idx (P,), det_idx (P,), iou (P,)) of the P matches, in the order they were made.
    """
    iou = box_iou(gt, dets)
    g_idx, d_idx = np.nonzero(iou >= iou_threshold)
    vals = iou[g_idx, d_idx]
    order = np.lexsort((d_idx, g_idx, -vals))  # last key is primary
    used_g = np.zeros(iou.shape[0], dtype=bool)
    used_d = np.zeros(iou.shape[1], dtype=bool)
    keep = []
    for p in order:  # candidate pairs of one image: a handful
        g, d = g_idx[p], d_idx[p]
        if not used_g[g] and not used_d[d]:
            used_g[g] = used_d[d] = True
            keep.append(p)
    keep = np.asarray(keep, dtype=np.int64)
    return g_idx[keep].astype(np.int64), d_idx[keep].astype(np.int64), vals[keep]


def box_offsets(gt: np.ndarray, dets: np.ndarray) -> np.ndarray:
    """Side offsets of detections relative to their ground-truth boxes (module docstring).

    Args:
        gt: (N, 4) ground-truth boxes with positive width and height, xyxy pixels.
        dets: (N, 4) matched detections, xyxy pixels.

    Returns:
        (N, 4) float64 offsets (dx1 / w, dy1 / h, dx2 / w, dy2 / h).
    """
    gt, dets = check_boxes(gt, "ground-truth boxes"), check_boxes(dets, "detections")
    if gt.shape != dets.shape:
        raise PGPGError(f"ground-truth boxes {gt.shape} and detections {dets.shape} must pair up row by row")
    w, h = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    if np.any(w <= 0) or np.any(h <= 0):
        raise PGPGError("ground-truth boxes need positive width and height to measure offsets")
    size = np.stack([w, h, w, h], 1)
    return (dets - gt) / size


def apply_offsets(gt: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes displaced from their ground truth by normalised side offsets (inverse of :func:`box_offsets`).

    Args:
        gt: (N, 4) xyxy boxes in pixels.
        offsets: (N, M, 4) or (N, 4) offsets in units of the box width / height.

    Returns:
        Boxes with the shape of ``offsets``, xyxy pixels.
    """
    gt = np.asarray(gt, dtype=np.float64)
    w, h = gt[..., 2] - gt[..., 0], gt[..., 3] - gt[..., 1]
    size = np.stack([w, h, w, h], -1)
    offsets = np.asarray(offsets, dtype=np.float64)
    if offsets.ndim == gt.ndim + 1:
        return gt[..., None, :] + offsets * size[..., None, :]
    return gt + offsets * size
