"""Association costs against plain loops, and the assignment against brute force."""
import itertools
import math

import numpy as np

from rmpe.keypoints import COCO_SIGMAS
from rmpe.tracking import association


def _plain_oks(tk, tv, dk, dv, area, sigmas, min_keypoints):
    num, count = 0.0, 0
    for k in range(len(sigmas)):
        if tv[k] and dv[k]:
            d2 = (tk[k][0] - dk[k][0]) ** 2 + (tk[k][1] - dk[k][1]) ** 2
            num += math.exp(-d2 / (2 * area * (2 * sigmas[k]) ** 2))
            count += 1
    if count < min_keypoints:
        return 0.0, False
    return num / count, True


def _plain_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_oks_equals_plain_loop():
    rng = np.random.default_rng(1)
    t, n, k = 4, 6, 17
    tk = rng.uniform(0, 200, (t, k, 2))
    dk = np.concatenate([tk[:2] + rng.normal(0, 4, (2, k, 2)), rng.uniform(0, 200, (n - 2, k, 2))])
    tv, dv = rng.random((t, k)) > 0.2, rng.random((n, k)) > 0.2
    tv[3] = False  # a track that sees nothing: never comparable
    areas = rng.uniform(2000, 20000, t)
    oks, comparable = association.pose_oks(tk, tv, dk, dv, areas, COCO_SIGMAS, min_keypoints=3)
    for i in range(t):
        for j in range(n):
            ref, ok = _plain_oks(tk[i], tv[i], dk[j], dv[j], areas[i], COCO_SIGMAS, 3)
            assert comparable[i, j] == ok
            assert oks[i, j] == np.float64(ref) or abs(oks[i, j] - ref) < 1e-12
    assert not comparable[3].any()
    assert oks[0, 0] > 0.5 and oks[1, 1] > 0.5  # the near copies are similar


def test_iou_equals_plain_loop():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 100, (9, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (9, 2))], axis=1)
    iou = association.box_iou(boxes[:4], boxes)
    for i in range(4):
        for j in range(9):
            assert abs(iou[i, j] - _plain_iou(boxes[i], boxes[j])) < 1e-12


def test_assign_equals_brute_force():
    rng = np.random.default_rng(3)
    threshold = 0.6
    for _ in range(40):
        t, n = rng.integers(0, 4, 2)
        cost = rng.uniform(0, 1, (t, n))
        cost[rng.random((t, n)) < 0.2] = np.inf
        matches, free_rows, free_cols = association.assign(cost, threshold)
        total = cost[matches[:, 0], matches[:, 1]].sum() + threshold / 2 * (len(free_rows) + len(free_cols))
        best = threshold / 2 * (t + n)  # nothing matched
        for m in range(1, min(t, n) + 1):
            for rows in itertools.combinations(range(t), m):
                for cols in itertools.permutations(range(n), m):
                    c = cost[list(rows), list(cols)]
                    if np.all(c <= threshold):
                        best = min(best, c.sum() + threshold / 2 * (t + n - 2 * m))
        assert abs(total - best) < 1e-9
        assert np.all(cost[matches[:, 0], matches[:, 1]] <= threshold)
        assert sorted(list(matches[:, 0]) + list(free_rows)) == list(range(t))
        assert sorted(list(matches[:, 1]) + list(free_cols)) == list(range(n))


def test_combined_cost_weights_and_gates():
    iou = np.array([[0.8, 0.0, 0.5]])
    oks = np.array([[0.6, 0.01, 0.9]])
    comparable = np.array([[True, True, False]])
    cost = association.combined_cost(iou, oks, comparable, oks_weight=1.0, iou_weight=0.5, min_overlap=0.05)
    np.testing.assert_allclose(cost[0, 0], (0.4 + 0.5 * 0.2) / 1.5)
    assert np.isinf(cost[0, 1])  # neither boxes nor poses overlap
    np.testing.assert_allclose(cost[0, 2], 0.5)  # poses not comparable: IoU alone
    app = np.array([[0.1, 0.0, 0.9]])
    cost = association.combined_cost(iou, oks, comparable, oks_weight=1.0, iou_weight=0.5, appearance=app,
                                     appearance_weight=1.0, min_overlap=0.05, max_appearance_distance=0.5)
    np.testing.assert_allclose(cost[0, 0], (0.4 + 0.1 + 0.1) / 2.5)
    assert np.isinf(cost[0, 2])  # appearance too different


def test_appearance_distance():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    d = association.appearance_distance(a, b)
    np.testing.assert_allclose(d[0], [0.0, 1.0, 1.0])
    np.testing.assert_allclose(d[1, :2], [1 - 1 / math.sqrt(2)] * 2)
