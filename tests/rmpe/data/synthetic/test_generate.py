"""Synthetic data set files: COCO loading and evaluation, determinism, the rmpe-synth CLI."""
from __future__ import annotations

import contextlib
import io
import json
import os

import cv2
import numpy as np
import pytest

from rmpe.cli.synth import main as synth_main
from rmpe.data.synthetic import SyntheticConfig, generate_dataset, make_example
from rmpe.errors import RMPEError
from rmpe.keypoints import COCO_KEYPOINTS

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

SMALL = (192, 144)


def _load(path):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    summary = generate_dataset(out, 24, seed=5, size=SMALL)
    return out, summary


def test_files_and_summary(dataset):
    out, summary = dataset
    names = sorted(os.listdir(out / "images"))
    assert names == [f"{i:06d}.jpg" for i in range(1, 25)]
    image = cv2.imread(str(out / "images" / names[0]))
    assert image.shape == (144, 192, 3)
    data = json.loads((out / "annotations.json").read_text())
    assert summary["num_images"] == len(data["images"]) == 24
    assert summary["num_people"] == len(data["annotations"]) > 24
    assert sum(summary["families"].values()) == summary["num_people"]
    cat = data["categories"][0]
    assert cat["name"] == "person" and cat["keypoints"] == list(COCO_KEYPOINTS) and len(cat["skeleton"]) == 19
    for ann in data["annotations"]:
        kp = np.array(ann["keypoints"]).reshape(17, 3)
        assert ann["num_keypoints"] == int((kp[:, 2] > 0).sum())
        assert ann["iscrowd"] == 0 and ann["category_id"] == 1
        assert np.all(kp[kp[:, 2] == 0] == 0)  # unlabelled keypoints are 0, 0, 0
        assert ann["area"] > 0 and ann["bbox"][2] > 0 and ann["bbox"][3] > 0
    ids = [a["id"] for a in data["annotations"]]
    assert ids == list(range(1, len(ids) + 1))


def test_annotations_load_and_ground_truth_scores_ap_one(dataset):
    out, _ = dataset
    gt = _load(out / "annotations.json")
    assert len(gt.getImgIds()) == 24 and gt.getCatIds() == [1]
    anns = [a for a in gt.loadAnns(gt.getAnnIds()) if a["num_keypoints"] > 0]
    results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0} for a in anns]
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    assert ev.stats[5] == pytest.approx(1.0)
    # A wrong result (every keypoint 15 px off) must lower AP: the check can fail.
    shifted = [dict(r, keypoints=[v + 15 if i % 3 < 2 else v for i, v in enumerate(r["keypoints"])]) for r in results]
    with contextlib.redirect_stdout(io.StringIO()):
        ev2 = COCOeval(gt, gt.loadRes(shifted), "keypoints")
        ev2.evaluate()
        ev2.accumulate()
        ev2.summarize()
    assert ev2.stats[0] < 0.9


def test_detections_load_as_coco_results(dataset):
    out, summary = dataset
    gt = _load(out / "annotations.json")
    dets = json.loads((out / "detections.json").read_text())
    assert len(dets) == summary["num_detections"] > 0
    with contextlib.redirect_stdout(io.StringIO()):
        res = gt.loadRes(str(out / "detections.json"))
        ev = COCOeval(gt, res, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert 0.3 < ev.stats[1] < 1.0  # AP50: a decent but imperfect detector
    assert all(0 < d["score"] < 1 for d in dets)


def test_same_seed_is_byte_identical_and_seeds_differ(tmp_path, dataset):
    out, _ = dataset
    generate_dataset(tmp_path / "a", 24, seed=5, size=SMALL)
    for name in ("annotations.json", "detections.json"):
        assert (out / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
    assert (out / "images" / "000007.jpg").read_bytes() == (tmp_path / "a" / "images" / "000007.jpg").read_bytes()
    generate_dataset(tmp_path / "b", 24, seed=6, size=SMALL)
    assert (out / "annotations.json").read_bytes() != (tmp_path / "b" / "annotations.json").read_bytes()
    assert (out / "detections.json").read_bytes() != (tmp_path / "b" / "detections.json").read_bytes()


def test_images_do_not_depend_on_order_or_count(tmp_path, dataset):
    out, _ = dataset
    generate_dataset(tmp_path / "few", 3, seed=5, size=SMALL)
    assert (out / "images" / "000003.jpg").read_bytes() == (tmp_path / "few" / "images" / "000003.jpg").read_bytes()
    few = json.loads((tmp_path / "few" / "annotations.json").read_text())
    full = json.loads((out / "annotations.json").read_text())
    first = [a for a in full["annotations"] if a["image_id"] <= 3]
    assert [a["keypoints"] for a in few["annotations"]] == [a["keypoints"] for a in first]
    cfg = SyntheticConfig(size=SMALL)
    scene, _ = make_example(5, 2, cfg)
    assert [list(np.round(p["bbox"], 2)) for p in scene.people] == [a["bbox"] for a in first if a["image_id"] == 3]


@pytest.mark.slow
def test_parallel_workers_give_identical_files(tmp_path, dataset):
    out, _ = dataset
    generate_dataset(tmp_path / "p", 24, seed=5, size=SMALL, workers=2)
    assert (out / "annotations.json").read_bytes() == (tmp_path / "p" / "annotations.json").read_bytes()
    assert (out / "detections.json").read_bytes() == (tmp_path / "p" / "detections.json").read_bytes()


def test_png_and_segmentation_options(tmp_path):
    cfg = SyntheticConfig(image_format="png", segmentation=True)
    generate_dataset(tmp_path, 2, seed=1, size=(96, 96), config=cfg)
    assert sorted(os.listdir(tmp_path / "images")) == ["000001.png", "000002.png"]
    gt = _load(tmp_path / "annotations.json")
    for ann in gt.loadAnns(gt.getAnnIds()):
        mask = gt.annToMask(ann)
        assert int(mask.sum()) == ann["area"]


def test_bad_arguments_raise_user_errors(tmp_path):
    with pytest.raises(RMPEError, match="number of synthetic images"):
        generate_dataset(tmp_path, -1, seed=0)
    with pytest.raises(RMPEError, match="synthetic.size"):
        generate_dataset(tmp_path, 1, seed=0, size=(4, 4))
    with pytest.raises(RMPEError, match="synthetic.people"):
        generate_dataset(tmp_path, 1, seed=0, config=SyntheticConfig(people=(3, 1)))
    with pytest.raises(RMPEError, match="seed"):
        generate_dataset(tmp_path, 1, seed=-1)


def test_cli_writes_a_data_set(tmp_path, capsys):
    code = synth_main(["--out", str(tmp_path / "d"), "--images", "3", "--seed", "2", "--size", "96x64", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "wrote 3 images (96x64, seed 2)" in out
    data = json.loads((tmp_path / "d" / "annotations.json").read_text())
    assert data["images"][0]["width"] == 96 and data["images"][0]["height"] == 64
    assert data["info"]["seed"] == 2


def test_cli_reads_the_synthetic_config_section(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  name: x\nsynthetic:\n  people: [2, 2]\n  detector:\n    false_positives: 0.0\n")
    code = synth_main(["--out", str(tmp_path / "d"), "--images", "4", "--size", "96x64", "--config", str(cfg), "--quiet"])
    assert code == 0
    data = json.loads((tmp_path / "d" / "annotations.json").read_text())
    assert data["info"]["config"]["people"] == [2, 2]
    assert data["info"]["config"]["detector"]["false_positives"] == 0.0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--images", "3", "--size", "640"], "--size '640'"),
        (["--images", "-2"], "--images -2"),
        (["--images", "two"], "--images 'two'"),
        (["--video", "0"], "--video 0"),
        (["--images", "1", "--set", "synthetic.people=[3,1]"], "synthetic.people"),
        (["--images", "1", "--set", "synthetic.nope=1"], "unknown key 'synthetic.nope'"),
        ([], "nothing to do"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    code = synth_main(["--out", str(tmp_path / "d")] + argv)
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
