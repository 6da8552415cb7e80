"""Symmetric spatial transformer: localisation net, theta/gamma helpers, SDTN resampling.

Frames and the meaning of theta (the one convention every caller relies on):

* ``crop``   the person crop taken with the crop matrix ``M`` (image px -> crop px).
* ``crop'``  the STN output, the image the SPPE actually sees; same size (H, W) as the crop.
* ``theta``  a (N,3,3) affine matrix in crop PIXEL coordinates mapping crop' pixels to crop
  pixels: crop' pixel ``u'`` takes the crop value at ``theta @ u'`` (a sampling map, as in
  the STN paper where source = crop, target = crop'). The localisation net predicts it in
  ``grid_sample`` normalised coordinates; :func:`theta_to_pixel` converts.
* ``gamma = theta^-1`` maps crop pixels to crop' pixels. It is the SDTN's sampling map:
  the de-transformed heatmap at crop-frame position ``u`` is the SPPE heatmap at
  ``gamma @ u``. A point travels the other way: a keypoint at crop' pixel ``u'`` lies at
  crop pixel ``theta @ u'``.

Composition with the crop: image -> crop' is ``gamma @ M``, so at inference each person is
sampled once from the full image with that matrix (:func:`rmpe.crop.crop_images`), and
decoded heatmap coordinates go back to the image through
``M^-1 @ theta @ S`` where ``S`` is heatmap px -> crop px (:func:`heatmap_to_image_matrices`).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .crop import sample_affine
from .geometry import (
    as_tensor,
    heatmap_to_crop_matrix,
    invert_affine,
    pixel_to_normalized_matrix,
    transform_points,
)

#: The identity as the localisation net's 6 outputs ``[a b c; d e f]`` (row-major 2x3).
IDENTITY_THETA = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


class LocalizationNet(nn.Module):
    """Small CNN that predicts an affine theta from a crop.

    Four stride-2 3x3 convolutions (BN, ReLU), an adaptive average pool to a small fixed
    grid (which keeps *where* things are, unlike a global pool), a hidden linear layer and a
    final linear layer with 6 outputs. The final layer starts with zero weights and the
    identity as bias, so an untrained net outputs exactly the identity for every input.

    Args:
        in_channels: input channels (3 for RGB crops).
        channels: widths of the stride-2 convolutions.
        pool_size: (h, w) of the pooled grid fed to the linear layers.
        hidden: width of the hidden linear layer.

    Shapes:
        forward: (N, C, H, W) normalised crop -> (N, 2, 3) theta in ``affine_grid``
        normalised coordinates (crop' -> crop, ``align_corners=False``).
    """

    def __init__(
        self,
        in_channels: int = 3,
        channels: Sequence[int] = (16, 32, 64, 64),
        pool_size: Tuple[int, int] = (4, 3),
        hidden: int = 128,
    ) -> None:
        super().__init__()
        layers = []
        prev = in_channels
        for width in channels:
            layers += [
                nn.Conv2d(prev, width, kernel_size=3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            prev = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(tuple(pool_size))
        self.fc = nn.Linear(prev * pool_size[0] * pool_size[1], hidden)
        self.fc_theta = nn.Linear(hidden, 6)
        self.reset_identity()

    def reset_identity(self) -> None:
        """Zero the last layer's weights and set its bias to the identity theta."""
        with torch.no_grad():
            self.fc_theta.weight.zero_()
            self.fc_theta.bias.copy_(torch.tensor(IDENTITY_THETA))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N,C,H,W) normalised crops -> (N,2,3) normalised theta."""
        y = self.pool(self.features(x)).flatten(1)
        y = F.relu(self.fc(y), inplace=True)
        return self.fc_theta(y).view(-1, 2, 3)


# ----------------------------------------------------------------------------- frames


def _to3x3(theta: torch.Tensor) -> torch.Tensor:
    """(N,2,3) -> (N,3,3) with last row ``0 0 1``."""
    last = torch.zeros_like(theta[:, :1, :])
    last[:, 0, 2] = 1.0
    return torch.cat([theta, last], dim=1)


def theta_to_pixel(theta_norm: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Normalised theta (``affine_grid`` convention) -> pixel-frame theta.

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
        t = _to3x3(t)
    p = pixel_to_normalized_matrix(size, torch.float64, t.device)
    out = invert_affine(p) @ t.to(torch.float64) @ p
    return out.to(torch.float64 if t.dtype == torch.float64 else torch.float32)


def theta_to_normalized(theta: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Pixel-frame theta (N,3,3) -> (N,2,3) ``affine_grid`` theta; inverse of :func:`theta_to_pixel`."""
    t = as_tensor(theta)
    p = pixel_to_normalized_matrix(size, torch.float64, t.device)
    out = p @ t.to(torch.float64) @ invert_affine(p)
    return out[:, :2, :].to(torch.float64 if t.dtype == torch.float64 else torch.float32)


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
        (N,3,3) image px -> crop' px, in the crop matrices' dtype.
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
        matrices' dtype; apply with :func:`rmpe.geometry.transform_points`.
    """
    m = crop_matrices.to(torch.float64)
    s = heatmap_to_crop_matrix(input_size, heatmap_size, torch.float64, m.device)
    back = invert_affine(m)
    if theta is not None:
        back = back @ theta.to(torch.float64)
    return (back @ s).to(crop_matrices.dtype)


# ----------------------------------------------------------------------------- resampling


def stn_resample(crops: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """STN: crop' pixel ``u'`` = crop value at ``theta @ u'`` (bilinear, zero border).

    Used in training when crops come from the data loader; at inference the crop' is taken
    straight from the full image with :func:`compose_crop_matrices` instead.

    Args:
        crops: (N,3,H,W) crops (raw RGB in [0, 1], so the border is black as in a crop).
        theta: (N,3,3) crop' px -> crop px.

    Returns:
        (N,3,H,W) crop'; differentiable with respect to crops and theta.
    """
    return sample_affine(crops, theta)


def sdtn_heatmaps(
    heatmaps: torch.Tensor,
    theta: torch.Tensor,
    input_size: Tuple[int, int],
) -> torch.Tensor:
    """SDTN for maps: resample crop'-frame heatmaps into the crop frame with gamma.

    The crop-frame heatmap at heatmap pixel ``v`` is the crop'-frame heatmap at
    ``S^-1 @ gamma @ S @ v`` (``S``: heatmap px -> crop px), bilinear, zero outside.
    The loss against ordinary (crop-frame) targets then sends gradients to theta.

    Args:
        heatmaps: (N,K,h,w) SPPE output on crop'.
        theta: (N,3,3) crop' px -> crop px.
        input_size: (H, W) of the crop.

    Returns:
        (N,K,h,w) float32 heatmaps in the crop frame.
    """
    h, w = heatmaps.shape[-2:]
    s = heatmap_to_crop_matrix(input_size, (h, w), torch.float64, heatmaps.device)
    sampling = invert_affine(s) @ gamma_from_theta(theta.to(torch.float64)) @ s
    return sample_affine(heatmaps, sampling)


def points_crop_to_stn(points: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Crop-frame points (N,K,2) -> where they appear in crop' (applies gamma)."""
    return transform_points(gamma_from_theta(theta), points)


def points_stn_to_crop(points: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Crop'-frame points (N,K,2) -> crop-frame points (applies theta)."""
    return transform_points(theta, points)


# ----------------------------------------------------------------------------- parallel-SPPE targets


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
    a theta that turns the proposal's crop into the GT box's crop.

    Training (issue 11) builds them per sample next to the ordinary targets::

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
        rotation: optional (N,) degrees, as for :func:`rmpe.geometry.crop_matrices`.
        flip: optional (N,) bools.

    Returns:
        (N,K,2) keypoints in (centred) crop pixels.
    """
    from .geometry import crop_boxes, crop_matrices

    kp = as_tensor(keypoints)
    cb = crop_boxes(as_tensor(gt_boxes, device=kp.device).to(kp.dtype), aspect_ratio, scale)
    m = crop_matrices(cb, input_size, rotation=rotation, flip=flip)
    return transform_points(m, kp)


def centred_targets(
    codec,
    keypoints: torch.Tensor,
    visible: torch.Tensor,
    gt_boxes: torch.Tensor,
    aspect_ratio: float = 0.75,
    scale: float = 1.25,
    rotation: Optional[torch.Tensor] = None,
    flip: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Heatmap targets for the parallel SPPE: :func:`centred_keypoints` encoded by ``codec``.

    Args:
        codec: the :class:`rmpe.codec.HeatmapCodec` shared with the model.
        keypoints: (N,K,2) GT keypoints in image pixels.
        visible: (N,K) visibility (0 = not labelled).
        gt_boxes: (N,4) xyxy GT boxes in image pixels.
        aspect_ratio, scale, rotation, flip: as for :func:`centred_keypoints`.

    Returns:
        heatmaps (N,K,h,w) and weights (N,K), in the centred crop's heatmap frame.
    """
    kp = centred_keypoints(
        keypoints, gt_boxes, codec.input_size, aspect_ratio, scale, rotation=rotation, flip=flip
    )
    return codec.encode(kp, visible)
