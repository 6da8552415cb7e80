"""Detections container, image identities and the common PersonDetector behaviour."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors import Detections, DetectorError, PersonDetector, image_key


class FixedDetector(PersonDetector):
    """Returns the same boxes for every image (a detector whose output the test controls)."""

    def __init__(self, boxes, scores, **kwargs):
        super().__init__(**kwargs)
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(scores, np.float32)
        self.calls = []

    def _detect(self, images, image_ids):
        self.calls.append((images, image_ids))
        n = len(images) if images is not None else len(image_ids)
        return [Detections(self.boxes.copy(), self.scores.copy()) for _ in range(n)]


def _reference_filter(boxes, scores, min_size, threshold):
    """Plain loop: keep a box when score >= threshold and both sides >= min_size."""
    kept_b, kept_s = [], []
    for b, s in zip(boxes, scores):
        if s >= threshold and (b[2] - b[0]) >= min_size and (b[3] - b[1]) >= min_size:
            kept_b.append(b)
            kept_s.append(s)
    return np.asarray(kept_b, np.float32).reshape(-1, 4), np.asarray(kept_s, np.float32)


def test_detections_types_and_empty():
    d = Detections([[1, 2, 3, 4]], [0.5])
    assert d.boxes.dtype == np.float32 and d.boxes.shape == (1, 4)
    assert d.scores.dtype == np.float32 and d.scores.shape == (1,)
    assert len(d) == 1
    np.testing.assert_array_equal(d.widths, [2.0])
    np.testing.assert_array_equal(d.heights, [2.0])
    e = Detections.empty()
    assert e.boxes.shape == (0, 4) and e.scores.shape == (0,) and len(e) == 0
    assert e.boxes.dtype == np.float32 and e.scores.dtype == np.float32
    # empty inputs of any empty shape normalise to (0, 4) / (0,)
    e2 = Detections(np.zeros((0,)), [])
    assert e2.boxes.shape == (0, 4) and e2.scores.shape == (0,)


def test_detections_rejects_bad_shapes():
    with pytest.raises(ValueError):
        Detections(np.zeros((2, 5)), np.zeros(2))
    with pytest.raises(ValueError):
        Detections(np.zeros((2, 4)), np.zeros(3))


def test_detections_select():
    d = Detections([[0, 0, 1, 1], [1, 1, 3, 3], [2, 2, 5, 5]], [0.1, 0.2, 0.3])
    sub = d[np.array([False, True, True])]
    np.testing.assert_array_equal(sub.scores, np.float32([0.2, 0.3]))
    np.testing.assert_array_equal(sub.boxes, np.float32([[1, 1, 3, 3], [2, 2, 5, 5]]))
    assert len(d[1]) == 1 and d[1].scores[0] == np.float32(0.2)


@pytest.mark.parametrize(
    "given, key",
    [
        (785, 785),
        (np.int64(12), 12),
        ("000000000785.jpg", 785),
        ("val2017/000000000785.jpg", 785),
        (Path("/data/images/000000040083.png"), 40083),
        ("frames/frame_000012.png", "frame_000012"),
        ("frame_000012", "frame_000012"),
        ("C:\\imgs\\000000000001.jpg", 1),
        ("12", 12),
    ],
)
def test_image_key(given, key):
    assert image_key(given) == key
    assert type(image_key(given)) is type(key)


@pytest.mark.parametrize("bad", [True, 1.5, None, b"x.jpg", ""])
def test_image_key_rejects(bad):
    with pytest.raises(DetectorError):
        image_key(bad)


def test_common_filters_match_reference():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (50, 2))
    wh = rng.uniform(0, 6, (50, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.uniform(0, 1, 50).astype(np.float32)
    for min_size, threshold in [(0.0, 0.0), (2.0, 0.0), (3.5, 0.4), (0.0, 0.9), (10.0, 0.0)]:
        det = FixedDetector(boxes, scores, min_box_size=min_size, score_threshold=threshold)
        (out,) = det([np.zeros((8, 8, 3), np.uint8)])
        ref_b, ref_s = _reference_filter(boxes, scores, min_size, threshold)
        np.testing.assert_array_equal(out.boxes, ref_b)
        np.testing.assert_array_equal(out.scores, ref_s)
        assert out.boxes.shape == (len(ref_s), 4)


def test_call_checks_images_and_ids():
    det = FixedDetector([[0, 0, 10, 10]], [1.0])
    img = np.zeros((4, 5, 3), np.uint8)
    assert det([]) == []
    assert len(det(np.zeros((3, 4, 5, 3), np.uint8))) == 3  # (B, H, W, 3) array
    with pytest.raises(DetectorError, match="image 1: expected dtype uint8"):
        det([img, img.astype(np.float32)])
    with pytest.raises(DetectorError, match=r"image 0: expected shape \(H, W, 3\)"):
        det([np.zeros((4, 5), np.uint8)])
    with pytest.raises(DetectorError, match="image 0: expected a numpy array"):
        det(["a.jpg"])
    with pytest.raises(DetectorError, match="needs images"):
        det(None, [1])
    with pytest.raises(DetectorError, match="2 images but 1 image_ids"):
        det([img, img], [1])
    with pytest.raises(DetectorError, match="image_ids must be a list"):
        det([img], "a.jpg")
    out = det([img, img], ["a.jpg", 3])
    assert det.calls[-1][1] == ["a.jpg", 3] and len(out) == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [({"min_box_size": -1}, "detector.min_box_size"), ({"score_threshold": "high"}, "detector.score_threshold")],
)
def test_bad_common_settings(kwargs, message):
    with pytest.raises(DetectorError, match=message):
        FixedDetector([[0, 0, 1, 1]], [1.0], **kwargs)
