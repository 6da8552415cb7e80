"""Box and crop geometry as batched 3x3 homogeneous matrices.

Pixel convention (OpenCV/AlphaPose): x to the right, y down, an integer coordinate is the
centre of that pixel. Boxes are ``xyxy``. One matrix per person maps image pixels to crop
pixels; augmentation, the STN and the SDTN are further matrices composed with it.

All functions take and return float tensors on any device; numpy arrays are accepted and
converted to float32 tensors.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

TensorLike = Union[torch.Tensor, np.ndarray, Sequence]


def as_tensor(x: TensorLike, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Return ``x`` as a float tensor (keeps an existing floating tensor's dtype and device)."""
    if isinstance(x, torch.Tensor):
        if x.is_floating_point():
            return x if device is None else x.to(device)
        return x.to(dtype=dtype, device=device)
    return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)


# ----------------------------------------------------------------------------- boxes


def xywh_to_xyxy(boxes: TensorLike) -> torch.Tensor:
    """(N,4) ``[x, y, w, h]`` -> (N,4) ``[x1, y1, x2, y2]``."""
    b = as_tensor(boxes)
    return torch.cat([b[..., :2], b[..., :2] + b[..., 2:4]], dim=-1)


def xyxy_to_xywh(boxes: TensorLike) -> torch.Tensor:
    """(N,4) ``[x1, y1, x2, y2]`` -> (N,4) ``[x, y, w, h]``."""
    b = as_tensor(boxes)
    return torch.cat([b[..., :2], b[..., 2:4] - b[..., :2]], dim=-1)


def box_areas(boxes: TensorLike) -> torch.Tensor:
    """(N,4) xyxy -> (N,) areas (negative extents count as 0)."""
    b = as_tensor(boxes)
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def box_iou(a: TensorLike, b: TensorLike) -> torch.Tensor:
    """Pairwise IoU of (N,4) and (M,4) xyxy boxes -> (N,M)."""
    a, b = as_tensor(a), as_tensor(b)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = box_areas(a)[:, None] + box_areas(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def crop_boxes(boxes: TensorLike, aspect_ratio: float = 0.75, scale: float = 1.25) -> torch.Tensor:
    """Enlarge person boxes to the crop aspect ratio, then by ``scale``.

    The centre is kept. If ``w > aspect_ratio * h`` the height grows to ``w / aspect_ratio``,
    otherwise the width grows to ``aspect_ratio * h`` (a box never shrinks); then both sides
    are multiplied by ``scale``. Nothing is clipped: outside the image is zero in the crop.

    Args:
        boxes: (N,4) xyxy in image pixels.
        aspect_ratio: crop width / height (192/256 = 0.75 for AlphaPose).
        scale: enlargement factor of both sides.

    Returns:
        (N,4) xyxy crop boxes in image pixels.
    """
    b = as_tensor(boxes)
    centre = (b[..., :2] + b[..., 2:4]) * 0.5
    w = b[..., 2] - b[..., 0]
    h = b[..., 3] - b[..., 1]
    wide = w > aspect_ratio * h
    new_w = torch.where(wide, w, h * aspect_ratio) * scale
    new_h = torch.where(wide, w / aspect_ratio, h) * scale
    half = torch.stack([new_w, new_h], dim=-1) * 0.5
    return torch.cat([centre - half, centre + half], dim=-1)


# ----------------------------------------------------------------------------- matrices


def crop_matrices(
    crop_boxes: TensorLike,
    out_size: Tuple[int, int] = (256, 192),
    rotation: Optional[TensorLike] = None,
    scale: Optional[TensorLike] = None,
    flip: Optional[TensorLike] = None,
) -> torch.Tensor:
    """Image -> crop affine matrices.

    The crop-box centre maps to the output centre ``(W/2, H/2)`` with the uniform scale
    ``W / crop_w``. Optional per-person augmentation is composed about the crop centre:
    ``scale`` multiplies the crop box size (values > 1 zoom out), ``rotation`` (degrees,
    positive = counter-clockwise on screen, as ``cv2.getRotationMatrix2D``) rotates the
    content, ``flip`` mirrors it horizontally about the crop centre.

    Args:
        crop_boxes: (N,4) xyxy crop boxes (see :func:`crop_boxes`) in image pixels.
        out_size: (H, W) of the crop.
        rotation: optional (N,) degrees.
        scale: optional (N,) crop size factors.
        flip: optional (N,) bools.

    Returns:
        (N,3,3) matrices mapping homogeneous image pixels to crop pixels.
    """
    b = as_tensor(crop_boxes)
    dtype, device = b.dtype, b.device
    n = b.shape[0]
    out_h, out_w = out_size
    cx = (b[:, 0] + b[:, 2]) * 0.5
    cy = (b[:, 1] + b[:, 3]) * 0.5
    s = out_w / (b[:, 2] - b[:, 0])
    if scale is not None:
        s = s / as_tensor(scale, dtype, device).reshape(n)
    if rotation is not None:
        r = as_tensor(rotation, dtype, device).reshape(n) * (math.pi / 180.0)
        cos, sin = torch.cos(r), torch.sin(r)
    else:
        cos, sin = torch.ones_like(s), torch.zeros_like(s)
    a11, a12 = s * cos, s * sin
    a21, a22 = -s * sin, s * cos
    if flip is not None:
        f = torch.where(torch.as_tensor(flip, device=device).reshape(n).bool(), -1.0, 1.0).to(dtype)
        a11, a12 = a11 * f, a12 * f
    m = torch.zeros((n, 3, 3), dtype=dtype, device=device)
    m[:, 0, 0], m[:, 0, 1] = a11, a12
    m[:, 1, 0], m[:, 1, 1] = a21, a22
    m[:, 0, 2] = out_w * 0.5 - (a11 * cx + a12 * cy)
    m[:, 1, 2] = out_h * 0.5 - (a21 * cx + a22 * cy)
    m[:, 2, 2] = 1.0
    return m


def invert_affine(matrices: TensorLike) -> torch.Tensor:
    """Exact inverse of (N,3,3) affine matrices (last row ``0 0 1``), batched.

    Computed in closed form (2x2 inverse plus translation), so it stays exact and cheap.
    """
    m = as_tensor(matrices)
    a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    d, e, f = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    det = a * e - b * d
    ia, ib = e / det, -b / det
    id_, ie = -d / det, a / det
    out = torch.zeros_like(m)
    out[..., 0, 0], out[..., 0, 1] = ia, ib
    out[..., 1, 0], out[..., 1, 1] = id_, ie
    out[..., 0, 2] = -(ia * c + ib * f)
    out[..., 1, 2] = -(id_ * c + ie * f)
    out[..., 2, 2] = 1.0
    return out


def transform_points(matrices: TensorLike, points: TensorLike) -> torch.Tensor:
    """Apply (N,3,3) affine matrices to (N,K,2) points -> (N,K,2)."""
    m = as_tensor(matrices)
    p = as_tensor(points).to(m.dtype)
    return p @ m[..., :2, :2].transpose(-1, -2) + m[..., None, :2, 2]


def scale_matrix(sx: float, sy: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """(3,3) matrix scaling x by ``sx`` and y by ``sy``."""
    return torch.tensor([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]], dtype=dtype, device=device)


def heatmap_to_crop_matrix(
    input_size: Tuple[int, int], heatmap_size: Tuple[int, int], dtype=torch.float32, device=None
) -> torch.Tensor:
    """(3,3) matrix from heatmap pixels to crop pixels (``u = x_hm * W / w``).

    With the crop centre at ``W/2`` this gives DESIGN.md's rule
    ``x = cx + (x_hm - w/2) * crop_w / w`` once composed with the inverse crop matrix.
    """
    (in_h, in_w), (hm_h, hm_w) = input_size, heatmap_size
    return scale_matrix(in_w / hm_w, in_h / hm_h, dtype, device)


def pixel_to_normalized_matrix(size: Tuple[int, int], dtype=torch.float32, device=None) -> torch.Tensor:
    """(3,3) matrix from pixel coordinates of an (H, W) grid to ``grid_sample`` coordinates.

    Uses ``align_corners=False``: pixel centre ``p`` maps to ``(2p + 1) / S - 1``, so the
    grid edges are at -1 and +1.
    """
    h, w = size
    return torch.tensor(
        [[2.0 / w, 0.0, 1.0 / w - 1.0], [0.0, 2.0 / h, 1.0 / h - 1.0], [0.0, 0.0, 1.0]],
        dtype=dtype,
        device=device,
    )


def rotation_about(
    angles_deg: TensorLike, centre: Tuple[float, float], dtype=torch.float32, device=None
) -> torch.Tensor:
    """(N,3,3) rotations by ``angles_deg`` (counter-clockwise on screen) about ``centre`` (x, y)."""
    r = as_tensor(angles_deg, dtype, device).reshape(-1) * (math.pi / 180.0)
    cos, sin = torch.cos(r), torch.sin(r)
    cx, cy = centre
    m = torch.zeros((r.shape[0], 3, 3), dtype=r.dtype, device=r.device)
    m[:, 0, 0], m[:, 0, 1] = cos, sin
    m[:, 1, 0], m[:, 1, 1] = -sin, cos
    m[:, 0, 2] = cx - (cos * cx + sin * cy)
    m[:, 1, 2] = cy - (-sin * cx + cos * cy)
    m[:, 2, 2] = 1.0
    return m
