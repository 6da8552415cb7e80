"""FastPose.forward_features: the part-weighted pooling of the first trunk stage, against a plain loop."""
import numpy as np
import pytest
import torch

from sppe import build_sppe
from sppe.fastpose import COCO_FEATURE_PARTS, feature_parts

from .conftest import randomize_


def reference_features(stage1: np.ndarray, heatmaps: np.ndarray, parts) -> np.ndarray:
    """Plain loops: per crop and part, weights = the part's heatmaps clamped at 0 and summed, normalised to
    sum 1; the weighted sum of the stage-1 map; each part L2-normalised; concatenated."""
    n, c, h, w = stage1.shape
    out = []
    for i in range(n):
        row = []
        for group in parts:
            weight = np.zeros((h, w))
            for k in group:
                for y in range(h):
                    for x in range(w):
                        weight[y, x] += max(heatmaps[i, k, y, x], 0.0)
            total = weight.sum()
            pooled = np.zeros(c)
            for y in range(h):
                for x in range(w):
                    pooled += stage1[i, :, y, x] * (weight[y, x] / max(total, 1e-12))
            row.append(pooled / max(np.linalg.norm(pooled), 1e-12))
        out.append(np.concatenate(row))
    return np.array(out)


@pytest.mark.parametrize("k", [17, 5])
def test_forward_features_is_the_part_weighted_pooling_of_stage_one(k):
    net = randomize_(build_sppe("fastpose_se18", num_keypoints=k, input_size=(64, 32)), seed=3).eval()
    x = torch.randn(2, 3, 64, 32, generator=torch.Generator().manual_seed(0))
    got = []
    handle = net.preact.layer1.register_forward_hook(lambda mod, inp, out: got.append(out.detach()))
    with torch.no_grad():
        hm, feats = net.forward_features(x)
        plain = net(x)
    handle.remove()
    torch.testing.assert_close(hm, plain, atol=0, rtol=0)  # the heatmaps of forward, bit for bit
    assert feats.shape == (2, net.feature_channels) == (2, 3 * got[0].shape[1]) == (2, 3 * 64)
    assert (hm > 0).any() and (hm < 0).any()  # the clamp matters
    ref = reference_features(got[0].double().numpy(), hm.double().numpy(), feature_parts(k))
    np.testing.assert_allclose(feats.numpy(), ref, atol=1e-5)
    # different crops give different features (not a constant)
    assert np.abs(ref[0] - ref[1]).max() > 1e-3


def test_feature_parts():
    assert feature_parts(17) == COCO_FEATURE_PARTS
    assert sorted(sum(COCO_FEATURE_PARTS, ())) == list(range(17))
    assert feature_parts(5) == ((0, 1), (2,), (3, 4))
    assert feature_parts(6) == ((0, 1), (2, 3), (4, 5))
    assert feature_parts(2) == ((0,), (1,))
