"""GroundTruthDetector against real COCO annotation files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detectors import DetectorError, GroundTruthDetector, build_detector
from tests.shared import SHARED_DATA, needs

DATA = SHARED_DATA
ANN_FILE = DATA / "mmpose_coco" / "test_coco.json"
MINI = DATA / "coco_mini_train2017" / "person_keypoints_train2017.json"
needs_data = needs(ANN_FILE)
needs_mini = needs(MINI)


def reference_gt(data, image_id, min_size=0.0, require_keypoints=False):
    """Plain loop: non-crowd person boxes (xyxy) of one image, in file order."""
    out = []
    for a in data["annotations"]:
        if a["image_id"] != image_id or a["category_id"] != 1 or a.get("iscrowd", 0):
            continue
        if require_keypoints and a["num_keypoints"] == 0:
            continue
        x, y, w, h = a["bbox"]
        if w < min_size or h < min_size:
            continue
        out.append([x, y, x + w, y + h])
    return np.asarray(out, np.float64).reshape(-1, 4)


@needs_data
def test_test_coco_boxes():
    data = json.loads(ANN_FILE.read_text())
    det = GroundTruthDetector(str(ANN_FILE), min_box_size=0.0)
    ids = [img["id"] for img in data["images"]]
    names = [img["file_name"] for img in data["images"]]
    by_id = det(None, ids)
    by_name = det(None, names)
    assert sum(len(d) for d in by_id) == 14
    for image_id, a, b in zip(ids, by_id, by_name):
        ref = reference_gt(data, image_id)
        np.testing.assert_array_equal(a.boxes, ref.astype(np.float32))
        np.testing.assert_array_equal(a.scores, np.ones(len(ref), np.float32))
        assert a.scores.dtype == np.float32
        np.testing.assert_array_equal(a.boxes, b.boxes)
    # known first box of image 785: bbox [280.79, 44.73, 218.7, 346.68]
    np.testing.assert_allclose(by_id[ids.index(785)].boxes[0], [280.79, 44.73, 499.49, 391.41], rtol=1e-6)


@needs_data
def test_require_keypoints_and_min_size():
    data = json.loads(ANN_FILE.read_text())
    det = GroundTruthDetector(str(ANN_FILE), require_keypoints=True, min_box_size=0.0)
    ids = [img["id"] for img in data["images"]]
    out = det(None, ids)
    assert sum(len(d) for d in out) == 12
    for image_id, d in zip(ids, out):
        np.testing.assert_array_equal(d.boxes, reference_gt(data, image_id, require_keypoints=True).astype(np.float32))
    det = build_detector({"type": "gt", "ann": str(ANN_FILE), "min_box_size": 20.0})
    for image_id, d in zip(ids, det(None, ids)):
        np.testing.assert_array_equal(d.boxes, reference_gt(data, image_id, 20.0).astype(np.float32))
    det = build_detector({"type": "gt", "ann": str(ANN_FILE), "min_box_size": 0.0, "require_keypoints": True})
    for image_id, d in zip(ids, det(None, ids)):
        np.testing.assert_array_equal(d.boxes, reference_gt(data, image_id, require_keypoints=True).astype(np.float32))


@needs_mini
def test_crowd_excluded_on_coco_mini():
    data = json.loads(MINI.read_text())
    det = build_detector({"type": "gt", "ann": str(MINI), "min_box_size": 0.0})
    ids = [img["id"] for img in data["images"]]
    out = det(None, ids)
    crowd = sum(1 for a in data["annotations"] if a["iscrowd"])
    assert crowd == 5
    assert sum(len(d) for d in out) == len(data["annotations"]) - crowd == 167
    for image_id, d in zip(ids, out):
        np.testing.assert_array_equal(d.boxes, reference_gt(data, image_id).astype(np.float32))
    with_people = {a["image_id"] for a in data["annotations"] if not a["iscrowd"]}
    assert [i for i, d in zip(ids, out) if len(d)] == [i for i in ids if i in with_people]


@needs_data
def test_unknown_image_is_an_error():
    det = GroundTruthDetector(str(ANN_FILE))
    with pytest.raises(DetectorError, match="123 is not in the annotation file"):
        det(None, [123])
    with pytest.raises(DetectorError, match="'nobody.jpg' is not in the annotation file"):
        det(None, ["nobody.jpg"])


def test_malformed_annotation_files(tmp_path):
    def write(data):
        path = tmp_path / "ann.json"
        path.write_text(json.dumps(data))
        return str(path)

    images = [{"id": 1, "file_name": "a.jpg"}]
    good = {"image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 5, 5]}
    with pytest.raises(DetectorError, match="not a COCO annotation file"):
        GroundTruthDetector(write([good]))
    with pytest.raises(DetectorError, match=r"annotations\[1\] \(image_id 1\): 'bbox' must be"):
        GroundTruthDetector(write({"images": images, "annotations": [good, {**good, "bbox": [0, 0, 5]}]}))
    with pytest.raises(DetectorError, match=r"annotations\[0\] \(image_id 2\): image_id is not in"):
        GroundTruthDetector(write({"images": images, "annotations": [{**good, "image_id": 2}]}))
    with pytest.raises(DetectorError, match=r"images\[0\] must have an integer 'id'"):
        GroundTruthDetector(write({"images": [{"file_name": "a.jpg"}], "annotations": []}))
    with pytest.raises(DetectorError, match="annotation file not found"):
        GroundTruthDetector(str(tmp_path / "none.json"))
    # other categories and crowd regions are skipped; an image with no persons has none
    det = GroundTruthDetector(
        write({"images": images, "annotations": [{**good, "category_id": 2}, {**good, "iscrowd": 1}]})
    )
    (d,) = det(None, ["a.jpg"])
    assert d.boxes.shape == (0, 4) and d.scores.shape == (0,)
