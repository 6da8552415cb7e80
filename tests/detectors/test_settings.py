"""DetectorSettings: defaults, the range of every numeric field, documentation of every field."""
from __future__ import annotations

import dataclasses
import inspect

import pytest

from detectors import DetectorError, DetectorSettings
from detectors.settings import check_setting


def test_defaults_are_valid_and_plain():
    s = DetectorSettings()
    assert (s.type, s.weights, s.conf, s.iou, s.imgsz, s.max_det, s.batch) == ("yolo", "yolov8n.pt", 0.1, 0.6, 640, 100, 8)
    assert s.device is None and s.file is None and s.ann is None
    assert (s.score_threshold, s.min_box_size, s.half, s.allow_download, s.require_keypoints) == (0.0, 2.0, False, False, False)
    s.conf = 0.5  # plain, mutable dataclass (the config layer fills it in)
    assert s.conf == 0.5


@pytest.mark.parametrize(
    "field, good, bad",
    [
        ("conf", [0.0, 1.0, 0.25], [-0.01, 1.01, float("nan"), "0.3", True]),
        ("iou", [0.0, 1.0], [-0.1, 1.5]),
        ("score_threshold", [0.0, 1.0], [-0.1, 1.1]),
        ("min_box_size", [0.0, 100.0], [-1.0, float("inf")]),
        ("imgsz", [32, 640, (320, 256)], [31, 0, 64.0, [320], (16, 320)]),
        ("max_det", [1, 300], [0, -3, 2.5]),
        ("batch", [1, 64], [0, 2.5, None]),
    ],
)
def test_numeric_ranges(field, good, bad):
    for value in good:
        assert getattr(DetectorSettings(**{field: value}), field) == (tuple(value) if isinstance(value, tuple) else value)
    for value in bad:
        with pytest.raises(DetectorError, match=rf"detector\.{field} must be"):
            DetectorSettings(**{field: value})


@pytest.mark.parametrize(
    "field, bad",
    [("half", "yes"), ("allow_download", 1), ("require_keypoints", None), ("weights", ""), ("file", 3),
     ("ann", "  "), ("device", 1.0), ("type", "")],
)
def test_other_fields_are_checked(field, bad):
    with pytest.raises(DetectorError, match=rf"detector\.{field} must be"):
        DetectorSettings(**{field: bad})


def test_conversions():
    s = DetectorSettings(weights=" w.pt ", ann="a.json", imgsz=[320, 256], device="cuda:0")
    assert s.weights == "w.pt" and s.ann == "a.json" and s.imgsz == (320, 256) and s.device == "cuda:0"
    assert check_setting("conf", 1) == 1.0 and isinstance(check_setting("conf", 1), float)


def test_every_field_has_a_doc_comment_and_a_simple_type():
    source = inspect.getsource(DetectorSettings)
    simple = {"str", "int", "float", "bool", "Optional[str]", "Union[int, List[int]]"}  # the last: imgsz N or [h, w]
    for field in dataclasses.fields(DetectorSettings):
        line = next(ln for ln in source.splitlines() if ln.strip().startswith(f"{field.name}:"))
        assert "#: " in line, field.name
        assert field.type in simple or str(field.type).startswith("Literal["), (field.name, field.type)


def test_imgsz_pair_through_the_config():
    """An export's fixed [h, w] (rmpe-export --detector --imgsz 480x640) set from a config override."""
    from rmpe.config import load_config
    from rmpe.errors import RMPEError

    assert load_config(overrides=["detector.imgsz=[480, 640]"]).detector.imgsz == (480, 640)
    assert load_config(overrides=["detector.imgsz=512"]).detector.imgsz == 512
    with pytest.raises((RMPEError, DetectorError)):
        load_config(overrides=["detector.imgsz=[480, 20]"])
