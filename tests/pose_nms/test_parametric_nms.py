"""Parametric pose NMS: hand-built cases, equality with the plain reference, inputs and errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import pose_nms
from pose_nms import PoseNMSError, PoseNMSParams, batched_parametric_pose_nms, parametric_pose_nms
from rmpe.testing import clustered_dataset, reference_pose_nms

K = 17


def ring(cx: float, cy: float, radius: float = 40.0) -> np.ndarray:
    """(K, 2) joints on a circle: neighbouring joints 14.7 px apart."""
    a = 2 * np.pi * np.arange(K) / K
    return np.stack([cx + radius * np.cos(a), cy + radius * np.sin(a)], 1)


def box(cx: float, cy: float, half: float = 50.0) -> list:
    return [cx - half, cy - half, cx + half, cy + half]  # ref_dist = 0.1 * 100 = 10 px


def run(kps, scores, boxes=None, box_scores=None, params=None):
    kps = np.asarray(kps, dtype=np.float64)
    n = len(kps)
    boxes = np.asarray(boxes if boxes is not None else [box(*k.mean(0)) for k in kps], dtype=np.float64)
    box_scores = np.asarray(box_scores if box_scores is not None else np.linspace(0.9, 0.5, n), dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    return parametric_pose_nms(boxes, box_scores, kps, scores, params)


# ----------------------------------------------------------------------------- hand-built cases


def test_identical_duplicates_collapse_to_one_merged_pose():
    p = ring(100, 100)
    scores = np.stack([np.full(K, 0.9), np.full(K, 0.8), np.full(K, 0.6)])
    r = run([p, p, p], scores, box_scores=[0.7, 0.9, 0.8])
    assert len(r) == 1
    assert r.indices.tolist() == [0]  # highest pose score, not highest box score
    assert [m.tolist() for m in r.members] == [[0, 1, 2]]
    assert r.assignment.tolist() == [0, 0, 0]
    np.testing.assert_allclose(r.keypoints[0], p, atol=1e-12)
    merged = (0.81 + 0.64 + 0.36) / (0.9 + 0.8 + 0.6)
    np.testing.assert_allclose(r.keypoint_scores[0], merged, atol=1e-12)
    assert r.scores[0] == pytest.approx(merged + 0.7 + 1.25 * merged, abs=1e-12)
    np.testing.assert_array_equal(r.boxes[0], box(*p.mean(0)))


def test_two_far_apart_people_both_survive():
    a, b = ring(100, 100), ring(400, 120)
    r = run([a, b], [np.full(K, 0.7), np.full(K, 0.8)])
    assert r.indices.tolist() == [1, 0]
    assert [m.tolist() for m in r.members] == [[1], [0]]
    np.testing.assert_allclose(r.keypoints[0], b)
    np.testing.assert_allclose(r.keypoints[1], a)
    np.testing.assert_allclose(r.keypoint_scores[1], 0.7)  # a lone pose keeps its scores: s^2 / s


@pytest.mark.parametrize("near, suppressed", [(5, True), (4, False)])
def test_joint_count_rule_fires_at_five_joints(near, suppressed):
    base = ring(100, 100)
    cand = base.copy()
    cand[:near, 0] += 3.0  # within min(ref_dist 10, 7) px
    cand[near:, 1] += 100.0  # far away
    s_base, s_cand = 0.9, 0.8
    r = run([base, cand], [np.full(K, s_base), np.full(K, s_cand)])
    # similarity alone stays below gamma: without the joint-count rule both poses survive
    no_count_rule = run([base, cand], [np.full(K, s_base), np.full(K, s_cand)], params=PoseNMSParams(match_threshold=K + 1))
    assert no_count_rule.indices.tolist() == [0, 1]
    if not suppressed:
        assert r.indices.tolist() == [0, 1]
        return
    assert r.indices.tolist() == [0]
    assert [m.tolist() for m in r.members] == [[0, 1]]
    # merge: the 5 near joints lie within min(ref_dist, 15) = 10 px -> score-weighted mean
    expected = base.copy()
    expected[:near, 0] += s_cand * 3.0 / (s_base + s_cand)
    np.testing.assert_allclose(r.keypoints[0], expected, atol=1e-12)
    exp_s = np.full(K, s_base)
    exp_s[:near] = (s_base**2 + s_cand**2) / (s_base + s_cand)
    np.testing.assert_allclose(r.keypoint_scores[0], exp_s, atol=1e-12)
    assert r.scores[0] == pytest.approx(exp_s.mean() + 0.9 + 1.25 * exp_s.max(), abs=1e-12)


@pytest.mark.parametrize("offset, suppressed", [(0.5, True), (3.0, False)])
def test_similarity_rule(offset, suppressed):
    # joint-count rule disabled (needs 18 of 17 joints): only the similarity decides
    base = ring(100, 100)
    cand = base + [offset, 0.0]
    params = PoseNMSParams(match_threshold=18)
    r = run([base, cand], [np.full(K, 0.9), np.full(K, 0.8)], params=params)
    close = K * math.tanh(0.9) * math.tanh(0.8) if offset <= 1 else 0.0
    sim = close + 1.7 * K * math.exp(-offset / 2.65)
    assert (sim > 22.48) == suppressed
    assert len(r) == (1 if suppressed else 2)


def test_low_score_people_are_dropped():
    a, b = ring(100, 100), ring(400, 100)
    scores = [np.full(K, 0.9), np.full(K, 0.25)]
    assert run([a, b], scores).indices.tolist() == [0]
    assert run([a, b], scores).assignment.tolist() == [0, -1]
    assert run([a, b], scores, params=PoseNMSParams(score_threshold=0.2)).indices.tolist() == [0, 1]


def test_drop_after_merging():
    # the taken pose passes alone (max 0.31), but merging with a weak duplicate lowers its best
    # joint to (0.31^2 + 0.1^2) / 0.41 = 0.259 < 0.3
    p = ring(100, 100)
    s_pick = np.full(K, 0.2)
    s_pick[0] = 0.31
    s_dup = np.full(K, 0.15)
    s_dup[0] = 0.1
    assert len(run([p], [s_pick])) == 1
    r = run([p, p], [s_pick, s_dup])
    assert len(r) == 0 and r.assignment.tolist() == [-1, -1]


def test_area_filter():
    p = ring(100, 100)
    extent = np.ptp(p[:, 0]) * np.ptp(p[:, 1]) * 2.25
    assert len(run([p], [np.full(K, 0.9)], params=PoseNMSParams(min_area=extent - 1))) == 1
    assert len(run([p], [np.full(K, 0.9)], params=PoseNMSParams(min_area=extent + 1))) == 0
    small = ring(300, 300, radius=2.0)  # degenerate-sized person beside a normal one
    r = run([p, small], [np.full(K, 0.9), np.full(K, 0.8)], params=PoseNMSParams(min_area=100.0))
    assert r.indices.tolist() == [0]


def test_merge_radius_excludes_far_joints():
    base = ring(100, 100)
    dup = base.copy()
    dup[0] += [0.0, 12.0]  # beyond min(ref_dist, 15) = 10 px: joint 0 not merged
    dup[1] += [0.0, 6.0]  # within: merged
    r = run([base, dup], [np.full(K, 0.6), np.full(K, 0.3)])
    assert [m.tolist() for m in r.members] == [[0, 1]]
    np.testing.assert_allclose(r.keypoints[0][0], base[0])
    np.testing.assert_allclose(r.keypoints[0][1], base[1] + [0.0, 6.0 * 0.3 / 0.9])
    assert r.keypoint_scores[0][0] == pytest.approx(0.6)
    assert r.keypoint_scores[0][1] == pytest.approx((0.36 + 0.09) / 0.9)


def test_zero_scores_become_1e5():
    p = ring(100, 100)
    r = run([p], [np.zeros(K)], box_scores=[0.5], params=PoseNMSParams(score_threshold=0.0))
    np.testing.assert_allclose(r.keypoint_scores[0], 1e-5)
    assert r.scores[0] == pytest.approx(1e-5 + 0.5 + 1.25e-5)
    assert len(run([p], [np.zeros(K)])) == 0  # and the default threshold drops it


def test_degenerate_boxes():
    p = ring(100, 100)
    flat = [100.0, 100.0, 100.0, 100.0]  # ref_dist 0: no joint-count matches, merge radius 0
    for distance in ("pixel", "normalized"):
        params = PoseNMSParams(distance=distance)
        r = run([p, p + 0.5, p], [np.full(K, 0.9), np.full(K, 0.8), np.full(K, 0.7)],
                boxes=[flat, flat, flat], params=params)
        ref = reference_pose_nms([flat] * 3, np.linspace(0.9, 0.5, 3), [p, p + 0.5, p],
                                 [np.full(K, 0.9), np.full(K, 0.8), np.full(K, 0.7)], params.to_dict())
        assert r.indices.tolist() == [q["index"] for q in ref]
        assert [m.tolist() for m in r.members] == [q["members"] for q in ref]
        assert np.isfinite(r.keypoints).all() and np.isfinite(r.scores).all()
    # inverted box corners count by their absolute size
    r = run([p, p + 3.0], [np.full(K, 0.9), np.full(K, 0.8)], boxes=[box(100, 100)[::-1]] * 2)
    assert len(r) == 1


def test_empty_and_single_input():
    r = parametric_pose_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, K, 2)), np.zeros((0, K)))
    assert len(r) == 0 and r.keypoints.shape == (0, K, 2) and r.assignment.shape == (0,)
    r = parametric_pose_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, K, 2), torch.zeros(0, K))
    assert isinstance(r.keypoints, torch.Tensor) and r.keypoints.shape == (0, K, 2)
    p = ring(50, 50)
    r = run([p], [np.full(K, 0.5)], box_scores=[0.25])
    assert r.indices.tolist() == [0] and [m.tolist() for m in r.members] == [[0]]
    np.testing.assert_allclose(r.keypoints[0], p)
    assert r.scores[0] == pytest.approx(0.5 + 0.25 + 1.25 * 0.5)


def test_errors():
    p = ring(50, 50)[None]
    good = (np.array([box(50, 50)]), np.array([0.9]), p, np.full((1, K), 0.9))
    nan = p.copy()
    nan[0, 3, 1] = np.nan
    with pytest.raises(PoseNMSError, match="keypoints contain NaN"):
        parametric_pose_nms(good[0], good[1], nan, good[3])
    with pytest.raises(PoseNMSError, match="boxes contain NaN"):
        parametric_pose_nms(np.array([[0, 0, np.nan, 1.0]]), *good[1:])
    with pytest.raises(PoseNMSError, match="keypoint_scores contain NaN"):
        parametric_pose_nms(*good[:3], np.full((1, K), np.inf))
    with pytest.raises(PoseNMSError, match=r"boxes: expected shape \(1, 4\)"):
        parametric_pose_nms(np.zeros((2, 4)), *good[1:])
    with pytest.raises(PoseNMSError, match="keypoint_scores"):
        parametric_pose_nms(*good[:3], np.zeros((1, K - 1)))
    with pytest.raises(PoseNMSError, match="keypoints"):
        parametric_pose_nms(good[0], good[1], np.zeros((1, K, 3)), good[3])
    with pytest.raises(PoseNMSError, match="delta2"):
        parametric_pose_nms(*good, params=PoseNMSParams(delta2=1.0).to_dict() | {"delta2": 0.0})
    with pytest.raises(PoseNMSError, match="image 1: keypoints contain NaN"):
        batched_parametric_pose_nms([good[0]] * 2, [good[1]] * 2, [p, nan], [good[3]] * 2)
    with pytest.raises(PoseNMSError, match="one entry per image"):
        batched_parametric_pose_nms([good[0]], [good[1]] * 2, [p], [good[3]])
    assert issubclass(PoseNMSError, ValueError)


# ----------------------------------------------------------------------------- input kinds


def test_torch_numpy_and_dtypes_agree():
    data = clustered_dataset(seed=3, num_images=5, num_proposals=(5, 30))
    ref = batched_parametric_pose_nms(*data)
    as_torch = tuple([torch.from_numpy(a) for a in lst] for lst in data)
    out = batched_parametric_pose_nms(*as_torch)
    f32 = batched_parametric_pose_nms(*(tuple([a.astype(np.float32) for a in lst] for lst in data)))
    f16 = batched_parametric_pose_nms(*(tuple([t.half() for t in lst] for lst in as_torch)))
    for r, t, s, h in zip(ref, out, f32, f16):
        assert isinstance(t.keypoints, torch.Tensor) and t.keypoints.dtype == torch.float64
        assert s.keypoints.dtype == np.float32 and h.keypoints.dtype == torch.float32
        assert t.indices.tolist() == r.indices.tolist() == s.indices.tolist()
        np.testing.assert_allclose(t.keypoints.numpy(), r.keypoints, atol=1e-9)
        np.testing.assert_allclose(s.keypoints, r.keypoints, atol=1e-3)
        assert len(h) > 0


def test_batched_with_empty_images_torch():
    p = torch.from_numpy(ring(50, 50))[None]
    empty = (torch.zeros(0), torch.zeros(0), torch.zeros(0), torch.zeros(0))
    out = batched_parametric_pose_nms(
        [empty[0], torch.tensor([box(50, 50)], dtype=torch.float64), empty[0]],
        [empty[1], torch.tensor([0.5], dtype=torch.float64), empty[1]],
        [empty[2], p, empty[2]],
        [empty[3], torch.full((1, K), 0.5, dtype=torch.float64), empty[3]],
    )
    assert [len(r) for r in out] == [0, 1, 0]
    assert out[0].keypoints.shape == (0, K, 2) and out[2].assignment.shape == (0,)
    assert out[1].indices.tolist() == [0] and torch.allclose(out[1].keypoints, p)


def test_batched_equals_single_calls():
    data = clustered_dataset(seed=4, num_images=12, num_proposals=(0, 25))
    batched = batched_parametric_pose_nms(*data)
    for image, res in zip(zip(*data), batched):
        one = parametric_pose_nms(*image)
        assert one.indices.tolist() == res.indices.tolist()
        np.testing.assert_allclose(one.keypoints, res.keypoints)
        assert [m.tolist() for m in one.members] == [m.tolist() for m in res.members]


def test_params_from_config_object():
    from rmpe.config import PoseNMSConfig

    data = clustered_dataset(seed=5, num_images=3, num_proposals=(5, 20))
    a = batched_parametric_pose_nms(*data, params=PoseNMSConfig())
    b = batched_parametric_pose_nms(*data)
    assert [r.indices.tolist() for r in a] == [r.indices.tolist() for r in b]
    c = batched_parametric_pose_nms(*data, params={"distance": "normalized", "delta1": 0.01})
    assert isinstance(c[0], pose_nms.PoseNMSResult)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    data = clustered_dataset(seed=6, num_images=20, num_proposals=(1, 40))
    cpu = batched_parametric_pose_nms(*data)
    gpu = batched_parametric_pose_nms(*(tuple([torch.from_numpy(a).cuda() for a in lst] for lst in data)))
    for c, g in zip(cpu, gpu):
        assert g.keypoints.is_cuda and g.indices.is_cuda
        assert g.indices.tolist() == c.indices.tolist()
        assert [m.tolist() for m in g.members] == [m.tolist() for m in c.members]
        np.testing.assert_allclose(g.keypoints.cpu().numpy(), c.keypoints, atol=1e-9)
