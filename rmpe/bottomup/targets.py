"""Training targets of the bottom-up model: part confidence maps, part affinity fields, loss mask.

Frames: everything here is in **map pixels** (the network's output grid; an integer coordinate
is the centre of that pixel, x to the right, y down). The data pipeline converts image pixels
to map pixels before calling :func:`encode` (:func:`rmpe.bottomup.data.image_to_map`).

Formulation (Cao et al., OpenPose, CVPR 2017 / TPAMI 2019):

* confidence map of joint j: ``S_j(p) = max_k exp(-||p - x_jk||^2 / sigma^2)`` over the people k
  whose joint j is labelled: the *maximum* keeps two close peaks apart where an average would
  blur them into one; plus a background channel ``max(0, 1 - max_j S_j(p))``;
* affinity field of limb c = (j1, j2): for person k with ``v = (x_j2 - x_j1) / ||x_j2 - x_j1||``,
  ``L_ck(p) = v`` on the pixels with ``0 <= v . (p - x_j1) <= ||x_j2 - x_j1||`` and
  ``|v_perp . (p - x_j1)| <= sigma_l``, else 0; the field is the average of the non-zero
  ``L_ck(p)`` over the people whose limb covers p;
* mask: 0 on the pixels of unannotated people (crowd regions and people with no labelled
  keypoint, given as ``ignore_boxes``), 1 elsewhere; the loss ignores masked pixels, so a
  network that correctly finds an unlabelled person is not punished.

Everything is vectorised over people, joints, limbs and pixels (no Python loop).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np

from .limbs import LIMBS

#: Default Gaussian width of the confidence maps, map pixels (``exp(-d^2 / sigma^2)``).
DEFAULT_SIGMA = 1.5
#: Default half-width sigma_l of a limb's affinity field, map pixels.
DEFAULT_LIMB_WIDTH = 1.0


def to_numpy(x: Any, dtype=np.float32) -> np.ndarray:
    """A numpy copy-free view of a numpy array or torch tensor (any device) as ``dtype``."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def encode(
    keypoints: Any,
    visible: Any,
    size: Tuple[int, int],
    *,
    sigma: float = DEFAULT_SIGMA,
    limb_width: float = DEFAULT_LIMB_WIDTH,
    ignore_boxes: Optional[Any] = None,
    limbs: Sequence[Tuple[int, int]] = LIMBS,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence maps, affinity fields and loss mask of one image's people.

    Args:
        keypoints: (N,K,2) joint positions in map pixels (numpy or torch).
        visible: (N,K) truthy where the joint is labelled (COCO v > 0); other joints make
            no peak and their limbs no field.
        size: (h, w) of the maps.
        sigma: Gaussian width of the confidence maps in map pixels.
        limb_width: sigma_l, the field's half-width around the limb segment in map pixels.
        ignore_boxes: (M,4) xyxy boxes in map pixels of people without labels (crowd
            regions, ``num_keypoints == 0``); the mask is 0 on pixels whose centre lies inside
            one. None: nothing ignored.
        limbs: (C) joint-index pairs; the default is :data:`rmpe.bottomup.LIMBS`.

    Returns:
        maps (K+1,h,w) float32 in [0, 1], the last channel the background;
        fields (2C,h,w) float32, channels ``2c, 2c+1`` the x, y of limb c's field;
        mask (h,w) float32, 0 where the loss ignores the pixel, else 1.
    """
    kp = to_numpy(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must be (N,K,2), got shape {kp.shape}")
    n, k = kp.shape[:2]
    vis = (to_numpy(visible, np.float64) > 0).reshape(n, k)
    h, w = int(size[0]), int(size[1])
    pair = np.asarray(limbs, dtype=np.int64).reshape(-1, 2)
    c = pair.shape[0]
    maps = np.zeros((k + 1, h, w), np.float32)
    fields = np.zeros((2 * c, h, w), np.float32)
    mask = np.ones((h, w), np.float32)
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    if n:
        # confidence maps: separable Gaussians, (N,K,h,1) x (N,K,1,w), max over people
        gy = np.exp(-((ys[None, None, :] - kp[:, :, 1:2]) ** 2) / sigma**2)
        gx = np.exp(-((xs[None, None, :] - kp[:, :, 0:1]) ** 2) / sigma**2)
        g = gy[:, :, :, None] * gx[:, :, None, :] * vis[:, :, None, None]
        maps[:k] = g.max(axis=0)
        # affinity fields: per person and limb, the pixels within limb_width of the segment
        a, b = kp[:, pair[:, 0]], kp[:, pair[:, 1]]  # (N,C,2)
        length = np.linalg.norm(b - a, axis=-1)  # (N,C)
        valid = vis[:, pair[:, 0]] & vis[:, pair[:, 1]] & (length > 1e-6)
        v = (b - a) / np.maximum(length, 1e-6)[..., None]  # (N,C,2)
        dx = xs[None, None, None, :] - a[..., 0, None, None]  # (N,C,1,w)
        dy = ys[None, None, :, None] - a[..., 1, None, None]  # (N,C,h,1)
        along = v[..., 0, None, None] * dx + v[..., 1, None, None] * dy  # (N,C,h,w)
        across = np.abs(v[..., 0, None, None] * dy - v[..., 1, None, None] * dx)
        on = (along >= 0) & (along <= length[..., None, None]) & (across <= limb_width) & valid[..., None, None]
        count = on.sum(axis=0)  # (C,h,w)
        total = np.einsum("nchw,ncd->cdhw", on.astype(np.float64), v)  # (C,2,h,w)
        fields[:] = (total / np.maximum(count, 1)[:, None]).reshape(2 * c, h, w)
    maps[k] = np.clip(1.0 - maps[:k].max(axis=0, initial=0.0), 0.0, 1.0)
    if ignore_boxes is not None and np.size(ignore_boxes):
        box = to_numpy(ignore_boxes, np.float64).reshape(-1, 4)
        inside_x = (xs[None, :] >= box[:, 0:1]) & (xs[None, :] <= box[:, 2:3])  # (M,w)
        inside_y = (ys[None, :] >= box[:, 1:2]) & (ys[None, :] <= box[:, 3:4])  # (M,h)
        covered = (inside_y[:, :, None] & inside_x[:, None, :]).any(axis=0)
        mask[covered] = 0.0
    return maps, fields, mask
