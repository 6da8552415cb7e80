"""The greedy of the parametric pose NMS: both formulations (dense, step-wise) and the
far-candidate skipping equal the plain reference loop of rmpe.testing."""
from __future__ import annotations

import numpy as np
import pytest

import pose_nms.greedy as greedy
from pose_nms import PoseNMSParams, batched_parametric_pose_nms, parametric_pose_nms
from pose_nms.greedy import suppression_reach
from rmpe.testing import clustered_dataset, reference_pose_nms

K = 17


# ----------------------------------------------------------------------------- reference equality


def run_path(data, params, path, monkeypatch):
    """Run the batched NMS forcing one formulation: "stepwise" (greedy steps over the remaining
    poses) or "dense" (all pairs per image, batches of 8 images)."""
    if path == "stepwise":
        monkeypatch.setattr(greedy, "DENSE_LIMIT", -1)
        return batched_parametric_pose_nms(*data, params=params)
    monkeypatch.setattr(greedy, "DENSE_LIMIT", 1 << 40)
    out = []
    for start in range(0, len(data[0]), 8):
        out += batched_parametric_pose_nms(*(lst[start:start + 8] for lst in data), params=params)
    return out


def compare_with_reference(data, params: PoseNMSParams, outputs):
    refs = [reference_pose_nms(*image, params=params.to_dict()) for image in zip(*data)]
    stats = {"people": 0, "merged": 0}
    for out in outputs:
        for b, (image, res, ref) in enumerate(zip(zip(*data), out, refs)):
            assert res.indices.tolist() == [q["index"] for q in ref], f"image {b}"
            assert [m.tolist() for m in res.members] == [q["members"] for q in ref], f"image {b}"
            if ref:
                np.testing.assert_allclose(res.keypoints, [q["keypoints"] for q in ref], atol=1e-4, rtol=0)
                np.testing.assert_allclose(res.keypoint_scores, [q["keypoint_scores"] for q in ref], atol=1e-6, rtol=0)
                np.testing.assert_allclose(res.scores, [q["score"] for q in ref], atol=1e-6, rtol=0)
                np.testing.assert_array_equal(res.boxes, [q["box"] for q in ref])
            expected = np.full(len(image[0]), -1)
            for person, q in enumerate(ref):
                expected[q["members"]] = person
            np.testing.assert_array_equal(res.assignment, expected)
    for ref in refs:
        stats["people"] += len(ref)
        stats["merged"] += sum(len(q["members"]) > 1 for q in ref)
    return stats


def test_equals_reference_on_200_clustered_images(monkeypatch):
    data = clustered_dataset(seed=1, num_images=200, num_proposals=(1, 40))
    params = PoseNMSParams()
    outputs = [run_path(data, params, path, monkeypatch) for path in ("stepwise", "dense")]
    stats = compare_with_reference(data, params, outputs)
    assert stats["people"] > 500 and stats["merged"] > 200  # the clusters really merge


@pytest.mark.parametrize("params", [
    PoseNMSParams.rmpe(),
    PoseNMSParams(gamma=8.0, match_threshold=9, delta1=0.3, mu=1.0, alpha=0.2, min_area=2000.0),
    PoseNMSParams(gamma=0.0, mu=0.5, delta2=20.0),
], ids=["rmpe-normalized", "other-constants", "gamma-zero"])
def test_equals_reference_other_modes(params, monkeypatch):
    data = clustered_dataset(seed=2, num_images=60, num_proposals=(1, 40))
    outputs = [run_path(data, params, path, monkeypatch) for path in ("stepwise", "dense")]
    compare_with_reference(data, params, outputs)


def collapsed_dataset(seed: int, num_images: int):
    """Clustered proposals where a third of the poses collapse to a blob of ~1 px around a point
    near the box centre (what an SPPE gives for an empty crop), shifted a few px per proposal:
    keypoint boxes that do not overlap, yet within reach of the joint-count and similarity rules
    because ref_dist comes from the full-size box."""
    rng = np.random.default_rng(seed)
    data = clustered_dataset(seed=seed, num_images=num_images, num_proposals=(5, 30))
    for boxes, kps in zip(data[0], data[2]):
        centre = ((boxes[:, :2] + boxes[:, 2:]) / 2).round(-1)  # shared by nearby proposals
        pick = rng.random(len(kps)) < 0.35
        n = int(pick.sum())
        kps[pick] = (centre[pick][:, None, :] + rng.normal(0, 0.5, (n, K, 2))
                     + rng.normal(0, 3.0, (n, 1, 2)))
    return data


@pytest.mark.parametrize("params", [PoseNMSParams(), PoseNMSParams.rmpe(), PoseNMSParams(gamma=4.0, delta2=1.0)],
                         ids=["pixel", "normalized", "low-gamma"])
def test_far_candidate_skipping_is_exact(params, monkeypatch):
    data = collapsed_dataset(seed=8, num_images=40)
    monkeypatch.setattr(greedy, "PRUNE_MIN", 0)  # skip far candidates at every step
    out = run_path(data, params, "stepwise", monkeypatch)
    stats = compare_with_reference(data, params, [out])
    assert stats["merged"] > 20


@pytest.mark.parametrize("params", [PoseNMSParams(), PoseNMSParams.rmpe(), PoseNMSParams(gamma=4.0, delta2=1.0)],
                         ids=["pixel", "normalized", "low-gamma"])
def test_suppression_reach_is_a_safe_bound(params):
    """A candidate whose every joint lies just beyond the reach of the taken pose's joint is
    kept by the plain reference loop, so skipping it without the per-joint work is exact."""
    a = 2 * np.pi * np.arange(K) / K
    taken = np.stack([100 + 40 * np.cos(a), 100 + 40 * np.sin(a)], 1)
    boxes = np.array([[50.0, 50.0, 150.0, 150.0]] * 2)  # ref_dist = alpha x 100
    fixed, per_ref = suppression_reach(params, K)
    reach = fixed + per_ref * params.alpha * 100.0
    cand = taken + [reach * 1.001, 0.0]
    kps, scores = np.stack([taken, cand]), np.stack([np.full(K, 0.9), np.full(K, 0.8)])
    ref = reference_pose_nms(boxes, [0.9, 0.8], kps, scores, params=params.to_dict())
    assert [q["index"] for q in ref] == [0, 1]
    assert parametric_pose_nms(boxes, np.array([0.9, 0.8]), kps, scores, params).indices.tolist() == [0, 1]
    # nothing is safe when gamma is 0 and mu > 0: every candidate scores above it
    assert suppression_reach(PoseNMSParams(gamma=0.0), K)[0] == float("inf")
