"""Tracking metrics (rmpe.tracking.metrics): hand-built cases with known HOTA/IDF1/MOTA, a plain-loop
HOTA reference, keypoint-level scoring, and motmetrics agreeing with TrackEval."""
import itertools
import math

import numpy as np
import pytest

from rmpe.keypoints import COCO_SIGMAS
from rmpe.tracking.metrics import (TrackFrame, evaluate_boxes, evaluate_poses, evaluate_tracking,
                                   keypoint_similarity, motmetrics_summary, score_data, trackeval_data)

ALPHAS = np.arange(0.05, 0.99, 0.05)


def _box(x, y=100.0, w=40.0, h=100.0):
    return [x, y, x + w, y + h]


def _pose(box):
    """A 17-keypoint pose spread over ``box`` (x, y, v=2), deterministic."""
    x0, y0, x1, y1 = box
    u = (np.arange(17) % 5) / 4.0
    v = np.arange(17) / 16.0
    return np.stack([x0 + u * (x1 - x0), y0 + v * (y1 - y0), np.full(17, 2.0)], axis=1)


def _frames(ids_per_frame, x_of):
    """Frames where person ``i`` stands at ``x_of[i]`` (boxes and poses); ``ids_per_frame`` gives who is there
    and under which id: a list per frame of ``(person, id)``."""
    out = []
    for people in ids_per_frame:
        boxes = [_box(x_of[p]) for p, _ in people]
        out.append(TrackFrame([i for _, i in people], np.reshape(boxes, (-1, 4)),
                              np.reshape([_pose(b) for b in boxes], (-1, 17, 3))))
    return out


def test_perfect_tracker_scores_one():
    gt = _frames([[(0, 1), (1, 2)]] * 10, {0: 0.0, 1: 200.0})
    pred = _frames([[(0, 7), (1, 3)]] * 10, {0: 0.0, 1: 200.0})  # ids need not equal the ground truth's
    m = evaluate_tracking(gt, pred)
    for part in ("boxes", "poses"):
        assert m[part]["HOTA"] == pytest.approx(1.0)
        assert m[part]["DetA"] == pytest.approx(1.0)
        assert m[part]["AssA"] == pytest.approx(1.0)
        assert m[part]["IDF1"] == pytest.approx(1.0)
        assert m[part]["MOTA"] == pytest.approx(1.0)
        assert m[part]["IDSW"] == 0


def test_one_id_switch_at_a_known_frame():
    # one person over 10 frames: id 1 in frames 0-6, id 2 in frames 7-9
    gt = _frames([[(0, 5)]] * 10, {0: 50.0})
    pred = _frames([[(0, 1)]] * 7 + [[(0, 2)]] * 3, {0: 50.0})
    m = evaluate_boxes(gt, pred)
    assert m["IDF1"] == pytest.approx(2 * 7 / (2 * 7 + 3 + 3))  # IDTP 7, IDFN 3, IDFP 3 -> 0.7
    assert m["IDSW"] == 1
    assert m["MOTA"] == pytest.approx(1 - 1 / 10)
    assert m["DetA"] == pytest.approx(1.0)
    assoc = (7 * (7 / 10) + 3 * (3 / 10)) / 10  # per TP: |TPA| / (|TPA| + |FNA| + |FPA|)
    assert m["AssA"] == pytest.approx(assoc)
    assert m["HOTA"] == pytest.approx(math.sqrt(assoc))
    # the same switch on the poses: every one of the 17 keypoints switches once
    p = evaluate_poses(gt, pred)
    assert p["IDSW"] == 17
    assert p["IDF1"] == pytest.approx(0.7)
    assert p["HOTA"] == pytest.approx(math.sqrt(assoc))


def test_swapped_people_halve_idf1():
    gt = _frames([[(0, 1), (1, 2)]] * 10, {0: 0.0, 1: 200.0})
    pred = _frames([[(0, 1), (1, 2)]] * 5 + [[(0, 2), (1, 1)]] * 5, {0: 0.0, 1: 200.0})
    m = evaluate_boxes(gt, pred)
    assert m["IDF1"] == pytest.approx(0.5)
    assert m["IDSW"] == 2
    assert m["MOTA"] == pytest.approx(1 - 2 / 20)
    assert m["AssA"] == pytest.approx(1 / 3)


def test_miss_and_false_positive():
    people = [[(0, 1), (1, 2)]] * 10
    gt = _frames(people, {0: 0.0, 1: 200.0, 2: 400.0})
    frames = [list(f) for f in people]
    frames[3] = [(0, 1)]  # person 1 missed in frame 3
    frames[5] = [(0, 1), (1, 2), (2, 9)]  # a false positive far from everybody in frame 5
    pred = _frames(frames, {0: 0.0, 1: 200.0, 2: 400.0})
    m = evaluate_boxes(gt, pred)
    assert (m["TP"], m["FN"], m["FP"], m["IDSW"]) == (19, 1, 1, 0)
    assert m["MOTA"] == pytest.approx(1 - 2 / 20)
    assert m["IDF1"] == pytest.approx(2 * 19 / (2 * 19 + 1 + 1))
    det = 19 / 21
    assoc = (10 * 1.0 + 9 * (9 / 10)) / 19
    assert m["DetA"] == pytest.approx(det)
    assert m["AssA"] == pytest.approx(assoc)
    assert m["HOTA"] == pytest.approx(math.sqrt(det * assoc))


def test_untracked_predictions_are_left_out():
    gt = _frames([[(0, 1)]] * 4, {0: 0.0, 1: 300.0})
    pred = _frames([[(0, 4), (1, -1)]] * 4, {0: 0.0, 1: 300.0})  # id -1: in no confirmed track
    m = evaluate_boxes(gt, pred)
    assert m["FP"] == 0 and m["MOTA"] == pytest.approx(1.0)


def _plain_hota(gt_ids, pred_ids, sims):
    """TrackEval's HOTA procedure in plain loops, with brute-force matching instead of Hungarian."""
    g_all = sorted({int(i) for f in gt_ids for i in f})
    p_all = sorted({int(i) for f in pred_ids for i in f})
    pot = {(g, p): 0.0 for g in g_all for p in p_all}
    g_count = {g: 0 for g in g_all}
    p_count = {p: 0 for p in p_all}
    for g_ids, p_ids, s in zip(gt_ids, pred_ids, sims):
        for a, g in enumerate(g_ids):
            g_count[g] += 1
            for b, p in enumerate(p_ids):
                denom = sum(s[a, :]) + sum(s[:, b]) - s[a, b]
                pot[g, p] += s[a, b] / denom if denom > 0 else 0.0
        for p in p_ids:
            p_count[p] += 1
    align = {(g, p): pot[g, p] / (g_count[g] + p_count[p] - pot[g, p]) for g in g_all for p in p_all}
    tp = np.zeros(len(ALPHAS))
    fn = np.zeros(len(ALPHAS))
    fp = np.zeros(len(ALPHAS))
    matches = [dict() for _ in ALPHAS]
    for g_ids, p_ids, s in zip(gt_ids, pred_ids, sims):
        pairs = []
        if len(g_ids) and len(p_ids):
            best = -1.0
            small, large = (g_ids, p_ids) if len(g_ids) <= len(p_ids) else (p_ids, g_ids)
            for perm in itertools.permutations(range(len(large)), len(small)):
                cand = [(i, j) if len(g_ids) <= len(p_ids) else (j, i) for i, j in enumerate(perm)]
                score = sum(align[g_ids[a], p_ids[b]] * s[a, b] for a, b in cand)
                if score > best:
                    best, pairs = score, cand
        for k, alpha in enumerate(ALPHAS):
            good = [(a, b) for a, b in pairs if s[a, b] >= alpha - np.finfo(float).eps]
            tp[k] += len(good)
            fn[k] += len(g_ids) - len(good)
            fp[k] += len(p_ids) - len(good)
            for a, b in good:
                key = (g_ids[a], p_ids[b])
                matches[k][key] = matches[k].get(key, 0) + 1
    hota = []
    for k in range(len(ALPHAS)):
        ass = sum(n * n / (g_count[g] + p_count[p] - n) for (g, p), n in matches[k].items()) / max(1.0, tp[k])
        det = tp[k] / max(1.0, tp[k] + fn[k] + fp[k])
        hota.append(math.sqrt(det * ass))
    return float(np.mean(hota))


def test_hota_matches_a_plain_loop_reference():
    rng = np.random.default_rng(3)
    gt_ids, pred_ids, sims = [], [], []
    for t in range(12):
        g = np.sort(rng.choice(4, size=rng.integers(1, 4), replace=False))
        p = np.sort(rng.choice([10, 11, 12, 13], size=rng.integers(1, 4), replace=False))
        s = rng.uniform(0, 1, (len(g), len(p))) * (rng.random((len(g), len(p))) < 0.7)
        gt_ids.append(g), pred_ids.append(p), sims.append(s)
    data = trackeval_data(gt_ids, pred_ids, sims)
    assert score_data(data)["HOTA"] == pytest.approx(_plain_hota(gt_ids, pred_ids, sims), abs=1e-12)


def test_keypoint_similarity_is_cocos_term():
    g = np.zeros((1, 17, 3))
    p = np.zeros((2, 17, 3))
    p[1, :, 0] = 3.0  # 3 px to the right
    ks = keypoint_similarity(g, p, np.array([900.0]), COCO_SIGMAS)
    assert ks.shape == (1, 2, 17)
    expected = [math.exp(-9.0 / (2 * 900.0 * (2 * s) ** 2)) for s in COCO_SIGMAS]
    assert np.allclose(ks[0, 0], 1.0) and np.allclose(ks[0, 1], expected)


def test_pose_hota_counts_each_keypoint_on_its_own():
    area = 4000.0
    gt = _frames([[(0, 1)]] * 6, {0: 0.0})
    for f in gt:
        f.areas = np.array([area])
    pred = _frames([[(0, 1)]] * 6, {0: 0.0})
    # move keypoint 0 so that its similarity is 0.62: it matches for alpha 0.05 .. 0.60 (12 of 19)
    shift = math.sqrt(-math.log(0.62) * 2 * area * (2 * COCO_SIGMAS[0]) ** 2)
    for f in pred:
        f.keypoints[0, 0, 0] += shift
        f.keypoints[0, 16, 2] = 0.1  # keypoint 16 below the score threshold: not a prediction
    m = evaluate_poses(gt, pred, keypoint_threshold=0.2)
    # mean over the 17 keypoint types: 15 perfect, keypoint 0 at 12/19, keypoint 16 all missed (0)
    assert m["HOTA"] == pytest.approx((15 + 12 / 19) / 17)
    # counts summed over the keypoints: keypoint 16's 6 ground-truth keypoints are misses
    assert (m["FN"], m["FP"], m["IDSW"]) == (6, 0, 0)
    assert m["MOTA"] == pytest.approx(1 - 6 / (17 * 6))
    # box metrics ignore the keypoints
    assert evaluate_boxes(gt, pred)["HOTA"] == pytest.approx(1.0)


def test_empty_inputs():
    empty = [TrackFrame(np.zeros(0), np.zeros((0, 4)), np.zeros((0, 17, 3)))] * 3
    gt = _frames([[(0, 1)]] * 3, {0: 0.0})
    m = evaluate_tracking(gt, empty)
    assert m["boxes"]["HOTA"] == 0.0 and m["boxes"]["FN"] == 3 and m["poses"]["FN"] == 3 * 17
    m = evaluate_tracking(empty, empty)
    assert m["boxes"]["FP"] == 0 and m["poses"]["FP"] == 0
    with pytest.raises(ValueError):
        evaluate_boxes(gt, empty[:2])


def _noisy_scene(seed, frames=40, people=5):
    """Random walkers whose predicted ids get swapped, dropped and duplicated now and then."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 400, (people, 2))
    vel = rng.normal(0, 6, (people, 2))
    pred_id = np.arange(people) + 100
    next_id = 200
    gt, pred = [], []
    for _ in range(frames):
        pos += vel
        boxes = np.concatenate([pos, pos + [40, 100]], axis=1)
        gt.append(TrackFrame(np.arange(people), boxes))
        if rng.random() < 0.1:  # two predicted ids swap
            a, b = rng.choice(people, 2, replace=False)
            pred_id[[a, b]] = pred_id[[b, a]]
        if rng.random() < 0.05:  # a track restarts under a new id
            pred_id[rng.integers(people)] = next_id
            next_id += 1
        keep = rng.random(people) > 0.1
        noisy = boxes[keep] + rng.normal(0, 6, (keep.sum(), 4))
        ids = pred_id[keep]
        if rng.random() < 0.3:  # a false positive
            noisy = np.concatenate([noisy, [[500, 500, 540, 600]]])
            ids = np.concatenate([ids, [next_id]])
            next_id += 1
        pred.append(TrackFrame(ids, noisy))
    return gt, pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_motmetrics_agrees_with_trackeval(seed):
    from rmpe.tracking.metrics import box_similarities

    gt, pred = _noisy_scene(seed)
    te = evaluate_boxes(gt, pred)
    mm = motmetrics_summary([g.ids for g in gt], [p.ids for p in pred], box_similarities(gt, pred))
    assert te["IDSW"] > 0 and te["FP"] > 0 and te["FN"] > 0  # the case exercises every count
    assert mm["IDF1"] == pytest.approx(te["IDF1"], abs=1e-12)
    assert mm["MOTA"] == pytest.approx(te["MOTA"], abs=1e-12)
    assert (mm["IDSW"], mm["FP"], mm["FN"]) == (te["IDSW"], te["FP"], te["FN"])
