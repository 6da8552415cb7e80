"""Symmetric spatial transformer: the localisation network and the SDTN's heatmap resampling.

The frames and the meaning of theta (crop' pixel ``u'`` takes the crop value at
``theta @ u'``; ``gamma = theta^-1``) are stated once in :mod:`rmpe.geometry`, which also
holds every STN/SDTN matrix (``theta_to_pixel``, ``gamma_from_theta``,
``compose_crop_matrices``, ``heatmap_to_image_matrices``, ``sdtn_sampling_matrices``,
``centred_keypoints``). This module keeps the two pieces that are not plain frame algebra:
:class:`LocalizationNet`, which predicts theta from a crop, and :func:`sdtn_heatmaps`, the
differentiable resampling of SPPE heatmaps from the crop' frame back into the crop frame.
The STN's own resampling (crop -> crop') is :func:`rmpe.crop.sample_affine` with theta, or a
single crop from the full image with ``gamma @ M`` (:func:`rmpe.crop.crop_images`).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .crop import sample_affine
from .geometry import sdtn_sampling_matrices

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


# ----------------------------------------------------------------------------- SDTN


def sdtn_heatmaps(
    heatmaps: torch.Tensor,
    theta: torch.Tensor,
    input_size: Tuple[int, int],
) -> torch.Tensor:
    """SDTN for maps: resample crop'-frame heatmaps into the crop frame with gamma.

    The crop-frame heatmap at heatmap pixel ``v`` is the crop'-frame heatmap at
    ``S^-1 @ gamma @ S @ v`` (``S``: heatmap px -> crop px; see
    :func:`rmpe.geometry.sdtn_sampling_matrices`), bilinear, zero outside. The loss against
    ordinary (crop-frame) targets then sends gradients to theta.

    Args:
        heatmaps: (N,K,h,w) SPPE output on crop'.
        theta: (N,3,3) crop' px -> crop px.
        input_size: (H, W) of the crop.

    Returns:
        (N,K,h,w) float32 heatmaps in the crop frame (float64 for float64 heatmaps).
    """
    h, w = heatmaps.shape[-2:]
    return sample_affine(heatmaps, sdtn_sampling_matrices(theta, input_size, (h, w)))
