"""Batched device crops: equality with cv2.warpAffine and with a plain bilinear reference."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rmpe.crop import crop_images, frames_to_tensor, sample_affine
from rmpe.errors import RMPEError
from rmpe.geometry import crop_boxes, crop_matrices, invert_affine
from tests.shared import SHARED_DATA, require

DATA = SHARED_DATA


# ----------------------------------------------------------------------------- references


def bilinear_reference(image: np.ndarray, matrix: np.ndarray, out_size) -> np.ndarray:
    """Plain bilinear warp, zero border: out[v, u] = image at inverse(matrix) @ (u, v, 1).

    image (C,H,W) float64, matrix (3,3) image px -> output px. Pixel centres at integers.
    """
    c, h, w = image.shape
    oh, ow = out_size
    inv = np.linalg.inv(matrix)
    out = np.zeros((c, oh, ow))
    padded = np.zeros((c, h + 2, w + 2))
    padded[:, 1:-1, 1:-1] = image
    for v in range(oh):
        for u in range(ow):
            x, y, _ = inv @ np.array([u, v, 1.0])
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            fx, fy = x - x0, y - y0
            acc = np.zeros(c)
            for dy, wy in ((0, 1 - fy), (1, fy)):
                for dx, wx in ((0, 1 - fx), (1, fx)):
                    yy, xx = y0 + dy, x0 + dx
                    if 0 <= yy < h and 0 <= xx < w:
                        acc += wy * wx * padded[:, yy + 1, xx + 1]
            out[:, v, u] = acc
    return out


def interior_mask(matrix: np.ndarray, image_hw, out_size, margin: float = 1.0) -> np.ndarray:
    """(h, w) bool: output pixels whose sampling point lies at least ``margin`` px inside the image."""
    oh, ow = out_size
    inv = np.linalg.inv(matrix)
    vs, us = np.mgrid[0:oh, 0:ow].astype(np.float64)
    x = inv[0, 0] * us + inv[0, 1] * vs + inv[0, 2]
    y = inv[1, 0] * us + inv[1, 1] * vs + inv[1, 2]
    h, w = image_hw
    return (x >= margin) & (x <= w - 1 - margin) & (y >= margin) & (y <= h - 1 - margin)


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(H, W, 3) uint8 BGR test image with structure at several scales, blurred (sigma 2)."""
    noise = rng.uniform(0, 255, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    base = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    ys, xs = np.mgrid[0:h, 0:w]
    stripes = 60 * np.sin(xs / 7.0)[..., None] * np.cos(ys / 11.0)[..., None]
    img = np.clip(base + stripes, 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 2.0)


def random_matrices(rng, n, image_hw, out_size, augment=True):
    h, w = image_hw
    bw = rng.uniform(0.1 * w, w * 0.8, n)
    bh = rng.uniform(0.1 * h, h * 0.8, n)
    cx = rng.uniform(-0.1 * w, 1.1 * w, n)  # some crops reach outside the image
    cy = rng.uniform(-0.1 * h, 1.1 * h, n)
    boxes = torch.tensor(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1), dtype=torch.float32)
    kwargs = {}
    if augment:
        kwargs = dict(
            rotation=torch.tensor(rng.uniform(-40, 40, n), dtype=torch.float32),
            scale=torch.tensor(rng.uniform(0.7, 1.3, n), dtype=torch.float32),
            flip=torch.tensor(rng.uniform(0, 1, n) < 0.5),
        )
    return crop_matrices(crop_boxes(boxes), out_size, **kwargs)


def to_rgb_float(bgr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(bgr[:, :, ::-1].copy()).permute(2, 0, 1).float() / 255.0


# ----------------------------------------------------------------------------- tests


def _check_against_cv2(bgr: np.ndarray, matrices: torch.Tensor, out_size):
    images = to_rgb_float(bgr)[None]
    n = matrices.shape[0]
    crops = crop_images(images, torch.zeros(n, dtype=torch.long), matrices, out_size)
    assert crops.shape == (n, 3) + tuple(out_size)
    checked = 0
    for i in range(n):
        m = matrices[i].double().numpy()
        ref = cv2.warpAffine(
            bgr, m[:2], (out_size[1], out_size[0]), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        )
        ref = ref[:, :, ::-1].astype(np.float64) / 255.0  # cv2 rounds to uint8: <= 0.5/255
        got = crops[i].permute(1, 2, 0).double().numpy()
        mask = interior_mask(m, bgr.shape[:2], out_size)
        if mask.any():
            err = np.abs(got - ref)[mask]
            assert err.max() <= 1.0 / 255.0, f"crop {i}: max diff {err.max() * 255:.3f}/255"
            checked += int(mask.sum())
    assert checked > 0


def test_crop_matches_cv2_warp_affine_synthetic():
    rng = np.random.default_rng(0)
    bgr = smooth_image(rng, 240, 320)
    _check_against_cv2(bgr, random_matrices(rng, 12, (240, 320), (64, 48)), (64, 48))


def test_crop_matches_cv2_warp_affine_real_image_256x192():
    path = DATA / "mmpose_coco" / "000000196141.jpg"
    require(path)
    bgr = cv2.imread(str(path))  # unblurred real photo: differences stay at cv2's uint8 rounding (0.5/255)
    rng = np.random.default_rng(1)
    _check_against_cv2(bgr, random_matrices(rng, 4, bgr.shape[:2], (256, 192)), (256, 192))


def test_crop_equals_plain_bilinear_reference_exactly():
    rng = np.random.default_rng(2)
    images = torch.rand(3, 3, 30, 40, dtype=torch.float64)
    idx = torch.tensor([2, 0, 2, 1, 2])  # uneven counts -> per-image loop
    m = random_matrices(rng, 5, (30, 40), (8, 6)).double()
    crops = crop_images(images, idx, m, (8, 6))
    assert crops.dtype == torch.float64
    for i in range(5):
        ref = bilinear_reference(images[idx[i]].numpy(), m[i].numpy(), (8, 6))
        np.testing.assert_allclose(crops[i].numpy(), ref, atol=1e-9)


def test_uniform_batch_path_equals_reference():
    rng = np.random.default_rng(3)
    images = torch.rand(2, 3, 20, 24, dtype=torch.float64)
    idx = torch.tensor([1, 0, 0, 1])  # two people per image -> one grid_sample call
    m = random_matrices(rng, 4, (20, 24), (8, 6)).double()
    crops = crop_images(images, idx, m, (8, 6))
    for i in range(4):
        ref = bilinear_reference(images[idx[i]].numpy(), m[i].numpy(), (8, 6))
        np.testing.assert_allclose(crops[i].numpy(), ref, atol=1e-9)


def test_uint8_images_equal_float_images():
    """grid_sample's uint8 handling (on the CPU crop_images takes uint8 through OpenCV:
    tests/rmpe/test_crop_opencv.py)."""
    from rmpe.crop import crop_images_grid_sample

    rng = np.random.default_rng(4)
    u8 = torch.from_numpy(rng.integers(0, 256, (2, 3, 40, 50), dtype=np.uint8))
    idx = torch.tensor([0, 1, 1])
    m = random_matrices(rng, 3, (40, 50), (16, 12))
    a = crop_images_grid_sample(u8, idx, m, (16, 12))
    b = crop_images(u8.float() / 255.0, idx, m, (16, 12))
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_frames_to_tensor_flips_channels_and_pads():
    rng = np.random.default_rng(5)
    f0 = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    f1 = rng.integers(0, 256, (25, 18, 3), dtype=np.uint8)
    images, sizes = frames_to_tensor([f0, f1])
    assert images.shape == (2, 3, 25, 30) and images.dtype == torch.float32
    assert sizes.tolist() == [[20, 30], [25, 18]]
    np.testing.assert_allclose(images[0, 0, :20].numpy(), f0[:, :, 2] / 255.0, atol=1e-7)  # R from BGR
    np.testing.assert_allclose(images[1, 2, :, :18].numpy(), f1[:, :, 0] / 255.0, atol=1e-7)  # B
    assert images[0, :, 20:].abs().sum() == 0 and images[1, :, :, 18:].abs().sum() == 0
    u8, _ = frames_to_tensor([f0, f1], dtype=torch.uint8)
    assert u8.dtype == torch.uint8 and int(u8[0, 1, 3, 4]) == int(f0[3, 4, 1])
    # padding does not change crops: crop of the padded batch == crop of the single frame
    m = random_matrices(rng, 2, (25, 18), (16, 12))
    a = crop_images(images, torch.tensor([1, 1]), m, (16, 12))
    b = crop_images(to_rgb_float(f1)[None], torch.tensor([0, 0]), m, (16, 12))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)  # float32 grid rounding differs slightly


def test_frames_to_tensor_rejects_bad_frames():
    with pytest.raises(RMPEError, match="frame 1"):
        frames_to_tensor([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.float32)])
    with pytest.raises(RMPEError):
        frames_to_tensor([])


def test_crop_images_errors_and_empty():
    images = torch.rand(2, 3, 10, 10)
    m = torch.eye(3)[None].repeat(2, 1, 1)
    with pytest.raises(RMPEError, match="image_index"):
        crop_images(images, torch.tensor([0, 2]), m, (4, 4))
    with pytest.raises(RMPEError, match="matrices"):
        crop_images(images, torch.tensor([0]), m, (4, 4))
    out = crop_images(images, torch.zeros(0, dtype=torch.long), torch.zeros(0, 3, 3), (4, 4))
    assert out.shape == (0, 3, 4, 4)


def test_crop_is_differentiable_wrt_matrices():
    torch.manual_seed(0)
    images = torch.rand(1, 3, 12, 12, dtype=torch.float64)
    m = torch.tensor([[[0.9, 0.1, 0.3], [-0.05, 1.1, 0.7], [0, 0, 1]]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda mm: crop_images(images, torch.tensor([0]), mm, (6, 5)), (m,), eps=1e-6, atol=1e-5
    )


def test_sample_affine_is_the_sampling_map():
    rng = np.random.default_rng(6)
    x = torch.rand(2, 2, 9, 7, dtype=torch.float64)
    s = torch.tensor(rng.normal(0, 0.2, (2, 3, 3)), dtype=torch.float64)
    s[:, 0, 0] += 1.0
    s[:, 1, 1] += 1.0
    s[:, :2, 2] = torch.tensor(rng.uniform(-1, 1, (2, 2)))
    s[:, 2] = torch.tensor([0.0, 0.0, 1.0])
    out = sample_affine(x, s, (5, 6))
    for i in range(2):
        # sample_affine's matrix maps output -> input; the reference takes input -> output
        ref = bilinear_reference(x[i].numpy(), invert_affine(s[i : i + 1])[0].numpy(), (5, 6))
        np.testing.assert_allclose(out[i].numpy(), ref, atol=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_crop_cuda_matches_cpu():
    rng = np.random.default_rng(7)
    images = torch.rand(3, 3, 300, 400)
    idx = torch.tensor([0, 2, 2, 1, 0, 2])
    m = random_matrices(rng, 6, (300, 400), (256, 192))
    cpu = crop_images(images, idx, m, (256, 192))
    gpu = crop_images(images.cuda(), idx.cuda(), m.cuda(), (256, 192))
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)
    u8 = (images * 255).round().to(torch.uint8).cuda()
    with torch.autocast("cuda", dtype=torch.float16):
        half = crop_images(u8, idx.cuda(), m.cuda(), (256, 192))
    assert half.dtype == torch.float32
    torch.testing.assert_close(half.cpu(), crop_images(u8.cpu(), idx, m, (256, 192)), atol=1e-4, rtol=0)
