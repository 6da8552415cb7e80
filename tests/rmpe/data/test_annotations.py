"""The one COCO keypoint reader and image reader (rmpe.data.annotations) on a hand-built file.

The expected values are written out by hand from the file below: xywh -> xyxy as
``[x, y, x + w, y + h]``, clipping to ``[0, W - 1] x [0, H - 1]``, and the keypoint extent
for a person without a box.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from rmpe.data.annotations import (
    keypoint_extent_boxes, load_coco_images, load_coco_persons, load_person_boxes, read_coco_annotations, read_image,
)
from rmpe.errors import RMPEError

K = 3
W, H = 100, 80


def _kp(*points):
    """Flat COCO keypoints from (x, y, v) triples."""
    return [float(v) for p in points for v in p]


def _coco(tmp_path):
    images = [
        {"id": 7, "file_name": "b.png", "height": H, "width": W},
        {"id": 3, "file_name": "a.png", "height": H, "width": W},
        {"id": 9, "file_name": "c.png"},  # size unknown: boxes are not clipped
    ]
    anns = [
        # 1: a plain person (image 3)
        {"id": 1, "image_id": 3, "category_id": 1, "iscrowd": 0, "bbox": [10, 20, 30, 40], "area": 900,
         "keypoints": _kp((15, 25, 2), (20, 30, 1), (0, 0, 0))},
        # 2: a crowd region: ignored
        {"id": 2, "image_id": 3, "category_id": 1, "iscrowd": 1, "bbox": [0, 0, 50, 50],
         "keypoints": _kp((1, 1, 2), (2, 2, 2), (3, 3, 2))},
        # 3: no keypoints at all: a box for rmpe-pgpg, no training sample
        {"id": 3, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [5, 5, 10, 10]},
        # 4: keypoints all unlabelled: no training sample
        {"id": 4, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [5, 5, 10, 10], "keypoints": [0.0] * 9},
        # 5: box beyond the image border: clipped (image 7)
        {"id": 5, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [-10, 60, 200, 50],
         "keypoints": _kp((50, 70, 2), (0, 0, 0), (60, 75, 2))},
        # 6: no box: the extent of its labelled keypoints
        {"id": 6, "image_id": 9, "category_id": 1, "iscrowd": 0,
         "keypoints": _kp((30, 40, 2), (0, 0, 0), (70, 90, 1))},
        # 7: another category: ignored
        {"id": 7, "image_id": 3, "category_id": 2, "iscrowd": 0, "bbox": [1, 1, 5, 5]},
        # 8: an image that is not in the file: ignored for training
        {"id": 8, "image_id": 99, "category_id": 1, "iscrowd": 0, "bbox": [1, 1, 5, 5],
         "keypoints": _kp((2, 2, 2), (3, 3, 2), (4, 4, 2))},
    ]
    cats = [{"id": 1, "name": "person", "keypoints": ["a", "b", "c"], "skeleton": []}, {"id": 2, "name": "dog"}]
    data = {"info": {"description": "hand-built"}, "images": images, "annotations": anns, "categories": cats}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def test_training_people_boxes_and_skips(tmp_path):
    path = _coco(tmp_path)
    p = load_coco_persons(str(path), str(tmp_path), K)
    assert p.ann_ids.tolist() == [1, 5, 6]
    assert p.image_ids.tolist() == [3, 7, 9]
    np.testing.assert_allclose(p.boxes[0], [10, 20, 40, 60])  # xywh -> xyxy
    np.testing.assert_allclose(p.boxes[1], [0, 60, W - 1, H - 1])  # clipped to the image
    np.testing.assert_allclose(p.boxes[2], [30, 40, 70, 90])  # keypoint extent, size unknown
    assert p.skipped == {"crowd": 1, "no_keypoints": 2, "other_category": 1, "unknown_image": 1}
    np.testing.assert_allclose(p.keypoints[0], [[15, 25, 2], [20, 30, 1], [0, 0, 0]])
    assert p.file_names == ["a.png", "b.png", "c.png"]  # first-use order
    assert p.image_path(1) == str(tmp_path / "b.png")
    np.testing.assert_allclose(p.areas, [900, (W - 1) * (H - 1 - 60), 40 * 50])  # area, else the box's
    assert p.image_sizes.tolist() == [[H, W], [H, W], [0, 0]]
    assert p.description == "hand-built"
    assert p.boxes.dtype == np.float32 and p.keypoints.dtype == np.float32


def test_all_annotations_as_arrays(tmp_path):
    path = _coco(tmp_path)
    c = read_coco_annotations(str(path), image_dir=str(tmp_path))
    assert len(c) == 8 and c.num_keypoints == K
    assert c.person.tolist() == [True] * 6 + [False, True]
    assert c.crowd.tolist() == [False, True] + [False] * 6
    assert c.has_keypoints.tolist() == [True, True, False, True, True, True, False, True]
    assert np.isnan(c.boxes[5]).all()
    np.testing.assert_allclose(c.boxes[4], [-10, 60, 190, 110])  # unclipped here


def test_images_in_file_order(tmp_path):
    path = _coco(tmp_path)
    images = load_coco_images(str(path), str(tmp_path))
    assert images.ids == [7, 3, 9]
    assert images.paths == {7: str(tmp_path / "b.png"), 3: str(tmp_path / "a.png"), 9: str(tmp_path / "c.png")}
    assert images.sizes.tolist() == [[H, W], [H, W], [0, 0]]
    with pytest.raises(RMPEError, match="image folder not found"):
        load_coco_images(str(path), str(tmp_path / "nope"))


def test_person_boxes_for_pgpg(tmp_path):
    path = _coco(tmp_path)
    people = load_person_boxes(str(path))
    assert people.crowd == 1
    assert people.image_ids == [3, 7, 7, 7, 9, 99]
    assert people.has_keypoints.tolist() == [True, False, True, True, True, True]
    np.testing.assert_allclose(people.boxes[0], [10, 20, 40, 60])
    np.testing.assert_allclose(people.boxes[3], [-10, 60, 190, 110])
    np.testing.assert_allclose(people.boxes[4], [30, 40, 70, 90])
    assert people.keypoints.shape == (6, K, 3) and not people.keypoints[1].any()


def test_keypoint_extent_boxes():
    kp = np.array([[[1, 2, 2], [5, -1, 1], [100, 100, 0]], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]], np.float64)
    boxes = keypoint_extent_boxes(kp)
    np.testing.assert_allclose(boxes[0], [1, -1, 5, 2])
    assert np.isnan(boxes[1]).all()


@pytest.mark.parametrize(
    "content, message",
    [
        ("{oops", "is not valid JSON"),
        ('{"images": []}', "not a COCO annotation file"),
        ('{"images": [{"id": 1}], "annotations": []}', "lacks 'id' or 'file_name'"),
        ('{"images": [], "annotations": [{"id": 4, "bbox": [0, 0, 5], "keypoints": [1, 1, 2, 2, 2, 2, 3, 3, 2]}]}',
         "annotation 4: 'bbox' must be 4 numbers"),
        ('{"images": [], "annotations": [{"id": 5, "keypoints": [1, "a", 2, 2, 2, 2, 3, 3, 2]}]}',
         "annotation 5: 'keypoints' must be a flat list"),
        ('{"images": [], "annotations": [{"id": 6, "keypoints": [1, 1, 2]}]}', "annotation 6 has 3 keypoint values"),
        ('{"images": [], "annotations": [], "categories": [{"id": 1, "name": "p", "keypoints": ["a", "b"]}]}',
         "has 2 keypoints"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(RMPEError) as info:
        load_coco_persons(str(path), str(tmp_path), K)
    text = str(info.value)
    assert message in text and str(path) in text and "\n" not in text


def test_missing_file_is_named(tmp_path):
    with pytest.raises(RMPEError, match="annotation file not found: .*nope.json"):
        load_coco_persons(str(tmp_path / "nope.json"), str(tmp_path), K)
    with pytest.raises(RMPEError, match="no annotation file given"):
        load_coco_persons("", str(tmp_path), K)


def test_read_image(tmp_path):
    image = np.zeros((6, 9, 3), np.uint8)
    image[2, 3] = (10, 20, 30)
    cv2.imwrite(str(tmp_path / "ok.png"), image)
    out = read_image(str(tmp_path / "ok.png"))
    assert out.shape == (6, 9, 3) and out.dtype == np.uint8 and out[2, 3].tolist() == [10, 20, 30]  # BGR
    gray = np.full((4, 5), 77, np.uint8)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    assert read_image(str(tmp_path / "gray.png")).shape == (4, 5, 3)
    (tmp_path / "broken.jpg").write_bytes(b"not an image at all")
    with pytest.raises(RMPEError, match="cannot read image .*broken.jpg"):
        read_image(str(tmp_path / "broken.jpg"))
    with pytest.raises(RMPEError, match="image not found: .*missing.png"):
        read_image(str(tmp_path / "missing.png"))
