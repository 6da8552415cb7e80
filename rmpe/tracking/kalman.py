"""Constant-velocity Kalman filtering, batched over tracks and coordinates.

Every tracked coordinate (a box's centre x, centre y, aspect ratio and height, and the x and
y of every keypoint) is an independent 1-D constant-velocity filter with state
``[position, velocity]``: with diagonal process and measurement noise the coordinates never
couple, so the filter of a whole track is a stack of 2x2 problems. States are stored as

* ``mean`` ``(T, D, 2)``: per track and coordinate, position and velocity (per frame);
* ``cov`` ``(T, D, 2, 2)``: the matching covariances;

and one call predicts or updates all T tracks at once (no loop over tracks or joints).

The model per coordinate, one step = one frame::

    F = [[1, 1], [0, 1]]     x' = F x           P' = F P F^T + diag(q_pos^2, q_vel^2)
    H = [1, 0]               S = P00 + r^2      K = P[:, 0] / S
                             x = x + K (z - x0) P = P - K (P[0, :])

Noise standard deviations are given per track and coordinate by the caller (the tracker scales
them with the person's height, in image pixels).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

#: Coordinates of the box part of a track's state, in this order.
BOX_DIMS = 4  # centre x, centre y, aspect (w / h), height


def xyxy_to_cxcyah(boxes: np.ndarray) -> np.ndarray:
    """Boxes ``(N, 4)`` xyxy image px -> ``(N, 4)`` (centre x, centre y, w / h, h) image px."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w = boxes[:, 2] - boxes[:, 0]
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2, w / h, h], axis=1)


def cxcyah_to_xyxy(state: np.ndarray) -> np.ndarray:
    """``(N, 4)`` (centre x, centre y, w / h, h) image px -> ``(N, 4)`` xyxy image px."""
    state = np.asarray(state, dtype=np.float64).reshape(-1, 4)
    h = state[:, 3]
    w = state[:, 2] * h
    return np.stack([state[:, 0] - w / 2, state[:, 1] - h / 2, state[:, 0] + w / 2, state[:, 1] + h / 2], axis=1)


def initiate(position: np.ndarray, position_std: np.ndarray, velocity_std: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """New filters at a first measurement, at rest.

    Args:
        position: ``(T, D)`` first measured positions.
        position_std: ``(T, D)`` initial standard deviation of each position.
        velocity_std: ``(T, D)`` initial standard deviation of each velocity (per frame).

    Returns:
        ``mean`` ``(T, D, 2)`` (velocity 0) and ``cov`` ``(T, D, 2, 2)`` (diagonal).
    """
    position = np.asarray(position, dtype=np.float64)
    mean = np.stack([position, np.zeros_like(position)], axis=-1)
    cov = np.zeros(position.shape + (2, 2))
    cov[..., 0, 0] = np.square(position_std)
    cov[..., 1, 1] = np.square(velocity_std)
    return mean, cov


def predict(mean: np.ndarray, cov: np.ndarray, position_std: np.ndarray,
            velocity_std: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """One frame forward: ``x' = F x``, ``P' = F P F^T + Q`` for every track and coordinate.

    Args:
        mean: ``(T, D, 2)`` states.
        cov: ``(T, D, 2, 2)`` covariances.
        position_std: ``(T, D)`` process noise standard deviation of the positions (broadcastable).
        velocity_std: ``(T, D)`` process noise standard deviation of the velocities (broadcastable).

    Returns:
        New ``mean`` ``(T, D, 2)`` and ``cov`` ``(T, D, 2, 2)``; the inputs are not modified.
    """
    mean = mean.copy()
    mean[..., 0] += mean[..., 1]
    p00, p01, p11 = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
    out = np.empty_like(cov)
    out[..., 0, 0] = p00 + 2 * p01 + p11 + np.square(position_std)
    out[..., 0, 1] = out[..., 1, 0] = p01 + p11
    out[..., 1, 1] = p11 + np.square(velocity_std)
    return mean, out


def update(mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray, measurement_std: np.ndarray,
           mask: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Correct the states with measured positions.

    Args:
        mean: ``(T, D, 2)`` predicted states.
        cov: ``(T, D, 2, 2)`` predicted covariances.
        measurement: ``(T, D)`` measured positions.
        measurement_std: ``(T, D)`` measurement noise standard deviation (broadcastable).
        mask: optional ``(T, D)`` bool; coordinates where it is False keep their prediction
            (an unseen keypoint is not measured).

    Returns:
        Corrected ``mean`` ``(T, D, 2)`` and ``cov`` ``(T, D, 2, 2)``; the inputs are not modified.
    """
    innovation = np.asarray(measurement, dtype=np.float64) - mean[..., 0]
    s = cov[..., 0, 0] + np.square(measurement_std)
    gain = cov[..., :, 0] / s[..., None]  # (T, D, 2)
    if mask is not None:
        gain = gain * np.asarray(mask, dtype=bool)[..., None]
    new_mean = mean + gain * innovation[..., None]
    new_cov = cov - gain[..., :, None] * cov[..., 0, :][..., None, :]
    new_cov[..., 1, 0] = new_cov[..., 0, 1]  # keep it exactly symmetric
    return new_mean, new_cov
