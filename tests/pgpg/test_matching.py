"""IoU, greedy one-to-one matching and side offsets."""
import itertools

import numpy as np
import pytest

from pgpg import PGPGError, apply_offsets, box_iou, box_offsets, match_boxes


def _ref_iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _ref_match(gt, dets, thr):
    """Plain loops: visit all pairs by decreasing IoU (ties: gt index, det index)."""
    cands = [(-_ref_iou(g, d), i, j) for (i, g), (j, d) in itertools.product(enumerate(gt), enumerate(dets))]
    cands = sorted(c for c in cands if -c[0] >= thr)
    used_g, used_d, out = set(), set(), []
    for _, i, j in cands:
        if i not in used_g and j not in used_d:
            used_g.add(i)
            used_d.add(j)
            out.append((i, j))
    return out


def test_iou_hand_computed():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], float)
    iou = box_iou(a, b)
    np.testing.assert_allclose(iou, [[50 / 150, 0], [50 / 150, 0], [0, 0]])


def test_iou_matches_loops():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (20, 2))
    a = np.concatenate([xy, xy + rng.uniform(1, 30, (20, 2))], 1)
    xy = rng.uniform(0, 50, (15, 2))
    b = np.concatenate([xy, xy + rng.uniform(1, 30, (15, 2))], 1)
    ref = [[_ref_iou(p, q) for q in b] for p in a]
    np.testing.assert_allclose(box_iou(a, b), ref, atol=1e-12)


def test_greedy_highest_iou_first_not_per_gt():
    # 1-D in x (all boxes span y 0..10). IoUs: (gt1, det0) 0.9, (gt0, det0) 8/11, (gt0, det1) 7/13,
    # (gt1, det1) 6/14 < 0.5. Highest first: gt1-det0, then gt0-det1. Going GT by GT instead
    # would give gt0-det0 and leave gt1 unmatched.
    gt = np.array([[1, 0, 11, 10], [0, 0, 10, 10]], float)
    dets = np.array([[0, 0, 9, 10], [4, 0, 14, 10]], float)
    gi, di, iou = match_boxes(gt, dets, 0.5)
    assert list(zip(gi.tolist(), di.tolist())) == [(1, 0), (0, 1)]
    np.testing.assert_allclose(iou, [0.9, 7 / 13])


def test_matching_equals_loop_reference_on_crowds():
    rng = np.random.default_rng(5)
    for trial in range(20):
        gxy = rng.uniform(0, 60, (8, 2))
        gt = np.concatenate([gxy, gxy + rng.uniform(10, 40, (8, 2))], 1)
        src = rng.integers(0, 8, 14)
        dets = gt[src] + rng.normal(0, 4, (14, 4))
        gi, di, _ = match_boxes(gt, dets, 0.5)
        assert list(zip(gi.tolist(), di.tolist())) == _ref_match(gt, dets, 0.5)
        assert len(set(gi.tolist())) == len(gi) and len(set(di.tolist())) == len(di)


def test_threshold_and_empty_inputs():
    gt = np.array([[0, 0, 10, 10]], float)
    assert len(match_boxes(gt, np.array([[0, 0, 10, 4.9]]), 0.5)[0]) == 0  # IoU 0.49
    assert len(match_boxes(gt, np.array([[0, 0, 10, 5.0]]), 0.5)[0]) == 1  # IoU exactly 0.5 counts
    assert len(match_boxes(np.zeros((0, 4)), gt)[0]) == 0
    assert len(match_boxes(gt, np.zeros((0, 4)))[0]) == 0


def test_offsets_hand_computed_and_round_trip():
    gt = np.array([[10, 20, 110, 220]], float)  # w 100, h 200
    det = np.array([[5, 30, 120, 200]], float)
    np.testing.assert_allclose(box_offsets(gt, det), [[-0.05, 0.05, 0.10, -0.10]])
    rng = np.random.default_rng(0)
    off = rng.normal(0, 0.1, (7, 3, 4))
    gts = np.concatenate([rng.uniform(0, 100, (7, 2)), rng.uniform(150, 300, (7, 2))], 1)
    boxes = apply_offsets(gts, off)
    assert boxes.shape == (7, 3, 4)
    back = box_offsets(np.repeat(gts, 3, 0), boxes.reshape(-1, 4)).reshape(7, 3, 4)
    np.testing.assert_allclose(back, off, atol=1e-12)


def test_offset_errors():
    with pytest.raises(PGPGError, match="positive width and height"):
        box_offsets(np.array([[0, 0, 0, 10.0]]), np.array([[0, 0, 1, 10.0]]))
    with pytest.raises(PGPGError, match="pair up"):
        box_offsets(np.zeros((2, 4)) + [0, 0, 1, 1], np.zeros((3, 4)))
    with pytest.raises(PGPGError, match=r"\(N, 4\)"):
        box_iou(np.zeros((2, 5)), np.zeros((1, 4)))
    with pytest.raises(PGPGError, match="non-finite"):
        box_iou(np.array([[0, 0, np.nan, 1]]), np.zeros((1, 4)))
