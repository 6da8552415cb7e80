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

Security: a YOLO ``.pt`` file is a pickle, and ultralytics unpickles it in full, which runs
whatever code the file names. So before a local ``.pt`` reaches ultralytics,
:func:`check_weights_pickle` replays its pickle with stand-ins for every object: nothing is
built and nothing runs, and each class or function the file names must be one an ultralytics
checkpoint legitimately holds (torch and ultralytics layers, tensors, containers, numpy
scalars, paths, the settings namespace). Anything else is refused with a
:class:`~detectors.errors.DetectorError`. ``trust_weights=True`` (``detector.trust_weights``)
skips the check for files from a source the user trusts. ``.yaml``/``.onnx`` files and
released names that ultralytics downloads are not checked.
"""
from __future__ import annotations

import _compat_pickle
import importlib
import importlib.util
import inspect
import io
import os
import pickle
import re
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterator, List, Optional, Sequence, Union

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


# ----------------------------------------------------------------------------- weights check
#: Callables an ultralytics checkpoint calls while it is unpickled: tensors and storages,
#: containers, numpy scalars and dtypes, paths, the settings namespace.
_CALLED_GLOBALS = frozenset({
    "collections.OrderedDict", "builtins.set", "builtins.frozenset", "builtins.slice", "builtins.complex",
    "builtins.bytearray", "_codecs.encode",
    "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    "torch.Size", "torch.device",
    "numpy.dtype", "numpy.ndarray",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib.PurePosixPath", "pathlib.PureWindowsPath",
    "pathlib._local.PosixPath", "pathlib._local.WindowsPath",
    "types.SimpleNamespace", "ultralytics.utils.IterableSimpleNamespace",
})
#: Old names that ultralytics maps to current classes when it loads older checkpoints.
_LEGACY_NAMES = {
    "ultralytics.yolo.utils.IterableSimpleNamespace": "ultralytics.utils.IterableSimpleNamespace",
    "ultralytics.nn.modules.block.Silence": "torch.nn.modules.linear.Identity",
    "ultralytics.nn.tasks.YOLOv10DetectionModel": "ultralytics.nn.tasks.DetectionModel",
    "ultralytics.utils.loss.v10DetectLoss": "ultralytics.utils.loss.E2EDetectLoss",
}
#: Modules whose torch.nn.Module subclasses (layers, models) a checkpoint may hold.
_LAYER_MODULES = ("torch.nn.modules.", "ultralytics.nn.")
#: Modules whose own classes (training losses and assigners kept on a model) a checkpoint may hold.
_PLAIN_CLASS_MODULES = frozenset({"ultralytics.utils.loss", "ultralytics.utils.tal"})
#: torch's legacy (non-zip) format: five pickles in a row, then raw storage bytes.
_LEGACY_PICKLES = 5
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class _Refused(Exception):
    """The check met a name outside the allow-list, or an allowed name used as no checkpoint uses it."""


class _Inert:
    """Stands for every object the check's replay makes: takes state and items, does nothing."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "_Inert":
        if getattr(cls, "_kind", "called") not in ("called", "built"):
            raise _Refused(cls._name)
        return object.__new__(cls)

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass

    def add(self, item: Any) -> None:
        pass


class _Stand_in(type):
    """Metaclass of the stand-ins for allowed globals; calling one is what REDUCE does."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls._kind != "called":  # layers and models are only ever created empty (NEWOBJ) and filled
            raise _Refused(f"a call of {cls._name}")
        return _Inert()


def _stand_in(name: str, kind: str, real: Any = None) -> type:
    return _Stand_in(name.rpartition(".")[2] or name, (_Inert,), {"_name": name, "_kind": kind, "_real": real})


def _checked_getattr(obj: Any, attr: Any, *default: Any) -> Any:
    """``getattr`` as checkpoints use it (a layer's own method, e.g. ``Detect.forward``), nothing else."""
    owner = obj if isinstance(obj, _Stand_in) else type(obj)
    real = getattr(owner, "_real", None)
    if (
        isinstance(owner, _Stand_in)
        and owner._kind == "built"
        and isinstance(attr, str)
        and not attr.startswith("_")
        and inspect.isfunction(getattr(real, attr, None))
    ):
        return _Inert()
    what = getattr(owner, "_name", type(obj).__name__)
    raise _Refused(f"builtins.getattr({what}, {attr!r})")


def _resolve_class(name: str) -> Any:
    """The class ``name`` refers to when it is one a checkpoint may hold, else None.

    Only modules already imported are looked in (torch's layers, and what ``ultralytics.nn.tasks``
    imports): naming a module must not import it, since some ultralytics modules install
    packages when imported.
    """
    module, _, attr = name.rpartition(".")
    layer = module.startswith(_LAYER_MODULES)
    if not (layer or module in _PLAIN_CLASS_MODULES) or not _DOTTED_NAME.fullmatch(name):
        return None
    obj = getattr(sys.modules.get(module), attr, None)
    if not isinstance(obj, type):
        return None
    if layer:
        import torch

        return obj if issubclass(obj, torch.nn.Module) else None
    return obj if obj.__module__ == module else None


def _global_kind(name: str) -> "tuple[str, Any]":
    """How a checkpoint may use global ``name``: ("called"|"built"|"value"|"getattr", real object); raises _Refused."""
    name = _LEGACY_NAMES.get(name, name)
    if name in _CALLED_GLOBALS:
        return "called", None
    if name == "builtins.getattr":
        return "getattr", None
    module, _, attr = name.rpartition(".")
    if module == "torch":
        import torch

        value = getattr(torch, attr, None)
        if isinstance(value, torch.dtype) or (attr.endswith("Storage") and isinstance(value, type)):
            return "value", None
    real = _resolve_class(name)
    if real is not None:
        return "built", real
    raise _Refused(name)


class _CheckUnpickler(pickle.Unpickler):
    """Replays a pickle with stand-ins: every global goes through the allow-list, no real object is made."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self._stand_ins: Dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        # the names Python 2 era pickles (protocol < 3) use, as pickle itself maps them
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        if full not in self._stand_ins:
            kind, real = _global_kind(full)
            self._stand_ins[full] = _checked_getattr if kind == "getattr" else _stand_in(full, kind, real)
        return self._stand_ins[full]

    def persistent_load(self, pid: Any) -> Any:
        """Tensor storages stay unread; torch's legacy format refers to layer classes this way."""
        kind = pid[0] if isinstance(pid, tuple) and pid else None
        if kind in ("module", b"module"):  # ("module", class, source file, source): torch returns the class
            if len(pid) > 1 and isinstance(pid[1], _Stand_in) and pid[1]._kind == "built":
                return pid[1]
            raise _Refused("a persistent 'module' reference that is no layer class")
        return _Inert()


def _pickles(path: Path) -> Iterator["tuple[BinaryIO, int]"]:
    """(stream, how many pickles to replay from it) for everything ``torch.load`` would unpickle."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head == b"PK\x03\x04":  # torch's own test for its zip format
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if any(e.filename.endswith("constants.pkl") or "/code/" in e.filename for e in entries):
                raise _Refused("a TorchScript archive")
            pickled = [e for e in entries if e.filename.endswith(".pkl")]
            if not any(e.filename.endswith("data.pkl") for e in pickled):
                raise ValueError("a zip archive without data.pkl")
            for entry in pickled:
                yield io.BytesIO(archive.read(entry)), 1
        return
    if tarfile.is_tarfile(path):  # torch's pre-1.0 tar format; never an ultralytics checkpoint
        raise _Refused("a tar archive (PyTorch's pre-1.0 format)")
    with open(path, "rb") as handle:
        yield handle, _LEGACY_PICKLES


def check_weights_pickle(path: Union[str, "os.PathLike[str]"], shown: Optional[str] = None) -> None:
    """Refuse a ``.pt`` file that holds anything an ultralytics checkpoint does not.

    The file's pickle (a zip checkpoint's ``*.pkl`` entries, or the pickles of torch's legacy
    format) is replayed by an unpickler whose ``find_class`` admits only:

    * ``torch.nn.Module`` subclasses from ``torch.nn.modules.*`` and ``ultralytics.nn.*``, and
      the classes of ``ultralytics.utils.loss``/``tal``, created empty and filled with state,
      never called with arguments (a model class called with a config would build from it);
    * the tensor, storage and dtype helpers of torch, ``OrderedDict``/``set``/``slice``, numpy
      scalars, dtypes and arrays, ``pathlib`` paths, ``IterableSimpleNamespace``;
    * ``getattr`` on such a layer for one of its own public methods (``Detect.forward``), as
      ultralytics checkpoints store bound methods;
    * the old names ultralytics maps to these classes.

    Every object is a stand-in, so no constructor, ``__setstate__`` or function of the file's
    runs, and tensor bytes are not read (a 6 MB yolov8n checks in a fraction of a second).

    Args:
        path: the ``.pt`` file.
        shown: how to name the file in messages (default: ``path``).

    Raises:
        DetectorError: ``detector weights X hold objects outside what an ultralytics checkpoint
            contains (module.name); refused...`` for a name outside the list (``posix.system``,
            ``builtins.eval``, ``subprocess.Popen``...), or ``cannot load detector weights X``
            when the file is not a PyTorch checkpoint.
    """
    path = Path(path)
    shown = str(path) if shown is None else shown
    _import_ultralytics(False)
    importlib.import_module("ultralytics.nn.tasks")  # the layer and model classes a checkpoint may name
    try:
        for stream, count in _pickles(path):
            with stream:
                for _ in range(count):
                    _CheckUnpickler(stream).load()
    except _Refused as exc:
        raise DetectorError(
            f"detector weights {shown} hold objects outside what an ultralytics checkpoint contains ({exc}); "
            "refused. Set detector.trust_weights: true only for files from a source you trust"
        ) from None
    except OSError as exc:
        raise DetectorError(f"cannot read detector weights {shown}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - garbage, truncation, a stand-in used as no checkpoint does
        raise DetectorError(
            f"cannot load detector weights {shown}: not a PyTorch checkpoint ({_first_line(exc)})"
        ) from None


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
        half: FP16 inference (ultralytics applies it on CUDA only); for an OpenVINO export on
            the CPU: the plugin's default precision (bf16 on CPUs with bf16 instructions), else f32.
        batch: images per ``predict`` call.
        allow_download: let ultralytics fetch missing weights (needs network).
        threads: CPU threads of an OpenVINO export (0: OpenVINO's default); other formats ignore it.
        trust_weights: hand a local ``.pt`` to ultralytics without :func:`check_weights_pickle`
            (ultralytics unpickles it in full, running any code in it): only for files from a
            source you trust.
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
        trust_weights: bool = False,
        threads: int = 0,
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
        self.trust_weights = check_setting("trust_weights", trust_weights)
        self.device = self._check_device(device)
        self.threads = check_setting("threads", threads)
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
        # An OpenVINO export's precision is its compiled precision hint (_openvino_settings);
        # ultralytics' fp16 flag would only round-trip each input through float16 (torch's
        # .half() then numpy's float32 cast: about 2 ms a frame at 480x640, and the pixels rounded).
        ultralytics_half = self.half and self._openvino_xml() is None
        self.predict_kwargs: Dict[str, Any] = dict(
            conf=self.conf,
            iou=self.iou,
            imgsz=self.imgsz,
            max_det=self.max_det,
            device=self.device,
            classes=[self.person_class],
            batch=self.batch,
            verbose=False,
            **self._precision_kwargs(ultralytics_half),
        )
        self._has_run = False
        self._openvino_settings()

    def _openvino_settings(self) -> None:
        """Honour ``half`` and ``threads`` for an OpenVINO export (a ``*_openvino_model/`` folder) on the CPU.

        ultralytics compiles OpenVINO models without a precision hint, so the CPU plugin runs
        its default, which is bf16 on CPUs with bf16 instructions: ``half: false`` would not
        give the .pt's fp32 boxes. Here the model is compiled once more after a warm-up call
        (which builds ultralytics' predictor): with ``INFERENCE_PRECISION_HINT`` f32 for
        ``half: false`` (with ``half: true`` the plugin's default stays: bf16 where supported)
        and ``INFERENCE_NUM_THREADS`` for ``threads`` > 0.
        """
        xml = self._openvino_xml()
        if (self.half and not self.threads) or xml is None:
            return
        self._predict([np.zeros((32, 32, 3), np.uint8)])  # builds the predictor and its backend
        backend = getattr(getattr(getattr(self.model, "predictor", None), "model", None), "backend", None)
        compile_model = getattr(backend, "compile_model", None)
        if backend is None or not hasattr(backend, "ov_compiled_model") or compile_model is None:
            return  # another ultralytics layout: its default precision stays
        import functools

        import openvino as ov

        core = ov.Core()
        config = dict(getattr(compile_model, "keywords", {}).get("config", {}) or {})
        if not self.half:
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        device_name = getattr(compile_model, "keywords", {}).get("device_name", "CPU")
        if str(device_name).upper() not in ("CPU", "AUTO"):
            return
        backend.compile_model = functools.partial(core.compile_model, device_name=device_name, config=config)
        backend.ov_compiled_model = backend.compile_model(core.read_model(str(xml)))

    def _openvino_xml(self) -> Optional[Path]:
        """The model file of an OpenVINO export folder (``*_openvino_model/``), else None."""
        folder = Path(os.fspath(self.weights))
        found = sorted(folder.glob("*.xml")) if folder.is_dir() else []
        return found[0] if found else None

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
            trust_weights=settings.trust_weights,
            threads=settings.threads,
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
        local = Path(source)
        if not self.trust_weights and local.suffix.lower() == ".pt" and local.is_file():
            check_weights_pickle(local, shown=source)  # before ultralytics unpickles it in full
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
