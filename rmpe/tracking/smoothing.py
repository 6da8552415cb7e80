"""Per-track keypoint smoothing with the One-Euro filter (Casiez, Roussel and Vogel, CHI 2012).

The One-Euro filter is a first-order low-pass filter whose cutoff frequency rises with the
signal's speed: a person standing still gets strong smoothing (jitter removed), a fast-moving
limb gets little (no lag). Per coordinate, at a sample ``x`` taken ``dt`` seconds after the
previous one::

    alpha(fc)  = 1 / (1 + 1 / (2 pi fc dt))             smoothing factor of cutoff fc (Hz)
    dx         = (x - x_prev_filtered) / dt             speed, px/s
    dx_hat     = alpha(d_cutoff) dx + (1 - alpha(d_cutoff)) dx_hat_prev
    fc         = min_cutoff + beta |dx_hat|
    x_hat      = alpha(fc) x + (1 - alpha(fc)) x_hat_prev

The first sample of a track passes through unchanged (``dx_hat`` = 0). Each track keeps its
own state, keyed by track id; people without an id (``-1``) are not smoothed, and the state
of a track unseen for more than ``max_gap`` frames is dropped (it restarts if the id comes
back later). A track seen again after a gap of ``g`` frames uses ``dt = g / fps``.

numpy only. Used by :meth:`rmpe.api.PoseEstimator.run` when ``tracking.smooth`` is on.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np

from ..errors import RMPEError


def one_euro_alpha(cutoff: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Smoothing factor ``1 / (1 + tau / dt)`` with ``tau = 1 / (2 pi cutoff)``; arrays broadcast."""
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / np.asarray(dt, np.float64))


class KeypointSmoother:
    """One-Euro smoothing of every tracked person's keypoints, vectorised over people and joints.

    Args:
        fps: frame rate of the video (Hz): the time between frames is ``1 / fps``.
        min_cutoff: cutoff frequency at rest, Hz (lower: smoother, more lag when moving).
        beta: how fast the cutoff rises with speed, per px/s (higher: less lag on fast motion).
        d_cutoff: cutoff frequency of the speed estimate, Hz.
        max_gap: frames a track's state is kept while the track is unseen.
    """

    def __init__(self, fps: float, *, min_cutoff: float = 1.0, beta: float = 0.01, d_cutoff: float = 1.0,
                 max_gap: int = 30) -> None:
        for name, value in (("fps", fps), ("min_cutoff", min_cutoff), ("d_cutoff", d_cutoff)):
            if not np.isfinite(value) or value <= 0:
                raise RMPEError(f"keypoint smoothing: {name} must be > 0, got {value}")
        if not np.isfinite(beta) or beta < 0:
            raise RMPEError(f"keypoint smoothing: beta must be >= 0, got {beta}")
        self.fps = float(fps)
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.max_gap = int(max_gap)
        #: track id -> (last frame index, x_hat (K,2), dx_hat (K,2))
        self._state: Dict[int, Tuple[int, np.ndarray, np.ndarray]] = {}

    @classmethod
    def from_config(cls, config: Any, fps: float) -> "KeypointSmoother":
        """From a :class:`rmpe.config.Config` (its ``tracking:`` section) or a ``TrackingConfig``."""
        section = getattr(config, "tracking", config)
        return cls(fps, min_cutoff=section.smooth_min_cutoff, beta=section.smooth_beta,
                   d_cutoff=section.smooth_d_cutoff, max_gap=section.max_lost)

    def reset(self) -> None:
        """Forget every track (call it between videos)."""
        self._state.clear()

    def __call__(self, frame_index: int, ids: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """Smooth one frame.

        Args:
            frame_index: the frame's index in the video (increasing from call to call).
            ids: (N,) int track ids, -1 for people in no track.
            keypoints: (N, K, 2) keypoints in image px.

        Returns:
            (N, K, 2) float64 smoothed keypoints (rows with id -1 unchanged).
        """
        ids = np.asarray(ids, np.int64).reshape(-1)
        x = np.asarray(keypoints, np.float64)
        if x.ndim != 3 or x.shape[0] != ids.shape[0] or x.shape[2] != 2:
            raise RMPEError(f"keypoint smoothing: keypoints must be ({ids.shape[0]}, K, 2), got {x.shape}")
        out = x.copy()
        rows = [i for i, tid in enumerate(ids) if tid >= 0 and int(tid) in self._state]
        if rows:
            r = np.asarray(rows)
            prev = [self._state[int(ids[i])] for i in rows]
            gap = np.array([frame_index - p[0] for p in prev], np.float64)
            dt = (np.maximum(gap, 1.0) / self.fps)[:, None, None]
            x_prev = np.stack([p[1] for p in prev])
            dx_prev = np.stack([p[2] for p in prev])
            a_d = one_euro_alpha(self.d_cutoff, dt)
            dx_hat = a_d * (x[r] - x_prev) / dt + (1.0 - a_d) * dx_prev
            a = one_euro_alpha(self.min_cutoff + self.beta * np.abs(dx_hat), dt)
            out[r] = a * x[r] + (1.0 - a) * x_prev
            for j, i in enumerate(rows):
                self._state[int(ids[i])] = (int(frame_index), out[i].copy(), dx_hat[j])
        for i, tid in enumerate(ids):
            if tid >= 0 and int(tid) not in self._state:
                self._state[int(tid)] = (int(frame_index), x[i].copy(), np.zeros_like(x[i]))
        stale = [tid for tid, s in self._state.items() if frame_index - s[0] > self.max_gap]
        for tid in stale:
            del self._state[tid]
        return out
