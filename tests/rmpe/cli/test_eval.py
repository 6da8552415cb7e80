"""rmpe-eval end to end: random model, ground-truth oracle (AP 1.0), torchrun sharding, bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rmpe.cli.eval import build_parser, run
from tests.shared import annotations_with_keypoints

ROOT = Path(__file__).resolve().parents[3]


class GroundTruthOracle:
    """Stands in for the model: returns the annotated keypoints of the person whose box is asked for."""

    def __init__(self, ann_file):
        data = json.loads(Path(ann_file).read_text())
        self.table = []
        for a in data["annotations"]:
            if a.get("iscrowd", 0):
                continue
            x, y, w, h = a["bbox"]
            kp = np.asarray(a["keypoints"], np.float32).reshape(-1, 3)
            self.table.append((np.array([x, y, x + w, y + h], np.float32), kp))
        self.num_keypoints = 17

    def predict(self, images, image_index, boxes, **kwargs):
        out_kp, out_s = [], []
        for b in boxes.cpu().numpy():
            match = [kp for box, kp in self.table if np.abs(box - b).max() < 1e-3]
            assert len(match) == 1
            kp = match[0]
            out_kp.append(kp[:, :2])
            out_s.append((kp[:, 2] > 0).astype(np.float32))
        return torch.from_numpy(np.stack(out_kp)), torch.from_numpy(np.stack(out_s))


def _args(*argv):
    return build_parser().parse_args(list(argv))


def test_random_model_writes_results_and_metrics(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    folder = shared_data / "mmpose_coco"
    out = tmp_path / "res.json"
    metrics = run(_args("--config", str(cfg), "--checkpoint", str(ckpt), "--ann", str(folder / "test_coco.json"),
                        "--images", str(folder), "--boxes", "gt", "--out", str(out), "--device", "cpu", "--quiet",
                        "--set", "pose_nms.score_threshold=0"))
    results = json.loads(out.read_text())
    assert results and {r["image_id"] for r in results} <= {785, 40083, 196141, 197388}
    assert all(len(r["keypoints"]) == 51 and r["category_id"] == 1 for r in results)
    saved = json.loads((tmp_path / "res.metrics.json").read_text())
    assert len(saved["stats"]) == 10 and saved["AP"] == metrics["AP"]
    assert 0.0 <= saved["AP"] < 0.5  # random weights


@pytest.mark.parametrize("nms", ["parametric", "oks", "none"])
def test_ground_truth_oracle_scores_one(shared_data, tmp_path, nms):
    folder = shared_data / "mmpose_coco"
    ann = folder / "test_coco.json"
    args = _args("--checkpoint", "unused.pth", "--ann", str(ann), "--images", str(folder), "--boxes", "gt",
                 "--out", str(tmp_path / "r.json"), "--device", "cpu", "--quiet", "--nms", nms,
                 "--score", "box_x_keypoints")
    metrics = run(args, model=GroundTruthOracle(ann))
    assert metrics["stats"] == pytest.approx([1.0] * 10)


def test_gt_boxes_are_the_people_with_labelled_keypoints(shared_data, tmp_path):
    # The usual ground-truth-box protocol: COCOeval ignores people without keypoints, so
    # rmpe-eval --boxes gt asks for poses only in the boxes of labelled, non-crowd people.
    folder = shared_data / "mmpose_coco"
    ann = folder / "test_coco.json"
    data = json.loads(ann.read_text())
    people = [a for a in data["annotations"] if not a.get("iscrowd", 0)]
    expected = sorted(
        tuple(round(v, 2) for v in (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]))
        for a in people if a["num_keypoints"] > 0
    )
    assert 0 < len(expected) < len(people)  # the fixture has people without keypoints

    asked = []

    class Recorder(GroundTruthOracle):
        def predict(self, images, image_index, boxes, **kwargs):
            asked.extend(tuple(round(float(v), 2) for v in b) for b in boxes.cpu().numpy())
            return super().predict(images, image_index, boxes, **kwargs)

    args = _args("--checkpoint", "unused.pth", "--ann", str(ann), "--images", str(folder), "--boxes", "gt",
                 "--out", str(tmp_path / "r.json"), "--device", "cpu", "--quiet", "--nms", "none")
    metrics = run(args, model=Recorder(ann))
    assert sorted(asked) == expected
    assert metrics["stats"][0] == pytest.approx(1.0)


def test_detection_file_boxes(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    folder = shared_data / "mmpose_coco"
    out = tmp_path / "r.json"
    run(_args("--config", str(cfg), "--checkpoint", str(ckpt), "--ann", str(folder / "test_coco.json"),
              "--images", str(folder), "--boxes", str(folder / "test_coco_det_AP_H_56.json"), "--out", str(out),
              "--device", "cpu", "--quiet", "--nms", "none"))
    assert len(json.loads(out.read_text())) == 118


def _cli(*argv, torchrun=False):
    env = dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1", OMP_NUM_THREADS="1")
    cmd = [sys.executable]
    if torchrun:
        cmd += ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"]
    cmd += ["-m", "rmpe.cli.eval", *argv]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_torchrun_two_processes_match_one(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    folder = shared_data / "mmpose_coco"
    common = ["--config", str(cfg), "--checkpoint", str(ckpt), "--ann", str(folder / "test_coco.json"),
              "--images", str(folder), "--boxes", str(folder / "test_coco_det_AP_H_56.json"), "--device", "cpu",
              "--quiet", "--batch", "1", "--set", "pose_nms.score_threshold=0"]
    one = _cli(*common, "--out", str(tmp_path / "one.json"))
    assert one.returncode == 0, one.stderr
    two = _cli(*common, "--out", str(tmp_path / "two.json"), torchrun=True)
    assert two.returncode == 0, two.stderr
    m1 = json.loads((tmp_path / "one.metrics.json").read_text())
    m2 = json.loads((tmp_path / "two.metrics.json").read_text())
    assert m1["stats"] == m2["stats"]
    r1 = json.loads((tmp_path / "one.json").read_text())
    r2 = json.loads((tmp_path / "two.json").read_text())
    assert [r["image_id"] for r in r1] == [r["image_id"] for r in r2]
    np.testing.assert_allclose([r["keypoints"] for r in r1], [r["keypoints"] for r in r2], atol=1e-3)
    assert not list(tmp_path.glob("*.rank*.json"))


def _one_line_2(res, *words):
    assert res.returncode == 2, res.stderr
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("rmpe-eval: error:"), res.stderr
    for w in words:
        assert w in lines[0]


def test_bad_inputs_exit_2(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    folder = shared_data / "mmpose_coco"
    base = ["--config", str(cfg), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet", "--out", str(tmp_path / "r.json")]
    _one_line_2(_cli(*base, "--ann", str(folder / "test_coco.json"), "--images", str(tmp_path / "nope")), "image folder")
    noks = tmp_path / "boxes_only.json"
    data = json.loads((folder / "test_coco.json").read_text())
    for a in data["annotations"]:
        a.pop("keypoints", None)
        a.pop("num_keypoints", None)
    for c in data["categories"]:
        c.pop("keypoints", None)
    noks.write_text(json.dumps(data))
    _one_line_2(_cli(*base, "--ann", str(noks), "--images", str(folder)), "boxes_only.json")
    # a checkpoint made for 14 keypoints
    from rmpe.checkpoints import save_model_checkpoint
    from rmpe.config import load_config
    from rmpe.model import RMPEModel

    names = [f"k{i}" for i in range(14)]
    cfg14 = load_config(overrides=["model.name=fastpose_se18", "model.input_size=[128, 96]", "model.heatmap_size=[32, 24]",
                                   "model.num_keypoints=14", f"data.keypoint_names={names}", "data.flip_pairs=[]"])
    ck14 = tmp_path / "k14.pth"
    save_model_checkpoint(ck14, RMPEModel.from_config(cfg14))
    res = _cli("--config", str(cfg), "--checkpoint", str(ck14), "--device", "cpu", "--quiet",
               "--ann", str(folder / "test_coco.json"), "--images", str(folder), "--out", str(tmp_path / "r.json"))
    _one_line_2(res, "14")
    _one_line_2(_cli(*base, "--ann", str(folder / "test_coco.json"), "--images", str(folder), "--boxes", "maybe"), "--boxes")


def test_tune_nms_writes_loadable_params(shared_data, small_model_files, tmp_path):
    from pose_nms import load_params

    from rmpe.config import load_config

    cfg, ckpt = small_model_files
    folder = shared_data / "mmpose_coco"
    out_yaml = tmp_path / "tuned.yaml"
    res = run(_args("--config", str(cfg), "--checkpoint", str(ckpt), "--ann", str(folder / "test_coco.json"),
                    "--images", str(folder), "--boxes", str(folder / "test_coco_det_AP_H_56.json"),
                    "--out", str(tmp_path / "r.json"), "--device", "cpu", "--quiet", "--tune-nms",
                    "--tune-out", str(out_yaml), "--set", "pose_nms.score_threshold=0.0"))
    assert res["tuned_AP"] >= res["initial_AP"]
    params = load_params(out_yaml)
    assert params.score_threshold == 0.0
    cfg2 = load_config(cfg, overrides=[f"pose_nms.params_file={out_yaml}"])
    assert cfg2.pose_nms.params_file == str(out_yaml)


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory):
    from rmpe.data.synthetic import generate_dataset

    out = tmp_path_factory.mktemp("synth_eval")
    generate_dataset(out, 6, seed=11, size=(320, 240))
    return out


def test_synthetic_set_random_model_and_oracle(synthetic_set, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    ann, images = synthetic_set / "annotations.json", synthetic_set / "images"
    common = ["--ann", str(ann), "--images", str(images), "--boxes", "gt", "--device", "cpu", "--quiet"]
    metrics = run(_args("--config", str(cfg), "--checkpoint", str(ckpt), "--out", str(tmp_path / "rand.json"), *common))
    assert len(json.loads((tmp_path / "rand.json").read_text())) >= 0 and len(metrics["stats"]) == 10
    assert (tmp_path / "rand.metrics.json").exists()
    oracle = run(_args("--checkpoint", "unused.pth", "--out", str(tmp_path / "gt.json"), *common), model=GroundTruthOracle(ann))
    assert oracle["AP"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- issue 16: bad input at start


def _coco(shared_data):
    folder = shared_data / "mmpose_coco"
    return folder, folder / "test_coco.json"


def _snapshot(*paths):
    return {str(p): Path(p).read_bytes() for p in paths}


def test_detections_only_on_unknown_images_is_an_error_naming_both_id_ranges(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    folder, ann = _coco(shared_data)
    dets = tmp_path / "only_unknown.json"
    dets.write_text(json.dumps([{"image_id": 999999, "category_id": 1, "bbox": [10, 10, 50, 100], "score": 0.99},
                                {"image_id": 5, "category_id": 1, "bbox": [10, 10, 50, 100], "score": 0.9}]))
    before = _snapshot(dets, ann)
    out = tmp_path / "r.json"
    res = _cli("--config", str(cfg), "--checkpoint", str(ckpt), "--ann", str(ann), "--images", str(folder),
               "--boxes", str(dets), "--out", str(out), "--device", "cpu", "--quiet")
    _one_line_2(res, "5..999999", "785..197388", "only_unknown.json")
    assert not out.exists() and _snapshot(dets, ann) == before


def test_detections_on_unknown_images_are_counted(shared_data, tmp_path):
    folder, ann = _coco(shared_data)
    entries = json.loads((folder / "test_coco_det_AP_H_56.json").read_text())
    extra = [{"image_id": 999999, "category_id": 1, "bbox": [10, 10, 50, 100], "score": 0.99},
             {"image_id": "000000123456.jpg", "category_id": 1, "bbox": [10, 10, 50, 100], "score": 0.9}]
    dets = tmp_path / "dets_unknown_ids.json"
    dets.write_text(json.dumps(entries + extra))
    logged = []
    from rmpe.config import load_config
    from rmpe.eval_runner import evaluate_model

    metrics = evaluate_model(load_config(None, ["pose_nms.type=none"]), out=str(tmp_path / "r.json"), log=logged.append,
                             ann=str(ann), images=str(folder), boxes=str(dets), model=GroundTruthOracleOrNone(),
                             device="cpu", progress=False)
    note = [m for m in logged if "not in the annotation file" in m]
    assert len(note) == 1 and note[0].startswith("2 detections for images not in the annotation file")
    assert "123456" in note[0] and "999999" in note[0]
    assert metrics["num_results"] == len(entries)


class GroundTruthOracleOrNone:
    """Any pose for any box (the unknown-id count does not depend on the model)."""

    num_keypoints = 17

    def predict(self, images, image_index, boxes, **kwargs):
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        return centre[:, None, :].repeat(1, 17, 1), torch.full((len(boxes), 17), 0.9)


def test_out_that_cannot_be_written_is_refused_at_start(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    folder, ann = _coco(shared_data)
    base = ["--config", str(cfg), "--checkpoint", str(ckpt), "--ann", str(ann), "--images", str(folder),
            "--device", "cpu", "--quiet"]
    some_dir = tmp_path / "some_dir"
    some_dir.mkdir()
    _one_line_2(_cli(*base, "--out", str(some_dir)), "is a folder")
    afile = tmp_path / "afile"
    afile.write_text("x")
    _one_line_2(_cli(*base, "--out", str(afile / "r.json")), "is a file")
    assert afile.read_text() == "x" and not list(some_dir.iterdir())


def test_keypoint_count_of_annotations_is_checked_before_the_model_runs(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    folder, ann = _coco(shared_data)
    ann14 = annotations_with_keypoints(ann, 14, tmp_path / "ann14.json")
    out = tmp_path / "r.json"
    out.write_text("[]")  # an earlier run's results
    before = _snapshot(out, ann14)
    res = _cli("--config", str(cfg), "--checkpoint", str(ckpt), "--ann", str(ann14), "--images", str(folder),
               "--boxes", "gt", "--nms", "none", "--out", str(out), "--device", "cpu", "--quiet")
    _one_line_2(res, "ann14.json", "14", "17", "model.num_keypoints")
    assert _snapshot(out, ann14) == before


def test_a_failed_scoring_leaves_fresh_results_and_no_stale_metrics(shared_data, tmp_path, monkeypatch):
    import rmpe.eval_runner as runner
    from rmpe.errors import RMPEError

    folder, ann = _coco(shared_data)
    out = tmp_path / "r.json"
    out.write_text("[]")
    (tmp_path / "r.metrics.json").write_text('{"AP": 0.9}')  # stale, from an earlier run

    def fail(*a, **k):
        raise RMPEError("scoring failed")

    monkeypatch.setattr(runner, "score_results", fail)
    args = _args("--checkpoint", "unused.pth", "--ann", str(ann), "--images", str(folder), "--boxes", "gt",
                 "--out", str(out), "--device", "cpu", "--quiet", "--nms", "none")
    with pytest.raises(RMPEError):
        run(args, model=GroundTruthOracle(ann))
    assert len(json.loads(out.read_text())) > 0
    assert not (tmp_path / "r.metrics.json").exists()


def test_results_file_is_scored_without_a_model(shared_data, tmp_path):
    folder, ann = _coco(shared_data)
    # ground-truth keypoints as results: AP 1
    data = json.loads(ann.read_text())
    results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
               for a in data["annotations"] if not a.get("iscrowd") and a["num_keypoints"] > 0]
    res_file = tmp_path / "results.json"
    res_file.write_text(json.dumps(results))
    before = _snapshot(res_file, ann)
    r = _cli("--results", str(res_file), "--ann", str(ann))
    assert r.returncode == 0, r.stderr
    assert "Average Precision" in r.stdout
    metrics = json.loads((tmp_path / "results.metrics.json").read_text())
    assert metrics["AP"] == pytest.approx(1.0)
    assert _snapshot(res_file, ann) == before
    # --out names the metrics file
    r = _cli("--results", str(res_file), "--ann", str(ann), "--out", str(tmp_path / "m.json"))
    assert r.returncode == 0 and json.loads((tmp_path / "m.json").read_text())["AP"] == pytest.approx(1.0)
    # bad inputs: one line, exit 2
    _one_line_2(_cli("--results", str(tmp_path / "nope.json"), "--ann", str(ann)), "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    _one_line_2(_cli("--results", str(bad), "--ann", str(ann)), "bad.json")
    _one_line_2(_cli("--results", str(res_file), "--ann", str(ann), "--out", str(res_file)), "is the input")
    alphapose = tmp_path / "alphapose.json"  # rmpe-demo's default layout is not COCO results
    alphapose.write_text(json.dumps([{"image_id": "000000000785.jpg", "keypoints": [1.0] * 51, "score": 1.0}]))
    _one_line_2(_cli("--results", str(alphapose), "--ann", str(ann)), "category_id", "--format coco")
    assert _snapshot(res_file, ann) == before


def test_results_on_unknown_images_are_counted_or_refused(shared_data, tmp_path):
    folder, ann = _coco(shared_data)
    data = json.loads(ann.read_text())
    good = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
            for a in data["annotations"] if not a.get("iscrowd") and a["num_keypoints"] > 0]
    stray = {"image_id": 999999, "category_id": 1, "keypoints": [1.0] * 51, "score": 0.5}
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps(good + [stray]))
    r = _cli("--results", str(mixed), "--ann", str(ann))
    assert r.returncode == 0, r.stderr
    assert "1 results for images not in the annotation file (ids 999999)" in r.stderr
    only = tmp_path / "only.json"
    only.write_text(json.dumps([stray]))
    _one_line_2(_cli("--results", str(only), "--ann", str(ann)), "999999", "785..197388")


def test_eval_uses_the_checkpoint_config_without_config(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    folder, ann = _coco(shared_data)
    out = tmp_path / "r.json"
    r = _cli("--checkpoint", str(ckpt), "--ann", str(ann), "--images", str(folder), "--boxes", "gt",
             "--out", str(out), "--device", "cpu", "--quiet", "--max-images", "1")
    assert r.returncode == 0, r.stderr
    assert f"rmpe-eval: using the config stored in {ckpt}" in r.stderr.splitlines()
    # an input error stays the only line (the notice comes once the inputs are checked)
    (tmp_path / "d").mkdir()
    _one_line_2(_cli("--checkpoint", str(ckpt), "--ann", str(ann), "--images", str(folder), "--out", str(tmp_path / "d"),
                     "--device", "cpu", "--quiet"), "is a folder")


def test_config_that_differs_from_the_checkpoint_names_the_keys(shared_data, small_model_files, tmp_path):
    _, ckpt = small_model_files
    folder, ann = _coco(shared_data)
    other = tmp_path / "se50.yaml"
    other.write_text("model:\n  stn: true\n")
    r = _cli("--config", str(other), "--checkpoint", str(ckpt), "--ann", str(ann), "--images", str(folder),
             "--device", "cpu", "--quiet", "--out", str(tmp_path / "r.json"))
    _one_line_2(r, "model.name", "model.input_size", "model.heatmap_size", "model.stn")
    assert "model.num_keypoints" not in r.stderr


def test_bad_numeric_flags_are_one_line(shared_data, tmp_path):
    _one_line_2(_cli("--checkpoint", "x.pth", "--max-images", "0"), "--max-images")
    _one_line_2(_cli("--checkpoint", "x.pth", "--batch", "-1"), "--batch")
    _one_line_2(_cli("--checkpoint", "x.pth", "--bogus"), "--bogus", "see --help")
