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
