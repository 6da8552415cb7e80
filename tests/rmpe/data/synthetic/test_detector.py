"""The simulated person detector: exact error model pieces and its statistics on generated scenes."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from rmpe.data.synthetic import SimulatedDetectorConfig, SyntheticConfig, make_example, simulate_detections
from rmpe.data.synthetic.config import PoseFamilyWeights
from rmpe.data.synthetic.detector import KIND_DUPLICATE, KIND_FALSE_POSITIVE, pose_biased_boxes


def _iou(a, b):
    """Plain IoU of two xyxy boxes (reference for the matching below)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _match(people, boxes):
    """For every detection, the index of the GT person with the highest IoU >= 0.5, else -1."""
    gts = [[p["bbox"][0], p["bbox"][1], p["bbox"][0] + p["bbox"][2], p["bbox"][1] + p["bbox"][3]] for p in people]
    out = []
    for box in boxes:
        ious = [_iou(box, g) for g in gts]
        best = int(np.argmax(ious)) if ious else -1
        out.append(best if best >= 0 and ious[best] >= 0.5 else -1)
    return out


def test_pose_bias_hand_computed():
    cfg = SimulatedDetectorConfig(top_cut=0.6, side_cut=0.4, side_margin=0.05, crouch_loose=0.5, crouch_threshold=0.8)
    boxes = np.array([[0.0, 0.0, 100.0, 200.0], [10.0, 10.0, 110.0, 110.0]])
    core = np.array([[30.0, 50.0, 70.0, 200.0], [0.0, 0.0, 200.0, 200.0]])
    extent = np.array([[0.0, 0.0, 100.0, 200.0], [10.0, 10.0, 110.0, 110.0]])
    heights = np.array([200.0, 200.0])
    out = pose_biased_boxes(boxes, core, extent, heights, cfg)
    # Person 0: 50 px of raised arms above the core lose 60 %; on each side the 20 px beyond
    # the 10 px margin (0.05 heights) lose 40 %.
    np.testing.assert_allclose(out[0], [8.0, 30.0, 92.0, 200.0])
    # Person 1: reach 100 / 200 = 0.5 < 0.8, so each side grows by 0.5 * (1 - 0.5 / 0.8) = 0.1875 of w or h.
    np.testing.assert_allclose(out[1], [10 - 18.75, 10 - 18.75, 110 + 18.75, 110 + 18.75])


def test_error_free_detector_returns_ground_truth_boxes():
    perfect = SimulatedDetectorConfig(
        jitter=0.0, top_cut=0.0, side_cut=0.0, crouch_loose=0.0, duplicate_prob=0.0, false_positives=0.0,
        miss_prob=0.0, miss_small_prob=0.0, miss_occlusion_prob=0.0, score_std=0.0, min_size=0.0,
    )
    cfg = SyntheticConfig(size=(256, 192), detector=perfect)
    for index in range(5):
        scene, dets = make_example(11, index, cfg)
        assert len(dets) == len(scene.people)
        assert sorted(dets.source.tolist()) == list(range(len(scene.people)))
        for box, src in zip(dets.boxes, dets.source):
            x, y, w, h = scene.people[src]["bbox"]
            np.testing.assert_allclose(box, [x, y, x + w, y + h], atol=1e-4)
        assert np.all(np.diff(dets.scores) <= 0)  # sorted by score


def test_duplicates_false_positives_and_misses():
    cfg = SyntheticConfig(size=(256, 192), people=(1, 4))
    matched_per_gt, dup_kinds, fp, n_people, n_small, missed_small = [], 0, 0, 0, 0, 0
    for index in range(60):
        scene, dets = make_example(21, index, cfg)
        m = _match(scene.people, dets.boxes)
        for i, p in enumerate(scene.people):
            matched_per_gt.append(m.count(i))
            if p["bbox"][3] < cfg.detector.miss_small_height:
                n_small += 1
                missed_small += int(i not in dets.source.tolist())
        n_people += len(scene.people)
        dup_kinds += int(np.sum(dets.kind == KIND_DUPLICATE))
        fp += int(np.sum(dets.kind == KIND_FALSE_POSITIVE))
    matched_per_gt = np.array(matched_per_gt)
    assert np.mean(matched_per_gt >= 2) > 0.1  # redundant boxes for one person, matched by IoU 0.5
    assert np.mean(matched_per_gt == 0) > 0.02  # misses
    assert dup_kinds > 0.15 * n_people
    assert 0.3 * 60 < fp < 0.8 * 60  # Poisson mean 0.5 per image
    assert n_small > 5 and missed_small / n_small > 0.2  # small people are missed far more often


def test_false_positives_sit_on_clutter():
    det_cfg = SimulatedDetectorConfig(false_positives=3.0, fp_on_clutter=1.0)
    clutter = np.array([[100.0, 100.0, 120.0, 160.0]])
    dets = simulate_detections(np.random.default_rng(0), [], (320, 240), clutter, np.array([True]), det_cfg)
    assert len(dets) > 0 and np.all(dets.kind == KIND_FALSE_POSITIVE) and np.all(dets.source == -1)
    centres = 0.5 * (dets.boxes[:, :2] + dets.boxes[:, 2:])
    np.testing.assert_allclose(centres, np.tile([110.0, 130.0], (len(dets), 1)), atol=1e-3)
    assert np.all((dets.scores >= 0.05) & (dets.scores <= 0.6))


def _top_offsets(family, n_images=70):
    weights = {k: 0.0 for k in ("standing", "walking", "arms_raised", "sitting", "bending", "lying", "partial")}
    weights[family] = 1.0
    cfg = SyntheticConfig(size=(320, 240), people=(1, 2), overlap_prob=0.0, pose_families=PoseFamilyWeights(**weights))
    cfg = replace(cfg, detector=replace(cfg.detector, duplicate_prob=0.0))
    offsets, growth = [], []
    for index in range(n_images):
        scene, dets = make_example(31, index, cfg)
        m = _match(scene.people, dets.boxes)
        for box, gi in zip(dets.boxes, m):
            if gi < 0:
                continue
            x, y, w, h = scene.people[gi]["bbox"]
            offsets.append((box[1] - y) / h)
            growth.append(((box[3] - box[1]) - h) / h)
    return np.array(offsets), np.array(growth)


def test_pose_dependent_box_offsets():
    raised, _ = _top_offsets("arms_raised")
    standing, standing_h = _top_offsets("standing")
    sitting, sitting_h = _top_offsets("sitting")
    assert len(raised) > 40 and len(standing) > 40 and len(sitting) > 40
    # Raised arms: the top edge is cut (moves down) by a clearly larger fraction of the box height.
    assert raised.mean() > standing.mean() + 0.08
    assert raised.mean() - standing.mean() > 4 * np.sqrt(raised.var() / len(raised) + standing.var() / len(standing))
    # Crouching/sitting people get boxes that are too loose (top edge above the GT, taller box).
    assert sitting.mean() < standing.mean() - 0.02
    assert sitting_h.mean() > standing_h.mean() + 0.08
