"""Heatmap codec: keypoints <-> Gaussian heatmaps, shared by data, model head and decoder.

Frames: ``encode`` takes keypoints in crop (network input) pixels; ``decode`` returns
coordinates in heatmap pixels. The crop and heatmap share their centre, so a heatmap
pixel ``x_hm`` is the crop pixel ``x_hm * W / w`` (see :func:`rmpe.geometry.heatmap_to_crop_matrix`).

Decoders:
    ``argmax`` (AlphaPose): per-joint argmax; score = map maximum; when the argmax is strictly
    inside the map it moves 0.25 px towards the larger neighbour in x and in y.
    ``dark`` (Zhang et al., CVPR 2020): blur with a Gaussian of the training sigma, rescale
    to keep the original maximum, take the log, then one Newton step
    ``mu = m - H^-1 g`` with gradient and Hessian from central differences at the argmax.
"""
from __future__ import annotations

import math
from typing import Literal, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .geometry import as_tensor
from .keypoints import flip_permutation

Decoder = Literal["argmax", "dark"]


class HeatmapCodec:
    """Encode keypoints to Gaussian targets and decode heatmaps back to coordinates.

    Args:
        input_size: (H, W) of the crop.
        heatmap_size: (h, w) of the heatmaps.
        sigma: Gaussian standard deviation in heatmap pixels.
        decoder: ``"argmax"`` or ``"dark"``.
    """

    def __init__(
        self,
        input_size: Tuple[int, int] = (256, 192),
        heatmap_size: Tuple[int, int] = (64, 48),
        sigma: float = 2.0,
        decoder: Decoder = "argmax",
    ) -> None:
        if decoder not in ("argmax", "dark"):
            raise ValueError(f"unknown heatmap decoder '{decoder}' (use 'argmax' or 'dark')")
        self.input_size = tuple(int(v) for v in input_size)
        self.heatmap_size = tuple(int(v) for v in heatmap_size)
        self.sigma = float(sigma)
        self.decoder = decoder

    @classmethod
    def from_config(cls, config, decoder: Optional[str] = None) -> "HeatmapCodec":
        """Build from an :class:`rmpe.config.Config` (``model`` sizes + ``codec`` section)."""
        return cls(
            input_size=config.model.input_size,
            heatmap_size=config.model.heatmap_size,
            sigma=config.codec.sigma,
            decoder=decoder or config.inference.decoder,
        )

    @property
    def stride(self) -> Tuple[float, float]:
        """(sx, sy): crop pixels per heatmap pixel."""
        return (self.input_size[1] / self.heatmap_size[1], self.input_size[0] / self.heatmap_size[0])

    # ------------------------------------------------------------------ encode

    def encode(
        self, keypoints: torch.Tensor, visible: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Render unbiased Gaussian targets.

        Args:
            keypoints: (N,K,2) in crop pixels.
            visible: (N,K) bool or 0/1 (a joint with weight 0 gets an all-zero map).

        Returns:
            heatmaps (N,K,h,w) float32 and weights (N,K) float32. The weight is 0 for an
            invisible joint and for a joint whose 3-sigma Gaussian support lies wholly
            outside the heatmap.
        """
        kp = as_tensor(keypoints)
        n, k = kp.shape[:2]
        h, w = self.heatmap_size
        sx, sy = self.stride
        mu_x = kp[..., 0] / sx
        mu_y = kp[..., 1] / sy
        radius = 3.0 * self.sigma
        inside = (mu_x + radius >= 0) & (mu_x - radius <= w - 1) & (mu_y + radius >= 0) & (mu_y - radius <= h - 1)
        vis = as_tensor(visible, device=kp.device) > 0
        weights = (vis & inside & torch.isfinite(mu_x) & torch.isfinite(mu_y)).to(torch.float32)
        xs = torch.arange(w, dtype=kp.dtype, device=kp.device)
        ys = torch.arange(h, dtype=kp.dtype, device=kp.device)
        gx = torch.exp(-((xs - torch.nan_to_num(mu_x)[..., None]) ** 2) / (2 * self.sigma**2))  # (N,K,w)
        gy = torch.exp(-((ys - torch.nan_to_num(mu_y)[..., None]) ** 2) / (2 * self.sigma**2))  # (N,K,h)
        heatmaps = gy[..., :, None] * gx[..., None, :] * weights[..., None, None].to(kp.dtype)
        return heatmaps.to(torch.float32).reshape(n, k, h, w), weights

    # ------------------------------------------------------------------ decode

    def decode(self, heatmaps: torch.Tensor, decoder: Optional[Decoder] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Heatmaps (N,K,h,w) -> coordinates (N,K,2) in heatmap pixels and scores (N,K)."""
        decoder = decoder or self.decoder
        hm = heatmaps.float()
        if decoder == "argmax":
            return decode_argmax(hm)
        if decoder == "dark":
            return decode_dark(hm, self.sigma)
        raise ValueError(f"unknown heatmap decoder '{decoder}' (use 'argmax' or 'dark')")


def _argmax(hm: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N,K,h,w) -> integer x (N,K), integer y (N,K), maxima (N,K); the first maximum in
    row-major order.

    On the CPU the index comes from NumPy's SIMD argmax over the flattened maps (several
    times faster than torch's CPU argmax here); elsewhere two stages (row maxima, then the
    best row's argmax) stand in for a flat ``max`` over h*w values.
    """
    h, w = hm.shape[-2:]
    if hm.device.type == "cpu" and hm.dtype in (torch.float32, torch.float64):
        flat = hm.detach().reshape(-1, h * w).contiguous()
        idx = torch.from_numpy(flat.numpy().argmax(axis=1))
        scores = hm.reshape(-1, h * w).gather(1, idx[:, None])[:, 0].reshape(hm.shape[:-2])
        idx = idx.reshape(hm.shape[:-2])
        return idx % w, torch.div(idx, w, rounding_mode="floor"), scores
    return _argmax_torch(hm)


def _argmax_torch(hm: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_argmax` in torch ops only (any device and dtype)."""
    w = hm.shape[-1]
    scores, y = hm.amax(-1).max(-1)
    row = hm.gather(-2, y[..., None, None].expand(*y.shape, 1, w))[..., 0, :]
    return row.argmax(-1), y, scores


def _gather(hm: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Values hm[n, k, y, x] for integer maps x, y of shape (N,K) (clamped to the map)."""
    h, w = hm.shape[-2:]
    x = x.clamp(0, w - 1)
    y = y.clamp(0, h - 1)
    return hm.flatten(-2).gather(-1, (y * w + x)[..., None])[..., 0]


def decode_argmax(heatmaps: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """AlphaPose decoding: argmax plus the quarter-pixel step towards the larger neighbour.

    Args:
        heatmaps: (N,K,h,w).

    Returns:
        coords (N,K,2) in heatmap pixels, scores (N,K) = map maxima.
    """
    h, w = heatmaps.shape[-2:]
    x, y, scores = _argmax(heatmaps)
    interior = (x > 0) & (x < w - 1) & (y > 0) & (y < h - 1)
    dx = torch.sign(_gather(heatmaps, x + 1, y) - _gather(heatmaps, x - 1, y))
    dy = torch.sign(_gather(heatmaps, x, y + 1) - _gather(heatmaps, x, y - 1))
    coords = torch.stack([x, y], dim=-1).to(heatmaps.dtype)
    step = torch.stack([dx, dy], dim=-1) * 0.25 * interior[..., None].to(heatmaps.dtype)
    return coords + step, scores


def gaussian_kernel1d(sigma: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian kernel with radius ``ceil(3 sigma)``."""
    radius = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-(t**2) / (2.0 * sigma**2))
    return k / k.sum()


def blur_heatmaps(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N,K,h,w) maps, zero outside the map.

    Zero padding (as the DARK authors do) biases sub-pixel centres near the border far less
    than mirrored borders: the mirrored tail of a peak 3 px from the edge pulls it outwards.
    """
    n, k, h, w = heatmaps.shape
    kern = gaussian_kernel1d(sigma, heatmaps.dtype, heatmaps.device)
    r = kern.numel() // 2
    x = F.pad(heatmaps.reshape(n * k, 1, h, w), (r, r, r, r))
    x = F.conv2d(x, kern.view(1, 1, 1, -1))
    x = F.conv2d(x, kern.view(1, 1, -1, 1))
    return x.reshape(n, k, h, w)


def _local_blur_3x3(heatmaps: torch.Tensor, x: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian-blurred values (zero outside the map) on the 3x3 neighbourhood of (x, y).

    Equal to ``blur_heatmaps(heatmaps, sigma)[..., y-1:y+2, x-1:x+2]`` but only reads the
    (2r+3)^2 patch around each argmax instead of blurring whole maps.

    Args:
        heatmaps: (N,K,h,w); x, y: (N,K) integer argmax positions.

    Returns:
        (N,K,3,3) blurred values, rows y-1..y+1, columns x-1..x+1.
    """
    h, w = heatmaps.shape[-2:]
    kern = gaussian_kernel1d(sigma, heatmaps.dtype, heatmaps.device)
    r = kern.numel() // 2
    offsets = torch.arange(-r - 1, r + 2, device=heatmaps.device)  # 2r+3 patch offsets
    ys = y[..., None] + offsets  # (N,K,P)
    xs = x[..., None] + offsets
    valid = ((ys >= 0) & (ys < h))[..., :, None] & ((xs >= 0) & (xs < w))[..., None, :]
    idx = ys.clamp(0, h - 1)[..., :, None] * w + xs.clamp(0, w - 1)[..., None, :]
    patch = heatmaps.flatten(-2).gather(-1, idx.flatten(-2)).view(idx.shape) * valid
    # band[o, j] = kernel weight linking output offset o-1 to patch offset j-(r+1)
    p = offsets.numel()
    j = torch.arange(p, device=heatmaps.device)
    o = torch.arange(3, device=heatmaps.device)
    tap = j[None, :] - o[:, None]  # j - o runs over 0..2r for the taps in range
    band = torch.where((tap >= 0) & (tap <= 2 * r), kern[tap.clamp(0, 2 * r)], torch.zeros((), dtype=kern.dtype))
    weights = (band[:, None, :, None] * band[None, :, None, :]).reshape(9, p * p)  # (9, P*P)
    return (patch.flatten(-2) @ weights.T).view(*patch.shape[:-2], 3, 3)


def decode_dark(heatmaps: torch.Tensor, sigma: float = 2.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """DARK decoding (distribution-aware sub-pixel refinement), batched over (N, K).

    Blurring, rescaling to the original maximum and taking the log (DESIGN.md) only matter
    at the argmax and its eight neighbours, and the rescale adds one constant to the log
    map that cancels in every difference; so only those nine blurred values are computed.

    Args:
        heatmaps: (N,K,h,w).
        sigma: the Gaussian sigma used for training targets (heatmap pixels).

    Returns:
        coords (N,K,2) in heatmap pixels, scores (N,K) = maxima of the raw maps.
    """
    h, w = heatmaps.shape[-2:]
    x, y, scores = _argmax(heatmaps)
    blurred = _local_blur_3x3(heatmaps, x, y, sigma)
    # the rescale factor keeps the original maximum: log(b * ratio) = log(b) + const
    peak = blurred[..., 1, 1]
    ratio = torch.where(peak > 0, scores / peak.clamp(min=1e-30), torch.ones_like(peak))
    logm = torch.log(torch.clamp(blurred * ratio[..., None, None], min=1e-10))

    c = logm[..., 1, 1]
    gx = 0.5 * (logm[..., 1, 2] - logm[..., 1, 0])
    gy = 0.5 * (logm[..., 2, 1] - logm[..., 0, 1])
    hxx = logm[..., 1, 2] - 2 * c + logm[..., 1, 0]
    hyy = logm[..., 2, 1] - 2 * c + logm[..., 0, 1]
    hxy = 0.25 * (logm[..., 2, 2] - logm[..., 0, 2] - logm[..., 2, 0] + logm[..., 0, 0])
    det = hxx * hyy - hxy * hxy
    interior = (x > 0) & (x < w - 1) & (y > 0) & (y < h - 1)
    ok = interior & (det.abs() > 1e-12) & torch.isfinite(det)
    safe = torch.where(ok, det, torch.ones_like(det))
    # mu = m - H^-1 g with H^-1 = [[hyy, -hxy], [-hxy, hxx]] / det
    step_x = (hyy * gx - hxy * gy) / safe
    step_y = (hxx * gy - hxy * gx) / safe
    step = torch.stack([step_x, step_y], dim=-1) * ok[..., None].to(heatmaps.dtype)
    coords = torch.stack([x, y], dim=-1).to(heatmaps.dtype) - step
    return coords, scores


def flip_heatmaps(
    heatmaps: torch.Tensor, flip_pairs: Sequence[Sequence[int]], shift: bool = True
) -> torch.Tensor:
    """Map heatmaps of a horizontally mirrored crop back to the original crop.

    Mirrors along width, swaps each (left, right) channel pair and, with ``shift``, moves the
    maps one column to the right (the mirrored crop is offset by 3/4 heatmap pixel).

    Args:
        heatmaps: (N,K,h,w) predicted on flipped crops.
        flip_pairs: (left, right) keypoint index pairs.

    Returns:
        (N,K,h,w) heatmaps in the unflipped crop's frame.
    """
    k = heatmaps.shape[1]
    out = heatmaps.flip(-1)[:, flip_permutation(k, flip_pairs)]
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out
