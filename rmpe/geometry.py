"""Every 3x3 frame of the system: boxes, crops, ``grid_sample`` coordinates, STN and SDTN.

Pixel convention (OpenCV/AlphaPose): x to the right, y down, an integer coordinate is the
centre of that pixel. Boxes are ``xyxy``. One matrix per person maps image pixels to crop
pixels; augmentation, the STN and the SDTN are further matrices composed with it, never
separate code paths with their own formulas.

Frames and their matrices (all (N,3,3) homogeneous, batched over people):

* ``image``     full-frame pixels.
* ``crop``      the person crop, (H, W) = the SPPE input size; image -> crop is ``M``
  (:func:`crop_matrices`, augmentation included).
* ``crop'``     the STN output, the image the SPPE actually sees; same size as the crop.
  ``theta`` maps crop' pixels to crop pixels: crop' pixel ``u'`` takes the crop value at
  ``theta @ u'`` (a sampling map, as in the STN paper where source = crop, target = crop').
  The localisation net predicts theta in ``grid_sample`` coordinates; :func:`theta_to_pixel`
  converts. ``gamma = theta^-1`` maps crop pixels to crop' pixels; image -> crop' is
  ``gamma @ M`` (:func:`compose_crop_matrices`).
* ``heatmap``   SPPE output pixels, (h, w) = (H/4, W/4); heatmap px -> crop px is ``S``
  (:func:`heatmap_to_crop_matrix`). Decoded heatmap' coordinates go back to the image
  through ``M^-1 @ theta @ S`` (:func:`heatmap_to_image_matrices`); the SDTN resamples
  heatmaps with ``S^-1 @ gamma @ S`` (:func:`sdtn_sampling_matrices`).
* ``normalised`` ``grid_sample`` coordinates (``align_corners=False``), edges at -1 and +1
  (:func:`pixel_to_normalized_matrix`).

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


# ----------------------------------------------------------------------------- crop frames


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


# ----------------------------------------------------------------------------- affine algebra


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


def to_homogeneous(affine: torch.Tensor) -> torch.Tensor:
    """(N,2,3) affine rows -> (N,3,3) with the last row ``0 0 1`` (same dtype and device)."""
    last = torch.zeros_like(affine[:, :1, :])
    last[:, 0, 2] = 1.0
    return torch.cat([affine, last], dim=1)


# ----------------------------------------------------------------------------- grid_sample frames


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


def normalized_sampling_matrices(
    sampling: torch.Tensor, in_size: Tuple[int, int], out_size: Tuple[int, int]
) -> torch.Tensor:
    """``affine_grid`` thetas for a pixel sampling map.

    Args:
        sampling: (N,3,3) map from output pixels to input pixels (output pixel ``u`` takes
            the input value at ``sampling @ u``).
        in_size: (H, W) of the sampled input.
        out_size: (h, w) of the output.

    Returns:
        (N,2,3) float64 thetas for ``F.affine_grid(..., align_corners=False)``, mapping
        normalised output coordinates to normalised input coordinates.
    """
    s = sampling.to(torch.float64)
    p_in = pixel_to_normalized_matrix(in_size, torch.float64, s.device)
    p_out_inv = invert_affine(pixel_to_normalized_matrix(out_size, torch.float64, s.device))
    return (p_in @ s @ p_out_inv)[:, :2, :]


# ----------------------------------------------------------------------------- STN frames


def theta_to_pixel(theta_norm: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Normalised theta (``affine_grid`` convention) -> pixel-frame theta.

    The inverse of :func:`normalized_sampling_matrices` with equal input and output sizes.

    Args:
        theta_norm: (N,2,3) or (N,3,3) map from crop' normalised coordinates to crop
            normalised coordinates (``align_corners=False``).
        size: (H, W) of the crop (= crop').

    Returns:
        (N,3,3) theta in crop pixels (crop' px -> crop px), float32 unless the input is
        float64. Computed in float64, so the identity maps to the exact identity.
    """
    t = as_tensor(theta_norm)
    if t.shape[-2:] == (2, 3):
        t = to_homogeneous(t)
    p = pixel_to_normalized_matrix(size, torch.float64, t.device)
    out = invert_affine(p) @ t.to(torch.float64) @ p
    return out.to(torch.float64 if t.dtype == torch.float64 else torch.float32)


def gamma_from_theta(theta: torch.Tensor) -> torch.Tensor:
    """gamma = theta^-1 (DESIGN.md: ``[g1 g2] = [t1 t2]^-1``, ``g3 = -[g1 g2] t3``).

    Args:
        theta: (N,3,3) crop' px -> crop px.

    Returns:
        (N,3,3) gamma, crop px -> crop' px; differentiable (closed-form inverse).
    """
    return invert_affine(theta)


def compose_crop_matrices(crop_matrices: torch.Tensor, theta: Optional[torch.Tensor]) -> torch.Tensor:
    """Image -> crop' matrices ``gamma @ M`` (just ``M`` when ``theta`` is None).

    Args:
        crop_matrices: (N,3,3) image px -> crop px.
        theta: (N,3,3) crop' px -> crop px, or None.

    Returns:
        (N,3,3) image px -> crop' px, computed in float64 and returned in the crop
        matrices' dtype.
    """
    if theta is None:
        return crop_matrices
    m = crop_matrices
    return (gamma_from_theta(theta.to(torch.float64)) @ m.to(torch.float64)).to(m.dtype)


def heatmap_to_image_matrices(
    crop_matrices: torch.Tensor,
    theta: Optional[torch.Tensor],
    input_size: Tuple[int, int],
    heatmap_size: Tuple[int, int],
) -> torch.Tensor:
    """SDTN for points: heatmap' px -> crop' px -> (theta) -> crop px -> image px.

    Args:
        crop_matrices: (N,3,3) image px -> crop px.
        theta: (N,3,3) crop' px -> crop px, or None (no STN).
        input_size: (H, W) of the crop.
        heatmap_size: (h, w) of the heatmaps.

    Returns:
        (N,3,3) matrices ``M^-1 @ theta @ S``, computed in float64 and returned in the crop
        matrices' dtype; apply with :func:`transform_points`.
    """
    m = crop_matrices.to(torch.float64)
    s = heatmap_to_crop_matrix(input_size, heatmap_size, torch.float64, m.device)
    back = invert_affine(m)
    if theta is not None:
        back = back @ theta.to(torch.float64)
    return (back @ s).to(crop_matrices.dtype)


def sdtn_sampling_matrices(
    theta: torch.Tensor, input_size: Tuple[int, int], heatmap_size: Tuple[int, int]
) -> torch.Tensor:
    """SDTN for maps: crop-frame heatmap px -> crop'-frame heatmap px, ``S^-1 @ gamma @ S``.

    The de-transformed heatmap at crop-frame heatmap pixel ``v`` is the SPPE's crop'-frame
    heatmap at ``S^-1 @ gamma @ S @ v`` (the sampling map for
    :func:`rmpe.crop.sample_affine`, as :func:`rmpe.stn.sdtn_heatmaps` uses it).

    Args:
        theta: (N,3,3) crop' px -> crop px.
        input_size: (H, W) of the crop.
        heatmap_size: (h, w) of the heatmaps.

    Returns:
        (N,3,3) float64 sampling maps; differentiable with respect to theta.
    """
    s = heatmap_to_crop_matrix(input_size, heatmap_size, torch.float64, theta.device)
    return invert_affine(s) @ gamma_from_theta(theta.to(torch.float64)) @ s


def centred_keypoints(
    keypoints: torch.Tensor,
    gt_boxes: torch.Tensor,
    input_size: Tuple[int, int] = (256, 192),
    aspect_ratio: float = 0.75,
    scale: float = 1.25,
    rotation: Optional[torch.Tensor] = None,
    flip: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Keypoints as a perfectly centred crop would show them (parallel-SPPE targets).

    The "perfectly centred crop" is the ordinary crop of the ground-truth box: the GT box
    enlarged to the crop aspect ratio and by ``scale`` (the same rule as every other crop,
    so the frozen SPPE sees people at the size it was trained on). The parallel SPPE runs on
    crop' and is compared with targets in this frame, so the only way to lower its loss is
    a theta that turns the proposal's crop into the GT box's crop. Encode them with the
    shared codec next to the ordinary targets::

        kp_c = centred_keypoints(gt_kp, gt_box, input_size, rotation=rot, flip=flipped)
        centred_heatmaps, centred_weights = codec.encode(kp_c, visible)

    Pass the same ``rotation`` and ``flip`` as the training crop's augmentation (the STN
    should undo the box error, not the augmentation; the frozen SPPE was trained on rotated
    and mirrored people). Leave the scale augmentation out. With a flip, give the keypoints
    already in flipped channel order, as for the ordinary targets.

    Args:
        keypoints: (N,K,2) ground-truth keypoints in image pixels.
        gt_boxes: (N,4) xyxy ground-truth person boxes in image pixels.
        input_size: (H, W) of the crop.
        aspect_ratio: crop box w / h.
        scale: crop box enlargement.
        rotation: optional (N,) degrees, as for :func:`crop_matrices`.
        flip: optional (N,) bools.

    Returns:
        (N,K,2) keypoints in (centred) crop pixels.
    """
    kp = as_tensor(keypoints)
    cb = crop_boxes(as_tensor(gt_boxes, device=kp.device).to(kp.dtype), aspect_ratio, scale)
    m = crop_matrices(cb, input_size, rotation=rotation, flip=flip)
    return transform_points(m, kp)
