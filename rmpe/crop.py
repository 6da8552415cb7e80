"""Batched person crops on the device with ``affine_grid`` / ``grid_sample``.

Frames (DESIGN.md section 3): pixels, x right, y down, an integer coordinate is the centre
of that pixel. A crop is described by one (3,3) matrix per person mapping image pixels to
crop pixels (:func:`rmpe.geometry.crop_matrices`); crop pixel ``u`` takes the bilinearly
interpolated image value at ``M^-1 u``, with zeros outside the image. That is exactly what
``cv2.warpAffine(image, M[:2], (W, H), flags=cv2.INTER_LINEAR,
borderMode=cv2.BORDER_CONSTANT, borderValue=0)`` computes: on real uint8 photos the two
differ by at most 0.51/255, i.e. OpenCV's rounding of its result to uint8.

Memory: :func:`crop_images` never copies a full image per person. People are grouped by
their image; all crops of one image come from a single ``grid_sample`` call whose grid
stacks the people along the grid's height, (1, n*h, w, 2). When every image holds the same
number of people (the usual training batch: one person per image) the whole batch is one
call. Otherwise it loops over images (never over people).

Precision: sampling grids are built in float64 and sampling runs in float32 with autocast
turned off, so fp16 autocast elsewhere cannot move a crop by a pixel on large frames.

Two ways to cut the same crops, chosen in one place (:func:`crop_method`):

* ``grid_sample`` (above): every device, differentiable, exact bilinear weights;
* ``opencv``: ``cv2.warpAffine`` per person on uint8 CPU frames, giving uint8 crops that are
  converted to float once. On the CPU it is several times faster than ``grid_sample``
  (``benchmarks/bench_crop.py``), and the pipeline's frames are uint8 CPU tensors, so
  inference on the CPU uses it. OpenCV interpolates in fixed point (sample positions rounded
  to 1/32 px, weights to 1/2^15 ... 1/2^10) and rounds the crop to uint8: on real photos the
  crops differ from ``grid_sample``'s by at most a few grey levels (mean well under one level;
  ``tests/rmpe/test_crop_opencv.py`` states the bounds) and keypoints by hundredths of a pixel.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .errors import RMPEError
from .geometry import as_tensor, invert_affine, normalized_sampling_matrices


def frames_to_tensor(
    frames: Sequence[np.ndarray],
    device: Optional[torch.device | str] = None,
    dtype: torch.dtype = torch.float32,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Stack OpenCV BGR frames into one RGB batch on the device.

    Frames of different sizes are zero-padded at the bottom and right to the largest
    height and width; padding is zero, the same as the crop's zero border, so crops are
    unaffected by it.

    Args:
        frames: B arrays (H_b, W_b, 3) uint8 BGR (as ``cv2.imread`` returns), or (H_b, W_b)
            grey images (replicated to three channels).
        device: target device (default CPU).
        dtype: ``torch.float32`` / ``torch.float16`` give RGB in [0, 1]; ``torch.uint8``
            keeps 0..255 (four times less memory and transfer; :func:`crop_images` divides
            by 255 per image).

    Returns:
        images (B, 3, H_max, W_max) RGB on ``device``, and sizes (B, 2) long ``(H_b, W_b)``.

    Raises:
        RMPEError: an empty list, or a frame that is not an (H, W, 3) / (H, W) uint8 array.
    """
    if len(frames) == 0:
        raise RMPEError("frames_to_tensor: no frames given; pass a list of (H, W, 3) uint8 BGR arrays")
    arrays: List[np.ndarray] = []
    for i, frame in enumerate(frames):
        a = np.asarray(frame)
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or a.shape[0] == 0 or a.shape[1] == 0:
            raise RMPEError(
                f"frame {i}: expected an (H, W, 3) uint8 BGR image, got shape {a.shape} dtype {a.dtype}"
            )
        arrays.append(a)
    sizes = torch.tensor([a.shape[:2] for a in arrays], dtype=torch.long)
    h_max, w_max = (int(v) for v in sizes.max(0).values)
    if all(a.shape[0] == h_max and a.shape[1] == w_max for a in arrays):
        host = torch.from_numpy(np.ascontiguousarray(np.stack(arrays)))
    else:
        host = torch.zeros((len(arrays), h_max, w_max, 3), dtype=torch.uint8)
        for b, a in enumerate(arrays):
            host[b, : a.shape[0], : a.shape[1]] = torch.from_numpy(np.ascontiguousarray(a))
    if device is None or torch.device(device).type == "cpu":
        # numpy's strided copy is several times faster than torch's permute + flip on the CPU
        x = torch.from_numpy(np.ascontiguousarray(host.numpy()[..., ::-1].transpose(0, 3, 1, 2)))  # BGR -> RGB
        if dtype == torch.uint8:
            return x, sizes
        return x.to(dtype).div_(255.0), sizes
    if torch.device(device).type == "cuda":
        host = host.pin_memory()
    x = host.to(device, non_blocking=True).permute(0, 3, 1, 2).flip(1)  # BGR -> RGB
    if dtype == torch.uint8:
        return x.contiguous(), sizes
    return x.to(dtype).div_(255.0).contiguous(), sizes


def affine_grid(theta: torch.Tensor, out_size: Tuple[int, int]) -> torch.Tensor:
    """``F.affine_grid(theta, (N, C, h, w), align_corners=False)`` from plain tensor ops.

    The one sampling-grid builder of the project: the torch path (:func:`sample_affine`,
    :func:`crop_images`, the STN and the SDTN) and the ONNX export (:mod:`rmpe.export.onnx`)
    both use it. ``F.affine_grid`` has no ONNX export; ``arange``, ``stack`` and ``matmul``
    do, so the exported graph carries the grid followed by ``GridSample`` (opset 16+).

    Output pixel ``(i, j)`` has the normalised centre ``x_j = (2j + 1) / w - 1``,
    ``y_i = (2i + 1) / h - 1``; its grid entry is ``theta @ (x_j, y_i, 1)``.

    Args:
        theta: (N,2,3) maps from normalised output coordinates to normalised input
            coordinates (the ``affine_grid`` convention, ``align_corners=False``).
        out_size: (h, w) of the output (Python ints: fixed in an exported graph).

    Returns:
        (N,h,w,2) grid (x, y) in normalised input coordinates, of ``theta``'s dtype.
    """
    h, w = int(out_size[0]), int(out_size[1])
    xs = (torch.arange(w, dtype=theta.dtype, device=theta.device) * 2 + 1) / w - 1  # (w,)
    ys = (torch.arange(h, dtype=theta.dtype, device=theta.device) * 2 + 1) / h - 1  # (h,)
    base = torch.stack(
        [xs.view(1, w).expand(h, w), ys.view(h, 1).expand(h, w), torch.ones((h, w), dtype=theta.dtype, device=theta.device)],
        dim=-1,
    ).reshape(1, h * w, 3)  # (1, h*w, 3) homogeneous output centres
    grid = torch.matmul(base, theta.transpose(1, 2))  # (N, h*w, 2)
    return grid.reshape(-1, h, w, 2)


def _grid(
    sampling: torch.Tensor, in_size: Tuple[int, int], out_size: Tuple[int, int], dtype: torch.dtype
) -> torch.Tensor:
    """(N,3,3) output px -> input px sampling maps -> (N,h,w,2) grid_sample grid of ``dtype``.

    The grid is built in float64 (exact normalised pixel centres, through
    :func:`rmpe.geometry.normalized_sampling_matrices` and :func:`affine_grid`) and then
    rounded once.
    """
    theta = normalized_sampling_matrices(sampling, in_size, out_size)
    return affine_grid(theta, out_size).to(dtype)


def sample_affine(
    inputs: torch.Tensor,
    sampling: torch.Tensor,
    out_size: Optional[Tuple[int, int]] = None,
    mode: str = "bilinear",
) -> torch.Tensor:
    """Resample each map of a batch through its own affine sampling map (zero border).

    Used for the STN (crop -> crop') and the SDTN (heatmap' -> heatmap); differentiable with
    respect to both ``inputs`` and ``sampling``.

    Args:
        inputs: (N,C,H,W) float maps.
        sampling: (N,3,3) matrices from output pixels to input pixels: output pixel ``u``
            takes the bilinearly interpolated input value at ``sampling @ u``.
        out_size: (h, w) of the output; default the input's (H, W).
        mode: ``grid_sample`` mode.

    Returns:
        (N,C,h,w) float32 (float64 when ``inputs`` is float64).
    """
    in_size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
    out_size = in_size if out_size is None else (int(out_size[0]), int(out_size[1]))
    with torch.autocast(device_type=inputs.device.type, enabled=False):
        x = inputs if inputs.dtype == torch.float64 else inputs.float()
        grid = _grid(sampling, in_size, out_size, x.dtype)
        return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def crop_images(
    images: torch.Tensor,
    image_index: torch.Tensor,
    matrices: torch.Tensor,
    out_size: Tuple[int, int] = (256, 192),
) -> torch.Tensor:
    """Crop people from a batch of full images in one pass per image.

    Crop pixel ``u`` of person ``i`` is the bilinear sample of image ``image_index[i]`` at
    ``matrices[i]^-1 u`` (zeros outside the image), i.e. ``cv2.warpAffine`` with
    ``matrices[i][:2]``. Differentiable with respect to float ``images`` and ``matrices``
    (the STN's theta reaches the crop through the composed matrix).

    Args:
        images: (B,3,H,W) RGB, float in [0, 1] or uint8 in 0..255 (divided by 255 one
            image at a time, so a uint8 batch is never converted whole unless every image
            holds the same number of people).
        image_index: (N,) long, the image of each person, values in 0..B-1.
        matrices: (N,3,3) image pixels -> crop pixels (see :func:`rmpe.geometry.crop_matrices`,
            possibly composed with augmentation or the STN's gamma).
        out_size: (h, w) of the crops.

    Returns:
        (N,3,h,w) float32 crops on the images' device (float64 for float64 images).
    """
    if images.dim() != 4:
        raise RMPEError(f"crop_images: images must be (B, C, H, W), got shape {tuple(images.shape)}")
    if crop_method(images, matrices) == "opencv":
        return crop_images_opencv(images, image_index, matrices, out_size)
    return crop_images_grid_sample(images, image_index, matrices, out_size)


def crop_method(images: torch.Tensor, matrices) -> str:
    """The crop path for these inputs, the one place that chooses: ``opencv`` for uint8 images
    on the CPU with matrices that need no gradient (and OpenCV installed), else ``grid_sample``.

    ``RMPE_CROP=grid_sample`` in the environment forces ``grid_sample`` (for comparisons).
    """
    import os

    if os.environ.get("RMPE_CROP", "") == "grid_sample":
        return "grid_sample"
    if images.device.type != "cpu" or images.dtype != torch.uint8 or images.shape[1] != 3:
        return "grid_sample"
    if isinstance(matrices, torch.Tensor) and matrices.requires_grad:
        return "grid_sample"
    return "opencv" if _cv2() is not None else "grid_sample"


def _cv2():
    try:
        import cv2
    except ImportError:  # pragma: no cover - opencv is a dependency
        return None
    return cv2


def crop_images_opencv(
    images: torch.Tensor,
    image_index: torch.Tensor,
    matrices: torch.Tensor,
    out_size: Tuple[int, int] = (256, 192),
) -> torch.Tensor:
    """:func:`crop_images` with ``cv2.warpAffine`` (bilinear, zero border) on uint8 CPU images.

    OpenCV warps one matrix per call, so this loops over the people of each image (a fraction
    of a millisecond per 256x192 crop); the images are interleaved to (H, W, 3) once each.

    Args:
        images: (B,3,H,W) uint8 RGB on the CPU.
        image_index: (N,) the image of each person, in 0..B-1.
        matrices: (N,3,3) image px -> crop px.
        out_size: (h, w) of the crops.

    Returns:
        (N,3,h,w) float32 RGB crops in [0, 1] (the uint8 crop divided by 255).
    """
    cv2 = _cv2()
    b = images.shape[0]
    out_h, out_w = int(out_size[0]), int(out_size[1])
    idx = torch.as_tensor(image_index).long().reshape(-1).cpu().numpy()
    m = as_tensor(matrices).detach().to(torch.float64).cpu().numpy()
    n = idx.shape[0]
    if m.shape != (n, 3, 3):
        raise RMPEError(f"crop_images: matrices must be ({n}, 3, 3) for {n} people, got {m.shape}")
    if n and (idx.min() < 0 or idx.max() >= b):
        raise RMPEError(f"crop_images: image_index values must lie in 0..{b - 1} for {b} images, "
                        f"got {idx.min()}..{idx.max()}")
    out = np.zeros((n, out_h, out_w, 3), np.uint8)
    for image in np.unique(idx):  # loop over images; OpenCV has no batched warp, so then over people
        planes = images[int(image)]
        frame = cv2.merge([planes[0].numpy(), planes[1].numpy(), planes[2].numpy()])  # (H,W,3) RGB, fast interleave
        for i in np.flatnonzero(idx == image):
            cv2.warpAffine(frame, m[i, :2], (out_w, out_h), dst=out[i], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    # numpy's transposing cast is several times faster than torch's strided copy on the CPU
    return torch.from_numpy(np.transpose(out, (0, 3, 1, 2)).astype(np.float32)).div_(255.0)


def crop_images_grid_sample(
    images: torch.Tensor,
    image_index: torch.Tensor,
    matrices: torch.Tensor,
    out_size: Tuple[int, int] = (256, 192),
) -> torch.Tensor:
    """:func:`crop_images` with ``grid_sample`` (any device and dtype, differentiable)."""
    device = images.device
    b, c, in_h, in_w = images.shape
    out_h, out_w = int(out_size[0]), int(out_size[1])
    idx = torch.as_tensor(image_index, device=device).long().reshape(-1)
    m = as_tensor(matrices, device=device)
    n = idx.shape[0]
    if m.shape != (n, 3, 3):
        raise RMPEError(f"crop_images: matrices must be ({n}, 3, 3) for {n} people, got {tuple(m.shape)}")
    out_dtype = torch.float64 if images.dtype == torch.float64 else torch.float32
    if n == 0:
        return torch.zeros((0, c, out_h, out_w), dtype=out_dtype, device=device)

    def as_float(x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():
            return x.to(out_dtype)
        return x.to(out_dtype).div_(255.0)

    with torch.autocast(device_type=device.type, enabled=False):
        sampling = invert_affine(m.to(torch.float64))  # crop px -> image px
        idx_cpu = idx.cpu()  # one small transfer; CPU bincount is deterministic, CUDA's is not
        if bool((idx_cpu < 0).any()) or int(idx_cpu.max()) >= b:
            raise RMPEError(
                f"crop_images: image_index values must lie in 0..{b - 1} for {b} images, "
                f"got {int(idx_cpu.min())}..{int(idx_cpu.max())}"
            )
        counts_list = torch.bincount(idx_cpu, minlength=b).tolist()
        order = torch.argsort(idx, stable=True)
        grid = _grid(sampling[order], (in_h, in_w), (out_h, out_w), out_dtype)  # (N,h,w,2)
        per_image = counts_list[0]
        if all(k == per_image for k in counts_list):
            # every image holds the same number of people: one call for the whole batch
            g = grid.reshape(b, per_image * out_h, out_w, 2)
            res = F.grid_sample(as_float(images), g, mode="bilinear", padding_mode="zeros", align_corners=False)
            crops_sorted = res.reshape(b, c, per_image, out_h, out_w).transpose(1, 2).reshape(n, c, out_h, out_w)
        else:
            parts = []
            start = 0
            for i, k in enumerate(counts_list):  # loop over images, never over people
                if k == 0:
                    continue
                g = grid[start : start + k].reshape(1, k * out_h, out_w, 2)
                res = F.grid_sample(
                    as_float(images[i : i + 1]), g, mode="bilinear", padding_mode="zeros", align_corners=False
                )
                parts.append(res.reshape(c, k, out_h, out_w).transpose(0, 1))
                start += k
            crops_sorted = torch.cat(parts, dim=0)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(n, device=device)
        return crops_sorted[inverse].contiguous()
