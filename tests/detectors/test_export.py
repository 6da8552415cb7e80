"""Detector exports (ultralytics' exporter): the OpenVINO / ONNX model, loaded by path as the
detector, finds the same people as the .pt it came from on a real image."""
import importlib.util

import cv2
import numpy as np
import pytest

from detectors import DetectorError, UltralyticsDetector
from rmpe.precision import cpu_has_bf16
from tests.shared import SHARED_DATA, needs

BUS = SHARED_DATA / "yolov5_images" / "bus.jpg"
#: exported graphs compute in another order (and OpenVINO fuses layers): boxes agree to
#: a few hundredths of a pixel and scores to 1e-4 on this image (measured 1e-3 px / 2e-6).
BOX_TOL = 0.05
SCORE_TOL = 1e-4


@pytest.fixture(scope="module")
def person_yolo(tmp_path_factory):
    """A random yolov8n (ultralytics' yolov8n.yaml, no download) whose outputs depend on the
    image (:func:`rmpe.testing.random_yolo`), saved as a .pt."""
    pytest.importorskip("torch")
    from rmpe.testing import random_yolo

    path = tmp_path_factory.mktemp("yolo") / "person.pt"
    random_yolo(path, calibration=cv2.imread(str(BUS)) if BUS.exists() else None)
    return path


def _square_bus():
    """bus.jpg cut to a square, so that ultralytics letterboxes it the same way for the .pt
    (minimal padding) and for the fixed 640x640 exported graphs."""
    image = cv2.imread(str(BUS))
    side = min(image.shape[:2])
    return np.ascontiguousarray(image[:side, :side])


def _detect(weights, image):
    det = UltralyticsDetector(str(weights), conf=0.3, iou=0.6, imgsz=640, max_det=50)
    return det([image])[0]


def _same_people(a, b):
    """Every box of ``a`` has a box of ``b`` within BOX_TOL px (and vice versa), scores within SCORE_TOL."""
    assert len(a.boxes) >= 10 and len(a.boxes) == len(b.boxes)
    d = np.abs(a.boxes[:, None, :] - b.boxes[None, :, :]).max(-1)  # (Na, Nb) largest coordinate difference
    match = d.argmin(1)
    assert sorted(match.tolist()) == list(range(len(b.boxes)))  # one to one
    assert d[np.arange(len(match)), match].max() <= BOX_TOL
    assert np.abs(a.scores - b.scores[match]).max() <= SCORE_TOL


def _iou(a, b):
    """(Na,4) x (Nb,4) xyxy -> (Na,Nb) IoU (plain broadcasting)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2:] - x[:, :2]).prod(-1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


@needs(BUS)
@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs onnxruntime")
def test_onnx_export_same_boxes_as_pt(person_yolo, tmp_path):
    from rmpe.cli.export import main

    out = tmp_path / "det.onnx"
    assert main(["--detector", str(person_yolo), "--format", "onnx", "--out", str(out), "--quiet"]) == 0
    assert out.is_file() and not list(tmp_path.glob(".rmpe-det-*"))  # the staging folder is gone
    image = _square_bus()
    _same_people(_detect(person_yolo, image), _detect(out, image))


@pytest.mark.slow  # two OpenVINO compilations and an export: about 14 s on 2 cores
@needs(BUS)
@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="needs openvino")
def test_openvino_export_same_boxes_as_pt(person_yolo, tmp_path):
    from detectors.export import export_detector

    out = export_detector(person_yolo, "openvino", tmp_path / "det_openvino_model")
    assert out.is_dir() and list(out.glob("*.xml"))
    image = _square_bus()
    a, b = _detect(person_yolo, image), _detect(out, image)  # half false: compiled with the f32 hint
    _same_people(a, b)
    if cpu_has_bf16():  # detector.half: OpenVINO's CPU default, bf16 here: other boxes than fp32
        det = UltralyticsDetector(str(out), conf=0.3, iou=0.6, imgsz=640, max_det=50, half=True)
        # the precision is the compiled hint's: ultralytics' fp16 would only round-trip the input
        assert not det.predict_kwargs.get("half") and not det.predict_kwargs.get("quantize")
        c = det([image])[0]
        assert len(c.boxes) >= 10 and not (len(c.boxes) == len(a.boxes) and np.allclose(c.boxes, a.boxes, atol=1e-3))


@pytest.mark.slow  # an export and two OpenVINO compilations: about 10 s on 2 cores
@needs(BUS)
@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="needs openvino")
def test_openvino_fixed_batch_export_same_boxes_as_pt(person_yolo, tmp_path, capsys):
    """rmpe-export --detector --batch 2: three images in one detector call (a full batch of two,
    then one padded by ultralytics) give each image the .pt's people."""
    from rmpe.cli.export import main

    out = tmp_path / "det_b2_openvino_model"
    assert main(["--detector", str(person_yolo), "--batch", "2", "--out", str(out)]) == 0
    assert "detector.batch=2" in capsys.readouterr().err
    import openvino as ov

    xml = sorted(out.glob("*.xml"))[0]
    assert ov.Core().read_model(str(xml)).input().get_partial_shape()[0].get_length() == 2
    image = _square_bus()
    images = [image, np.ascontiguousarray(image[:, ::-1]), image]
    det = UltralyticsDetector(str(out), conf=0.3, iou=0.6, imgsz=640, max_det=50, batch=3)
    got = det(images)
    assert len(got) == 3
    for im, b in zip(images, got):
        _same_people(_detect(person_yolo, im), b)


def test_export_bad_input(tmp_path, capsys):
    from rmpe.cli.export import main
    from detectors.export import export_detector

    assert main(["--detector", str(tmp_path / "missing.pt")]) == 2
    assert "detector weights not found" in capsys.readouterr().err
    assert main(["--detector", "yolov8n.yaml", "--engine", "x.plan"]) == 2
    assert "--engine applies to pose models" in capsys.readouterr().err
    assert main(["--detector", "yolov8n.yaml", "--imgsz", "480x650"]) == 2
    assert "multiples of 32" in capsys.readouterr().err
    assert main(["--detector", "yolov8n.yaml", "--batch", "dynamic"]) == 2
    assert "a detector export has a fixed batch: give --batch N" in capsys.readouterr().err
    with pytest.raises(DetectorError, match="batch must be an integer >= 1"):
        export_detector("yolov8n.yaml", "openvino", tmp_path / "b_openvino_model", batch=0)
    assert main(["--detector", "yolov8n.yaml", "--imgsz", "480x650"]) == 2
    assert "multiples of 32" in capsys.readouterr().err
    assert main([]) == 2
    assert "give --checkpoint FILE (a pose model) or --detector WEIGHTS" in capsys.readouterr().err
    with pytest.raises(DetectorError, match="unknown detector export format"):
        export_detector("yolov8n.yaml", "tflite")
    with pytest.raises(DetectorError, match="ending in .onnx"):
        export_detector("yolov8n.yaml", "onnx", tmp_path / "det.xml")
