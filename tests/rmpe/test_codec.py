"""HeatmapCodec: encoding, argmax and DARK decoding against plain per-joint loop references
(rmpe.testing's codec references)."""
import math

import numpy as np
import pytest
import torch

from rmpe.codec import HeatmapCodec, _argmax, _argmax_torch, decode_argmax, decode_dark, flip_heatmaps
from rmpe.keypoints import COCO_FLIP_PAIRS
from rmpe.testing import argmax_reference, dark_reference, gaussian_heatmaps, random_centres

H, W = 64, 48


# --------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def rendered():
    rng = np.random.default_rng(0)
    centres = random_centres(rng, 32, 17, (H, W), margin=3.0)
    return centres, gaussian_heatmaps(centres, (H, W), sigma=2.0)


def test_dark_recovers_subpixel_centres(rendered):
    centres, hm = rendered
    coords, scores = decode_dark(torch.from_numpy(hm), sigma=2.0)
    err = np.linalg.norm(coords.numpy() - centres, axis=-1)
    assert err.mean() < 0.02, err.mean()
    assert err.max() < 0.1, err.max()
    np.testing.assert_allclose(scores.numpy(), hm.reshape(32, 17, -1).max(-1), rtol=1e-6)


def test_argmax_within_quarter_rule(rendered):
    centres, hm = rendered
    coords, _ = decode_argmax(torch.from_numpy(hm))
    err = np.abs(coords.numpy() - centres)
    assert err.max() <= 0.25 + 0.01, err.max()


def test_argmax_equals_plain_loop():
    rng = np.random.default_rng(1)
    hm = rng.random((6, 17, H, W)).astype(np.float32)
    # put some maxima on the border to exercise the 'strictly inside' rule
    hm[0, 0, 0, 5] = 2.0
    hm[0, 1, 10, W - 1] = 2.0
    hm[1, 2, H - 1, 0] = 2.0
    coords, scores = decode_argmax(torch.from_numpy(hm))
    rc, rs = argmax_reference(hm)
    np.testing.assert_allclose(coords.numpy(), rc, atol=1e-4)
    np.testing.assert_allclose(scores.numpy(), rs, atol=1e-6)


def test_dark_equals_plain_loop():
    rng = np.random.default_rng(2)
    centres = random_centres(rng, 2, 5, (H, W), margin=0.0)
    hm = gaussian_heatmaps(centres, (H, W), sigma=2.0) + 0.05 * rng.random((2, 5, H, W)).astype(np.float32)
    coords, scores = decode_dark(torch.from_numpy(hm), sigma=2.0)
    rc, rs = dark_reference(hm, 2.0)
    np.testing.assert_allclose(coords.numpy(), rc, atol=1e-4)
    np.testing.assert_allclose(scores.numpy(), rs, atol=1e-6)


def test_encode_matches_formula_and_weights():
    codec = HeatmapCodec((256, 192), (64, 48), sigma=2.0)
    kp = torch.tensor([[[100.3, 77.9], [10.0, 20.0], [-200.0, 50.0], [191.0, 255.0]]])
    vis = torch.tensor([[1, 0, 1, 1]])
    hm, wt = codec.encode(kp, vis)
    assert hm.shape == (1, 4, 64, 48)
    np.testing.assert_array_equal(wt.numpy(), [[1, 0, 0, 1]])
    assert hm[0, 1].abs().max() == 0 and hm[0, 2].abs().max() == 0
    mx, my = 100.3 / 4, 77.9 / 4
    for (yy, xx) in [(19, 25), (20, 24), (0, 0), (30, 40)]:
        expect = math.exp(-((xx - mx) ** 2 + (yy - my) ** 2) / 8.0)
        assert abs(hm[0, 0, yy, xx].item() - expect) < 1e-6


@pytest.mark.parametrize("decoder,tol", [("argmax", 0.25 * 4 * math.sqrt(2) + 0.05), ("dark", 0.1 * 4)])
def test_encode_decode_round_trip(decoder, tol):
    codec = HeatmapCodec((256, 192), (64, 48), sigma=2.0, decoder=decoder)
    rng = np.random.default_rng(3)
    kp = torch.from_numpy(rng.uniform([16, 16], [176, 240], size=(8, 17, 2))).float()
    hm, wt = codec.encode(kp, torch.ones(8, 17))
    assert bool((wt == 1).all())
    coords, scores = codec.decode(hm)
    crop = coords * torch.tensor(codec.stride)
    assert (crop - kp).norm(dim=-1).max() < tol
    assert scores.min() > 0.9


def test_flip_heatmaps_swaps_pairs_and_shifts():
    hm = torch.zeros(1, 17, 8, 6)
    hm[0, 1, 3, 1] = 1.0  # left eye at x=1
    out = flip_heatmaps(hm, COCO_FLIP_PAIRS, shift=False)
    assert out[0, 2, 3, 4] == 1.0 and out[0, 1].sum() == 0  # becomes right eye at x = 6-1-1
    out = flip_heatmaps(hm, COCO_FLIP_PAIRS, shift=True)
    assert out[0, 2, 3, 5] == 1.0


def test_decode_runs_on_cuda_if_available():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    rng = np.random.default_rng(4)
    hm = torch.from_numpy(gaussian_heatmaps(random_centres(rng, 4, 17, (H, W)), (H, W))).cuda()
    for dec in ("argmax", "dark"):
        c_gpu, _ = HeatmapCodec(decoder=dec).decode(hm)
        c_cpu, _ = HeatmapCodec(decoder=dec).decode(hm.cpu())
        torch.testing.assert_close(c_gpu.cpu(), c_cpu, atol=1e-4, rtol=0)


def test_cpu_and_torch_argmax_paths_agree():
    rng = np.random.default_rng(5)
    hm = torch.from_numpy(rng.random((7, 17, H, W)).astype(np.float32))
    hm[0, 0] = 0.0  # an all-equal map: both must return the first pixel
    hm[1, 1, 5, 7] = hm[1, 1, 9, 2] = 3.0  # a tie: the first in row-major order wins
    for a, b in zip(_argmax(hm), _argmax_torch(hm)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    x, y, _ = _argmax(hm)
    assert (x[0, 0], y[0, 0]) == (0, 0) and (x[1, 1], y[1, 1]) == (7, 5)
