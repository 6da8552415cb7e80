"""COCO OKS and greedy OKS NMS against published values, pycocotools and a plain loop."""
from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pose_nms import COCO_SIGMAS, PoseNMSError, coco_oks, oks_nms
from rmpe.testing import clustered_dataset
from tests.shared import SHARED_DATA, needs

DATA = SHARED_DATA
WAYMO = DATA / "waymo_oks" / "oks_testdata.json"
GT = DATA / "mmpose_coco" / "test_coco.json"
PREDS = DATA / "xtcocoapi" / "example_coco_preds.json"


def test_sigmas_equal_rmpe_keypoints():
    from rmpe.keypoints import COCO_SIGMAS as RMPE_SIGMAS

    assert tuple(COCO_SIGMAS) == tuple(RMPE_SIGMAS)


@needs(WAYMO)
def test_coco_oks_matches_waymo_testdata():
    cases = json.loads(WAYMO.read_text())
    assert len(cases) == 60
    errors = []
    no_labels = 0
    for case in cases:
        gt, dt = case["ground_truth"], case["prediction"]
        g = np.asarray(gt["keypoints"], dtype=np.float64).reshape(-1, 3)
        d = np.asarray(dt["keypoints"], dtype=np.float64).reshape(-1, 3)
        no_labels += int(not (g[:, 2] > 0).any())
        value = coco_oks(d[None, :, :2], g[None, :, :2], g[None, :, 2] > 0, np.array([gt["area"]]),
                         gt_boxes_xywh=np.array([gt["bbox"]]))
        assert value.shape == (1, 1)
        errors.append(abs(float(value[0, 0]) - case["oks"]))
    assert no_labels == 20  # the bounding-box margin branch is exercised
    assert max(errors) <= 1e-12


@needs(GT)
def test_coco_oks_matches_pycocotools_compute_oks():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(GT))
        dets = coco.loadRes(json.loads(PREDS.read_text()))
        ev = COCOeval(coco, dets, "keypoints")
        ev._prepare()
    compared = 0
    for image_id in coco.getImgIds():
        with contextlib.redirect_stdout(io.StringIO()):
            expected = ev.computeOks(image_id, 1)
        gts, dts = ev._gts[image_id, 1], ev._dts[image_id, 1]
        if len(gts) == 0 or len(dts) == 0:
            continue
        order = np.argsort([-d["score"] for d in dts], kind="mergesort")[: ev.params.maxDets[-1]]
        d = np.array([dts[i]["keypoints"] for i in order], dtype=np.float64).reshape(len(order), -1, 3)
        g = np.array([a["keypoints"] for a in gts], dtype=np.float64).reshape(len(gts), -1, 3)
        value = coco_oks(d[..., :2], g[..., :2], g[..., 2] > 0, np.array([a["area"] for a in gts]),
                         gt_boxes_xywh=np.array([a["bbox"] for a in gts]))
        np.testing.assert_allclose(value, expected, atol=1e-12, rtol=0)
        compared += value.size
    assert compared > 50


def test_coco_oks_torch_and_no_box():
    g = torch.zeros(2, 17, 2, dtype=torch.float64)
    vis = torch.zeros(2, 17, dtype=torch.bool)
    vis[0] = True
    d = g.clone()[:1] + 1.0
    out = coco_oks(d, g, vis, torch.tensor([100.0, 100.0], dtype=torch.float64))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 2)
    var = (2 * np.asarray(COCO_SIGMAS)) ** 2
    expected = np.mean(np.exp(-2.0 / var / (100.0 + np.spacing(1)) / 2))
    assert float(out[0, 0]) == pytest.approx(expected, abs=1e-12)
    assert float(out[0, 1]) == 0.0  # no labelled joints and no box


# ----------------------------------------------------------------------------- OKS NMS


def reference_oks_nms(kps, kscores, scores, areas, threshold, sigmas, keypoint_threshold=None):
    """Plain loops: sort by score (stable), keep, drop every later pose with OKS > threshold."""
    n, k = len(kps), len(kps[0])
    order = sorted(range(n), key=lambda i: -scores[i])  # Python's sort is stable
    dropped = [False] * n
    kept = []
    for a, i in enumerate(order):
        if dropped[i]:
            continue
        kept.append(i)
        for j in order[a + 1:]:
            if dropped[j]:
                continue
            total, count = 0.0, 0
            for joint in range(k):
                if keypoint_threshold is not None and not (
                    kscores[i][joint] > keypoint_threshold and kscores[j][joint] > keypoint_threshold
                ):
                    continue
                dx = kps[i][joint][0] - kps[j][joint][0]
                dy = kps[i][joint][1] - kps[j][joint][1]
                var = (2 * sigmas[joint]) ** 2
                total += math.exp(-(dx * dx + dy * dy) / var / (areas[i] + np.spacing(1)) / 2)
                count += 1
            oks = total / count if count else 0.0
            if oks > threshold:
                dropped[j] = True
    return kept


@pytest.mark.parametrize("threshold, keypoint_threshold", [(0.9, None), (0.5, None), (0.7, 0.3)])
def test_oks_nms_equals_reference(threshold, keypoint_threshold):
    boxes, box_scores, kps, kscores = clustered_dataset(seed=7, num_images=30, num_proposals=(1, 30))
    total_dropped = 0
    for b, s, k, ks in zip(boxes, box_scores, kps, kscores):
        areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        kept = oks_nms(k, ks, s, areas, threshold=threshold, keypoint_threshold=keypoint_threshold)
        expected = reference_oks_nms(k, ks, s, areas, threshold, COCO_SIGMAS, keypoint_threshold)
        assert kept.tolist() == expected
        total_dropped += len(k) - len(expected)
    assert total_dropped > 50


def test_oks_nms_hand_cases():
    rng = np.random.default_rng(0)
    pose = rng.uniform(0, 100, (17, 2))
    kps = np.stack([pose, pose + 0.1, pose + 60.0])
    scores = np.array([0.5, 0.9, 0.7])
    kept = oks_nms(kps, None, scores, np.full(3, 1e4))
    assert kept.tolist() == [1, 2]  # 0 is a duplicate of the best pose 1
    assert oks_nms(kps, None, scores, np.full(3, 1e4), threshold=1.0).tolist() == [1, 2, 0]
    # default areas: the keypoints' extent; ties keep the lower index first
    assert oks_nms(kps, None, np.ones(3), None).tolist() == [0, 2]
    t = oks_nms(torch.from_numpy(kps), None, torch.from_numpy(scores), None)
    assert isinstance(t, torch.Tensor) and t.tolist() == [1, 2]
    assert oks_nms(np.zeros((0, 17, 2)), None, np.zeros(0), None).tolist() == []
    assert oks_nms(kps[:1], None, scores[:1], None).tolist() == [0]


def test_oks_nms_errors():
    kps = np.zeros((2, 5, 2))
    with pytest.raises(PoseNMSError, match="5 keypoints"):
        oks_nms(kps, None, np.ones(2), None)  # COCO sigmas do not fit K = 5
    assert oks_nms(kps, None, np.ones(2), np.ones(2), sigmas=[0.1] * 5).tolist() == [0]
    bad = np.zeros((2, 17, 2))
    bad[1, 0, 0] = np.nan
    with pytest.raises(PoseNMSError, match="keypoints contain NaN"):
        oks_nms(bad, None, np.ones(2), None)
    with pytest.raises(PoseNMSError, match="scores"):
        oks_nms(np.zeros((2, 17, 2)), None, np.ones(3), None)
