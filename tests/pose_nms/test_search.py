"""Parameter search of the parametric pose NMS, with the pycocotools objective from rmpe."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pose_nms import (
    PoseNMSError,
    PoseNMSParams,
    batched_parametric_pose_nms,
    load_params,
    parametric_pose_nms,
    search_params,
    to_coco_results,
)
from rmpe.evaluation import coco_objective, evaluate
from rmpe.keypoints import coco_category
from rmpe.testing import person_template

K = 17


def make_validation_set(seed: int = 0, num_images: int = 30):
    """COCO ground truth plus proposals: per person one accurate proposal and several duplicates
    whose joints scatter ~14 px. The duplicates are too far apart for the default constants
    (few joints within 7 px, exp(-d / 2.65) ~ 0), so they survive NMS as false positives and
    their scores interleave with other people's true poses."""
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    boxes, box_scores, kps, kp_scores, ids = [], [], [], [], []
    template = person_template(K)
    for img in range(num_images):
        image_id = 100 + img
        images.append({"id": image_id, "width": 1000, "height": 400, "file_name": f"{image_id}.jpg"})
        b, bs, k, ks = [], [], [], []
        n_people = int(rng.integers(1, 4))
        for person in range(n_people):
            height = rng.uniform(180, 240)
            centre = np.array([180.0 + 320.0 * person, 200.0]) + rng.uniform(-20, 20, 2)
            gt = centre + template * height
            x0, y0 = gt.min(0)
            x1, y1 = gt.max(0)
            flat = np.concatenate([gt, np.full((K, 1), 2.0)], 1).reshape(-1)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                "keypoints": flat.tolist(), "num_keypoints": K,
                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float((x1 - x0) * (y1 - y0)),
            })
            level = rng.uniform(0.45, 0.95)
            for dup in range(int(rng.integers(3, 6))):
                noise = 1.5 if dup == 0 else 14.0
                kp = gt + rng.normal(0.0, noise, (K, 2))
                s = np.clip(level * (1.0 if dup == 0 else rng.uniform(0.7, 0.98)) * rng.uniform(0.9, 1.1, K), 0, 1)
                lo, hi = kp.min(0), kp.max(0)
                b.append(np.concatenate([lo - 10, hi + 10]))
                bs.append(float(s.mean()))
                k.append(kp)
                ks.append(s)
        boxes.append(np.array(b))
        box_scores.append(np.array(bs))
        kps.append(np.array(k))
        kp_scores.append(np.array(ks))
        ids.append(image_id)
    gt = {"images": images, "annotations": annotations, "categories": [coco_category()]}
    return gt, (boxes, box_scores, kps, kp_scores), ids


@pytest.mark.slow
def test_search_improves_ap_and_writes_yaml(tmp_path):
    gt, proposals, ids = make_validation_set()
    ann = tmp_path / "val.json"
    ann.write_text(json.dumps(gt))
    objective = coco_objective(ann, image_ids=ids)
    out = tmp_path / "tuned.yaml"
    result = search_params(*proposals, ids, objective, factors=(0.25, 1.0, 4.0), rounds=2, out_path=str(out))

    default_ap = evaluate(to_coco_results(batched_parametric_pose_nms(*proposals), ids), ann, image_ids=ids)["AP"]
    assert result.initial_value == default_ap
    assert result.best_value > default_ap + 0.05  # the defaults are clearly not optimal here
    default = PoseNMSParams()
    assert any(getattr(result.params, n) != getattr(default, n) for n in ("delta1", "delta2", "mu", "gamma"))
    # everything else is untouched; the reported value is reproducible; the YAML holds the result
    assert result.params.replace(delta1=1.0, delta2=2.65, mu=1.7, gamma=22.48) == PoseNMSParams()
    tuned = to_coco_results(batched_parametric_pose_nms(*proposals, params=result.params), ids)
    assert evaluate(tuned, ann, image_ids=ids)["AP"] == result.best_value
    assert load_params(out) == result.params
    assert max(v for _, v in result.history) == result.best_value
    assert len({tuple(c.values()) for c, _ in result.history}) == len(result.history)  # no repeats


def test_search_mechanics_with_a_plain_objective():
    gt, proposals, ids = make_validation_set(seed=1, num_images=6)
    # objective: prefer as few people as possible (more suppression) -> gamma should drop
    objective = lambda results: -float(len(results))  # noqa: E731
    seen = []
    result = search_params(*proposals, ids, objective, pairs=[("mu", "gamma")],
                           grid={"gamma": [22.48, 2.0, 0.01]}, factors=(1.0,), rounds=1,
                           callback=lambda c, v: seen.append((c, v)))
    assert result.params.gamma == 0.01 and result.params.mu == 1.7
    assert result.best_value > result.initial_value
    assert len(seen) == len(result.history) == 3
    with pytest.raises(PoseNMSError, match="pair"):
        search_params(*proposals, ids, objective, pairs=[("mu", "alpha")])
    with pytest.raises(PoseNMSError, match="factors"):
        search_params(*proposals, ids, objective, factors=(0.0, 1.0))
    with pytest.raises(PoseNMSError, match="image_ids"):
        search_params(*proposals, ids[:-1], objective)


def test_to_coco_results_format():
    kp = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    r = parametric_pose_nms(np.array([[0.0, 0.0, 10.0, 10.0]]), np.array([0.5]), kp, np.array([[0.6, 0.8]]),
                            PoseNMSParams(match_threshold=1))
    empty = parametric_pose_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 2, 2)), np.zeros((0, 2)))
    out = to_coco_results([r, empty], [7, 8])
    assert out == [{"image_id": 7, "category_id": 1,
                    "keypoints": pytest.approx([1.0, 2.0, 0.6, 3.0, 4.0, 0.8], abs=1e-12),
                    "score": pytest.approx(0.7 + 0.5 + 1.25 * 0.8, abs=1e-12)}]
    assert all(type(v) is float for v in out[0]["keypoints"])
