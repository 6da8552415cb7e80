"""Symmetric STN pieces: identity init, theta frames, gamma, SDTN for points and heatmaps."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rmpe.codec import HeatmapCodec
from rmpe.crop import crop_images
from rmpe.geometry import crop_boxes, crop_matrices, transform_points
from rmpe.stn import (
    LocalizationNet,
    centred_keypoints,
    centred_targets,
    compose_crop_matrices,
    gamma_from_theta,
    heatmap_to_image_matrices,
    points_crop_to_stn,
    points_stn_to_crop,
    sdtn_heatmaps,
    stn_resample,
    theta_to_normalized,
    theta_to_pixel,
)


def random_thetas(rng, n, size, max_rot=30.0, scale=(0.7, 1.3), shift=0.2, dtype=torch.float64):
    """(N,3,3) pixel thetas: rotation and scale about the crop centre, then a shift (fraction of size)."""
    h, w = size
    rot = np.deg2rad(rng.uniform(-max_rot, max_rot, n))
    s = rng.uniform(scale[0], scale[1], n)
    tx = rng.uniform(-shift, shift, n) * w
    ty = rng.uniform(-shift, shift, n) * h
    cx, cy = w / 2.0, h / 2.0
    out = np.zeros((n, 3, 3))
    for i in range(n):
        a = s[i] * np.array([[np.cos(rot[i]), -np.sin(rot[i])], [np.sin(rot[i]), np.cos(rot[i])]])
        t = np.array([cx, cy]) - a @ np.array([cx, cy]) + np.array([tx[i], ty[i]])
        out[i, :2, :2] = a
        out[i, :2, 2] = t
        out[i, 2, 2] = 1.0
    return torch.tensor(out, dtype=dtype)


def design_gamma(theta: np.ndarray) -> np.ndarray:
    """DESIGN.md formula, one matrix at a time: [g1 g2] = [t1 t2]^-1, g3 = -[g1 g2] t3."""
    g12 = np.linalg.inv(theta[:2, :2])
    g3 = -g12 @ theta[:2, 2]
    out = np.eye(3)
    out[:2, :2] = g12
    out[:2, 2] = g3
    return out


def bilinear_at(img: np.ndarray, x: float, y: float) -> np.ndarray:
    """Plain bilinear sample of (C,H,W) at (x, y), zero outside."""
    c, h, w = img.shape
    x0, y0 = math.floor(x), math.floor(y)
    acc = np.zeros(c)
    for dy, wy in ((0, 1 - (y - y0)), (1, y - y0)):
        for dx, wx in ((0, 1 - (x - x0)), (1, x - x0)):
            if 0 <= y0 + dy < h and 0 <= x0 + dx < w:
                acc += wy * wx * img[:, y0 + dy, x0 + dx]
    return acc


# ----------------------------------------------------------------------------- localisation net


def test_localization_net_starts_at_exact_identity():
    torch.manual_seed(0)
    net = LocalizationNet()
    for mode in (True, False):
        net.train(mode)
        theta = net(torch.randn(5, 3, 64, 48))
        assert theta.shape == (5, 2, 3)
        assert torch.equal(theta, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(5, 2, 3))
    px = theta_to_pixel(theta.detach(), (256, 192))
    assert torch.equal(px, torch.eye(3).expand(5, 3, 3))
    # works at the full crop size too, and still gets gradients in its last layer
    theta = net(torch.randn(2, 3, 256, 192))
    theta.sum().backward()
    assert net.fc_theta.weight.grad.abs().sum() > 0


def test_theta_frames_round_trip_and_meaning():
    """theta_to_pixel(theta_norm) samples exactly like affine_grid(theta_norm)."""
    rng = np.random.default_rng(0)
    size = (16, 12)
    theta_px = random_thetas(rng, 4, size)
    theta_norm = theta_to_normalized(theta_px, size)
    torch.testing.assert_close(theta_to_pixel(theta_norm, size), theta_px, atol=1e-12, rtol=0)
    crops = torch.rand(4, 3, *size, dtype=torch.float64)
    grid = F.affine_grid(theta_norm, [4, 3, *size], align_corners=False)
    by_affine_grid = F.grid_sample(crops, grid, align_corners=False)
    torch.testing.assert_close(stn_resample(crops, theta_px), by_affine_grid, atol=1e-10, rtol=0)
    # and crop' pixel u' is the crop value at theta @ u' (plain reference)
    out = stn_resample(crops, theta_px)
    for i in range(4):
        for v, u in ((3, 4), (8, 6), (12, 2)):
            x, y, _ = theta_px[i].numpy() @ np.array([u, v, 1.0])
            np.testing.assert_allclose(out[i, :, v, u].numpy(), bilinear_at(crops[i].numpy(), x, y), atol=1e-10)


# ----------------------------------------------------------------------------- gamma / points


def test_gamma_composed_with_theta_is_identity():
    rng = np.random.default_rng(1)
    theta = random_thetas(rng, 200, (256, 192))
    gamma = gamma_from_theta(theta)
    eye = torch.eye(3, dtype=torch.float64).expand(200, 3, 3)
    torch.testing.assert_close(gamma @ theta, eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(theta @ gamma, eye, atol=1e-12, rtol=0)
    for i in range(0, 200, 17):
        np.testing.assert_allclose(gamma[i].numpy(), design_gamma(theta[i].numpy()), atol=1e-12)
    g32 = gamma_from_theta(theta.float())
    torch.testing.assert_close(g32 @ theta.float(), eye.float(), atol=1e-5, rtol=0)


def test_keypoint_round_trip_through_random_theta():
    """image -> crop -> crop' (gamma) -> heatmap' and back through M^-1 theta S, float32."""
    rng = np.random.default_rng(2)
    n, k = 64, 17
    boxes = np.stack([rng.uniform(0, 1500, n), rng.uniform(0, 900, n)], 1)
    boxes = np.concatenate([boxes, boxes + rng.uniform(30, 500, (n, 2))], 1)
    m = crop_matrices(crop_boxes(torch.tensor(boxes, dtype=torch.float32)), (256, 192))
    theta = random_thetas(rng, n, (256, 192), dtype=torch.float32)
    kp_img = torch.tensor(boxes[:, None, :2] + rng.uniform(0, 1, (n, k, 2)) * (boxes[:, None, 2:] - boxes[:, None, :2]),
                          dtype=torch.float32)
    kp_crop = transform_points(m, kp_img)
    kp_stn = points_crop_to_stn(kp_crop, theta)
    torch.testing.assert_close(points_stn_to_crop(kp_stn, theta), kp_crop, atol=1e-3, rtol=0)
    kp_hm = kp_stn / 4.0  # crop' px -> heatmap' px (256x192 -> 64x48)
    back = heatmap_to_image_matrices(m, theta, (256, 192), (64, 48))
    assert back.dtype == torch.float32
    err = (transform_points(back, kp_hm) - kp_img).norm(dim=-1)
    assert err.max() < 1e-3, err.max()
    # the composed image -> crop' matrix agrees with the chain
    torch.testing.assert_close(
        transform_points(compose_crop_matrices(m, theta), kp_img), kp_stn, atol=1e-3, rtol=0
    )


def test_heatmap_to_image_plain_reference():
    """M^-1 theta S against a hand-written chain for one person (float64)."""
    rng = np.random.default_rng(3)
    m = crop_matrices(crop_boxes(torch.tensor([[100.0, 50.0, 180.0, 260.0]], dtype=torch.float64)), (256, 192))
    theta = random_thetas(rng, 1, (256, 192))
    back = heatmap_to_image_matrices(m, theta, (256, 192), (64, 48))[0].numpy()
    hm = np.array([13.25, 40.5])
    crop_prime = hm * 4.0
    crop = theta[0].numpy() @ np.array([*crop_prime, 1.0])
    image = np.linalg.inv(m[0].numpy()) @ crop
    np.testing.assert_allclose(back @ np.array([*hm, 1.0]), image, atol=1e-9)


# ----------------------------------------------------------------------------- resampling


def test_sdtn_identity_is_exact_passthrough():
    hm = torch.rand(3, 17, 64, 48)
    out = sdtn_heatmaps(hm, torch.eye(3).expand(3, 3, 3), (256, 192))
    torch.testing.assert_close(out, hm, atol=1e-5, rtol=0)


def test_sdtn_heatmaps_sample_at_gamma_plain_reference():
    rng = np.random.default_rng(4)
    theta = random_thetas(rng, 2, (64, 48))
    hm = torch.rand(2, 3, 16, 12, dtype=torch.float64)
    out = sdtn_heatmaps(hm, theta, (64, 48))
    for i in range(2):
        gamma = design_gamma(theta[i].numpy())
        for v, u in ((2, 3), (8, 6), (13, 9), (0, 0)):
            crop_px = np.array([u * 4.0, v * 4.0, 1.0])  # heatmap px -> crop px
            x, y = (gamma @ crop_px)[:2] / 4.0  # -> crop' px -> heatmap' px
            np.testing.assert_allclose(out[i, :, v, u].numpy(), bilinear_at(hm[i].numpy(), x, y), atol=1e-10)


def test_sdtn_moves_gaussians_back_to_the_crop_frame():
    """Gaussians rendered where crop' shows the keypoints come back where the crop has them."""
    rng = np.random.default_rng(5)
    codec = HeatmapCodec((256, 192), (64, 48), sigma=2.0, decoder="dark")
    n, k = 16, 5
    theta = random_thetas(rng, n, (256, 192), scale=(0.85, 1.15), shift=0.1, dtype=torch.float32)
    kp_crop = torch.tensor(rng.uniform([50, 60], [142, 196], (n, k, 2)), dtype=torch.float32)
    kp_stn = points_crop_to_stn(kp_crop, theta)
    hm_stn, _ = codec.encode(kp_stn, torch.ones(n, k))
    back = sdtn_heatmaps(hm_stn, theta, codec.input_size)
    coords, _ = codec.decode(back)
    err = (coords * 4.0 - kp_crop).norm(dim=-1)  # crop px
    assert err.max() < 1.0 and err.mean() < 0.4, (err.max(), err.mean())


def test_stn_resample_matches_composed_single_crop():
    """Resampling the crop with theta ~= cropping the image once with gamma @ M (interior)."""
    rng = np.random.default_rng(6)
    ys, xs = torch.meshgrid(torch.arange(200.0), torch.arange(300.0), indexing="ij")
    image = torch.stack([0.5 + 0.4 * torch.sin(xs / 9) * torch.cos(ys / 13), (xs + ys) / 500, 0.5 + 0 * xs])[None]
    boxes = torch.tensor([[80.0, 40.0, 160.0, 180.0], [150.0, 60.0, 230.0, 150.0]])
    m = crop_matrices(crop_boxes(boxes), (64, 48))
    theta = random_thetas(rng, 2, (64, 48), shift=0.1, dtype=torch.float32)
    idx = torch.tensor([0, 0])
    twice = stn_resample(crop_images(image, idx, m, (64, 48)), theta)
    once = crop_images(image, idx, compose_crop_matrices(m, theta), (64, 48))
    # compare where theta @ u' stays inside the crop (elsewhere the crop's zero border shows)
    u = torch.stack(torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="xy"), -1).reshape(1, -1, 2)
    src = transform_points(theta, u.expand(2, -1, -1)).reshape(2, 64, 48, 2)
    inside = (src[..., 0] > 1) & (src[..., 0] < 46) & (src[..., 1] > 1) & (src[..., 1] < 62)
    diff = (twice - once).abs().amax(1)[inside]
    assert inside.sum() > 2000 and diff.max() < 0.02, diff.max()


def test_sdtn_and_stn_are_differentiable_wrt_theta():
    rng = np.random.default_rng(7)
    theta = random_thetas(rng, 2, (16, 12), shift=0.1).requires_grad_(True)
    hm = torch.rand(2, 2, 4, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: sdtn_heatmaps(hm, t, (16, 12)), (theta,), eps=1e-6, atol=1e-5)
    theta = random_thetas(rng, 2, (6, 5), shift=0.1).requires_grad_(True)
    crops = torch.rand(2, 1, 6, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: stn_resample(crops, t), (theta,), eps=1e-6, atol=1e-5)


# ----------------------------------------------------------------------------- centred targets


def test_centred_keypoints_hand_computed():
    # GT box 100x200 centred at (150, 200): crop box 150 x 250 (w grows to 0.75 h, then x1.25 -> 187.5 x 250)
    kp = torch.tensor([[[150.0, 200.0], [150.0 + 187.5 / 2, 200.0 - 125.0]]])
    box = torch.tensor([[100.0, 100.0, 200.0, 300.0]])
    out = centred_keypoints(kp, box, (256, 192))
    np.testing.assert_allclose(out[0].numpy(), [[96.0, 128.0], [192.0, 0.0]], atol=1e-4)
    flipped = centred_keypoints(kp, box, (256, 192), flip=torch.tensor([True]))
    np.testing.assert_allclose(flipped[0].numpy(), [[96.0, 128.0], [0.0, 0.0]], atol=1e-4)


def test_centred_targets_encode_with_codec():
    codec = HeatmapCodec((64, 48), (16, 12), sigma=1.0)
    kp = torch.tensor([[[150.0, 200.0], [0.0, 0.0]]])
    hm, w = centred_targets(codec, kp, torch.tensor([[1, 0]]), torch.tensor([[100.0, 100.0, 200.0, 300.0]]))
    assert hm.shape == (1, 2, 16, 12) and w.tolist() == [[1.0, 0.0]]
    # the box centre lands in the crop centre (24, 32) -> heatmap (6, 8)
    assert hm[0, 0].argmax().item() == 8 * 12 + 6
    assert hm[0, 0].max().item() == pytest.approx(1.0)
