"""Person detection with any ultralytics YOLO model (``.pt``, ``.yaml``, ``.onnx``, or a name).

ultralytics is imported lazily, when the first :class:`UltralyticsDetector` is built. Before
that import ``YOLO_OFFLINE=1`` is set (unless the environment already sets it, or the
detector was asked to ``allow_download``) so ultralytics makes no network checks.

Weights are resolved before ultralytics sees them, so a missing file never starts a download
attempt (which can block for minutes on a machine without network):

* a path or name that exists locally is used as is;
* a bare name (``yolo11n.pt``) is also looked for in ultralytics' ``weights_dir`` setting;
* a ``.yaml`` name without a folder (``yolov8n.yaml``) is a model definition that
  ultralytics ships: it builds a randomly initialised model;
* anything else is missing: with ``allow_download`` it is handed to ultralytics, which
  downloads released weights by name (``yolo11n.pt``) or URL into the working directory;
  without it a one-line :class:`~detectors.errors.DetectorError` says which file is missing
  and where to put it.

Security: a YOLO ``.pt`` file is a pickle that ultralytics loads with full unpickling;
only use weights from a source you trust.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .base import Detections, PersonDetector
from .errors import DetectorError
from .registry import register_detector
from .settings import DetectorSettings, check_int, check_setting

_MODEL_FILE_SUFFIXES = (".yaml", ".yml")
_DETECTION_TASKS = ("detect", "segment", "pose")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _import_ultralytics(allow_download: bool) -> Any:
    """Import ultralytics, setting ``YOLO_OFFLINE`` first unless downloads are allowed."""
    if not allow_download:
        os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        import ultralytics
    except ImportError as exc:  # pragma: no cover - ultralytics is a dependency
        raise DetectorError(f"the yolo detector needs the ultralytics package ({exc}); pip install ultralytics") from None
    return ultralytics


def resolve_weights(weights: str, allow_download: bool) -> str:
    """Decide what to hand to ``ultralytics.YOLO`` for ``weights`` without any network access.

    Args:
        weights: a path, a released model name (``yolo11n.pt``), a model definition
            (``yolov8n.yaml``) or a URL.
        allow_download: whether a missing file may be fetched by ultralytics.

    Returns:
        The path or name to load.

    Raises:
        DetectorError: the file is missing and may not be downloaded; the message names the
            file and where to put it.
    """
    text = weights.strip()
    advice = "pass --detector PATH, or set detector.allow_download: true on a connected machine"
    if "://" in text:
        if allow_download:
            return text
        raise DetectorError(
            f"detector weights are a URL ({text}) but downloads are off; download the file and pass "
            "--detector PATH, or set detector.allow_download: true on a connected machine"
        )
    path = Path(text).expanduser()
    if path.exists():
        if path.is_file() and path.stat().st_size == 0:
            raise DetectorError(f"detector weights file is empty: {path}; replace it with the real file")
        return str(path)
    has_folder = len(Path(text).parts) > 1 or text.startswith("~")
    if path.suffix.lower() in _MODEL_FILE_SUFFIXES and not has_folder:
        return text  # ultralytics' bundled model definitions, e.g. yolov8n.yaml
    if has_folder:
        if allow_download and path.suffix.lower() == ".pt":
            return str(path)  # ultralytics downloads a released name into that folder
        where = path if path.is_absolute() else path.absolute()
        raise DetectorError(f"detector weights not found: {text}; put the file at {where} or {advice}")
    from ultralytics.utils import SETTINGS  # bare name: also ultralytics' weights folder

    in_weights_dir = Path(SETTINGS["weights_dir"]).expanduser() / text
    if in_weights_dir.exists():
        return str(in_weights_dir)
    if allow_download:
        return text
    here = Path.cwd() / text
    raise DetectorError(
        f"detector weights not found: {text} (looked for {here} and {in_weights_dir.absolute()}); "
        f"put the file at {here} or {advice}"
    )


@register_detector("yolo")
class UltralyticsDetector(PersonDetector):
    """People found by an ultralytics YOLO model (person class only).

    Images go to ``model.predict`` in chunks of ``batch`` frames. Boxes come back ``xyxy``
    in the pixels of the image given (ultralytics undoes its letterbox).

    Args:
        weights: ``.pt`` / ``.yaml`` / ``.onnx`` path, or a name (see the module docstring).
        conf: confidence threshold given to ultralytics.
        iou: NMS IoU threshold given to ultralytics.
        imgsz: inference size (int, or ``(h, w)``), rounded up by ultralytics to its stride.
        max_det: most boxes kept per image.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"0"``...; ``None`` means ``"cpu"``.
        half: FP16 inference (ultralytics applies it on CUDA only).
        batch: images per ``predict`` call.
        allow_download: let ultralytics fetch missing weights (needs network).
        min_box_size: drop boxes with a side shorter than this (pixels).
        score_threshold: drop boxes scoring below this (after ``conf``).
        person_class: class index of "person"; ``None`` looks it up in ``model.names``
            (class 0 when no class is named "person", as in COCO-trained YOLO models).
        model: an already built ``ultralytics.YOLO`` (or any object with the same
            ``predict``/``names`` API); ``weights`` is then only used in messages.

    Raises:
        DetectorError: missing or unloadable weights, a model that is not a detector, bad
            settings. Errors raised by ultralytics on the first ``predict`` call (broken export,
            bad device) are reported as DetectorError too.
    """

    def __init__(
        self,
        weights: Union[str, "os.PathLike[str]"] = "yolov8n.pt",
        *,
        conf: float = 0.1,
        iou: float = 0.6,
        imgsz: Union[int, Sequence[int]] = 640,
        max_det: int = 100,
        device: Optional[Union[str, int]] = None,
        half: bool = False,
        batch: int = 8,
        allow_download: bool = False,
        min_box_size: float = 2.0,
        score_threshold: float = 0.0,
        person_class: Optional[int] = None,
        model: Any = None,
    ) -> None:
        super().__init__(min_box_size=min_box_size, score_threshold=score_threshold)
        self.weights = check_setting("weights", weights)
        self.conf = check_setting("conf", conf)
        self.iou = check_setting("iou", iou)
        self.imgsz = check_setting("imgsz", imgsz)
        self.max_det = check_setting("max_det", max_det)
        self.half = check_setting("half", half)
        self.batch = check_setting("batch", batch)
        self.allow_download = check_setting("allow_download", allow_download)
        self.device = self._check_device(device)
        _import_ultralytics(self.allow_download)
        if model is None:
            model = self._load(self.weights)
        self.model = model
        task = getattr(model, "task", "detect")
        if task not in _DETECTION_TASKS:
            raise DetectorError(
                f"detector weights {self.weights} are a '{task}' model; the detector needs a detection model"
            )
        if person_class is None:
            person_class = self._find_person_class(model)
        self.person_class = check_int("person_class", person_class, low=0)
        self.predict_kwargs: Dict[str, Any] = dict(
            conf=self.conf,
            iou=self.iou,
            imgsz=self.imgsz,
            max_det=self.max_det,
            device=self.device,
            classes=[self.person_class],
            batch=self.batch,
            verbose=False,
            **self._precision_kwargs(self.half),
        )
        self._has_run = False

    @classmethod
    def from_config(cls, settings: DetectorSettings) -> "UltralyticsDetector":
        """Build from the ``detector:`` settings (every setting but file/ann/require_keypoints)."""
        return cls(
            settings.weights,
            conf=settings.conf,
            iou=settings.iou,
            imgsz=settings.imgsz,
            max_det=settings.max_det,
            device=settings.device,
            half=settings.half,
            batch=settings.batch,
            allow_download=settings.allow_download,
            min_box_size=settings.min_box_size,
            score_threshold=settings.score_threshold,
        )

    # ------------------------------------------------------------------ construction helpers

    @staticmethod
    def _check_device(device: Any) -> str:
        if check_setting("device", device) is None:
            return "cpu"
        text = str(device).strip()
        if text.lower().startswith("cuda") or text.replace(",", "").isdigit():
            import torch

            if not torch.cuda.is_available():
                raise DetectorError(f"detector.device is {text!r} but CUDA is not available; use device cpu")
        return text

    def _load(self, weights: str) -> Any:
        source = resolve_weights(weights, self.allow_download)
        if source.lower().endswith(".onnx") and importlib.util.find_spec("onnxruntime") is None and not self.allow_download:
            raise DetectorError(
                f"detector weights {weights} are ONNX, which needs the onnxruntime package; "
                "pip install onnxruntime (or onnxruntime-gpu), or use the .pt weights"
            )
        from ultralytics import YOLO

        try:
            model = YOLO(source)
        except Exception as exc:  # a corrupt or foreign file: report, not a traceback
            raise DetectorError(f"cannot load detector weights {weights}: {_first_line(exc)}") from None
        return model

    def _find_person_class(self, model: Any) -> int:
        try:
            names = model.names  # exported formats load here, so errors show at build time
        except Exception as exc:
            raise DetectorError(f"cannot load detector weights {self.weights}: {_first_line(exc)}") from None
        items = names.items() if isinstance(names, dict) else enumerate(names or ())
        for index, name in items:
            if str(name).strip().lower() == "person":
                return int(index)
        return 0

    @staticmethod
    def _precision_kwargs(half: bool) -> Dict[str, Any]:
        """``half`` for ultralytics < 8.4, ``quantize`` where ``half`` is deprecated."""
        try:
            from ultralytics.cfg import DEFAULT_CFG_DICT
        except ImportError:  # pragma: no cover
            return {"half": half}
        if "quantize" in DEFAULT_CFG_DICT:
            return {"quantize": 16 if half else None}
        return {"half": half}

    # ------------------------------------------------------------------ detection

    def _predict(self, chunk: List[np.ndarray]) -> List[Any]:
        try:
            results = self.model.predict(chunk, **self.predict_kwargs)
        except Exception as exc:
            if self._has_run:
                raise
            raise DetectorError(f"detector model {self.weights} failed to run: {_first_line(exc)}") from None
        self._has_run = True
        return list(results)

    def _detect(self, images: Optional[List[np.ndarray]], image_ids: Optional[List[Any]]) -> List[Detections]:
        assert images is not None
        out: List[Detections] = []
        for start in range(0, len(images), self.batch):
            chunk = images[start : start + self.batch]
            results = self._predict(chunk)
            if len(results) != len(chunk):  # internal/ultralytics bug
                raise RuntimeError(f"ultralytics returned {len(results)} results for {len(chunk)} images")
            for result in results:
                boxes = result.boxes
                if boxes is None or len(boxes) == 0:
                    out.append(Detections.empty())
                    continue
                xyxy = boxes.xyxy.float().cpu().numpy()
                scores = boxes.conf.float().cpu().numpy()
                person = boxes.cls.cpu().numpy().astype(np.int64) == self.person_class
                out.append(Detections(xyxy[person], scores[person]))
        return out

    def __repr__(self) -> str:
        return (
            f"UltralyticsDetector(weights={self.weights!r}, conf={self.conf}, iou={self.iou}, imgsz={self.imgsz}, "
            f"max_det={self.max_det}, device={self.device!r}, half={self.half}, batch={self.batch})"
        )
