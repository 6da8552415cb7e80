"""Symmetric STN pieces: the localisation net's identity init and the SDTN's heatmap
resampling (the theta/gamma frames are tested in test_geometry.py)."""
import numpy as np
import torch

from rmpe.codec import HeatmapCodec
from rmpe.crop import crop_images, sample_affine
from rmpe.geometry import (
    compose_crop_matrices,
    crop_boxes,
    crop_matrices,
    gamma_from_theta,
    theta_to_pixel,
    transform_points,
)
from rmpe.stn import LocalizationNet, sdtn_heatmaps
from rmpe.testing import bilinear_at, gamma_reference, random_thetas


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


# ----------------------------------------------------------------------------- SDTN and STN resampling


def test_sdtn_identity_is_exact_passthrough():
    hm = torch.rand(3, 17, 64, 48)
    out = sdtn_heatmaps(hm, torch.eye(3).expand(3, 3, 3), (256, 192))
    torch.testing.assert_close(out, hm, atol=1e-5, rtol=0)


def test_sdtn_heatmaps_sample_at_gamma_plain_reference():
    rng = np.random.default_rng(4)
    theta = torch.from_numpy(random_thetas(rng, 2, (64, 48)))
    hm = torch.rand(2, 3, 16, 12, dtype=torch.float64)
    out = sdtn_heatmaps(hm, theta, (64, 48))
    for i in range(2):
        gamma = gamma_reference(theta[i].numpy())
        for v, u in ((2, 3), (8, 6), (13, 9), (0, 0)):
            crop_px = np.array([u * 4.0, v * 4.0, 1.0])  # heatmap px -> crop px
            x, y = (gamma @ crop_px)[:2] / 4.0  # -> crop' px -> heatmap' px
            np.testing.assert_allclose(out[i, :, v, u].numpy(), bilinear_at(hm[i].numpy(), x, y), atol=1e-10)


def test_sdtn_moves_gaussians_back_to_the_crop_frame():
    """Gaussians rendered where crop' shows the keypoints come back where the crop has them."""
    rng = np.random.default_rng(5)
    codec = HeatmapCodec((256, 192), (64, 48), sigma=2.0, decoder="dark")
    n, k = 16, 5
    theta = torch.from_numpy(random_thetas(rng, n, (256, 192), scale=(0.85, 1.15), shift=0.1)).float()
    kp_crop = torch.tensor(rng.uniform([50, 60], [142, 196], (n, k, 2)), dtype=torch.float32)
    kp_stn = transform_points(gamma_from_theta(theta), kp_crop)  # where crop' shows them
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
    theta = torch.from_numpy(random_thetas(rng, 2, (64, 48), shift=0.1)).float()
    idx = torch.tensor([0, 0])
    twice = sample_affine(crop_images(image, idx, m, (64, 48)), theta)
    once = crop_images(image, idx, compose_crop_matrices(m, theta), (64, 48))
    # compare where theta @ u' stays inside the crop (elsewhere the crop's zero border shows)
    u = torch.stack(torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="xy"), -1).reshape(1, -1, 2)
    src = transform_points(theta, u.expand(2, -1, -1)).reshape(2, 64, 48, 2)
    inside = (src[..., 0] > 1) & (src[..., 0] < 46) & (src[..., 1] > 1) & (src[..., 1] < 62)
    diff = (twice - once).abs().amax(1)[inside]
    assert inside.sum() > 2000 and diff.max() < 0.02, diff.max()


def test_sdtn_and_stn_are_differentiable_wrt_theta():
    rng = np.random.default_rng(7)
    theta = torch.from_numpy(random_thetas(rng, 2, (16, 12), shift=0.1)).requires_grad_(True)
    hm = torch.rand(2, 2, 4, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: sdtn_heatmaps(hm, t, (16, 12)), (theta,), eps=1e-6, atol=1e-5)
    theta = torch.from_numpy(random_thetas(rng, 2, (6, 5), shift=0.1)).requires_grad_(True)
    crops = torch.rand(2, 1, 6, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: sample_affine(crops, t), (theta,), eps=1e-6, atol=1e-5)
