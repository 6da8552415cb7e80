"""The simulated detector on video: persistent box errors, runs of misses and duplicates, recurring FPs."""
from __future__ import annotations

import json

import numpy as np

from rmpe.data.synthetic import SimulatedDetectorConfig, VideoDetector, simulate_detections
from rmpe.data.synthetic.detector import KIND_DUPLICATE, KIND_FALSE_POSITIVE, KIND_PERSON
from tests.shared import SHARED_DATA, needs

SIZE = (640, 480)
QUIET = dict(duplicate_prob=0.0, false_positives=0.0, miss_prob=0.0, miss_small_prob=0.0, miss_occlusion_prob=0.0)


def _person(index=0, x=200.0, occlusion=0.0):
    """A hand-built person whose pose bias is zero: core = box, full-height extent."""
    box = [x, 100.0, 80.0, 240.0]  # xywh
    xyxy = np.array([x, 100.0, x + 80.0, 340.0])
    return {"bbox": np.array(box), "core": xyxy.copy(), "extent": xyxy.copy(), "height": 240.0,
            "occlusion": occlusion, "index": index}


def _lag1(series):
    """Plain lag-1 autocorrelation of a 1-D series."""
    x = np.asarray(series, float) - np.mean(series)
    return float(np.sum(x[1:] * x[:-1]) / np.sum(x * x))


def _runs(flags):
    """Lengths of the runs of True in a boolean sequence (plain loop)."""
    runs, current = [], 0
    for f in flags:
        if f:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    if current:
        runs.append(current)
    return runs


def _main_box(dets):
    i = np.flatnonzero(dets.kind == KIND_PERSON)
    return dets.boxes[i[0]] if len(i) else None


def test_box_error_persists_with_the_still_image_magnitude():
    cfg = SimulatedDetectorConfig(**QUIET)
    detector = VideoDetector(SIZE, config=cfg, rng=np.random.default_rng(0))
    video_err, still_err = [], []
    for t in range(600):
        rng = np.random.default_rng([5, t, 1])
        video_err.append((_main_box(detector(rng, [_person()]))[0] - 200.0) / 80.0)
        still_err.append((_main_box(simulate_detections(rng, [_person()], SIZE, config=cfg))[0] - 200.0) / 80.0)
    assert _lag1(video_err) >= 0.8
    assert abs(_lag1(still_err)) < 0.12  # the still-image detector draws anew every image
    # Same marginal magnitude as the still-image jitter (std 0.04 of the box width); float32 boxes.
    assert 0.028 < np.std(video_err) < 0.052 and 0.034 < np.std(still_err) < 0.046


def test_error_survives_a_gap_with_decayed_correlation():
    cfg = SimulatedDetectorConfig(**QUIET)
    pairs = []
    for seed in range(300):
        detector = VideoDetector(SIZE, config=cfg, rng=np.random.default_rng(seed))
        a = _main_box(detector(np.random.default_rng([seed, 0, 1]), [_person()]))[0]
        for t in range(1, 4):  # out of view for 3 frames
            detector(np.random.default_rng([seed, t, 1]), [])
        b = _main_box(detector(np.random.default_rng([seed, 4, 1]), [_person()]))[0]
        pairs.append((a, b))
    a, b = np.array(pairs).T
    r = np.corrcoef(a, b)[0, 1]
    assert abs(r - 0.9 ** 4) < 0.12  # AR(1) advanced by the 4 frames since it was last seen


def test_misses_come_in_runs_at_the_still_image_rate():
    cfg = SimulatedDetectorConfig(**{**QUIET, "miss_prob": 0.15})
    detector = VideoDetector(SIZE, config=cfg, rng=np.random.default_rng(1))
    people = [_person(index=i, x=10.0 + 75 * i) for i in range(8)]
    video, still = np.zeros((1000, 8), bool), np.zeros((1000, 8), bool)
    for t in range(1000):
        rng = np.random.default_rng([9, t, 1])
        for dets, out in ((detector(rng, people), video), (simulate_detections(rng, people, SIZE, config=cfg), still)):
            out[t] = ~np.isin(np.arange(8), dets.source[dets.kind == KIND_PERSON])
    assert abs(video.mean() - 0.15) < 0.04 and abs(still.mean() - 0.15) < 0.02
    video_runs = [r for i in range(8) for r in _runs(video[:, i])]
    still_runs = [r for i in range(8) for r in _runs(still[:, i])]
    assert np.mean(video_runs) > 3.0  # held decisions: video_miss_hold / (1 - p) = 4.7 frames
    assert np.mean(still_runs) < 1.4  # independent draws: 1 / (1 - p) = 1.18


def test_occlusion_drives_misses():
    cfg = SimulatedDetectorConfig(**{**QUIET, "miss_occlusion_prob": 0.9})
    detector = VideoDetector(SIZE, config=cfg, rng=np.random.default_rng(2))
    missed = []
    for t in range(1500):
        hidden = (t // 50) % 2 == 1  # 50 frames in view, 50 frames 90 % hidden, ...
        dets = detector(np.random.default_rng([3, t, 1]), [_person(occlusion=0.9 if hidden else 0.0)])
        missed.append((hidden, _main_box(dets) is None))
    missed = np.array(missed)
    assert missed[~missed[:, 0], 1].mean() == 0.0
    assert abs(missed[missed[:, 0], 1].mean() - 0.72) < 0.1  # 0.9 * (0.9 - 0.5) / 0.5


def test_duplicates_persist_and_score_like_the_real_detector():
    cfg = SimulatedDetectorConfig(**{**QUIET, "duplicate_prob": 0.3, "score_base": 0.999, "score_std": 0.0})
    detector = VideoDetector(SIZE, config=cfg, rng=np.random.default_rng(3))
    has_dup, ratios, second = [], [], []
    for t in range(2000):
        dets = detector(np.random.default_rng([4, t, 1]), [_person()])
        dup = dets.kind == KIND_DUPLICATE
        has_dup.append(bool(dup.any()))
        if dup.any():
            top = dets.scores[dets.kind == KIND_PERSON][0]
            ratios.extend((dets.scores[dup] / top).tolist())
            second.append(float(dets.scores[1]))  # sorted: the second-best box
    assert abs(np.mean(has_dup) - 0.3) < 0.08
    assert np.mean(_runs(has_dup)) > 4.0  # runs (mean 8 frames), not single-frame flicker
    assert np.all((np.array(second) >= 0.299) & (np.array(second) <= 0.4995))  # 0.30..0.49 next to ~1.0
    # k-th extra box: factor ** k, so the third box scores 0.09..0.25 of the top.
    ratios = np.array(ratios)
    assert np.all(((ratios >= 0.3 - 1e-4) & (ratios <= 0.5 + 1e-4)) | ((ratios >= 0.09 - 1e-4) & (ratios <= 0.25 + 1e-4)))


def test_false_positives_recur_at_the_same_places():
    cfg = SimulatedDetectorConfig(false_positives=0.5, fp_on_clutter=1.0)
    clutter = np.array([[100.0, 100.0, 120.0, 160.0], [400.0, 300.0, 440.0, 330.0], [500.0, 50.0, 520.0, 90.0]])
    detector = VideoDetector(SIZE, clutter, np.array([True, False, False]), cfg, rng=np.random.default_rng(6))
    centres, counts = [], []
    for t in range(1500):
        dets = detector(np.random.default_rng([6, t, 1]), [])
        assert np.all(dets.kind == KIND_FALSE_POSITIVE)
        counts.append(len(dets))
        centres.extend((0.5 * (dets.boxes[:, :2] + dets.boxes[:, 2:])).tolist())
    assert abs(np.mean(counts) - 0.5) < 0.15  # the still-image mean per frame
    assert np.mean(_runs(np.array(counts) > 0)) > 3.0
    # Every FP is within a few px of one of the (at most ceil(0.5 / 0.25) = 2) sites, on clutter.
    sites = 0.5 * (detector.sites[:, :2] + detector.sites[:, 2:])
    assert len(sites) == 2
    clutter_centres = 0.5 * (clutter[:, :2] + clutter[:, 2:])
    assert all(np.min(np.linalg.norm(clutter_centres - s, axis=1)) < 1e-6 for s in sites)
    d = np.linalg.norm(np.array(centres)[:, None] - sites[None], axis=2).min(axis=1)
    assert d.max() < 15.0


def test_video_detector_handles_changing_people():
    cfg = SimulatedDetectorConfig()
    detector = VideoDetector(SIZE, config=cfg, rng=np.random.default_rng(0))
    for t in range(30):
        people = [_person(index=i, x=60.0 + 150 * i) for i in range(4) if (t + i) % 5]
        dets = detector(np.random.default_rng([1, t, 1]), people)
        assert np.all(np.diff(dets.scores) <= 0)
        assert set(dets.source[dets.kind != KIND_FALSE_POSITIVE].tolist()) <= set(range(len(people)))


def _iou_xywh(a, b):
    """Plain IoU of two xywh boxes."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@needs(SHARED_DATA / "mmpose_coco" / "test_coco.json", SHARED_DATA / "mmpose_coco" / "test_coco_det_AP_H_56.json")
def test_duplicate_score_range_matches_a_real_detector():
    """On mmpose's real detector boxes a person's second box scores 0.30-0.50 of its top box."""
    gt = json.loads((SHARED_DATA / "mmpose_coco" / "test_coco.json").read_text())
    dets = json.loads((SHARED_DATA / "mmpose_coco" / "test_coco_det_AP_H_56.json").read_text())
    second, third = [], []
    for ann in gt["annotations"]:
        if ann["iscrowd"]:
            continue
        scores = sorted((d["score"] for d in dets if d["image_id"] == ann["image_id"]
                         and _iou_xywh(d["bbox"], ann["bbox"]) >= 0.5), reverse=True)
        if len(scores) >= 2 and scores[0] > 0.9:
            second.append(scores[1] / scores[0])
        if len(scores) >= 3 and scores[0] > 0.9:
            third.append(scores[2] / scores[0])
    lo, hi = SimulatedDetectorConfig().video_duplicate_score
    second, third = np.array(second), np.array(third)
    assert len(second) >= 12
    assert np.mean((second >= lo) & (second <= hi)) >= 0.9  # 13 of 13 people
    assert np.mean((third >= lo ** 2) & (third <= hi ** 2)) >= 0.75  # the factor ** 2 of a third box
