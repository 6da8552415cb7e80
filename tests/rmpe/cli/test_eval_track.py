"""rmpe-eval on an annotated video: tracking metrics (HOTA/IDF1/MOTA on boxes and poses) beside keypoint AP,
from the frame images or the video file, automatic for track annotations, and the bad-input errors."""
import json

import numpy as np
import pytest

from rmpe.cli.eval import build_parser, main, run
from rmpe.data.synthetic import generate_video
from tests.rmpe.cli.test_eval import GroundTruthOracle


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval_track")
    info = generate_video(folder, 2.0, seed=3, fps=10, size=(320, 240), num_people=3, write_frames=True)
    return folder, info


def _args(*argv):
    return build_parser().parse_args(list(argv))


def _common(cfg, folder, tmp_path, *extra):
    # the oracle stands in for the model and has no backbone features to give the tracker
    return ("--config", str(cfg), "--ann", str(folder / "annotations.json"), "--boxes", "gt", "--device", "cpu",
            "--quiet", "--nms", "none", "--out", str(tmp_path / "res.json"), "--set", "tracking.appearance=false",
            *extra)


def test_oracle_poses_track_perfectly_from_frames_and_video(small_model_files, video, tmp_path, capsys):
    cfg, _ = small_model_files
    folder, info = video
    oracle = GroundTruthOracle(folder / "annotations.json")
    # automatic: the annotations carry track_id and frame_index, no --track needed
    m = run(_args(*_common(cfg, folder, tmp_path, "--images", str(folder / "frames"))), model=oracle)
    assert m["num_frames"] == info["num_frames"] == 20
    assert m["AP"] == pytest.approx(1.0)
    for part in ("boxes", "poses"):
        t = m["tracking"][part]
        assert t["HOTA"] == pytest.approx(1.0) and t["IDF1"] == pytest.approx(1.0)
        assert t["MOTA"] == pytest.approx(1.0) and t["IDSW"] == 0
    saved = json.loads((tmp_path / "res.metrics.json").read_text())
    assert saved["tracking"]["boxes"]["HOTA"] == pytest.approx(1.0) and saved["AP"] == m["AP"]
    results = json.loads((tmp_path / "res.json").read_text())
    assert len(results) == info["num_annotations"] and all(r["track_id"] >= 1 for r in results)
    # the same person keeps one id: one id per ground-truth track
    truth = json.loads((folder / "annotations.json").read_text())["annotations"]
    assert len({r["track_id"] for r in results}) == len({a["track_id"] for a in truth}) == 3
    printed = capsys.readouterr().out
    assert "HOTA" in printed and "boxes" in printed and "poses" in printed
    # the frames read from the video file instead of the images give the same metrics
    v = run(_args(*_common(cfg, folder, tmp_path, "--video", str(folder / "video.mp4"))), model=oracle)
    assert v["tracking"] == m["tracking"] and v["AP"] == m["AP"]


def test_random_model_on_the_video_with_simulated_detections(small_model_files, video, tmp_path):
    cfg, ckpt = small_model_files
    folder, info = video
    m = run(_args("--config", str(cfg), "--checkpoint", str(ckpt), "--ann", str(folder / "annotations.json"),
                  "--video", str(folder / "video.mp4"), "--boxes", str(folder / "detections.json"), "--device", "cpu",
                  "--quiet", "--out", str(tmp_path / "r.json"), "--set", "pose_nms.score_threshold=0",
                  "--max-images", "12"))
    assert m["num_frames"] == 12
    boxes = m["tracking"]["boxes"]
    # the simulated detector finds most people and the tracker follows them by their boxes
    assert 0.5 < boxes["DetA"] <= 1.0 and 0.5 < boxes["IDF1"] <= 1.0
    assert 0.0 <= m["tracking"]["poses"]["HOTA"] < 0.5  # random weights: keypoints land anywhere
    assert 0.0 <= m["AP"] < 0.5


def test_no_track_gives_the_plain_evaluation(small_model_files, video, tmp_path):
    cfg, _ = small_model_files
    folder, _ = video
    m = run(_args(*_common(cfg, folder, tmp_path, "--images", str(folder / "frames"), "--no-track")),
            model=GroundTruthOracle(folder / "annotations.json"))
    assert "tracking" not in m and m["AP"] == pytest.approx(1.0)


def test_track_without_track_ids_is_one_line_error(small_model_files, video, tmp_path, capsys):
    cfg, ckpt = small_model_files
    folder, _ = video
    data = json.loads((folder / "annotations.json").read_text())
    for a in data["annotations"]:
        del a["track_id"]
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(data))
    base = ["--config", str(cfg), "--checkpoint", str(ckpt), "--ann", str(plain), "--images", str(folder / "frames"),
            "--quiet", "--device", "cpu"]
    assert main(base + ["--track"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rmpe-eval: error: ") and "track_id" in err[0]
    assert main(base + ["--video", str(tmp_path / "missing.mp4")]) == 2
    assert "track_id" in capsys.readouterr().err  # the annotations are checked first
    good = ["--config", str(cfg), "--checkpoint", str(ckpt), "--ann", str(folder / "annotations.json")]
    assert main(good + ["--video", str(tmp_path / "missing.mp4"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "video not found" in err[0]
    assert main(base + ["--video", str(folder / "video.mp4"), "--no-track"]) == 2
    assert main(["--results", str(plain), "--ann", str(plain), "--track"]) == 2
    assert not np.any([p.name.startswith("res") for p in tmp_path.iterdir()])
