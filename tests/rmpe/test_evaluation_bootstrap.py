"""Bootstrap AP: the accumulate re-implementation against pycocotools, a hand-computed case, pairing and pooling."""
from __future__ import annotations

import copy
import itertools
import json

import numpy as np
import pytest

from rmpe.evaluation import evaluate
from rmpe.evaluation_bootstrap import (
    average_precision, bootstrap, bootstrap_samples, interval, paired_interval, per_image_matches,
)
from tests.shared import SHARED_DATA, needs

GT = SHARED_DATA / "mmpose_coco" / "test_coco.json"
PREDS = SHARED_DATA / "xtcocoapi" / "example_coco_preds.json"
CASE1 = SHARED_DATA / "eval_fixtures" / "mmpose_coco_case1_results.json"

# A person: 17 keypoints on a 40 x 80 px figure, all labelled.
_KP = np.stack([np.linspace(10, 50, 17), np.linspace(10, 90, 17), np.full(17, 2.0)], axis=1)


def _two_image_case():
    """Images 1 and 2, one person each (area 3200)."""
    anns = [{"id": i, "image_id": i, "category_id": 1, "iscrowd": 0, "area": 3200.0, "bbox": [10, 10, 40, 80],
             "num_keypoints": 17, "keypoints": _KP.ravel().tolist()} for i in (1, 2)]
    return {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 100} for i in (1, 2)],
            "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": [str(k) for k in range(17)], "skeleton": []}]}


def _result(image_id, shift, score):
    kp = _KP.copy()
    kp[:, 0] += shift
    return {"image_id": image_id, "category_id": 1, "keypoints": kp.ravel().tolist(), "score": score}


def test_hand_computed_ap(tmp_path):
    # Sorted by score: exact pose on image 1 (0.9, TP), a pose 60 px off on image 2 (0.8, FP at every
    # OKS threshold), the exact pose on image 2 (0.5, TP). Recall 0.5, 0.5, 1; precision 1, 1/2, 2/3.
    # Interpolated precision: 1 at the 51 recall points 0..0.50, 2/3 at the 50 points 0.51..1.
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(_two_image_case()))
    results = [_result(1, 0, 0.9), _result(2, 60, 0.8), _result(2, 0, 0.5)]
    m = per_image_matches(results, str(ann))
    expected = (51 * 1.0 + 50 * 2 / 3) / 101
    assert average_precision(m) == pytest.approx(expected, abs=1e-12)
    assert evaluate(results, str(ann))["AP"] == pytest.approx(expected, abs=1e-12)
    # Image 2 twice: FP, FP, TP, TP of 2 people: precision 0, 0, 1/3, 1/2 -> 1/2 everywhere.
    assert average_precision(m, np.array([1, 1])) == pytest.approx(0.5, abs=1e-12)
    assert average_precision(m, np.array([0, 0])) == pytest.approx(1.0, abs=1e-12)
    # Bootstrap: the point is the full-set AP; the interval spans the four possible multisets' APs.
    out = bootstrap({"m": [m]}, num_samples=400, seed=1)["m"]
    assert out["ap"] == pytest.approx(expected)
    assert out["ci"][0] == pytest.approx(0.5) and out["ci"][1] == pytest.approx(1.0)


def _subsets(n):
    for r in range(1, n + 1):
        yield from itertools.combinations(range(n), r)


@needs(GT, PREDS, CASE1)
@pytest.mark.parametrize("results_file", [PREDS, CASE1], ids=["xtcocoapi_preds", "mmpose_case1_ties"])
def test_equals_cocoeval_on_every_subset(results_file):
    results = json.loads(results_file.read_text())
    m = per_image_matches(results, str(GT))
    assert average_precision(m) == pytest.approx(evaluate(results, str(GT))["AP"], abs=1e-12)
    for subset in _subsets(m.num_images):
        ids = [int(m.image_ids[i]) for i in subset]
        direct = evaluate(results, str(GT), image_ids=ids)["AP"]
        assert average_precision(m, np.array(subset)) == pytest.approx(direct, abs=1e-12), subset


@needs(GT, PREDS)
def test_repeated_images_equal_cocoeval_on_copies(tmp_path):
    """A multiset of images equals a data set in which each repeat is a copy with its own id."""
    gt = json.loads(GT.read_text())
    results = json.loads(PREDS.read_text())
    m = per_image_matches(results, str(GT))
    for sample in ([0, 0, 1, 3], [2, 2, 2, 0], [1, 3, 3, 3]):
        sample = sorted(sample)
        copies = {"images": [], "annotations": [], "categories": gt["categories"]}
        res = []
        for c, i in enumerate(sample):
            old = int(m.image_ids[i])
            new = old * 10 + c  # keeps the copies in the sample's order
            im = dict(next(x for x in gt["images"] if x["id"] == old), id=new)
            copies["images"].append(im)
            for a in gt["annotations"]:
                if a["image_id"] == old:
                    copies["annotations"].append(dict(copy.deepcopy(a), image_id=new, id=len(copies["annotations"]) + 1))
            res += [dict(r, image_id=new) for r in results if r["image_id"] == old]
        path = tmp_path / "copies.json"
        path.write_text(json.dumps(copies))
        assert average_precision(m, np.array(sample)) == pytest.approx(evaluate(res, str(path))["AP"], abs=1e-12)


def test_paired_and_pooled(tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(_two_image_case()))
    good = per_image_matches([_result(1, 0, 0.9), _result(2, 0, 0.8)], str(ann))
    worse = per_image_matches([_result(1, 0, 0.9), _result(2, 60, 0.8), _result(2, 0, 0.5)], str(ann))
    out = bootstrap({"good": [good], "worse": [worse], "pooled": [good, worse]}, num_samples=300, seed=0)
    assert out["good"]["ap"] == pytest.approx(1.0)
    same = paired_interval(out["good"], out["good"])
    assert same == {"delta": 0.0, "ci": [0.0, 0.0]}
    diff = paired_interval(out["good"], out["worse"])
    assert diff["delta"] == pytest.approx(1.0 - (51 + 50 * 2 / 3) / 101)
    # Plain reference: per resample, good - worse computed directly.
    samples = bootstrap_samples(2, 300, 0)
    ref = [average_precision(good, s) - average_precision(worse, s) for s in samples]
    assert diff["ci"] == pytest.approx(list(interval(np.array(ref))))
    # Pooled: the mean of the two models' APs, per resample and at the point.
    assert out["pooled"]["ap"] == pytest.approx(0.5 * (out["good"]["ap"] + out["worse"]["ap"]))
    assert np.allclose(out["pooled"]["samples"], 0.5 * (out["good"]["samples"] + out["worse"]["samples"]))
    assert [s["ap"] for s in out["pooled"]["seeds"]] == pytest.approx([out["good"]["ap"], out["worse"]["ap"]])


def test_interval_percentiles():
    values = np.arange(1001, dtype=float)
    assert interval(values) == pytest.approx((25.0, 975.0))
    assert interval(values, level=0.5) == pytest.approx((250.0, 750.0))
