"""Detector weights (.pt) are checked against what an ultralytics checkpoint holds before ultralytics unpickles them."""
from __future__ import annotations

import os

os.environ["YOLO_OFFLINE"] = "1"  # before ultralytics is imported anywhere in this process

import argparse
import copy
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import detectors
from detectors import DetectorError, DetectorSettings, UltralyticsDetector, build_detector
from detectors import ultralytics_detector

ROOT = Path(detectors.__file__).resolve().parents[1]
REFUSED = "hold objects outside what an ultralytics checkpoint contains"


# ----------------------------------------------------------------------------- files
class _Open:
    """Unpickling this runs open(marker, "w"), which creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _System(_Open):
    """Unpickling this runs os.system("touch marker")."""

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _Popen(_Open):
    """Unpickling this starts ``touch marker`` through subprocess."""

    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.marker],))


class _Exec(_Open):
    """Unpickling this runs builtins.exec on source that creates the marker."""

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


class _Reduce:
    """Pickles as an arbitrary ``(callable, args)``: for uses of allowed names a checkpoint never makes."""

    def __init__(self, func, args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _yolo():
    from ultralytics import YOLO

    torch.manual_seed(0)
    return YOLO("yolov8n.yaml")


@pytest.fixture(scope="module")
def real_pt(tmp_path_factory):
    """A real ultralytics checkpoint, written by ultralytics' own ``Model.save``."""
    path = tmp_path_factory.mktemp("real") / "yolo_real.pt"
    _yolo().save(str(path))
    return path


@pytest.fixture(scope="module")
def trainer_pt(tmp_path_factory):
    """A checkpoint laid out as ultralytics' trainer writes it: EMA model in fp16, optimiser state, train args."""
    from ultralytics.utils import DEFAULT_CFG_DICT, IterableSimpleNamespace

    yolo = _yolo()
    model = yolo.model
    model.args = IterableSimpleNamespace(**DEFAULT_CFG_DICT)  # older ultralytics kept the args on the model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    ckpt = {
        "epoch": 3,
        "best_fitness": np.float64(0.5),
        "model": None,
        "ema": copy.deepcopy(model).half(),
        "updates": 120,
        "optimizer": optimizer.state_dict(),
        "train_args": dict(DEFAULT_CFG_DICT, data="coco8.yaml", project=Path("runs/detect")),
        "train_metrics": {"metrics/mAP50(B)": np.float64(0.25)},
        "train_results": {"epoch": [1, 2, 3]},
        "date": "2026-11-30T10:00:00",
        "version": "8.4.190",
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
    }
    path = tmp_path_factory.mktemp("trainer") / "yolo_trainer.pt"
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def legacy_pt(tmp_path_factory):
    """A real model in torch's legacy (non-zip) format, with a layer holding one of its bound methods
    (ultralytics checkpoints pickle ``Detect.forward`` that way, through builtins.getattr)."""
    yolo = _yolo()
    head = yolo.model.model[-1]
    head.forward_alias = head.forward
    path = tmp_path_factory.mktemp("legacy") / "yolo_legacy.pt"
    torch.save({"model": yolo.model, "train_args": {}}, path, _use_new_zipfile_serialization=False)
    return path


def _malicious(folder: Path, payload: type, writer: str = "zip") -> "tuple[Path, Path]":
    marker = folder / "pwned"
    path = folder / f"evil_{payload.__name__.strip('_').lower()}_{writer}.pt"
    evil = payload(marker)
    if writer == "zip":
        torch.save({"model": evil, "date": "x"}, path)
    elif writer == "legacy":
        torch.save({"model": evil}, path, _use_new_zipfile_serialization=False)
    elif writer == "raw_pickle":
        path.write_bytes(pickle.dumps({"model": evil}, protocol=2))
    elif writer == "inside_model":  # a real model with one extra attribute that runs code
        yolo = _yolo()
        yolo.model.model[-1].extra = evil
        torch.save({"model": yolo.model, "train_args": {}}, path)
    else:
        raise ValueError(writer)
    return path, marker


# ----------------------------------------------------------------------------- the check
def test_real_ultralytics_checkpoints_pass_and_load(real_pt, trainer_pt, legacy_pt):
    for path in (real_pt, trainer_pt, legacy_pt):
        ultralytics_detector.check_weights_pickle(path)  # no exception
        det = build_detector({"weights": str(path), "conf": 0.5})
        assert isinstance(det, UltralyticsDetector)
        out = det([np.zeros((96, 128, 3), np.uint8)])
        assert len(out) == 1


@pytest.mark.parametrize(
    "payload, writer",
    [(p, w) for w in ("zip", "legacy", "raw_pickle") for p in (_Open, _System, _Popen, _Exec)]
    + [(_System, "inside_model")],  # one payload is enough inside a real model
)
def test_malicious_pt_is_refused_before_ultralytics(tmp_path, monkeypatch, payload, writer):
    path, marker = _malicious(tmp_path, payload, writer)
    before = path.read_bytes()
    import ultralytics

    handed = []
    monkeypatch.setattr(ultralytics, "YOLO", lambda *a, **k: handed.append(a))  # must never be reached
    with pytest.raises(DetectorError) as info:
        build_detector({"weights": str(path)})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"detector weights {path} {REFUSED} (")
    assert message.endswith("); refused. Set detector.trust_weights: true only for files from a source you trust")
    assert not marker.exists() and handed == [] and path.read_bytes() == before


@pytest.mark.parametrize(
    "payload, name",
    [
        (_Open, "io.open"),
        (_System, "posix.system"),
        (_Popen, "subprocess.Popen"),
        (_Exec, "builtins.exec"),
    ],
)
def test_refusal_names_the_global(tmp_path, payload, name):
    path, _ = _malicious(tmp_path, payload)
    if os.name == "nt" and name == "posix.system":
        name = "nt.system"
    with pytest.raises(DetectorError, match=rf"contains \({name}\); refused"):
        ultralytics_detector.check_weights_pickle(path)


def _ultralytics_function():
    from ultralytics.utils.checks import check_requirements

    return check_requirements


def _detection_model_class():
    from ultralytics.nn.tasks import DetectionModel

    return DetectionModel


def _detect_class():
    from ultralytics.nn.modules.head import Detect

    return Detect


@pytest.mark.parametrize(
    "make, fragment",
    [
        # an ultralytics *function* (pip-installs a package): only classes are allowed
        (lambda: _Reduce(_ultralytics_function(), ("evil-package",)), "ultralytics.utils.checks.check_requirements"),
        # a model class called with a config: builds (and evals) from it at unpickling time
        (lambda: _Reduce(_detection_model_class(), ({"nc": 1, "backbone": [], "head": []},)),
         "ultralytics.nn.tasks.DetectionModel"),
        # getattr used to reach beyond a layer's own methods
        (lambda: _Reduce(getattr, (_detect_class(), "__init__")), "getattr"),
        (lambda: _Reduce(eval, ("1 + 1",)), "builtins.eval"),
        (lambda: _Reduce(argparse.Namespace, ()), "argparse.Namespace"),
    ],
    ids=["ultralytics_function", "model_class_called", "getattr_dunder", "eval", "foreign_class"],
)
def test_allowed_names_used_otherwise_are_refused(tmp_path, make, fragment):
    path = tmp_path / "odd.pt"
    torch.save({"model": make()}, path)
    with pytest.raises(DetectorError, match=REFUSED) as info:
        ultralytics_detector.check_weights_pickle(path)
    assert fragment in str(info.value)


def test_naming_a_module_does_not_import_it(tmp_path):
    """ultralytics.nn.text_model installs CLIP when imported; a file naming it must not import it."""
    already = "ultralytics.nn.text_model" in sys.modules
    path = tmp_path / "text_model.pt"
    path.write_bytes(b"\x80\x02cultralytics.nn.text_model\nTextModel\n)\x81.")
    with pytest.raises(DetectorError, match=r"contains \(ultralytics\.nn\.text_model\.TextModel\); refused"):
        ultralytics_detector.check_weights_pickle(path)
    assert ("ultralytics.nn.text_model" in sys.modules) == already


def test_unreadable_pt_is_one_line(tmp_path):
    for name, data in [("text.pt", b"not a checkpoint\n" * 40), ("zip.pt", b"PK\x03\x04" + b"\x00" * 300)]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DetectorError) as info:
            build_detector({"weights": str(path)})
        assert "\n" not in str(info.value) and str(info.value).startswith(f"cannot load detector weights {path}")


def test_trust_weights_opt_out(tmp_path, real_pt):
    """A file with a benign but unlisted object: refused by default, loaded with trust_weights."""
    from ultralytics.nn.tasks import torch_safe_load

    ckpt, _ = torch_safe_load(str(real_pt))
    ckpt["notes"] = argparse.Namespace(author="me")
    path = tmp_path / "annotated.pt"
    torch.save(ckpt, path)
    with pytest.raises(DetectorError, match=r"contains \(argparse\.Namespace\); refused"):
        build_detector({"weights": str(path)})
    det = build_detector({"weights": str(path), "trust_weights": True})
    assert det.trust_weights is True
    assert DetectorSettings().trust_weights is False
    with pytest.raises(DetectorError, match="detector.trust_weights must be true or false"):
        DetectorSettings(trust_weights="yes")


def test_yaml_and_names_are_not_checked(monkeypatch):
    import detectors.ultralytics_detector as ud

    monkeypatch.setattr(ud, "check_weights_pickle", lambda *a, **k: pytest.fail("checked a .yaml"))
    det = build_detector({"weights": "yolov8n.yaml"})
    assert det.person_class == 0


def test_malicious_pt_through_demo(tmp_path, small_model_files):
    """rmpe-demo --detector evil.pt: exit 2, one line, nothing ran, no output written."""
    cfg, ckpt = small_model_files
    path, marker = _malicious(tmp_path, _System)
    import cv2

    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), np.full((64, 48, 3), 100, np.uint8))
    env = dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1")
    res = subprocess.run(
        [sys.executable, "-m", "rmpe.cli.demo", "--config", str(cfg), "--checkpoint", str(ckpt), "--device", "cpu",
         "--quiet", "--image", str(image), "--detector", str(path), "--json", str(tmp_path / "out.json")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"rmpe-demo: error: detector weights {path} {REFUSED} (posix.system); refused.")
    assert not marker.exists() and not (tmp_path / "out.json").exists()
