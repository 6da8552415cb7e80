"""Output layouts and the crash-safe incremental results file."""
import json
import os

import numpy as np
import pytest

from rmpe.formats import coco17_to_openpose18, frame_records, records
from rmpe.results_io import IncrementalResults, read_partial
from rmpe.structures import FrameResult, Person


def _person(seed, score=2.0):
    rng = np.random.default_rng(seed)
    kp = np.concatenate([rng.uniform(0, 100, (17, 2)), rng.uniform(0, 1, (17, 1))], 1).astype(np.float32)
    return Person(keypoints=kp, box=np.array([10, 20, 110, 220], np.float32), score=score, box_score=0.9)


def test_alphapose_layout():
    frame = FrameResult(index=3, people=[_person(0), _person(1)])
    recs = frame_records(frame, "alphapose")
    assert [r["image_id"] for r in recs] == ["3.jpg", "3.jpg"]
    assert recs[0]["category_id"] == 1 and recs[1]["idx"] == [1]
    assert recs[0]["box"] == [10.0, 20.0, 100.0, 200.0]
    assert len(recs[0]["keypoints"]) == 51
    np.testing.assert_allclose(recs[0]["keypoints"][:3], _person(0).keypoints[0], atol=1e-3)


def test_coco_layout_uses_int_ids():
    frame = FrameResult(index=0, people=[_person(0)], image_id=785)
    (rec,) = frame_records(frame, "coco")
    assert rec["image_id"] == 785 and set(rec) == {"image_id", "category_id", "keypoints", "score"}
    assert frame_records(FrameResult(index=7, people=[_person(0)], image_id="a.jpg"), "coco")[0]["image_id"] == 7


def test_openpose_neck_and_order():
    p = _person(2)
    op = coco17_to_openpose18(p.keypoints)
    np.testing.assert_allclose(op[0], p.keypoints[0])  # nose
    np.testing.assert_allclose(op[1, :2], (p.keypoints[5, :2] + p.keypoints[6, :2]) / 2)
    assert op[1, 2] == pytest.approx(min(p.keypoints[5, 2], p.keypoints[6, 2]))
    np.testing.assert_allclose(op[2], p.keypoints[6])  # right shoulder
    np.testing.assert_allclose(op[5], p.keypoints[5])  # left shoulder
    np.testing.assert_allclose(op[17], p.keypoints[3])  # left ear
    (rec,) = frame_records(FrameResult(index=4, people=[p]), "openpose")
    assert rec["frame"] == 4 and len(rec["people"][0]["pose_keypoints_2d"]) == 54


def test_incremental_results_finalize_and_partial(tmp_path):
    path = tmp_path / "out.json"
    res = IncrementalResults(str(path), "alphapose")
    res.write(FrameResult(0, [_person(0)]))
    res.write(FrameResult(1, []))
    res.write(FrameResult(2, [_person(1), _person(2)]))
    lines = list(read_partial(res.partial))
    assert [l["frame"] for l in lines] == [0, 1, 2]
    assert not path.exists()
    res.finalize()
    data = json.loads(path.read_text())
    assert len(data) == 3 and not os.path.exists(res.partial)
    assert data == records([FrameResult(0, [_person(0)]), FrameResult(1, []), FrameResult(2, [_person(1), _person(2)])], "alphapose")


def test_partial_with_torn_last_line(tmp_path):
    p = tmp_path / "x.partial.jsonl"
    p.write_text('{"frame": 0, "records": []}\n{"frame": 1, "rec')
    assert [l["frame"] for l in read_partial(str(p))] == [0]


def _fixed_person(x, track_id=None):
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0], kp[:, 1], kp[:, 2] = x + np.arange(17), 50 + 2 * np.arange(17), 0.5
    return Person(keypoints=kp, box=np.array([x, 40, x + 30, 120], np.float32), score=1.5, box_score=0.9,
                  track_id=track_id)


def _expected_keypoints(x):
    return [v for j in range(17) for v in (float(x + j), float(50 + 2 * j), 0.5)]


def test_records_without_tracking_are_unchanged():
    """Today's exact records: no track field anywhere, idx the index, person_id -1."""
    frame = FrameResult(index=2, people=[_fixed_person(10), _fixed_person(60)])
    assert frame_records(frame, "alphapose") == [
        {"image_id": "2.jpg", "category_id": 1, "keypoints": _expected_keypoints(10), "score": 1.5,
         "box": [10.0, 40.0, 30.0, 80.0], "idx": [0]},
        {"image_id": "2.jpg", "category_id": 1, "keypoints": _expected_keypoints(60), "score": 1.5,
         "box": [60.0, 40.0, 30.0, 80.0], "idx": [1]},
    ]
    assert frame_records(frame, "coco") == [
        {"image_id": 2, "category_id": 1, "keypoints": _expected_keypoints(10), "score": 1.5},
        {"image_id": 2, "category_id": 1, "keypoints": _expected_keypoints(60), "score": 1.5},
    ]
    (op,) = frame_records(frame, "openpose")
    assert [p["person_id"] for p in op["people"]] == [[-1], [-1]]
    assert json.dumps(frame_records(frame, "coco")) == json.dumps(
        [{"image_id": 2, "category_id": 1, "keypoints": _expected_keypoints(x), "score": 1.5} for x in (10, 60)])


def test_records_with_track_ids():
    """AlphaPose's tracking output puts the id in idx; COCO gets track_id; OpenPose person_id.
    A person outside any confirmed track (None) is written as -1 in a tracked frame."""
    frame = FrameResult(index=2, people=[_fixed_person(10, 7), _fixed_person(60, None), _fixed_person(90, 3)],
                        tracked=True)
    ap = frame_records(frame, "alphapose")
    assert [r["idx"] for r in ap] == [[7], [-1], [3]]
    assert ap[0] == {"image_id": "2.jpg", "category_id": 1, "keypoints": _expected_keypoints(10), "score": 1.5,
                     "box": [10.0, 40.0, 30.0, 80.0], "idx": [7]}
    assert frame_records(frame, "coco") == [
        {"image_id": 2, "category_id": 1, "keypoints": _expected_keypoints(x), "score": 1.5, "track_id": t}
        for x, t in ((10, 7), (60, -1), (90, 3))
    ]
    (op,) = frame_records(frame, "openpose")
    assert [p["person_id"] for p in op["people"]] == [[7], [-1], [3]]
    # a tracked frame where nobody is confirmed yet still carries the field
    early = FrameResult(index=0, people=[_fixed_person(10)], tracked=True)
    assert frame_records(early, "coco")[0]["track_id"] == -1
    assert frame_records(early, "alphapose")[0]["idx"] == [-1]


def test_incremental_results_carry_track_ids(tmp_path):
    res = IncrementalResults(str(tmp_path / "t.json"), "coco")
    res.write(FrameResult(0, [_fixed_person(10, 1), _fixed_person(60, 2)], tracked=True))
    res.write(FrameResult(1, [_fixed_person(12, 1)], tracked=True))
    lines = list(read_partial(res.partial))
    assert [[r["track_id"] for r in l["records"]] for l in lines] == [[1, 2], [1]]
    res.finalize()
    assert [r["track_id"] for r in json.loads((tmp_path / "t.json").read_text())] == [1, 2, 1]
