"""Detector-versus-ground-truth figures, and the crowd world's simulated detector against the real one."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rmpe.config import load_config
from rmpe.data.synthetic.calibration import (
    coco_detector_statistics, detector_statistics, simulated_detector_statistics,
)
from tests.shared import ROOT, SHARED_DATA, needs

REAL_ANN = SHARED_DATA / "mmpose_coco" / "test_coco.json"
REAL_DETS = SHARED_DATA / "mmpose_coco" / "test_coco_det_AP_H_56.json"
CROWD = ROOT / "configs" / "synthetic" / "crowd.yaml"

#: The calibration targets of issue 18 (real detector boxes on COCO, score >= 0.05).
TARGETS = {"boxes_per_person": 3.0, "best_iou_median": 0.92, "false_positives_per_image": 6.0}


def _iou_xywh(a, b):
    """Plain IoU of two COCO xywh boxes."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_hand_computed_case():
    # Image 1: person A (0,0)-(10,10), person B (100,0)-(110,10).
    #   d1 = A exactly (IoU 1, score 0.9); d2 = A shifted by 1 px in x (IoU 90/110, score 0.4);
    #   d3 = A shifted by 5 px (IoU 50/150 = 1/3: no hit, a false positive, score 0.3);
    #   d4 = on A but score 0.01 (left out); B gets no box (a miss, best IoU 0).
    # Image 2: person C (0,0)-(20,20); d5 = (0,0)-(20,10) (IoU 0.5: not above it, FP, score 0.7),
    #   d6 = (0,0)-(20,18) (IoU 0.9, score 0.8). Best IoUs: A 1, B 0, C 0.9 -> median 0.9.
    gt = [np.array([[0, 0, 10, 10], [100, 0, 110, 10]], float), np.array([[0, 0, 20, 20]], float)]
    det = [np.array([[0, 0, 10, 10], [1, 0, 11, 10], [5, 0, 15, 10], [0, 0, 10, 10]], float),
           np.array([[0, 0, 20, 10], [0, 0, 20, 18]], float)]
    scores = [np.array([0.9, 0.4, 0.3, 0.01]), np.array([0.7, 0.8])]
    s = detector_statistics(gt, det, scores)
    assert s["images"] == 2 and s["people"] == 3 and s["boxes"] == 5
    assert s["boxes_per_person"] == pytest.approx((2 + 0 + 1) / 3)
    assert s["best_iou_median"] == pytest.approx(0.9)
    assert s["false_positives_per_image"] == pytest.approx(2 / 2)
    assert s["miss_rate"] == pytest.approx(1 / 3)
    assert s["second_score_median"] == pytest.approx(0.4)
    assert s["second_ratio_median"] == pytest.approx(0.4 / 0.9)
    assert s["top_score_median"] == pytest.approx(0.85)  # tops 0.9 (A) and 0.8 (C)
    assert s["fp_score_median"] == pytest.approx(0.5)  # 0.3 and 0.7


@needs(REAL_ANN, REAL_DETS)
def test_real_detector_figures_match_a_plain_loop():
    gt = [a for a in json.loads(REAL_ANN.read_text())["annotations"] if not a["iscrowd"]]
    dets = [d for d in json.loads(REAL_DETS.read_text()) if d["score"] >= 0.05]
    hits = [sum(_iou_xywh(a["bbox"], d["bbox"]) > 0.5 for d in dets if d["image_id"] == a["image_id"]) for a in gt]
    fps = sum(all(_iou_xywh(a["bbox"], d["bbox"]) <= 0.5 for a in gt if a["image_id"] == d["image_id"]) for d in dets)
    best = sorted(max(_iou_xywh(a["bbox"], d["bbox"]) for d in dets if d["image_id"] == a["image_id"]) for a in gt)
    s = coco_detector_statistics(str(REAL_ANN), str(REAL_DETS))
    assert (s["images"], s["people"], s["boxes"]) == (4, 14, 74)
    assert s["boxes_per_person"] == pytest.approx(sum(hits) / len(gt))
    assert s["false_positives_per_image"] == pytest.approx(fps / 4) == pytest.approx(6.75)
    assert s["best_iou_median"] == pytest.approx(0.5 * (best[6] + best[7]))
    assert s["miss_rate"] == 0.0


@needs(REAL_ANN, REAL_DETS)
def test_crowd_world_detector_within_20_percent_of_the_real_one():
    real = coco_detector_statistics(str(REAL_ANN), str(REAL_DETS))
    world = load_config(str(CROWD)).synthetic
    sim = simulated_detector_statistics(world, 200, seed=0)
    assert sim["people"] > 800  # 2 to 8 people per image
    for key in ("boxes_per_person", "best_iou_median", "false_positives_per_image", "second_score_median",
                "second_ratio_median"):
        assert sim[key] == pytest.approx(real[key], rel=0.2), key
    for key, target in TARGETS.items():
        assert sim[key] == pytest.approx(target, rel=0.2), key
    assert sim["miss_rate"] < 0.1  # the real sample misses none of its 14 people
    assert not math.isnan(sim["top_score_median"])


def test_default_world_is_far_from_the_crowd_calibration():
    """The default detector makes far fewer redundant boxes: the crowd values are what calibrates."""
    sim = simulated_detector_statistics(load_config(str(CROWD)).synthetic.__class__(), 60, seed=0)
    assert sim["boxes_per_person"] < 1.6
    assert sim["false_positives_per_image"] < 1.0


def test_person_box_rows_by_hand():
    from rmpe.data.synthetic.calibration import person_box_rows

    gt = [np.array([[0, 0, 10, 20], [100, 0, 110, 20]], float), np.array([[0, 0, 10, 10]], float)]
    det = [np.array([[1, 0, 11, 20], [0, 2, 10, 22], [100, 0, 110, 20], [50, 50, 60, 60]], float), np.zeros((0, 4))]
    scores = [np.array([0.4, 0.9, 0.8, 0.7]), np.zeros(0)]
    rows = person_box_rows(gt, det, scores)
    assert len(rows) == 3
    # person 0 owns boxes 1 (0.9, shifted down 2 px of 20) and 0 (0.4, shifted right 1 px of 10)
    assert rows[0]["scores"] == [0.9, 0.4]
    assert rows[0]["top_iou"] == pytest.approx(18 * 10 / (2 * 200 - 180))
    np.testing.assert_allclose(rows[0]["side_errors"], [0.0, 0.1, 0.0, 0.1])
    assert rows[1]["scores"] == [0.8] and rows[1]["top_iou"] == 1.0
    np.testing.assert_allclose(rows[1]["side_errors"], 0.0)
    assert rows[2] == {"scores": [], "top_iou": 0.0, "side_errors": None}  # the box at (50, 50) belongs to nobody
