"""rmpe.evaluation against published COCOeval keypoint numbers (see shared/data/README.md)."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import random
from pathlib import Path

import pytest

from rmpe.errors import RMPEError
from rmpe.evaluation import STAT_NAMES, coco_objective, evaluate, format_stats, load_coco, print_stats
from tests.shared import SHARED_DATA, needs

DATA = SHARED_DATA
GT = DATA / "mmpose_coco" / "test_coco.json"
CASE1 = DATA / "eval_fixtures" / "mmpose_coco_case1_results.json"
XTCOCO = DATA / "xtcocoapi" / "example_coco_preds.json"

pytestmark = needs(GT)

# mmpose tests/test_evaluation/test_metrics/test_coco_metric.py, case 1 (published)
CASE1_STATS = [
    0.5287458745874587, 0.9042904290429042, 0.5009900990099009, 0.42475247524752474, 0.6219554455445544,
    0.5833333333333333, 0.9166666666666666, 0.5833333333333334, 0.44000000000000006, 0.6857142857142857,
]
# data README, case 3 (pycocotools 2.0.11 and xtcocotools 1.14.3 agree)
XTCOCO_STATS = [
    0.8608896054440609, 0.993145468392993, 0.9108910891089109, 0.7755775577557756, 0.9372524752475248,
    0.875, 1.0, 0.9166666666666666, 0.78, 0.9428571428571428,
]


def gt_as_results(score_for_empty: float | None):
    data = json.loads(GT.read_text())
    out = []
    for a in data["annotations"]:
        if a["num_keypoints"] == 0:
            if score_for_empty is None:
                continue
            score = score_for_empty
        else:
            score = 1.0
        out.append({"image_id": a["image_id"], "category_id": 1, "keypoints": list(a["keypoints"]), "score": score})
    return out


def test_mmpose_case1_published_numbers_from_file():
    m = evaluate(str(CASE1), str(GT))
    assert m["AP"] == 0.5287458745874587
    assert m["stats"] == CASE1_STATS
    assert [m[name] for name in STAT_NAMES] == CASE1_STATS


def test_mmpose_case1_from_list_in_file_order_and_not_mutated():
    results = json.loads(CASE1.read_text())
    before = copy.deepcopy(results)
    m = evaluate(results, GT)
    assert m["stats"] == CASE1_STATS
    assert results == before  # loadRes adds keys to the dicts it gets; ours are copies


def test_tied_scores_depend_on_order():
    # 7 of the 14 results share a score: shuffling changes AP (README: 0.5267 .. 0.5301)
    results = json.loads(CASE1.read_text())
    aps = set()
    for seed in range(12):
        shuffled = list(results)
        random.Random(seed).shuffle(shuffled)
        aps.add(evaluate(shuffled, GT)["AP"])
    assert len(aps) > 1
    assert min(aps) >= 0.5267 - 1e-4 and max(aps) <= 0.5301 + 1e-4


def test_xtcocoapi_predictions():
    assert evaluate(XTCOCO, GT)["stats"] == XTCOCO_STATS


def test_gt_as_results_gives_one():
    assert evaluate(gt_as_results(None), GT)["stats"] == [1.0] * 10  # persons without keypoints left out
    assert evaluate(gt_as_results(0.0), GT)["stats"] == [1.0] * 10  # or scored 0


def test_gt_as_results_trap_case():
    m = evaluate(gt_as_results(1.0), GT)  # empty persons scored 1.0 become false positives
    for name in ("AP", "AP50", "AP75"):
        assert m[name] == pytest.approx(0.8939, abs=5e-5)
    for name in STAT_NAMES[3:]:
        assert m[name] == 1.0


def test_empty_results_are_valid_zeros(tmp_path):
    m = evaluate([], GT)
    assert m["stats"] == [0.0] * 10
    # an image set without ground truth gives pycocotools' "undefined" value -1
    data = json.loads(GT.read_text())
    data["images"].append(dict(data["images"][0], id=999999))
    path = tmp_path / "with_empty_image.json"
    path.write_text(json.dumps(data))
    assert evaluate([], path, image_ids=[999999])["stats"] == [-1.0] * 10


def test_image_subset():
    data = json.loads(GT.read_text())
    results = json.loads(CASE1.read_text())
    image = data["images"][0]["id"]
    only = [r for r in results if r["image_id"] == image]
    # restricting to one image equals evaluating that image's results against a GT file holding only it
    sub = dict(data, images=[i for i in data["images"] if i["id"] == image],
               annotations=[a for a in data["annotations"] if a["image_id"] == image])
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = sub
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    assert evaluate(results, GT, image_ids=[image])["stats"] == evaluate(only, coco)["stats"]


def test_sigmas_option():
    coco_sigmas = [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
                   0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
    assert evaluate(XTCOCO, GT, sigmas=coco_sigmas)["stats"] == XTCOCO_STATS
    looser = evaluate(XTCOCO, GT, sigmas=[2 * s for s in coco_sigmas])
    assert looser["AP"] > XTCOCO_STATS[0]  # larger sigmas -> higher OKS -> higher AP
    with pytest.raises(RMPEError, match="17 keypoints"):
        evaluate(XTCOCO, GT, sigmas=coco_sigmas[:5])


def test_quiet_unless_verbose(capsys):
    evaluate(CASE1, GT)
    assert capsys.readouterr().out == ""
    evaluate(CASE1, GT, verbose=True)
    assert "Average Precision" in capsys.readouterr().out


def test_format_stats_matches_pycocotools_summary():
    from pycocotools.cocoeval import COCOeval

    coco = load_coco(GT)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ev = COCOeval(coco, coco.loadRes(json.loads(XTCOCO.read_text())), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    printed = [line for line in buf.getvalue().splitlines() if line.startswith(" Average")]
    m = evaluate(XTCOCO, GT)
    assert format_stats(m).splitlines() == printed
    assert format_stats(m["stats"]) == format_stats(m)
    out = io.StringIO()
    print_stats(m, file=out)
    assert out.getvalue() == format_stats(m) + "\n"


def test_missing_annotation_file(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(RMPEError, match="nope.json"):
        evaluate([], missing)


def test_annotation_file_without_keypoints(tmp_path):
    data = json.loads(GT.read_text())
    for a in data["annotations"]:
        a.pop("keypoints")
        a.pop("num_keypoints")
    for c in data["categories"]:
        c.pop("keypoints")
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RMPEError, match="instances.json.*no keypoint"):
        evaluate([], path)


def test_bad_inputs(tmp_path):
    bad_json = tmp_path / "broken.json"
    bad_json.write_text("{not json")
    with pytest.raises(RMPEError, match="broken.json"):
        evaluate([], bad_json)
    with pytest.raises(RMPEError, match="broken.json"):
        evaluate(bad_json, GT)
    with pytest.raises(RMPEError, match="image_id 424242"):
        evaluate([{"image_id": 424242, "category_id": 1, "keypoints": [0.0] * 51, "score": 1.0}], GT)
    image = json.loads(GT.read_text())["images"][0]["id"]
    with pytest.raises(RMPEError, match="51 numbers"):
        evaluate([{"image_id": image, "category_id": 1, "keypoints": [0.0] * 50, "score": 1.0}], GT)
    with pytest.raises(RMPEError, match="missing 'score'"):
        evaluate([{"image_id": image, "category_id": 1, "keypoints": [0.0] * 51}], GT)
    with pytest.raises(RMPEError, match="finite"):
        evaluate([{"image_id": image, "category_id": 1, "keypoints": [float("nan")] * 51, "score": 1.0}], GT)


def test_coco_objective():
    objective = coco_objective(GT)
    assert objective(json.loads(CASE1.read_text())) == CASE1_STATS[0]
    assert objective([]) == 0.0
    assert coco_objective(GT, "AR")(json.loads(CASE1.read_text())) == CASE1_STATS[5]
    with pytest.raises(RMPEError):
        coco_objective(GT, "mAP")


def test_accepts_coco_object():
    coco = load_coco(GT)
    m = evaluate(CASE1, coco)
    assert m["stats"] == CASE1_STATS
    assert all(type(v) is float for v in m["stats"])  # plain floats, JSON-serialisable
    json.dumps(m)
