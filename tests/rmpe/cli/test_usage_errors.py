"""Every CLI reports a bad command line as exactly one ``rmpe-xxx: error: ... (see --help)`` line, exit 2."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.shared import annotations_with_keypoints

ROOT = Path(__file__).resolve().parents[3]


def _run(tool, *argv, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", f"rmpe.cli.{tool}", *argv], env=env, capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def _one_line(res, tool, *words):
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"rmpe-{tool}: error: "), lines[0]
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("tool,argv", [
    ("demo", ["--video", "v.mp4", "--bogus"]),
    ("eval", ["--checkpoint", "c.pth", "--bogus"]),
    ("train", ["--config", "c.yaml", "--bogus"]),
    ("synth", ["--out", "o", "--bogus"]),
    ("pgpg", ["show", "--model", "m.npz", "--bogus"]),
])
def test_unknown_flag_is_one_line(tool, argv):
    line = _one_line(_run(tool, *argv), tool, "--bogus", "(see --help)")
    assert "usage:" not in line


@pytest.mark.parametrize("tool,argv,word", [
    ("demo", ["--video", "v.mp4", "--batch", "0"], "--batch"),
    ("demo", ["--video", "v.mp4", "--sppe-batch", "x"], "--sppe-batch"),
    ("eval", ["--checkpoint", "c.pth", "--max-images", "0"], "--max-images"),
    ("eval", ["--checkpoint", "c.pth", "--nms", "maybe"], "--nms"),
    ("pgpg", ["fit", "--ann", "a", "--dets", "d", "--out", "o", "--k", "many"], "--k"),
    ("pgpg", [], "command"),
])
def test_bad_values_are_one_line(tool, argv, word):
    _one_line(_run(tool, *argv), tool, word)


def test_help_still_prints_usage():
    res = _run("eval", "--help")
    assert res.returncode == 0 and "usage: rmpe-eval" in res.stdout


def test_train_workdir_that_is_a_file_is_refused_at_start(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  epochs: 1\n")
    _one_line(_run("train", "--config", str(cfg), "--workdir", str(afile)), "train", "--workdir", "is a file")
    _one_line(_run("train", "--config", str(cfg), "--workdir", str(afile / "sub")), "train", "is a file")
    assert afile.read_text() == "mine"


def test_out_of_range_setting_names_key_and_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("codec:\n  sigma: 0\n")
    _one_line(_run("train", "--config", str(cfg), "--workdir", str(tmp_path / "w")), "train", "codec.sigma", "c.yaml")
    _one_line(_run("train", "--config", str(cfg.with_name("x.yaml")), "--workdir", str(tmp_path / "w")), "train",
              "x.yaml")
    assert not (tmp_path / "w").exists()


def test_train_keypoint_count_of_annotations_is_checked_at_start(shared_data, tmp_path):
    ann14 = annotations_with_keypoints(shared_data / "mmpose_coco" / "test_coco.json", 14, tmp_path / "ann14.json")
    cfg = tmp_path / "c14.yaml"
    cfg.write_text(f"data:\n  train_ann: {ann14}\n  train_images: {shared_data / 'mmpose_coco'}\n"
                   "model:\n  name: fastpose_se18\n  input_size: [128, 96]\n  heatmap_size: [32, 24]\n"
                   "train:\n  epochs: 1\n")
    work = tmp_path / "w"
    _one_line(_run("train", "--config", str(cfg), "--workdir", str(work), "--quiet"), "train", "ann14.json", "14", "17")
    assert not work.exists()


def test_numeric_flag_types_refuse_nan_and_out_of_range():
    from rmpe.cli.options import ArgumentParser, UsageError, float_in, int_at_least

    p = ArgumentParser(prog="rmpe-x")
    p.add_argument("--threshold", type=float_in(0, 1))
    p.add_argument("--max-frames", type=int_at_least(1))
    assert p.parse_args(["--threshold", "0.5", "--max-frames", "3"]).max_frames == 3
    for argv, word in ((["--threshold", "nan"], "--threshold"), (["--threshold", "inf"], "--threshold"),
                       (["--threshold", "1.5"], "[0, 1]"), (["--max-frames", "-3"], "at least 1"),
                       (["--max-frames", "2.5"], "integer")):
        with pytest.raises(UsageError) as info:
            p.parse_args(argv)
        assert word in str(info.value) and str(info.value).endswith("(see --help)")
