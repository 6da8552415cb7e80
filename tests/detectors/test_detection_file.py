"""DetectionFileDetector against the real mmpose detection file and malformed files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detectors import DetectionFileDetector, DetectorError, build_detector
from tests.shared import SHARED_DATA, needs

DATA = SHARED_DATA
COCO = DATA / "mmpose_coco"
DET_FILE = COCO / "test_coco_det_AP_H_56.json"
ANN_FILE = COCO / "test_coco.json"
needs_data = needs(DET_FILE)

IMAGE_IDS = [785, 40083, 196141, 197388]


def reference_boxes(entries, image_id, min_size=0.0, threshold=-np.inf, category=1):
    """Plain loop over the file: the person boxes of one image as xyxy, in file order."""
    boxes, scores = [], []
    for e in entries:
        if e["image_id"] != image_id or e.get("category_id", category) != category:
            continue
        x, y, w, h = e["bbox"]
        if e["score"] < threshold or w < min_size or h < min_size:
            continue
        boxes.append([x, y, x + w, y + h])
        scores.append(e["score"])
    return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64)


def write(tmp_path, data, name="dets.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


@needs_data
def test_real_file_exact_boxes_per_image():
    entries = json.loads(DET_FILE.read_text())
    assert len(entries) == 118
    det = DetectionFileDetector(str(DET_FILE), min_box_size=0.0)
    # ids as COCO ints, bare file names and paths with folders
    ids = [785, "000000040083.jpg", "val2017/000000196141.jpg", Path("/x/000000197388.jpg")]
    out = det(None, ids)
    total = 0
    for image_id, dets in zip(IMAGE_IDS, out):
        ref_boxes, ref_scores = reference_boxes(entries, image_id)
        assert dets.boxes.dtype == np.float32 and dets.scores.dtype == np.float32
        assert dets.boxes.shape == (len(ref_scores), 4) and dets.scores.shape == (len(ref_scores),)
        np.testing.assert_array_equal(dets.boxes, ref_boxes.astype(np.float32))
        np.testing.assert_array_equal(dets.scores, ref_scores.astype(np.float32))
        total += len(dets)
    assert total == 118


@needs_data
def test_real_file_images_are_ignored_and_order_kept():
    det = DetectionFileDetector(str(DET_FILE), min_box_size=0.0)
    imgs = [np.zeros((4, 4, 3), np.uint8)] * 3
    a = det(imgs, [197388, 785, 197388])
    b = det(None, [197388, 785, 197388])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.boxes, y.boxes)
    np.testing.assert_array_equal(a[0].boxes, a[2].boxes)
    assert len(a[1]) == 22 and len(a[0]) == 37


@needs_data
@pytest.mark.parametrize("threshold, min_size", [(0.0, 2.0), (0.5, 0.0), (0.05, 30.0), (0.99, 100.0)])
def test_real_file_threshold_and_min_size(threshold, min_size):
    entries = json.loads(DET_FILE.read_text())
    det = build_detector({"type": "file", "file": str(DET_FILE), "score_threshold": threshold, "min_box_size": min_size})
    for image_id, dets in zip(IMAGE_IDS, det(None, IMAGE_IDS)):
        ref_boxes, ref_scores = reference_boxes(entries, image_id, min_size, threshold)
        np.testing.assert_array_equal(dets.boxes, ref_boxes.astype(np.float32))
        np.testing.assert_array_equal(dets.scores, ref_scores.astype(np.float32))


@needs_data
def test_image_without_entries_and_annotation_lookup(tmp_path):
    det = DetectionFileDetector(str(DET_FILE))
    (d,) = det(None, [123456])  # not in the file: no people (COCO results omit such images)
    assert d.boxes.shape == (0, 4) and d.scores.shape == (0,)
    with pytest.raises(DetectorError, match="identifies images by integer image_id.*detector.ann"):
        det(None, ["holiday.jpg"])
    with pytest.raises(DetectorError, match="pass image_ids"):
        det(None)

    # with the annotation file, names that are not numbers resolve through its images list
    ann = json.loads(ANN_FILE.read_text())
    ann["images"][0]["file_name"] = "street_scene.jpg"  # id 785
    ann_path = write(tmp_path, ann, "ann.json")
    det = DetectionFileDetector(str(DET_FILE), ann=ann_path, min_box_size=0.0)
    a, b = det(None, ["photos/street_scene.jpg", 785])
    assert len(a) == 22
    np.testing.assert_array_equal(a.boxes, b.boxes)
    with pytest.raises(DetectorError, match="123456 is not in the annotation file"):
        det(None, [123456])
    with pytest.raises(DetectorError, match="'other.jpg' is not in the annotation file"):
        det(None, ["other.jpg"])


def test_string_ids_file_names_and_frames(tmp_path):
    entries = [
        {"image_id": "clip/frame_000001.jpg", "bbox": [0, 0, 10, 20], "score": 0.9, "category_id": 1},
        {"image_id": 7, "file_name": "cam/left_7.png", "bbox": [1, 2, 3, 4], "score": 0.8},
        {"image_id": 7, "bbox": [5, 5, 10, 10], "score": 0.7, "category_id": 3},  # not a person
        {"image_id": 0, "bbox": [2, 2, 4, 4], "score": 0.6, "category_id": 1},  # video frame 0
    ]
    det = DetectionFileDetector(write(tmp_path, entries), min_box_size=0.0)
    a, b, c, d, e = det(None, ["frame_000001", "left_7.jpg", 7, 0, "frame_000099.jpg"])
    np.testing.assert_array_equal(a.boxes, np.float32([[0, 0, 10, 20]]))
    np.testing.assert_array_equal(b.boxes, np.float32([[1, 2, 4, 6]]))
    np.testing.assert_array_equal(c.boxes, b.boxes)
    np.testing.assert_array_equal(c.scores, np.float32([0.8]))
    np.testing.assert_array_equal(d.boxes, np.float32([[2, 2, 6, 6]]))
    assert len(e) == 0  # this file names images, so an unnamed frame simply has no entries


def test_returned_arrays_are_copies(tmp_path):
    det = DetectionFileDetector(write(tmp_path, [{"image_id": 1, "bbox": [0, 0, 5, 5], "score": 1.0}]))
    (a,) = det(None, [1])
    a.boxes[:] = -1
    (b,) = det(None, [1])
    np.testing.assert_array_equal(b.boxes, np.float32([[0, 0, 5, 5]]))


GOOD = {"image_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5, "category_id": 1}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"bbox": [0, 0, 5], "image_id": 42, "score": 0.5}, r"entry 1 \(image_id 42\): 'bbox' must be \[x, y, w, h\]"),
        ({"bbox": [0, 0, -5, 5], "image_id": 42, "score": 0.5}, r"entry 1 \(image_id 42\): 'bbox'.*w, h >= 0"),
        ({"bbox": [0, "a", 5, 5], "image_id": 42, "score": 0.5}, r"entry 1 \(image_id 42\): 'bbox'"),
        ({"bbox": [0, 0, 5, 5], "image_id": 42}, r"entry 1 \(image_id 42\): missing 'score'"),
        ({"bbox": [0, 0, 5, 5], "image_id": 42, "score": "high"}, r"entry 1 \(image_id 42\): 'score' must be"),
        ({"bbox": [0, 0, 5, 5], "image_id": 42, "score": float("nan")}, r"entry 1 \(image_id 42\): 'score' must be"),
        ({"image_id": 42, "score": 0.5}, r"entry 1 \(image_id 42\): missing 'bbox'"),
        ({"bbox": [0, 0, 5, 5], "score": 0.5}, r"entry 1 has no 'image_id'"),
        ({"bbox": [0, 0, 5, 5], "score": 0.5, "image_id": 1.5}, r"entry 1 \(image_id 1.5\): 'image_id' must be"),
        ({"bbox": [0, 0, 5, 5], "score": 0.5, "image_id": 3, "category_id": "person"}, r"entry 1 .*'category_id'"),
        ([1, 2, 3], r"entry 1 must be an object"),
    ],
)
def test_malformed_entries_are_named(tmp_path, bad, message):
    path = write(tmp_path, [GOOD, bad, GOOD])
    with pytest.raises(DetectorError, match=message) as info:
        DetectionFileDetector(path)
    assert path in str(info.value) and "\n" not in str(info.value)


def test_malformed_files(tmp_path):
    with pytest.raises(DetectorError, match=r"not valid JSON \(line 2"):
        DetectionFileDetector(write(tmp_path, '[{"image_id": 1,\n "bbox": [0, 0, 1 1]}]'))
    with pytest.raises(DetectorError, match="annotation file: use detector.type: gt"):
        DetectionFileDetector(write(tmp_path, {"images": [], "annotations": []}))
    with pytest.raises(DetectorError, match="must be a JSON list"):
        DetectionFileDetector(write(tmp_path, "42"))
    with pytest.raises(DetectorError, match="detection file not found"):
        DetectionFileDetector(str(tmp_path / "missing.json"))
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(DetectorError, match="not a UTF-8 text file"):
        DetectionFileDetector(str(binary))
    with pytest.raises(DetectorError, match="file_name 'a.jpg' is also given to image_id 1"):
        DetectionFileDetector(
            write(tmp_path, [{**GOOD, "file_name": "a.jpg"}, {**GOOD, "image_id": 2, "file_name": "a.jpg"}])
        )


def test_entries_per_image_counts_the_file_images(tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": 785, "file_name": "000000000785.jpg"}, {"id": 7, "file_name": "x.jpg"}]}))
    dets = tmp_path / "d.json"
    dets.write_text(json.dumps([
        {"image_id": 785, "bbox": [0, 0, 10, 20], "score": 0.9},
        {"image_id": "x.jpg", "bbox": [0, 0, 10, 20], "score": 0.9},
        {"image_id": 999999, "bbox": [0, 0, 10, 20], "score": 0.9},
        {"image_id": 999999, "bbox": [0, 0, 10, 20], "score": 0.8},
        {"image_id": "000000123456.jpg", "bbox": [0, 0, 10, 20], "score": 0.9},
        {"image_id": 785, "category_id": 3, "bbox": [0, 0, 10, 20], "score": 0.9},  # not a person
    ]))
    det = DetectionFileDetector(str(dets), ann=str(ann))
    assert det.entries_per_image() == {785: 1, 7: 1, 999999: 2, 123456: 1}
