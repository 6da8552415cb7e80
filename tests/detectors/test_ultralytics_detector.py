"""UltralyticsDetector with randomly initialised YOLO models, offline."""
from __future__ import annotations

import os

os.environ["YOLO_OFFLINE"] = "1"  # before ultralytics is imported anywhere in this process

import math
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

import detectors
from detectors import Detections, DetectorError, UltralyticsDetector, build_detector
from detectors.ultralytics_detector import resolve_weights
from tests.shared import SHARED_DATA, needs

DATA = SHARED_DATA
COCO = DATA / "mmpose_coco"
IMAGE_FILES = sorted(COCO.glob("*.jpg"))
needs_data = needs(*(COCO / f"{i:012d}.jpg" for i in (785, 40083, 196141, 197388)))
ROOT = Path(detectors.__file__).resolve().parents[1]


@pytest.fixture
def no_network(monkeypatch):
    """Record (and refuse) every DNS lookup and socket connection made during the test."""
    attempts = []

    def refuse_lookup(host, *args, **kwargs):
        attempts.append(("getaddrinfo", host))
        raise OSError("network disabled in tests")

    def refuse_connect(self, address, *args, **kwargs):
        attempts.append(("connect", address))
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse_connect)
    yield attempts
    assert attempts == [], f"network was touched: {attempts}"


@pytest.fixture(scope="module")
def images():
    return [cv2.imread(str(p)) for p in IMAGE_FILES]


def random_yolo(seed=0):
    from ultralytics import YOLO

    torch.manual_seed(seed)
    return YOLO("yolov8n.yaml")


def logit(p):
    return math.log(p / (1.0 - p))


def controlled_yolo(person=0.7, other=0.3, box_bin=None):
    """A YOLOv8n whose outputs the test sets: every anchor scores ``person`` for class 0,
    ``other`` for class 1 and ~0 for the rest (last classification convs: zero weights, set
    bias). With ``box_bin`` the box branch is fixed too: every side's distance distribution
    peaks at that bin, so each box is its anchor point +- ``box_bin * stride`` (letterbox px)."""
    model = random_yolo()
    head = model.model.model[-1]
    with torch.no_grad():
        for branch in head.cv3:
            conv = branch[-1]
            conv.weight.zero_()
            conv.bias.fill_(-30.0)
            conv.bias[0] = logit(person)
            conv.bias[1] = logit(other)
        if box_bin is not None:
            for branch in head.cv2:
                conv = branch[-1]
                conv.weight.zero_()
                conv.bias.zero_()
                conv.bias.view(4, head.reg_max)[:, box_bin] = 30.0
    return model


class PredictSpy:
    """Wraps ``model.predict``: records the chunk size and keyword arguments of each call."""

    def __init__(self, model):
        self.model = model
        self.calls = []
        self._predict = model.predict
        model.predict = self

    def __call__(self, source, **kwargs):
        self.calls.append((len(source), dict(kwargs)))
        return self._predict(source, **kwargs)


@needs_data
def test_random_yolov8n_on_real_images(images, no_network):
    torch.manual_seed(0)
    det = build_detector({"weights": "yolov8n.yaml", "conf": 1e-4, "imgsz": 320, "max_det": 5, "batch": 3})
    assert isinstance(det, UltralyticsDetector) and det.person_class == 0 and det.device == "cpu"
    out = det(images)
    assert len(out) == 4
    for img, d in zip(images, out):
        assert isinstance(d, Detections)
        assert d.boxes.dtype == np.float32 and d.scores.dtype == np.float32
        # the untrained head scores every anchor sigmoid(bias) ~ 1.6e-4 > conf, so max_det boxes come back
        assert d.boxes.shape == (5, 4) and d.scores.shape == (5,)
        assert np.all(d.scores >= 1e-4) and np.all(d.scores < 1e-3)
        assert np.all(d.boxes[:, 2] >= d.boxes[:, 0]) and np.all(d.boxes[:, 3] >= d.boxes[:, 1])
    # a threshold above every score: nothing, with the documented empty shapes
    det.predict_kwargs["conf"] = 1e-3
    for d in det(images[:2]):
        assert d.boxes.shape == (0, 4) and d.scores.shape == (0,)
        assert d.boxes.dtype == np.float32 and d.scores.dtype == np.float32


@needs_data
def test_every_setting_reaches_ultralytics(images, no_network):
    """Settings from rmpe's detector: section arrive in ultralytics' own predictor arguments."""
    model = random_yolo()
    spy = PredictSpy(model)
    cfg = detectors.DetectorSettings(
        type="yolo", weights="yolov8n.yaml", conf=0.37, iou=0.55, imgsz=256, max_det=11, device="cpu",
        half=True, batch=3, allow_download=False, score_threshold=0.2, min_box_size=4.0,
    )
    settings = detectors.detector_settings(cfg)
    keys = ("conf", "iou", "imgsz", "max_det", "device", "half", "batch", "allow_download", "min_box_size", "score_threshold")
    det = UltralyticsDetector(settings.weights, model=model, **{k: getattr(settings, k) for k in keys})
    small = [cv2.resize(im, (im.shape[1] // 2, im.shape[0] // 2)) for im in images] + [images[0][:100, :150].copy()]
    out = det(small)
    assert len(out) == 5
    assert [n for n, _ in spy.calls] == [3, 2]  # frames sent in chunks of `batch`
    kwargs = spy.calls[0][1]
    assert kwargs["conf"] == 0.37 and kwargs["iou"] == 0.55 and kwargs["imgsz"] == 256
    assert kwargs["max_det"] == 11 and kwargs["device"] == "cpu" and kwargs["classes"] == [0]
    args = model.predictor.args  # what ultralytics itself will use
    assert args.conf == 0.37 and args.iou == 0.55 and args.imgsz == 256 and args.max_det == 11
    assert args.classes == [0] and str(args.device) == "cpu"
    if "quantize" in kwargs:  # ultralytics >= 8.4 replaced half by quantize
        assert kwargs["quantize"] == 16 and args.quantize == 16
    else:
        assert kwargs["half"] is True and args.half is True
    assert det.min_box_size == 4.0 and det.score_threshold == 0.2 and det.allow_download is False

    # the same through build_detector, with the pipeline's device as an override
    det2 = build_detector(cfg, device=None)
    assert det2.device == "cpu" and det2.predict_kwargs["imgsz"] == 256 and det2.batch == 3


@needs_data
def test_controlled_scores_conf_iou_max_det_and_filters(images, no_network):
    model = controlled_yolo(person=0.7, other=0.3)

    def run(**kw):
        base = dict(conf=0.5, iou=0.6, imgsz=320, max_det=300, min_box_size=0.0)
        base.update(kw)
        return UltralyticsDetector("controlled", model=model, **base)(images[:2])

    out = run()
    for d in out:
        assert len(d) > 50
        np.testing.assert_allclose(d.scores, 0.7, atol=1e-5)  # exactly the score the head was set to
    assert all(len(d) == 0 for d in run(conf=0.71))  # conf reaches NMS: 0.7 < 0.71
    assert all(len(d) == 300 for d in run(iou=0.95))  # looser NMS keeps more, up to max_det
    assert sum(len(d) for d in run(iou=0.95)) > sum(len(d) for d in out)
    assert all(len(d) == 10 for d in run(max_det=10))
    assert all(len(d) == 0 for d in run(score_threshold=0.75))
    big = run(min_box_size=0.0)
    for d, b in zip(run(min_box_size=60.0), big):
        side = np.minimum(b.widths, b.heights)
        assert len(d) == int((side >= 60.0).sum()) and len(d) < len(b)


@needs_data
def test_person_class_only(images, no_network):
    # class 1 beats the person class at every anchor: ultralytics keeps each anchor's best class,
    # so a person-only detector finds nobody while a class-1 detector finds everything
    model = controlled_yolo(person=0.4, other=0.9)
    common = dict(model=model, conf=0.3, imgsz=320, min_box_size=0.0)
    assert all(len(d) == 0 for d in UltralyticsDetector("c", **common)(images[:1]))
    found = UltralyticsDetector("c", person_class=1, **common)(images[:1])
    assert len(found[0]) > 0
    np.testing.assert_allclose(found[0].scores, 0.9, atol=1e-5)


@needs_data
def test_boxes_in_original_pixels_and_order(images, no_network):
    """Boxes fixed to anchor +- 1 stride: in the original image they measure 2 * stride / r
    (r = ultralytics' letterbox scale min(320 / h, 320 / w)), 1.5 * stride / r where clipped at
    the border, and their centres span that image. Sizes differ per frame, so this also checks
    that results come back in input order across batches."""
    model = controlled_yolo(box_bin=1)
    sizes = [(120, 200), (300, 180), (90, 90), (240, 320), (200, 100)]  # (h, w)
    frames = [cv2.resize(images[i % 4], (w, h)) for i, (h, w) in enumerate(sizes)]
    det = UltralyticsDetector("c", model=model, conf=0.5, imgsz=320, max_det=3000, batch=2, min_box_size=0.0)
    for (h, w), d in zip(sizes, det(frames)):
        r = min(320 / h, 320 / w)
        full = {round(2 * s / r, 2) for s in (8, 16, 32)}
        widths, heights = np.round(d.widths, 2), np.round(d.heights, 2)
        # every unclipped size appears; clipping (border, or letterbox padding) only shrinks boxes
        assert full <= set(widths.tolist()) and full <= set(heights.tolist()), (h, w, r)
        assert widths.max() <= max(full) and heights.max() <= max(full)
        # the most common box is a stride-8 one, 16 / r pixels wide and high
        sizes_, counts = np.unique(widths, return_counts=True)
        assert sizes_[counts.argmax()] == round(16 / r, 2)
        assert d.boxes[:, [0, 1]].min() >= 0 and d.boxes[:, 2].max() <= w and d.boxes[:, 3].max() <= h
        cx = (d.boxes[:, 0] + d.boxes[:, 2]) / 2
        cy = (d.boxes[:, 1] + d.boxes[:, 3]) / 2
        assert cx.min() < 0.1 * w and cx.max() > 0.9 * w, (w, cx.min(), cx.max())
        assert cy.min() < 0.1 * h and cy.max() > 0.9 * h, (h, cy.min(), cy.max())


def test_person_class_lookup_and_cls_filter():
    """A model naming 'person' at index 2: that class is requested and other classes are dropped."""

    class FakeBoxes:
        def __init__(self, xyxy, conf, cls):
            self.xyxy, self.conf, self.cls = torch.tensor(xyxy), torch.tensor(conf), torch.tensor(cls)

        def __len__(self):
            return len(self.conf)

    class FakeModel:
        task = "detect"
        names = {0: "bicycle", 1: "car", 2: "Person"}

        def __init__(self):
            self.kwargs = []

        def predict(self, source, **kwargs):
            self.kwargs.append(kwargs)
            return [
                SimpleNamespace(boxes=FakeBoxes([[0, 0, 10, 10], [1, 1, 20, 30]], [0.9, 0.8], [2.0, 1.0]))
                for _ in source
            ]

    model = FakeModel()
    det = UltralyticsDetector("fake.pt", model=model, device=None)
    assert det.person_class == 2
    (d,) = det([np.zeros((32, 32, 3), np.uint8)])
    assert model.kwargs[0]["classes"] == [2] and model.kwargs[0]["device"] == "cpu"
    np.testing.assert_array_equal(d.boxes, np.float32([[0, 0, 10, 10]]))
    np.testing.assert_array_equal(d.scores, np.float32([0.9]))

    classify = SimpleNamespace(task="classify", names={0: "cat"}, predict=None)
    with pytest.raises(DetectorError, match="'classify' model"):
        UltralyticsDetector("cls.pt", model=classify)


def test_first_predict_failure_is_one_line():
    class Broken:
        task = "detect"
        names = {0: "person"}

        def predict(self, source, **kwargs):
            raise RuntimeError("bad ONNX graph\nmore details")

    det = UltralyticsDetector("broken.onnx", model=Broken())
    with pytest.raises(DetectorError, match=r"^detector model broken.onnx failed to run: RuntimeError: bad ONNX graph$"):
        det([np.zeros((8, 8, 3), np.uint8)])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"conf": 1.5}, r"detector.conf must be in \[0, 1\]"),
        ({"iou": -0.1}, "detector.iou"),
        ({"imgsz": 0}, "detector.imgsz must be >= 32"),
        ({"imgsz": [320]}, "detector.imgsz must be an integer or"),
        ({"max_det": 0}, "detector.max_det must be >= 1"),
        ({"batch": 2.5}, "detector.batch must be an integer"),
        ({"half": "yes"}, "detector.half must be true or false"),
        ({"allow_download": 1}, "detector.allow_download must be true or false"),
        ({"device": 1.0}, "detector.device must be a string"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(DetectorError, match=message):
        build_detector({"weights": "yolov8n.yaml", **kwargs})


@needs_data
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_half(images, no_network):
    torch.manual_seed(0)
    det = build_detector(
        {"weights": "yolov8n.yaml", "device": "cuda:0", "half": True, "conf": 1e-4, "imgsz": 320, "max_det": 5}
    )
    out = det(images[:2])
    for d in out:
        assert isinstance(d.boxes, np.ndarray) and d.boxes.dtype == np.float32 and d.boxes.shape == (5, 4)
        assert d.scores.dtype == np.float32 and d.scores.shape == (5,)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_device_without_cuda():
    with pytest.raises(DetectorError, match="detector.device is 'cuda:0' but CUDA is not available"):
        build_detector({"weights": "yolov8n.yaml", "device": "cuda:0"})


# ----------------------------------------------------------------------------- missing weights


def test_missing_weights_one_line_error(tmp_path, monkeypatch, no_network):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DetectorError) as info:
        build_detector({"weights": "yolo11n.pt"})
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("detector weights not found: yolo11n.pt")
    assert str(tmp_path / "yolo11n.pt") in msg and "allow_download" in msg

    with pytest.raises(DetectorError) as info:
        build_detector({"weights": "models/person/best.pt"})
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("detector weights not found: models/person/best.pt")
    assert f"put the file at {tmp_path / 'models/person/best.pt'}" in msg

    for name in ("yolov8n.onnx", str(tmp_path / "x" / "custom.yaml"), "https://example.com/w.pt"):
        with pytest.raises(DetectorError, match="detector weights (not found|are a URL)"):
            build_detector({"weights": name})


def test_resolve_weights_finds_local_and_weights_dir(tmp_path, monkeypatch, no_network):
    monkeypatch.chdir(tmp_path)
    from ultralytics.utils import SETTINGS

    weights_dir = Path(SETTINGS["weights_dir"]).expanduser()
    if not weights_dir.is_absolute():
        weights_dir = tmp_path / weights_dir
    elif not os.access(weights_dir, os.W_OK):
        pytest.skip("ultralytics weights_dir is not writable")
    target = weights_dir / "rmpe_test_only_w.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"x")
    try:
        assert Path(resolve_weights("rmpe_test_only_w.pt", False)).resolve() == target.resolve()
    finally:
        target.unlink()
    (tmp_path / "here.pt").write_bytes(b"x")
    assert resolve_weights("here.pt", False) == "here.pt"
    assert resolve_weights("yolov8n.yaml", False) == "yolov8n.yaml"  # ultralytics' bundled definition
    # downloads allowed: the name goes to ultralytics' own download path unchanged
    assert resolve_weights("yolo11n.pt", True) == "yolo11n.pt"
    assert resolve_weights("https://example.com/w.pt", True) == "https://example.com/w.pt"
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(DetectorError, match="detector weights file is empty"):
        resolve_weights("empty.pt", False)


def test_allow_download_hands_name_to_ultralytics(tmp_path, monkeypatch, no_network):
    import ultralytics

    seen = []

    class FakeYOLO:
        task = "detect"
        names = {0: "person"}

        def __init__(self, source):
            seen.append(source)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ultralytics, "YOLO", FakeYOLO)
    det = build_detector({"weights": "yolo11n.pt", "allow_download": True})
    assert seen == ["yolo11n.pt"] and det.allow_download is True


def test_corrupt_weights_one_line_error(tmp_path, no_network):
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"this is not a checkpoint" * 50)
    with pytest.raises(DetectorError) as info:
        build_detector({"weights": str(bad)})
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"cannot load detector weights {bad}")


def test_onnx_needs_onnxruntime(tmp_path, no_network):
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is not None:
        pytest.skip("onnxruntime is installed")
    model = tmp_path / "person.onnx"
    model.write_bytes(b"\x08\x07" * 100)
    with pytest.raises(DetectorError, match="ONNX, which needs the onnxruntime package"):
        build_detector({"weights": str(model)})


@pytest.mark.slow
def test_missing_weights_from_cli_offline_no_hang(tmp_path):
    """A fresh process (YOLO_OFFLINE unset, network refused): one line on stderr, exit 2, quickly."""
    script = textwrap.dedent(
        """
        import os, socket, sys
        attempts = []
        def refuse(*a, **k):
            attempts.append(a[:2])
            raise OSError("no network")
        socket.getaddrinfo = refuse
        socket.socket.connect = refuse
        from rmpe.errors import cli_main
        from detectors import build_detector

        @cli_main
        def main(argv=None):
            build_detector({"weights": "yolo11n.pt", "device": None})

        code = main()
        print(f"offline={os.environ.get('YOLO_OFFLINE')} attempts={len(attempts)}")
        sys.exit(code)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "YOLO_OFFLINE"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "error: detector weights not found: yolo11n.pt" in lines[0]
    assert proc.stdout.strip() == "offline=1 attempts=0"
