"""rmpe-demo end to end on real videos and images with a random-weight model."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from rmpe.cli.demo import main as demo_main

ROOT = Path(__file__).resolve().parents[3]


def _video_dets(path, frames, boxes_per_frame=3, seed=0):
    """A detection file with a fixed number of boxes on every frame of a video (image_id = frame index)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(frames):
        for j in range(boxes_per_frame):
            x, y = 60 + 120 * j + rng.uniform(0, 5), 40 + rng.uniform(0, 5)
            out.append({"image_id": i, "category_id": 1, "bbox": [x, y, 90, 220], "score": 0.9 - 0.1 * j})
    Path(path).write_text(json.dumps(out))


def _args(cfg, ckpt, *extra):
    return ["--config", str(cfg), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet", *extra]


def test_video_output_matches_input(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    video = shared_data / "mmpose_demo" / "demo.mp4"
    cap = cv2.VideoCapture(str(video))
    n, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    dets = tmp_path / "dets.json"
    _video_dets(dets, n)
    out, js = tmp_path / "out.mp4", tmp_path / "out.json"
    code = demo_main(_args(cfg, ckpt, "--video", str(video), "--detector", str(dets), "--out", str(out),
                           "--json", str(js), "--set", "pose_nms.type=none", "--show-boxes"))
    assert code == 0
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == n
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (w, h)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(fps, rel=1e-3)
    cap.release()
    data = json.loads(js.read_text())
    per_frame = {}
    for rec in data:
        per_frame.setdefault(rec["image_id"], []).append(rec)
        assert rec["category_id"] == 1 and len(rec["keypoints"]) == 51 and len(rec["box"]) == 4
    assert sorted(per_frame) == sorted(f"{i}.jpg" for i in range(n))
    assert all(len(v) == 3 for v in per_frame.values())
    assert not Path(str(js) + ".partial.jsonl").exists()


@pytest.mark.parametrize("fmt", ["coco", "openpose"])
def test_image_folder_formats(shared_data, small_model_files, tmp_path, fmt):
    cfg, ckpt = small_model_files
    folder = shared_data / "mmpose_coco"
    dets = folder / "test_coco_det_AP_H_56.json"
    js, out = tmp_path / "r.json", tmp_path / "rendered"
    code = demo_main(_args(cfg, ckpt, "--images", str(folder), "--detector", str(dets), "--json", str(js),
                           "--format", fmt, "--out", str(out), "--set", "pose_nms.score_threshold=0"))
    assert code == 0
    data = json.loads(js.read_text())
    names = sorted(p.name for p in folder.glob("*.jpg"))
    assert sorted(os.listdir(out)) == names
    if fmt == "coco":
        assert {r["image_id"] for r in data} <= {785, 40083, 196141, 197388}
        assert all(len(r["keypoints"]) == 51 for r in data)
    else:
        assert [f["frame"] for f in data] == list(range(4))
        assert all(len(p["pose_keypoints_2d"]) == 54 for f in data for p in f["people"])


def test_sigkill_leaves_parsable_jsonl(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    video = shared_data / "videos" / "vtest_pets2009_480x360.avi"
    dets = tmp_path / "dets.json"
    _video_dets(dets, 795, boxes_per_frame=2)
    js = tmp_path / "kill.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rmpe.cli.demo", *_args(cfg, ckpt, "--video", str(video), "--detector", str(dets),
                                                         "--json", str(js), "--batch", "2")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    partial = Path(str(js) + ".partial.jsonl")
    deadline = time.time() + 120
    while time.time() < deadline:
        if partial.exists() and partial.read_text().count("\n") >= 6:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lines = partial.read_text().splitlines()
    assert len(lines) >= 6
    frames = [json.loads(l)["frame"] for l in lines if l.strip()]
    assert frames == list(range(len(frames)))
    assert not js.exists()


def _run_cli(args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "rmpe.cli.demo", *args], env=env, capture_output=True, text=True, timeout=120)


def _one_line_error(res, *words):
    assert res.returncode == 2, res.stderr
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("rmpe-demo: error:")
    for w in words:
        assert w in lines[0]


def test_bad_inputs_exit_2(small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    base = ["--config", str(cfg), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet"]
    _one_line_error(_run_cli(base + ["--video", str(tmp_path / "missing.mp4")]), "not found")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _one_line_error(_run_cli(base + ["--video", str(empty)]), "empty")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    _one_line_error(_run_cli(base + ["--video", str(text)]), "notes.mp4")
    _one_line_error(_run_cli(["--video", str(text)]), "--checkpoint", "fast_res50_256x192.pth")
    img = tmp_path / "a.jpg"
    cv2.imwrite(str(img), np.zeros((64, 64, 3), np.uint8))
    _one_line_error(_run_cli(base + ["--image", str(img), "--detector", str(tmp_path / "yolo_missing.pt")]), "yolo_missing.pt")


def test_truncated_video_and_mismatched_checkpoint(shared_data, small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    src = (shared_data / "mmpose_demo" / "demo.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src[: len(src) // 3])
    res = _run_cli(["--config", str(cfg), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet", "--video", str(cut),
                    "--detector", str(tmp_path / "none.json")])
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    # a checkpoint of another architecture than the config asks for
    (tmp_path / "se50.yaml").write_text("device: cpu\n")  # issue 16: without --config the checkpoint's own is used
    res = _run_cli(["--config", str(tmp_path / "se50.yaml"), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet",
                    "--image", str(shared_data / "mmpose_demo" / "human-pose.jpeg")])
    _one_line_error(res, "small.pth", "model.name")


def test_unreadable_image_in_folder_is_skipped(small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.full((120, 90, 3), 128, np.uint8))
    (folder / "b.jpg").write_bytes(b"garbage")
    dets = tmp_path / "d.json"
    dets.write_text(json.dumps([{"image_id": "a.jpg", "category_id": 1, "bbox": [10, 10, 50, 90], "score": 0.9}]))
    js = tmp_path / "r.json"
    res = _run_cli(["--config", str(cfg), "--checkpoint", str(ckpt), "--device", "cpu", "--images", str(folder),
                    "--detector", str(dets), "--json", str(js), "--set", "pose_nms.type=none"])
    assert res.returncode == 0, res.stderr
    assert "1 unreadable images skipped" in res.stderr
    data = json.loads(js.read_text())
    assert [r["image_id"] for r in data] == ["a.jpg"]
