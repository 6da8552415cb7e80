"""Tracking in the pipeline: PoseEstimator.predict_video(track=True) and rmpe-demo --track,
on a synthetic video with its simulated detections and a random-weight model."""
import json
import shutil
from pathlib import Path

import pytest

from rmpe.api import PoseEstimator
from rmpe.cli.demo import main as demo_main
from rmpe.data.synthetic import generate_video

# a random model's keypoint scores are tiny: keep every pose (pose NMS still runs, parametric)
KEEP_ALL = "pose_nms.score_threshold=0"


@pytest.fixture(scope="module")
def synthetic_video(tmp_path_factory):
    # These tests check how ids travel through the pipeline and the output files, with a
    # random-weight model whose poses pose NMS cannot tell apart: the simulated detector's
    # persistent duplicates and occlusion misses are switched off here (the tracker's quality
    # on them is what benchmarks/bench_tracking.py measures).
    from rmpe.data.synthetic.config import SimulatedDetectorConfig, SyntheticConfig

    folder = tmp_path_factory.mktemp("track_video")
    world = SyntheticConfig(detector=SimulatedDetectorConfig(duplicate_prob=0.0, miss_occlusion_prob=0.0))
    return generate_video(folder / "walk.mp4", 3.0, seed=1, fps=10, size=(320, 240), num_people=3, config=world)


def _longest_runs(frames_ids):
    """id -> the longest run of consecutive frames it appears in."""
    best, current = {}, {}
    for ids in frames_ids:
        current = {i: current.get(i, 0) + 1 for i in ids}
        for i, n in current.items():
            best[i] = max(best.get(i, 0), n)
    return best


def test_predict_video_gives_consistent_ids(small_model_files, synthetic_video):
    cfg, ckpt = small_model_files
    est = PoseEstimator(config=cfg, checkpoint=str(ckpt), detector=synthetic_video["detections"], device="cpu",
                        overrides=[KEEP_ALL], batch=4)
    frames = list(est.predict_video(synthetic_video["video"], track=True))
    assert len(frames) == synthetic_video["num_frames"] == 30
    per_frame = [[p.track_id for p in people if p.track_id is not None] for _, people in frames]
    assert all(len(ids) == len(set(ids)) for ids in per_frame)  # unique within every frame
    assert sorted(per_frame[0]) == [1, 2, 3]  # the first frame confirms at once
    runs = _longest_runs(per_frame)
    assert sum(n >= 15 for n in runs.values()) >= 3  # each walker keeps its id for many frames
    assert len(runs) <= 6  # no id churn
    assert all(isinstance(i, int) for ids in per_frame for i in ids)
    # without tracking nobody gets an id, and the poses are the same
    plain = list(est.predict_video(synthetic_video["video"]))
    assert all(p.track_id is None for _, people in plain for p in people)
    assert [[p.to_dict() for p in people] for _, people in plain] == \
        [[{k: v for k, v in p.to_dict().items() if k != "track_id"} for p in people] for _, people in frames]


def _demo(cfg, ckpt, video, *extra):
    return demo_main(["--config", str(cfg), "--checkpoint", str(ckpt), "--device", "cpu", "--quiet",
                      "--video", video["video"], "--detector", video["detections"], "--set", KEEP_ALL, *extra])


def test_demo_track_writes_ids_in_json_and_jsonl(small_model_files, synthetic_video, tmp_path, monkeypatch):
    from rmpe.results_io import IncrementalResults

    cfg, ckpt = small_model_files
    kept = tmp_path / "kept.partial.jsonl"
    finalize = IncrementalResults.finalize

    def keep_partial(self):  # a copy of the JSONL as it stood before finalising
        if Path(self.partial).exists() and not kept.exists():
            shutil.copy(self.partial, kept)
        return finalize(self)

    monkeypatch.setattr(IncrementalResults, "finalize", keep_partial)
    js = tmp_path / "t.json"
    assert _demo(cfg, ckpt, synthetic_video, "--track", "--format", "coco", "--json", str(js)) == 0
    data = json.loads(js.read_text())
    assert data and all("track_id" in r for r in data)
    by_frame = {}
    for r in data:
        by_frame.setdefault(r["image_id"], []).append(r["track_id"])
    assert sorted(by_frame) == list(range(30))
    assert all(len([i for i in ids if i >= 0]) == len({i for i in ids if i >= 0}) for ids in by_frame.values())
    assert sorted(by_frame[0]) == [1, 2, 3]
    lines = [json.loads(l) for l in kept.read_text().splitlines() if l.strip()]
    assert [l["frame"] for l in lines] == list(range(30))
    assert [r["track_id"] for l in lines for r in l["records"]] == [r["track_id"] for r in data]

    # the same run without tracking: the records are the tracked ones less track_id, and
    # --no-track writes byte for byte what no flag writes
    plain, off = tmp_path / "plain.json", tmp_path / "off.json"
    kept.unlink()
    assert _demo(cfg, ckpt, synthetic_video, "--format", "coco", "--json", str(plain)) == 0
    assert _demo(cfg, ckpt, synthetic_video, "--no-track", "--format", "coco", "--json", str(off)) == 0
    assert plain.read_bytes() == off.read_bytes()
    untracked = json.loads(plain.read_text())
    assert all("track_id" not in r for r in untracked)
    assert untracked == [{k: v for k, v in r.items() if k != "track_id"} for r in data]


@pytest.mark.parametrize("fmt", ["alphapose", "openpose"])
def test_demo_track_other_formats_and_rendering(small_model_files, synthetic_video, tmp_path, fmt):
    cfg, ckpt = small_model_files
    js, out = tmp_path / "t.json", tmp_path / "t.mp4"
    assert _demo(cfg, ckpt, synthetic_video, "--track", "--trails", "8", "--format", fmt, "--json", str(js),
                 "--out", str(out), "--max-frames", "6") == 0
    data = json.loads(js.read_text())
    if fmt == "alphapose":
        first = sorted(r["idx"][0] for r in data if r["image_id"] == "0.jpg")
    else:
        first = sorted(p["person_id"][0] for p in data[0]["people"])
    assert first == [1, 2, 3]
    assert out.exists() and out.stat().st_size > 0


def test_demo_rejects_negative_trails(small_model_files, synthetic_video, capfd):
    cfg, ckpt = small_model_files
    assert _demo(cfg, ckpt, synthetic_video, "--track", "--trails", "-1") == 2
    assert "--trails" in capfd.readouterr().err


def test_tracking_hands_backbone_features_to_the_tracker_and_smooths(small_model_files, synthetic_video, monkeypatch):
    import numpy as np

    from rmpe.tracking import PoseTracker
    from rmpe.tracking.smoothing import KeypointSmoother

    cfg, ckpt = small_model_files
    seen = []
    original = PoseTracker.update

    def spy(self, boxes, scores, keypoints, keypoint_scores, features=None):
        seen.append(None if features is None else np.array(features))
        return original(self, boxes, scores, keypoints, keypoint_scores, features=features)

    monkeypatch.setattr(PoseTracker, "update", spy)
    est = PoseEstimator(config=cfg, checkpoint=str(ckpt), detector=synthetic_video["detections"], device="cpu",
                        overrides=[KEEP_ALL], batch=4)
    tracked = list(est.predict_video(synthetic_video["video"], track=True))
    assert est.pipeline.features is False  # switched on only while tracking
    people = [p for _, found in tracked for p in found]
    assert people and all(p.feature is not None and p.feature.shape == (192,) for p in people)
    with_people = [f for f in seen if f is not None]
    assert len(with_people) == sum(1 for _, found in tracked if found) and all(f.shape[1] == 192 for f in with_people)
    # the features belong to their people: each one is the SPPE feature of that person's own crop
    _, _, feats = est.model.predict(_frame(synthetic_video["video"], 0), [0],
                                    np.stack([tracked[0][1][0].box]), features=True)
    np.testing.assert_allclose(tracked[0][1][0].feature, feats[0].numpy(), atol=1e-4)

    # appearance off: no features reach the tracker; smoothing on: the keypoints are the unsmoothed
    # ones run through the One-Euro filter per id
    seen.clear()
    plain = list(PoseEstimator(config=cfg, checkpoint=str(ckpt), detector=synthetic_video["detections"], device="cpu",
                               overrides=[KEEP_ALL, "tracking.appearance=false"], batch=4)
                 .predict_video(synthetic_video["video"], track=True))
    assert seen and all(f is None for f in seen)
    smooth = list(PoseEstimator(config=cfg, checkpoint=str(ckpt), detector=synthetic_video["detections"], device="cpu",
                                overrides=[KEEP_ALL, "tracking.appearance=false", "tracking.smooth=true",
                                           "tracking.smooth_beta=0.02"], batch=4)
                  .predict_video(synthetic_video["video"], track=True))
    ref = KeypointSmoother(synthetic_video["fps"], beta=0.02)
    changed = 0
    for (i, raw), (j, done) in zip(plain, smooth):
        assert i == j and [p.track_id for p in raw] == [p.track_id for p in done]
        ids = np.array([-1 if p.track_id is None else p.track_id for p in raw])
        expected = ref(i, ids, np.stack([p.xy for p in raw])) if raw else np.zeros((0, 17, 2))
        for p, q, e in zip(raw, done, expected):
            np.testing.assert_allclose(q.xy, e, atol=1e-3)
            np.testing.assert_array_equal(q.keypoint_scores, p.keypoint_scores)
            changed += not np.allclose(q.xy, p.xy, atol=1e-3)
    assert changed > 10


def _frame(video, index):
    import cv2

    cap = cv2.VideoCapture(str(video))
    for _ in range(index + 1):
        ok, image = cap.read()
    cap.release()
    assert ok
    return [image]
