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


TRACKED = ["--track", "--format", "coco", "--nms", "none"]  # a random model's poses all kept, each with a track_id


@pytest.mark.parametrize("extra", [[], TRACKED], ids=["plain", "track"])
def test_sigkill_leaves_parsable_jsonl(shared_data, small_model_files, tmp_path, extra):
    cfg, ckpt = small_model_files
    video = shared_data / "videos" / "vtest_pets2009_480x360.avi"
    dets = tmp_path / "dets.json"
    _video_dets(dets, 795, boxes_per_frame=2)
    js = tmp_path / "kill.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rmpe.cli.demo", *_args(cfg, ckpt, "--video", str(video), "--detector", str(dets),
                                                         "--json", str(js), "--batch", "2", *extra)],
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
    if extra:  # every written frame has its two people with their ids: 1 and 2 from the first frame on
        for line in lines:
            records = json.loads(line)["records"]
            assert sorted(r["track_id"] for r in records) == [1, 2], line[:200]


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
    assert "Warning" not in res.stderr  # no raw Python warning, one clean line instead
    notices = [l for l in res.stderr.splitlines() if l.startswith("rmpe-demo: warning: ")]
    assert notices == [f"rmpe-demo: warning: skipping unreadable image {folder / 'b.jpg'}"]
    data = json.loads(js.read_text())
    assert [r["image_id"] for r in data] == ["a.jpg"]


# ---------------------------------------------------------------------------------------------
# Issue 16: user mistakes end in one line and exit status 2, before the work; nothing the user
# owns is overwritten; interrupts finish cleanly; the partial JSON can be recovered.


def _digest(*paths):
    """{path: bytes} of every file under ``paths`` (files or folders), to compare before/after."""
    out = {}
    for p in paths:
        p = Path(p)
        for f in ([p] if p.is_file() else sorted(p.rglob("*"))):
            if f.is_file():
                out[str(f)] = f.read_bytes()
    return out


@pytest.fixture
def no_model(monkeypatch):
    """The refusals must come before any model is built."""
    import rmpe.api

    def refuse(*a, **k):
        raise AssertionError("the pose model was loaded before the bad output path was refused")

    monkeypatch.setattr(rmpe.api, "PoseEstimator", refuse)


def _refused(capfd, argv, *words):
    code = demo_main(argv)
    err = [l for l in capfd.readouterr().err.splitlines() if l.strip()]
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("rmpe-demo: error: "), err
    for w in words:
        assert w in err[0], err[0]
    return err[0]


@pytest.fixture
def user_files(shared_data, tmp_path):
    """A copied real video, a folder of copied real images and a detection file, owned by 'the user'."""
    import shutil

    video = tmp_path / "v.mp4"
    shutil.copy(shared_data / "videos" / "mmaction2_test_video_structuralize.mp4", video)
    folder = tmp_path / "d"
    folder.mkdir()
    for name in ("zidane.jpg", "bus.jpg"):
        shutil.copy(shared_data / "yolov5_images" / name, folder / name)
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 0, "category_id": 1, "bbox": [10, 10, 50, 90], "score": 0.9}]))
    return video, folder, dets


def test_output_that_is_an_input_is_refused(small_model_files, user_files, tmp_path, capfd, no_model):
    cfg, ckpt = small_model_files
    video, folder, dets = user_files
    before = _digest(video, folder, dets, cfg, ckpt)
    (tmp_path / "sym.mp4").symlink_to(video)
    os.link(video, tmp_path / "hard.mp4")
    img = folder / "zidane.jpg"
    v = ["--video", str(video), "--detector", str(dets)]
    _refused(capfd, _args(cfg, ckpt, *v, "--out", str(video)), "--out", "is the input", "v.mp4")
    _refused(capfd, _args(cfg, ckpt, *v, "--out", str(tmp_path / "sym.mp4")), "--out", "is the input")
    _refused(capfd, _args(cfg, ckpt, *v, "--out", str(tmp_path / "hard.mp4")), "--out", "is the input")
    _refused(capfd, _args(cfg, ckpt, *v, "--json", str(video)), "--json", "is the input")
    _refused(capfd, _args(cfg, ckpt, *v, "--json", str(dets)), "--json", "is the input", "dets.json")
    _refused(capfd, _args(cfg, ckpt, *v, "--json", str(ckpt)), "--json", "is the input")
    _refused(capfd, _args(cfg, ckpt, "--images", str(folder), "--out", str(folder)), "--out", "input folder")
    _refused(capfd, _args(cfg, ckpt, "--images", str(folder), "--out", str(folder / "rendered")), "inside the input folder")
    _refused(capfd, _args(cfg, ckpt, "--image", str(img), "--out", str(img)), "--out", "is the input")
    _refused(capfd, _args(cfg, ckpt, "--image", str(img), "--out", str(folder)), "--out", "zidane.jpg")
    assert _digest(video, folder, dets, cfg, ckpt) == before
    assert sorted(os.listdir(folder)) == ["bus.jpg", "zidane.jpg"]
    assert not list(tmp_path.glob("*.partial*"))


def test_output_locations_are_checked_at_start(small_model_files, user_files, tmp_path, capfd, no_model):
    cfg, ckpt = small_model_files
    video, folder, dets = user_files
    v = ["--video", str(video), "--detector", str(dets)]
    jdir = tmp_path / "jdir"
    jdir.mkdir()
    _refused(capfd, _args(cfg, ckpt, *v, "--json", str(jdir)), "--json", "jdir is a folder")
    _refused(capfd, _args(cfg, ckpt, *v, "--out", "/proc/nope/x.mp4"), "--out /proc/nope/x.mp4", "cannot write")
    _refused(capfd, _args(cfg, ckpt, *v, "--json", "/proc/nope/x.json"), "--json", "cannot write")
    _refused(capfd, _args(cfg, ckpt, *v, "--out", str(tmp_path / "out_noext")), "--out", ".mp4")
    _refused(capfd, _args(cfg, ckpt, *v, "--out", str(tmp_path / "out.txt")), "--out", ".mp4")
    _refused(capfd, _args(cfg, ckpt, "--images", str(folder), "--out", str(tmp_path / "o.mp4")), "--out", "folder")
    same = str(tmp_path / "r.avi")
    _refused(capfd, _args(cfg, ckpt, *v, "--out", same, "--json", same), "--json", "--out")
    # the partial file of a killed run is the only copy of its results: never clobbered
    left = jdir / "k.json.partial.jsonl"
    left.write_text('{"frame": 0, "image_id": 0, "records": []}\n')
    _refused(capfd, _args(cfg, ckpt, *v, "--json", str(jdir / "k.json")), "--recover", str(left))
    assert left.read_text() == '{"frame": 0, "image_id": 0, "records": []}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "dets.json", "jdir", "v.mp4"]


@pytest.mark.parametrize("argv, words", [
    (["--threshold", "nan"], ["--threshold", "nan"]),
    (["--threshold", "1.5"], ["--threshold", "between 0 and 1"]),
    (["--threshold", "-0.1"], ["--threshold"]),
    (["--max-frames", "-3"], ["--max-frames", "-3"]),
    (["--max-frames", "0"], ["--max-frames"]),
])
def test_out_of_range_flags(small_model_files, user_files, capfd, no_model, argv, words):
    cfg, ckpt = small_model_files
    video, folder, dets = user_files
    _refused(capfd, _args(cfg, ckpt, "--video", str(video), "--detector", str(dets), *argv), *words)


def test_single_line_errors_from_the_command_line(small_model_files, tmp_path):
    """The real CLI: OpenCV's own logging and Python warnings never add lines."""
    cfg, ckpt = small_model_files
    base = ["--config", str(cfg), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet"]
    _one_line_error(_run_cli(base + ["--webcam", "7"]), "webcam 7")
    img = tmp_path / "a.jpg"
    cv2.imwrite(str(img), np.zeros((64, 64, 3), np.uint8))
    _one_line_error(_run_cli(base + ["--image", str(img), "--out", "/proc/nope/x.jpg"]), "--out", "/proc/nope")


@pytest.mark.parametrize("fmt", ["alphapose", "coco", "openpose"])
def test_single_image_output_keeps_the_input_image_id(shared_data, small_model_files, tmp_path, fmt):
    """--image FILE --out NAME.jpg: NAME.jpg is the rendering; the results name the input."""
    cfg, ckpt = small_model_files
    image = shared_data / "mmpose_coco" / "000000000785.jpg"
    dets = shared_data / "mmpose_coco" / "test_coco_det_AP_H_56.json"
    out, js = tmp_path / "NAME.jpg", tmp_path / "r.json"
    code = demo_main(_args(cfg, ckpt, "--image", str(image), "--detector", str(dets), "--out", str(out),
                           "--json", str(js), "--format", fmt, "--set", "pose_nms.type=none"))
    assert code == 0
    assert sorted(os.listdir(tmp_path)) == ["NAME.jpg", "r.json"]
    assert cv2.imread(str(out)).shape == cv2.imread(str(image)).shape
    data = json.loads(js.read_text())
    assert "NAME" not in js.read_text()
    if fmt == "alphapose":
        assert data and {r["image_id"] for r in data} == {"000000000785.jpg"}
    elif fmt == "coco":
        assert data and {r["image_id"] for r in data} == {785}
    else:
        assert [f["frame"] for f in data] == [0] and data[0]["people"]


def _wait_for_lines(path, n, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError(f"{path} did not get {n} lines")


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_finishes_cleanly(shared_data, small_model_files, tmp_path, sig, status):
    """SIGTERM (timeout, docker stop, schedulers) and Ctrl-C: final JSON and a playable video."""
    cfg, ckpt = small_model_files
    video = shared_data / "videos" / "vtest_pets2009_480x360.avi"
    dets = tmp_path / "dets.json"
    _video_dets(dets, 795, boxes_per_frame=2)
    js, out = tmp_path / "t.json", tmp_path / "t.mp4"
    env = dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rmpe.cli.demo", *_args(cfg, ckpt, "--video", str(video), "--detector", str(dets),
                                                         "--json", str(js), "--out", str(out), "--format", "openpose",
                                                         "--batch", "2")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _wait_for_lines(Path(str(js) + ".partial.jsonl"), 4, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"rmpe-demo: interrupted by {sig.name} after "), err
    data = json.loads(js.read_text())
    n = len(data)
    assert n >= 4 and [f["frame"] for f in data] == list(range(n))
    assert f"after {n} frames" in lines[0] and str(js) in lines[0]
    assert not Path(str(js) + ".partial.jsonl").exists()
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened()
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == n
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dets.json", "t.json", "t.mp4"]


def test_recover_turns_a_partial_file_into_the_final_json(small_model_files, tmp_path, capfd):
    """After a hard kill only FILE.partial.jsonl is left: --recover writes FILE from it."""
    from rmpe.results_io import IncrementalResults
    from rmpe.structures import FrameResult, Person

    final = tmp_path / "run.json"
    res = IncrementalResults(str(final), "alphapose")
    rng = np.random.default_rng(0)
    for i in range(5):
        kp = np.concatenate([rng.uniform(0, 100, (17, 2)), rng.uniform(0, 1, (17, 1))], 1).astype(np.float32)
        res.write(FrameResult(i, [Person(kp, np.array([1, 2, 30, 40], np.float32), 0.9)] * (i % 3), image_id=i))
    killed = tmp_path / "killed.json.partial.jsonl"
    killed.write_bytes(Path(res.partial).read_bytes() + b'{"frame": 5, "image_id": 5, "reco')
    before = killed.read_bytes()
    res.finalize()
    code = demo_main(["--recover", str(killed)])
    err = [l for l in capfd.readouterr().err.splitlines() if l.strip()]
    assert code == 0
    assert err == [f"rmpe-demo: recovered 5 frames from {killed} into {tmp_path / 'killed.json'} "
                   "(1 torn last line skipped)"]
    assert (tmp_path / "killed.json").read_bytes() == final.read_bytes()
    assert killed.read_bytes() == before  # the input is left as it was
    other = tmp_path / "elsewhere" / "x.json"
    assert demo_main(["--recover", str(killed), "--json", str(other), "--quiet"]) == 0
    assert other.read_bytes() == final.read_bytes()
    capfd.readouterr()
    # mistakes
    _refused(capfd, ["--recover", str(tmp_path / "missing.partial.jsonl")], "not found")
    _refused(capfd, ["--recover", str(final)], "--json")
    _refused(capfd, ["--recover", str(killed), "--json", str(killed)], "is the input")
    bad = tmp_path / "bad.json.partial.jsonl"
    bad.write_text('{"frame": 0, "image_id": 0, "records": []}\nnot json\n{"frame": 2, "image_id": 2, "records": []}\n')
    _refused(capfd, ["--recover", str(bad)], "line 2")
    assert not (tmp_path / "bad.json").exists()


def test_skip_and_truncation_notices_are_one_clean_line(small_model_files, tmp_path):
    cfg, ckpt = small_model_files
    video = tmp_path / "cut.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for i in range(30):
        w.write(np.random.default_rng(i).integers(0, 255, (64, 96, 3), dtype=np.uint8))
    w.release()
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    dets = tmp_path / "none.json"
    dets.write_text("[]")
    res = _run_cli(["--config", str(cfg), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet",
                    "--video", str(video), "--detector", str(dets), "--json", str(tmp_path / "r.json")])
    assert res.returncode == 0, res.stderr
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("rmpe-demo: warning: "), res.stderr
    assert "cut.avi" in lines[0] and "of 30 frames" in lines[0]
