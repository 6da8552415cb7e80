"""Synthetic video: mp4 frames, per-frame annotations and detections, smooth motion."""
from __future__ import annotations

import contextlib
import io
import json

import cv2
import numpy as np
import pytest

from rmpe.cli.synth import main as synth_main
from rmpe.data.synthetic import generate_video
from rmpe.errors import RMPEError

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    out = tmp_path_factory.mktemp("video")
    summary = generate_video(out / "walk.mp4", 2.0, seed=3, fps=10, size=(192, 144), num_people=3)
    return out, summary


def test_video_files_and_frames(video):
    out, summary = video
    assert summary["num_frames"] == 20 and summary["fps"] == 10
    assert summary["video"] == str(out / "walk.mp4")
    assert summary["annotations"] == str(out / "walk.annotations.json")
    cap = cv2.VideoCapture(summary["video"])
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 20 and frames[0].shape == (144, 192, 3)
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0  # people moved


def test_per_frame_annotations_and_detections(video):
    out, summary = video
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(summary["annotations"])
        dets = gt.loadRes(summary["detections"])
    assert sorted(gt.getImgIds()) == list(range(20))  # image id = frame index
    assert all(gt.imgs[i]["frame_index"] == i for i in range(20))
    for t in range(20):
        anns = gt.loadAnns(gt.getAnnIds(imgIds=[t]))
        assert sorted(a["track_id"] for a in anns) == [0, 1, 2]  # the same people in every frame
        assert len(dets.getAnnIds(imgIds=[t])) >= 1
    assert summary["num_annotations"] == 60


def test_motion_is_smooth(video):
    out, summary = video
    data = json.loads(open(summary["annotations"]).read())
    tracks = {}
    for a in data["annotations"]:
        tracks.setdefault(a["track_id"], {})[a["image_id"]] = a
    moved = 0.0
    for track in tracks.values():
        for t in range(1, 20):
            a, b = track[t - 1], track[t]
            ka, kb = np.array(a["keypoints"]).reshape(17, 3), np.array(b["keypoints"]).reshape(17, 3)
            both = (ka[:, 2] > 0) & (kb[:, 2] > 0)
            step = np.linalg.norm(ka[both, :2] - kb[both, :2], axis=1)
            height = max(a["bbox"][3], b["bbox"][3])
            assert step.max() < 0.25 * height  # no jumps between frames
            moved += step.mean()
    assert moved > 5.0


def test_video_is_deterministic(tmp_path, video):
    out, summary = video
    again = generate_video(tmp_path / "walk.mp4", 2.0, seed=3, fps=10, size=(192, 144), num_people=3)
    assert open(summary["annotations"], "rb").read() == open(again["annotations"], "rb").read()
    assert open(summary["detections"], "rb").read() == open(again["detections"], "rb").read()


def test_folder_output_names(tmp_path):
    summary = generate_video(tmp_path / "v", 0.3, seed=1, fps=10, size=(96, 64), num_people=1)
    assert summary["video"] == str(tmp_path / "v" / "video.mp4") and summary["num_frames"] == 3
    assert summary["annotations"] == str(tmp_path / "v" / "annotations.json")
    assert summary["detections"] == str(tmp_path / "v" / "detections.json")
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["annotations.json", "detections.json", "video.mp4"]


def test_video_bad_arguments(tmp_path):
    with pytest.raises(RMPEError, match="seconds"):
        generate_video(tmp_path, 0, seed=0)
    with pytest.raises(RMPEError, match="frame rate"):
        generate_video(tmp_path, 1, seed=0, fps=-1)
    with pytest.raises(RMPEError, match="seed"):
        generate_video(tmp_path, 1, seed=-1)


def test_cli_writes_a_video(tmp_path, capsys):
    code = synth_main(["--out", str(tmp_path / "w.mp4"), "--video", "0.5", "--size", "96x64", "--people", "2",
                       "--fps", "8", "--write-frames", "--quiet"])
    assert code == 0
    assert "wrote a 4-frame lanes video (96x64, 8 fps, 2 people)" in capsys.readouterr().out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["w.annotations.json", "w.detections.json", "w.mp4", "w_frames"]
    assert sorted(p.name for p in (tmp_path / "w_frames").iterdir()) == [f"frame_{i:06d}.jpg" for i in range(4)]


def test_video_without_people(tmp_path):
    summary = generate_video(tmp_path / "empty.mp4", 0.5, seed=2, fps=10, size=(96, 64), num_people=0)
    data = json.loads(open(summary["annotations"]).read())
    assert summary["num_frames"] == 5 and data["annotations"] == [] and len(data["images"]) == 5
    dets = json.loads(open(summary["detections"]).read())
    assert all(d["score"] < 0.7 for d in dets)  # only false positives (scores 0.05..0.6 plus noise)
