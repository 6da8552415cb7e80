"""build_detector: config duck-typing, overrides, registry."""
from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import detectors
from detectors import (
    DetectionFileDetector,
    Detections,
    DetectorError,
    DetectorSettings,
    GroundTruthDetector,
    PersonDetector,
    available_detectors,
    build_detector,
    detector_settings,
    register_detector,
)
from detectors import registry as registry_module
from tests.shared import SHARED_DATA, needs

DATA = SHARED_DATA
COCO = DATA / "mmpose_coco"
needs_data = needs(COCO / "test_coco.json")


def test_rmpe_config_section_is_detector_settings():
    from rmpe.config import load_config

    section = load_config(overrides=["detector.conf=0.25"]).detector
    assert type(section) is DetectorSettings and section.conf == 0.25
    assert dataclasses.asdict(DetectorSettings()) == dataclasses.asdict(load_config().detector)


def test_builtin_types_registered():
    assert available_detectors() == ["file", "gt", "yolo"]


def test_settings_from_object_dict_and_overrides():
    cfg = DetectorSettings(type="file", file="x.json", score_threshold=0.5)
    s = detector_settings(cfg, min_box_size=7.0)
    assert s.type == "file" and s.file == "x.json" and s.score_threshold == 0.5 and s.min_box_size == 7.0
    assert s.weights == "yolov8n.pt"

    class Partial:  # any object: missing attributes keep their defaults
        type = "gt"
        ann = "a.json"

    s = detector_settings(Partial())
    assert s.type == "gt" and s.ann == "a.json" and s.conf == DetectorSettings().conf
    assert detector_settings(None) == DetectorSettings()
    assert detector_settings({"conf": 0.3}).conf == 0.3
    given = DetectorSettings(type="gt", ann="a.json")
    assert detector_settings(given) == given and detector_settings(given, ann="b.json").ann == "b.json"


def test_unknown_keys_and_types_are_errors():
    with pytest.raises(DetectorError, match="detector.thresh"):
        build_detector({"thresh": 0.3})
    with pytest.raises(DetectorError, match="unknown detector setting 'colour'"):
        build_detector(None, colour="red")
    with pytest.raises(DetectorError, match="detector.type='mmdet'.*file, gt, yolo"):
        build_detector({"type": "mmdet"})

    @dataclasses.dataclass
    class NewerConfig:
        type: str = "gt"
        ann: str = "a.json"
        fancy_new_setting: int = 3

    with pytest.raises(DetectorError, match="fancy_new_setting"):
        build_detector(NewerConfig())


def test_missing_file_settings():
    with pytest.raises(DetectorError, match="detector.file is not set"):
        build_detector({"type": "file"})
    with pytest.raises(DetectorError, match="detector.ann is not set"):
        build_detector({"type": "gt"})
    with pytest.raises(DetectorError, match="detection file not found: .*nope.json"):
        build_detector({"type": "file", "file": "nope.json"})


@needs_data
def test_build_from_rmpe_config_honours_file_settings(tmp_path):
    """Every setting a file detector uses goes through rmpe's config and --set overrides."""
    from rmpe.config import load_config

    det_file = COCO / "test_coco_det_AP_H_56.json"
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(f"detector:\n  type: file\n  file: {det_file}\n  score_threshold: 0.3\n")
    cfg = load_config(cfg_path, overrides=["detector.min_box_size=60", f"detector.ann={COCO / 'test_coco.json'}"])
    det = build_detector(cfg.detector)
    assert isinstance(det, DetectionFileDetector)
    assert det.score_threshold == 0.3 and det.min_box_size == 60.0 and det.index is not None

    entries = json.loads(det_file.read_text())
    ids = [785, 40083, 196141, 197388]
    out = det(None, ["000000000785.jpg", 40083, 196141, 197388])
    for image_id, dets in zip(ids, out):
        expected = [
            e for e in entries
            if e["image_id"] == image_id and e["score"] >= 0.3 and e["bbox"][2] >= 60 and e["bbox"][3] >= 60
        ]
        assert len(dets) == len(expected)
        np.testing.assert_allclose(dets.scores, [e["score"] for e in expected], rtol=1e-6)


@needs_data
def test_build_gt_and_override_wins():
    ann = str(COCO / "test_coco.json")
    det = build_detector({"type": "file", "ann": ann}, type="gt", min_box_size=0.0)
    assert isinstance(det, GroundTruthDetector) and det.min_box_size == 0.0
    assert sum(len(d) for d in det(None, [785, 40083, 196141, 197388])) == 14


@needs_data
def test_setting_for_another_type_warns():
    ann = str(COCO / "test_coco.json")
    with pytest.warns(UserWarning, match="detector.file is set but detector.type is 'gt'"):
        build_detector({"type": "gt", "ann": ann, "file": "dets.json"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_detector({"type": "gt", "ann": ann})


def test_register_custom_detector():
    class Const(PersonDetector):
        def __init__(self, size, **kw):
            super().__init__(**kw)
            self.size = size

        def _detect(self, images, image_ids):
            return [Detections([[0, 0, self.size, self.size]], [0.5]) for _ in images]

    @register_detector("test_const")
    def make(settings):
        return Const(settings.max_det, min_box_size=settings.min_box_size)

    try:
        assert "test_const" in available_detectors()
        det = build_detector({"type": "test_const", "max_det": 9})
        (d,) = det([np.zeros((2, 2, 3), np.uint8)])
        np.testing.assert_array_equal(d.boxes, np.float32([[0, 0, 9, 9]]))
        det = build_detector({"type": "test_const", "max_det": 1})  # min_box_size 2 drops it
        assert len(det([np.zeros((2, 2, 3), np.uint8)])[0]) == 0
        with pytest.raises(ValueError, match="already registered"):
            register_detector("test_const")(make)
    finally:
        registry_module._REGISTRY.pop("test_const", None)


def test_detectors_does_not_import_rmpe_or_ultralytics():
    import subprocess
    import sys

    code = (
        "import sys, detectors; "
        "print(any(m == 'rmpe' or m.startswith('rmpe.') for m in sys.modules), 'ultralytics' in sys.modules)"
    )
    root = Path(detectors.__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr
