"""Proposal generators: sampling reproduces the planted offsets, AlphaPose's jitter, GT, minimum size."""
import numpy as np
import pytest

from pgpg import (
    ALPHAPOSE_OFFSET_MEAN,
    ALPHAPOSE_OFFSET_STD,
    GroundTruthProposals,
    JitterProposals,
    PGPGError,
    SamplingSettings,
    box_offsets,
    build_proposal_generator,
)
from pgpg.synthetic import POSE_TEMPLATES

from .planted import FAMILIES, MEANS, STDS


def test_samples_reproduce_planted_offsets(planted, fitted):
    gen, d = fitted, planted
    rng = np.random.default_rng(0)
    for f, name in enumerate(FAMILIES):
        xy = POSE_TEMPLATES[name] * 60 + [300, 200]
        kp = np.concatenate([xy, np.full((17, 1), 2.0)], 1)
        gt = np.array([250.0, 80.0, 350.0, 380.0])
        boxes = gen.sample(gt, kp, 20_000, rng)
        assert boxes.shape == (20_000, 4) and boxes.dtype == np.float32
        off = box_offsets(np.tile(gt, (len(boxes), 1)), boxes.astype(np.float64))
        np.testing.assert_allclose(off.mean(0), MEANS[f], atol=0.02)
        np.testing.assert_allclose(off.std(0), STDS[f], rtol=0.2)


def test_batch_sampling_uses_each_persons_atom(planted, fitted):
    d = planted
    full = (d["keypoints"][..., 2] > 0).all(1)
    idx = np.concatenate([np.flatnonzero((d["family"] == f) & full)[:3] for f in range(3)])
    boxes = fitted.sample_batch(d["gt_boxes"][idx], d["keypoints"][idx], 4000, np.random.default_rng(1))
    assert boxes.shape == (9, 4000, 4)
    for j, i in enumerate(idx):
        off = box_offsets(np.tile(d["gt_boxes"][i], (4000, 1)), boxes[j].astype(np.float64))
        np.testing.assert_allclose(off.mean(0), MEANS[d["family"][i]], atol=0.02)


def _inside(boxes, gt, eps=1e-4):
    return (boxes[:, :2] >= gt[:2] - eps).all(1) & (boxes[:, 2:] <= gt[2:] + eps).all(1)


def test_jitter_baseline_constants_and_subpatches():
    gt = np.array([100.0, 50.0, 200.0, 350.0])
    w, h = 100.0, 300.0
    # without sub-patches the offsets are exactly AlphaPose's Gaussians
    plain = build_proposal_generator("jitter", subpatch_probability=0.0)
    b = plain.sample(gt, None, 100_000, np.random.default_rng(1)).astype(np.float64)
    off = box_offsets(np.tile(gt, (len(b), 1)), b)
    np.testing.assert_allclose(off.mean(0), ALPHAPOSE_OFFSET_MEAN, atol=2e-3)
    np.testing.assert_allclose(off.std(0), ALPHAPOSE_OFFSET_STD, rtol=0.02)
    p_in = _inside(b, gt).mean()  # a Gaussian proposal inside the GT box: ~6 %
    # the default jitter mixes in 15 % sub-patches, which always lie inside
    gen = build_proposal_generator("jitter")
    assert isinstance(gen, JitterProposals) and gen.settings.subpatch_probability == 0.15
    mixed = gen.sample(gt, None, 40_000, np.random.default_rng(0)).astype(np.float64)
    assert abs(_inside(mixed, gt).mean() - (0.15 + 0.85 * p_in)) < 0.01
    # sub-patches only: inside the GT box, each side between half and all of the GT side
    sub = build_proposal_generator("jitter", subpatch_probability=1.0)
    s = sub.sample(gt, None, 20_000, np.random.default_rng(2)).astype(np.float64)
    assert _inside(s, gt).all()
    fw, fh = (s[:, 2] - s[:, 0]) / w, (s[:, 3] - s[:, 1]) / h
    assert fw.min() >= 0.5 - 1e-5 and fh.min() >= 0.5 - 1e-5 and fw.max() <= 1 + 1e-5 and fh.max() <= 1 + 1e-5
    assert abs(fw.mean() - 0.75) < 0.01 and abs(fh.mean() - 0.75) < 0.01
    # placement is uniform: the left margin is uniform on [0, (1 - fw) w]
    rel = (s[:, 0] - gt[0]) / ((1 - fw) * w)
    assert abs(rel.mean() - 0.5) < 0.01


def test_gt_mode_probability_and_min_size():
    gt = np.array([10.0, 20.0, 60.0, 120.0])
    g = build_proposal_generator("gt", probability=0.3)
    np.testing.assert_array_equal(g.sample(gt, None, 3, np.random.default_rng(0)), np.tile(gt, (3, 1)).astype(np.float32))
    half = build_proposal_generator("jitter", probability=0.4, subpatch_probability=0.0)
    b = half.sample(gt, None, 20_000, np.random.default_rng(0))
    is_gt = np.all(b == gt.astype(np.float32), axis=1)
    assert abs(is_gt.mean() - 0.6) < 0.015
    # offsets that would invert the box are re-centred at the minimum size
    wild = JitterProposals.gaussian([0.6, 0.6, -0.6, -0.6], [1e-3] * 4,
                                    SamplingSettings(subpatch_probability=0.0, min_side=0.05))
    w = wild.sample(gt, None, 10, np.random.default_rng(0)).astype(np.float64)
    np.testing.assert_allclose(w[:, 2] - w[:, 0], 0.05 * 50, rtol=1e-5)
    np.testing.assert_allclose(w[:, 3] - w[:, 1], 0.05 * 100, rtol=1e-5)
    np.testing.assert_allclose((w[:, 0] + w[:, 2]) / 2, 35, atol=0.5)


def test_sampling_settings_ranges_and_copies():
    with pytest.raises(PGPGError, match=r"proposal subpatch_min_side must lie in \(0.0, 1.0\], got 0.0"):
        SamplingSettings(subpatch_min_side=0.0)
    with pytest.raises(PGPGError, match=r"proposal min_side must lie in \[0.0, 1.0\], got -0.1"):
        SamplingSettings(min_side=-0.1)
    base = JitterProposals()
    changed = base.with_settings(probability=0.2, min_side=None)  # None keeps the value
    assert changed.settings == SamplingSettings(probability=0.2) and base.settings == SamplingSettings()
    assert changed.offsets is base.offsets
    gt = GroundTruthProposals()
    assert gt.with_settings(probability=0.1) is gt  # the ground truth has no settings
    assert gt.sample_batch(np.array([[0.0, 0.0, 5.0, 5.0]] * 2), None, 0).shape == (2, 0, 4)
    with pytest.raises(PGPGError, match="the number of proposals must be >= 0, got -1"):
        gt.sample_batch(np.array([[0.0, 0.0, 5.0, 5.0]]), None, -1)
