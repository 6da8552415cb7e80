"""RMPEModel: identity STN == plain crop + SPPE, SDTN end to end, the one crops-to-keypoints
path (predict, predict_crops and training validation against a plain reference), gradient
routing, the frozen parallel SPPE, checkpoint loading, config, and the STN learning to centre."""
import math
import time

import numpy as np
import pytest
import torch
from torch import nn

from rmpe.codec import HeatmapCodec, flip_heatmaps
from rmpe.config import config_from_dict
from rmpe.crop import crop_images, frames_to_tensor
from rmpe.errors import RMPEError
from rmpe.geometry import (
    centred_keypoints,
    crop_boxes,
    crop_matrices,
    gamma_from_theta,
    normalized_sampling_matrices,
    transform_points,
)
from rmpe.keypoints import COCO_FLIP_PAIRS
from rmpe.model import RMPEModel, check_sppe_sizes, heatmap_size_for, unwrap, weighted_heatmap_mse
from rmpe.testing import dark_reference
from sppe import build_sppe

IN = (128, 96)
HM = (32, 24)


def small_sppe(seed=0, k=17):
    torch.manual_seed(seed)
    net = build_sppe("fastpose_se18", num_keypoints=k, input_size=IN)
    with torch.no_grad():  # livelier heatmaps than the N(0, 0.001) init, so argmax is well defined
        net.conv_out.weight.normal_(0, 0.05)
    return net.eval()


class BlobSPPE(nn.Module):
    """Analytic 'SPPE': heatmap k = colour channel k of the raw crop sampled at crop px 4v.

    With the AlphaPose mean added back it reads raw RGB, so a Gaussian blob of sigma 4*s crop
    px in channel k gives exactly the codec's target of sigma s at that keypoint.
    """

    num_keypoints = 3

    def __init__(self, mean=(0.406, 0.457, 0.480)):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))

    def forward(self, x):
        return (x + self.mean.to(x.dtype))[:, :, ::4, ::4]


def reference_predict(net, codec, images, idx, boxes, flip=False):
    """Plain crop + SPPE + inverse crop, back-projected with DESIGN.md's rule in a loop."""
    cb = crop_boxes(boxes)
    m = crop_matrices(cb, codec.input_size)
    crops = crop_images(images, idx, m, codec.input_size)
    with torch.no_grad():
        x = net.normalize(crops)
        hm = net(x)
        if flip:
            hm = 0.5 * (hm + flip_heatmaps(net(x.flip(-1)), COCO_FLIP_PAIRS))
    coords, scores = codec.decode(hm)
    h, w = codec.heatmap_size
    out = np.zeros(coords.shape)
    for i in range(coords.shape[0]):
        cx, cy = float(cb[i, 0] + cb[i, 2]) / 2, float(cb[i, 1] + cb[i, 3]) / 2
        cw, ch = float(cb[i, 2] - cb[i, 0]), float(cb[i, 3] - cb[i, 1])
        for j in range(coords.shape[1]):
            out[i, j, 0] = cx + (float(coords[i, j, 0]) - w / 2) * cw / w
            out[i, j, 1] = cy + (float(coords[i, j, 1]) - h / 2) * ch / h
    return out, scores


def scene(seed=0, b=2, n=5, size=(120, 160)):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(b, 3, *size, generator=g)
    idx = torch.tensor([i % b for i in range(n)])
    xy = torch.rand(n, 2, generator=g) * torch.tensor([size[1], size[0]]) * 0.8
    wh = torch.rand(n, 2, generator=g) * 60 + 15
    return images, idx, torch.cat([xy, xy + wh], 1)


# ----------------------------------------------------------------------------- inference


@pytest.mark.parametrize("flip", [False, True])
def test_identity_stn_equals_plain_crop_sppe(flip):
    net = small_sppe()
    codec = HeatmapCodec(IN, HM)
    images, idx, boxes = scene()
    ref_kp, ref_scores = reference_predict(net, codec, images, idx, boxes, flip=flip)
    for stn in (False, True):
        model = RMPEModel(net, codec, stn=stn).eval()
        kp, scores = model.predict(images, idx, boxes, flip=flip)
        assert kp.shape == (5, 17, 2) and scores.shape == (5, 17)
        np.testing.assert_allclose(kp.numpy(), ref_kp, atol=1e-4, rtol=0)
        torch.testing.assert_close(scores, ref_scores, atol=1e-6, rtol=0)


def test_predict_chunks_frames_and_empty_input():
    net = small_sppe(1)
    codec = HeatmapCodec(IN, HM)
    model = RMPEModel(net, codec, stn=True).eval()
    images, idx, boxes = scene(1, b=3, n=7)
    kp, sc = model.predict(images, idx, boxes)
    kp2, sc2 = model.predict(images, idx.numpy(), boxes.numpy(), batch=2)
    torch.testing.assert_close(kp2, kp, atol=1e-4, rtol=0)
    torch.testing.assert_close(sc2, sc)
    # OpenCV BGR uint8 frames: same as the RGB tensor they encode
    frames = [(images[b].permute(1, 2, 0).numpy()[:, :, ::-1] * 255).round().astype(np.uint8) for b in range(3)]
    rgb, _ = frames_to_tensor(frames)
    kp3, _ = model.predict(frames, idx, boxes)
    kp4, _ = model.predict(rgb, idx, boxes)
    torch.testing.assert_close(kp3, kp4, atol=1e-3, rtol=0)
    empty_kp, empty_sc = model.predict(images, [], torch.zeros(0, 4))
    assert empty_kp.shape == (0, 17, 2) and empty_sc.shape == (0, 17)
    with pytest.raises(RMPEError, match="boxes"):
        model.predict(images, [0, 1], boxes)


def _blob_image(kp, size, sigma):
    """(1,3,H,W) raw RGB image with one Gaussian blob per keypoint (channel = keypoint)."""
    h, w = size
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    d2 = (xs - kp[:, 0, None, None]) ** 2 + (ys - kp[:, 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma**2))[None]


def test_sdtn_returns_image_keypoints_for_a_non_identity_theta():
    """A fixed rotation/scale/shift STN: the keypoints still come back where the image has them."""
    codec = HeatmapCodec((64, 48), (16, 12), sigma=1.0, decoder="dark")
    model = RMPEModel(BlobSPPE(), codec, stn=True, flip_pairs=()).eval()
    box = torch.tensor([[60.0, 40.0, 110.0, 140.0]])
    kp = torch.tensor([[85.0, 60.0], [70.0, 95.0], [97.0, 125.0]])
    # crop scale 48 / (0.75 * 100 * 1.25) = 0.512 crop px per image px: sigma 4 crop px = 7.8 image px
    images = _blob_image(kp, (180, 200), 4.0 / 0.512)
    rot, s, shift = math.radians(12.0), 0.9, (3.0, -4.0)
    a = s * torch.tensor([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
    theta = torch.eye(3)
    theta[:2, :2] = a
    theta[:2, 2] = torch.tensor([24.0, 32.0]) - a @ torch.tensor([24.0, 32.0]) + torch.tensor(shift)
    with torch.no_grad():
        model.stn.fc_theta.bias.copy_(_normalized(theta))
    crops = crop_images(images, torch.tensor([0]), crop_matrices(crop_boxes(box), (64, 48)), (64, 48))
    torch.testing.assert_close(model.predict_theta(crops)[0], theta, atol=1e-5, rtol=0)
    out, scores = model.predict(images, [0], box)
    err = (out[0] - kp).norm(dim=-1)
    assert err.max() < 1.0, err  # image px; DARK on resampled Gaussians
    assert scores.min() > 0.8
    # the same scene without the STN for comparison: also right, through the plain inverse crop
    plain = RMPEModel(BlobSPPE(), codec, stn=False, flip_pairs=()).eval()
    assert (plain.predict(images, [0], box)[0][0] - kp).norm(dim=-1).max() < 1.0


def _normalized(theta):
    """(3,3) pixel-frame theta of a 64x48 crop -> the localisation net's 6 outputs."""
    return normalized_sampling_matrices(theta[None], (64, 48), (64, 48)).reshape(6)


def _tilted_theta():
    """(3,3) crop' px -> crop px of a 64x48 crop: rotation 12 deg, scale 0.9, shift (3, -4)."""
    rot, s = math.radians(12.0), 0.9
    a = s * torch.tensor([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
    theta = torch.eye(3)
    theta[:2, :2] = a
    theta[:2, 2] = torch.tensor([24.0, 32.0]) - a @ torch.tensor([24.0, 32.0]) + torch.tensor([3.0, -4.0])
    return theta


def _tilted_stn_model(sppe, codec, **kw):
    """An STN model whose theta is near ``_tilted_theta`` and depends a little on the crop."""
    model = RMPEModel(sppe, codec, stn=True, **kw).eval()
    with torch.no_grad():
        model.stn.fc_theta.bias.copy_(_normalized(_tilted_theta()))
        model.stn.fc_theta.weight.normal_(0, 1e-3, generator=torch.Generator().manual_seed(0))
    return model


def _warp_plain(image, matrix, out_hw):
    """(C,h,w) float64 plain bilinear warp: out[v, u] = image at matrix^-1 (u, v, 1), zero outside."""
    c, h, w = image.shape
    inv = np.linalg.inv(matrix)
    vs, us = np.mgrid[0 : out_hw[0], 0 : out_hw[1]].astype(np.float64)
    x = inv[0, 0] * us + inv[0, 1] * vs + inv[0, 2]
    y = inv[1, 0] * us + inv[1, 1] * vs + inv[1, 2]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    out = np.zeros((c, *out_hw))
    for dy in (0, 1):
        for dx in (0, 1):
            xx, yy = x0 + dx, y0 + dy
            wgt = (1 - np.abs(x - xx)) * (1 - np.abs(y - yy))
            ok = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            out += np.where(ok, wgt, 0.0) * image[:, yy.clip(0, h - 1), xx.clip(0, w - 1)]
    return out


def test_predict_crops_is_the_path_of_predict_with_a_tilted_stn():
    """predict(images, boxes) == predict_crops(crops, M, images=...) == a plain numpy chain
    (crop' cut with gamma @ M, the analytic SPPE, DARK loop, M^-1 theta S); without the images
    (training validation), crop' is resampled from the crops and lands within a fraction of a pixel."""
    codec = HeatmapCodec((64, 48), (16, 12), sigma=1.0, decoder="dark")
    model = _tilted_stn_model(BlobSPPE(), codec, flip_pairs=())
    boxes = torch.tensor([[60.0, 40.0, 110.0, 140.0], [40.0, 30.0, 100.0, 150.0]])
    kp = torch.tensor([[[85.0, 60.0], [70.0, 95.0], [97.0, 125.0]], [[70.0, 50.0], [55.0, 90.0], [80.0, 130.0]]])
    images = torch.cat([_blob_image(kp[0], (180, 200), 4.0 / 0.512), _blob_image(kp[1], (180, 200), 5.0)])
    idx = torch.tensor([0, 1])
    m = crop_matrices(crop_boxes(boxes), (64, 48))
    crops = crop_images(images, idx, m, (64, 48))
    with torch.no_grad():
        theta = model.predict_theta(crops)
    assert (theta - _tilted_theta()).abs().max() > 1e-4  # the net really looks at the crop
    assert (theta - torch.eye(3)).abs().max() > 0.1  # and is far from the identity

    out, scores = model.predict(images, idx, boxes)
    once = model.predict_crops(crops, m, images=images, image_index=idx)
    torch.testing.assert_close(once[0], out, atol=1e-6, rtol=0)
    torch.testing.assert_close(once[1], scores, atol=1e-6, rtol=0)

    # the plain chain, one person at a time in float64
    t64, m64 = theta.double().numpy(), m.double().numpy()
    for i in range(2):
        crop_prime = _warp_plain(images[i].double().numpy(), np.linalg.inv(t64[i]) @ m64[i], (64, 48))
        coords, conf = dark_reference(crop_prime[None, :, ::4, ::4], sigma=1.0)  # BlobSPPE, then DARK
        back = np.linalg.inv(m64[i]) @ t64[i] @ np.diag([4.0, 4.0, 1.0])
        ref = coords[0] @ back[:2, :2].T + back[:2, 2]
        np.testing.assert_allclose(out[i].numpy(), ref, atol=2e-4)
        np.testing.assert_allclose(scores[i].numpy(), conf[0], atol=1e-5)
        assert np.abs(ref - kp[i].numpy()).max() < 1.0  # and the keypoints are where the image has them

    twice, twice_scores = model.predict_crops(crops, m)
    assert (twice - out).norm(dim=-1).max() < 0.25, (twice - out).norm(dim=-1)
    assert (twice_scores - scores).abs().max() < 0.05


def test_predict_crops_identity_stn_equals_plain():
    """An untrained STN is the identity: same keypoints as without it."""
    codec = HeatmapCodec((64, 64), (16, 16), sigma=2.0)
    torch.manual_seed(0)
    net = build_sppe("fastpose_se18", input_size=(64, 64)).eval()
    with_stn = RMPEModel(net, codec, stn=True, parallel_sppe=False).eval()
    without = RMPEModel(net, codec, stn=False).eval()
    crops = torch.rand(3, 3, 64, 64)
    m = torch.eye(3).repeat(3, 1, 1)
    m[:, 0, 0] = m[:, 1, 1] = 0.5
    a = with_stn.predict_crops(crops, m)
    b = without.predict_crops(crops, m)
    torch.testing.assert_close(a[0], b[0], atol=1e-3, rtol=0)
    torch.testing.assert_close(a[1], b[1], atol=1e-4, rtol=0)


def test_predict_crops_rejects_wrong_inputs():
    model = RMPEModel(BlobSPPE(), HeatmapCodec((64, 48), (16, 12)), stn=True, flip_pairs=()).eval()
    m = torch.eye(3).repeat(2, 1, 1)
    with pytest.raises(RMPEError, match="64, 48"):
        model.predict_crops(torch.rand(2, 3, 32, 24), m)
    with pytest.raises(RMPEError, match="matrices"):
        model.predict_crops(torch.rand(2, 3, 64, 48), m[:1])
    with pytest.raises(RMPEError, match="image_index"):
        model.predict_crops(torch.rand(2, 3, 64, 48), m, images=torch.rand(1, 3, 80, 60))


# ----------------------------------------------------------------------------- training


def _perturbed_stn_model(net, codec, **kw):
    model = RMPEModel(net, codec, stn=True, **kw)
    with torch.no_grad():
        model.stn.fc_theta.weight.normal_(0, 1e-3)
    return model


def test_gradient_routing():
    net = small_sppe(2)
    codec = HeatmapCodec(IN, HM)
    model = _perturbed_stn_model(net, codec).train()
    g = torch.Generator().manual_seed(0)
    crops = torch.rand(2, 3, *IN, generator=g)
    kp = torch.rand(2, 17, 2, generator=g) * torch.tensor([96.0, 128.0])
    targets, weights = codec.encode(kp, torch.ones(2, 17))
    out = model(crops)
    assert out.theta.shape == (2, 3, 3) and out.parallel_heatmaps.shape == (2, 17, *HM)
    losses = model.losses(out, targets, weights, targets, weights, loss_weight=0.5, parallel_weight=1.0)
    losses["parallel"].backward(retain_graph=True)
    for name, p in model.sppe.named_parameters():
        assert p.grad is None or p.grad.abs().sum() == 0, f"parallel loss reached sppe.{name}"
    for name, p in model.stn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"parallel loss missed stn.{name}"
    assert all(p.grad is None for p in model.parallel_sppe.parameters())

    model.zero_grad(set_to_none=True)
    losses["heatmap"].backward()
    for name, p in list(model.sppe.named_parameters()) + list(model.stn.named_parameters()):
        assert p.grad is not None, f"main loss missed {name}"
    assert model.sppe.conv_out.weight.grad.abs().sum() > 0
    assert model.sppe.preact.conv1.weight.grad.abs().sum() > 0
    for name, p in model.stn.named_parameters():
        assert p.grad.abs().sum() > 0, f"main loss missed stn.{name}"
    assert all(p.grad is None for p in model.parallel_sppe.parameters())


def test_losses_values_and_switches():
    codec = HeatmapCodec(IN, HM)
    g = torch.Generator().manual_seed(1)
    pred, tgt = torch.rand(2, 3, 4, 5, generator=g), torch.rand(2, 3, 4, 5, generator=g)
    w = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    ref = sum(float(w[n, k]) * float(((pred[n, k] - tgt[n, k]) ** 2).sum()) for n in range(2) for k in range(3)) / 120
    assert weighted_heatmap_mse(pred, tgt, w).item() == pytest.approx(ref, rel=1e-6)
    net = small_sppe(3)
    model = RMPEModel(net, codec, stn=False)
    out = model(torch.rand(1, 3, *IN))
    assert out.theta is None and out.parallel_heatmaps is None
    losses = model.losses(out, out.heatmaps.detach() + 1.0, torch.ones(1, 17), loss_weight=0.5)
    assert set(losses) == {"heatmap", "total"} and losses["total"].item() == pytest.approx(0.5)
    assert RMPEModel(net, codec, stn=True, parallel_sppe=False).parallel_sppe is None


def test_parallel_sppe_is_frozen_hidden_and_refreshable():
    net = small_sppe(4)
    codec = HeatmapCodec(IN, HM)
    model = RMPEModel(net, codec, stn=True).train()
    par = model.parallel_sppe
    assert par is not None and par is not model.sppe
    assert not par.training and model.sppe.training
    assert all(not p.requires_grad for p in par.parameters())
    assert not any(k.startswith("_parallel") or "parallel" in k for k in model.state_dict())
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == sum(p.numel() for p in model.sppe.parameters()) + sum(p.numel() for p in model.stn.parameters())
    # BN in eval mode: its output equals the main SPPE's in eval mode
    x = torch.rand(2, 3, *IN)
    with torch.no_grad():
        model.sppe.eval()
        torch.testing.assert_close(par(x), model.sppe(x))
        model.sppe.train()
        model.sppe.conv_out.bias.add_(1.0)
    assert not torch.equal(par.conv_out.bias, model.sppe.conv_out.bias)
    model.update_parallel_sppe()
    assert model.parallel_sppe is par and torch.equal(par.conv_out.bias, model.sppe.conv_out.bias)
    assert not par.training and all(not p.requires_grad for p in par.parameters())
    model.double()
    assert next(par.parameters()).dtype == torch.float64
    # loading a state dict refreshes the copy too
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["sppe.conv_out.bias"] += 2.0
    model.load_state_dict(state)
    assert torch.equal(par.conv_out.bias, model.sppe.conv_out.bias)


# ----------------------------------------------------------------------------- checkpoint / config


def test_load_alphapose_style_checkpoint_keeps_stn_identity(tmp_path):
    source = small_sppe(6)
    path = tmp_path / "fast_se18.pth"
    torch.save({"module." + k: v for k, v in source.state_dict().items()}, path)  # plain (DataParallel) state dict
    model = RMPEModel(small_sppe(7), HeatmapCodec(IN, HM), stn=True).eval()
    model.load_sppe_checkpoint(path)
    for k, v in source.state_dict().items():
        assert torch.equal(model.sppe.state_dict()[k], v), k
        assert torch.equal(model.parallel_sppe.state_dict()[k], v), k
    assert model.stn.fc_theta.weight.abs().sum() == 0
    images, idx, boxes = scene(6)
    ref_kp, _ = reference_predict(source, model.codec, images, idx, boxes)
    np.testing.assert_allclose(model.predict(images, idx, boxes)[0].numpy(), ref_kp, atol=1e-4, rtol=0)


def test_from_config(tmp_path):
    cfg = config_from_dict({
        "model": {"name": "fastpose_se18", "input_size": [128, 96], "heatmap_size": [32, 24], "stn": True},
        "data": {"box_scale": 1.3},
        "inference": {"sppe_batch": 7},
    })
    model = RMPEModel.from_config(cfg)
    assert model.use_stn and model.parallel_sppe is not None and model.batch == 7
    assert model.box_scale == 1.3 and model.flip_pairs == COCO_FLIP_PAIRS
    assert model.input_size == (128, 96) and model.heatmap_size == (32, 24)
    cfg.train.parallel_sppe_weight = 0.0
    assert RMPEModel.from_config(cfg).parallel_sppe is None
    cfg.model.stn = False
    assert RMPEModel.from_config(cfg).stn is None
    # init_from loads the SPPE weights
    source = small_sppe(8)
    torch.save(source.state_dict(), tmp_path / "w.pth")
    cfg.model.init_from = str(tmp_path / "w.pth")
    loaded = RMPEModel.from_config(cfg)
    assert torch.equal(loaded.sppe.conv_out.weight, source.conv_out.weight)
    with pytest.raises(RMPEError, match="heatmap"):  # refused when the config is read
        config_from_dict({"model": {"name": "fastpose_se18", "input_size": [128, 96], "heatmap_size": [64, 48]}})


def test_size_checks_name_the_setting():
    assert heatmap_size_for((256, 192)) == (64, 48) and heatmap_size_for([128, 96]) == (32, 24)
    net = small_sppe(11)  # 128x96 crops, 32x24 heatmaps
    check_sppe_sizes(net, HeatmapCodec(IN, HM))
    check_sppe_sizes(BlobSPPE(), HeatmapCodec((64, 48), (16, 12)))  # no size attributes: nothing to check
    with pytest.raises(RMPEError, match=r"^ckpt\.pth: .*128x96 crops.*model.input_size is 256x192"):
        check_sppe_sizes(net, HeatmapCodec((256, 192), (64, 48)), "ckpt.pth")
    with pytest.raises(RMPEError, match=r"model: .*32x24 heatmaps.*input_size / 4 = 32x24"):
        check_sppe_sizes(net, HeatmapCodec(IN, (64, 48)))


def test_unwrap_returns_the_model_inside_a_data_parallel_wrapper():
    model = RMPEModel(BlobSPPE(), HeatmapCodec((64, 48), (16, 12)), flip_pairs=())
    assert unwrap(model) is model
    assert unwrap(nn.DataParallel(model)) is model


# ----------------------------------------------------------------------------- STN learns to centre

CENTRE_IN, CENTRE_HM = (64, 48), (16, 12)
TEMPLATE = torch.tensor([[0.5, 0.12], [0.12, 0.5], [0.75, 0.88]])  # keypoints relative to the GT box


def _render_people(g, n, size=128):
    """n images (n,3,size,size), one person each: 3 Gaussian blobs (one per channel)."""
    h = torch.rand(n, generator=g) * 40 + 70
    w = 0.5 * h
    c = torch.rand(n, 2, generator=g) * 40 + 44
    boxes = torch.cat([c - torch.stack([w, h], 1) / 2, c + torch.stack([w, h], 1) / 2], 1)
    kp = boxes[:, None, :2] + TEMPLATE[None] * (boxes[:, None, 2:] - boxes[:, None, :2])
    # GT crop: 48 px for 0.75 * 1.25 * h image px -> sigma 4 crop px (= codec sigma 1) is 0.078 h
    sigma = 4.0 * 0.75 * 1.25 * h / 48.0
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    d2 = (xs - kp[..., 0, None, None]) ** 2 + (ys - kp[..., 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma[:, None, None, None] ** 2)), boxes, kp


def _proposals(g, boxes, shift=0.2, scale=(0.8, 1.25)):
    """Boxes displaced by up to ``shift`` of their size and rescaled (log-uniform)."""
    n = boxes.shape[0]
    wh = boxes[:, 2:] - boxes[:, :2]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + (torch.rand(n, 2, generator=g) * 2 - 1) * shift * wh
    lo, hi = math.log(scale[0]), math.log(scale[1])
    s = torch.exp(torch.rand(n, 1, generator=g) * (hi - lo) + lo)
    return torch.cat([centre - s * wh / 2, centre + s * wh / 2], 1)


def _centring_error(model, images, boxes, kp, proposals):
    """Mean distance (crop px) between where crop' shows the keypoints and where a GT-centred crop would."""
    n = boxes.shape[0]
    m = crop_matrices(crop_boxes(proposals), CENTRE_IN)
    crops = crop_images(images, torch.arange(n), m, CENTRE_IN)
    with torch.no_grad():
        theta = model.predict_theta(crops)
    want = centred_keypoints(kp, boxes, CENTRE_IN)
    seen = transform_points(gamma_from_theta(theta) @ m, kp)
    return float((seen - want).norm(dim=-1).mean())


@pytest.mark.slow
def test_stn_learns_to_centre_with_parallel_loss():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is as fast and shares the machine
    try:
        _train_stn_to_centre(seed=0, steps=100)
    finally:
        torch.set_num_threads(threads)


def _train_stn_to_centre(seed, steps):
    """Train only the STN with the parallel loss against a fixed analytic SPPE (BlobSPPE).

    The frozen 'SPPE' turns a perfectly centred crop into exactly the centred targets, so the
    parallel loss is lowest when theta maps the proposal's crop onto the GT box's crop.
    """
    torch.manual_seed(seed)
    codec = HeatmapCodec(CENTRE_IN, CENTRE_HM, sigma=1.0)
    model = RMPEModel(BlobSPPE(), codec, stn=True, flip_pairs=())
    gtest = torch.Generator().manual_seed(123)
    t_img, t_box, t_kp = _render_people(gtest, 64)
    t_prop = _proposals(gtest, t_box)
    model.eval()
    before = _centring_error(model, t_img, t_box, t_kp, t_prop)
    assert before > 4.0  # the proposals really are off-centre
    opt = torch.optim.Adam(model.stn.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed + 1)
    model.train()
    start = time.time()
    for _ in range(steps):
        images, boxes, kp = _render_people(g, 32)
        proposals = _proposals(g, boxes)
        crops = crop_images(images, torch.arange(32), crop_matrices(crop_boxes(proposals), CENTRE_IN), CENTRE_IN)
        out = model(crops)
        centred, cw = codec.encode(centred_keypoints(kp, boxes, codec.input_size), torch.ones(32, 3))
        loss = model.losses(out, centred, torch.zeros(32, 3), centred, cw)["parallel"]  # main loss weight 0
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    after = _centring_error(model, t_img, t_box, t_kp, t_prop)
    assert after <= 0.5 * before, (before, after, time.time() - start)
    return before, after


# ----------------------------------------------------------------------------- CUDA


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_predict_on_cuda_with_and_without_amp():
    codec = HeatmapCodec((64, 48), (16, 12), sigma=1.0, decoder="dark")
    box = torch.tensor([[60.0, 40.0, 110.0, 140.0], [20.0, 30.0, 80.0, 150.0]])
    kp = torch.tensor([[85.0, 60.0], [70.0, 95.0], [97.0, 125.0]])
    images = torch.cat([_blob_image(kp, (180, 200), 4.0 / 0.512)] * 2)
    model = _perturbed_stn_model(BlobSPPE(), codec, flip_pairs=()).eval()
    cpu_kp, cpu_sc = model.predict(images, [0, 1], box)
    model.cuda()
    assert next(model.parallel_sppe.buffers()).is_cuda
    gpu_kp, gpu_sc = model.predict(images.cuda(), [0, 1], box)
    assert gpu_kp.is_cuda
    torch.testing.assert_close(gpu_kp.cpu(), cpu_kp, atol=1e-2, rtol=0)
    amp_kp, _ = model.predict(images.cuda(), [0, 1], box, amp=True)
    torch.testing.assert_close(amp_kp.cpu(), cpu_kp, atol=0.5, rtol=0)
    net = small_sppe(9).cuda()
    real = RMPEModel(net, HeatmapCodec(IN, HM), stn=True).eval()
    out, sc = real.predict(images.cuda(), [0, 1], box, flip=True, amp=True)
    assert out.shape == (2, 17, 2) and torch.isfinite(out).all() and torch.isfinite(sc).all()


# ----------------------------------------------------------------------------- appearance features


@pytest.mark.parametrize("flip", [False, True])
def test_predict_features_are_the_sppe_features_of_each_unmirrored_crop(flip):
    net = small_sppe(3)
    codec = HeatmapCodec(IN, HM)
    model = RMPEModel(net, codec, stn=False).eval()
    images, idx, boxes = scene(3, b=2, n=5)
    kp, sc = model.predict(images, idx, boxes, flip=flip, batch=2)
    kp_f, sc_f, feats = model.predict(images, idx, boxes, flip=flip, batch=2, features=True)
    torch.testing.assert_close(kp_f, kp, atol=0, rtol=0)  # the same keypoints with or without features
    torch.testing.assert_close(sc_f, sc, atol=0, rtol=0)
    # reference: the SPPE's own forward_features on the unmirrored crops, all five in one batch
    # (the pooling itself is checked against a plain loop in tests/sppe/test_features.py)
    with torch.no_grad():
        crops = crop_images(images, idx, crop_matrices(crop_boxes(boxes), IN), IN)
        _, ref = net.forward_features(net.normalize(crops))
    assert feats.shape == (5, net.feature_channels) == (5, 192)
    torch.testing.assert_close(feats, ref, atol=1e-4, rtol=1e-4)
    assert (ref[0] - ref[1]).abs().max() > 1e-3
    _, _, none = model.predict(images, [], torch.zeros(0, 4), features=True)
    assert none is None


def test_sppe_without_forward_features_gives_none():
    model = RMPEModel(BlobSPPE(), HeatmapCodec(IN, HM), stn=False, flip_pairs=()).eval()
    images, idx, boxes = scene(4, b=1, n=2)
    out = model.predict(images, idx, boxes, features=True)
    assert len(out) == 3 and out[2] is None
