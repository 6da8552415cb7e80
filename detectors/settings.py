"""The detector settings: :class:`DetectorSettings`, the ``detector:`` section of an rmpe config.

Every field is checked when the object is built (``__post_init__``); a bad value raises a
:class:`DetectorError` that names the field as ``detector.<field>``. The detector classes use
the same checks (:func:`check_setting`) for their keyword arguments, so a detector built
without settings is checked alike.

Which setting each detector type uses is listed in :mod:`detectors.registry`.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, Tuple, Union

import numpy as np

from .errors import DetectorError

#: Smallest ultralytics inference size (px).
MIN_IMGSZ = 32


@dataclass
class DetectorSettings:
    """Settings of the person detector (``detector:`` config section).

    ``type`` picks the detector: ``yolo`` (ultralytics), ``file`` (COCO detection results),
    ``gt`` (ground-truth boxes). Ranges are checked on construction.
    """

    type: Literal["yolo", "file", "gt"] = "yolo"  #: which detector: ``yolo``, ``file`` or ``gt``
    weights: str = "yolov8n.pt"  #: ultralytics model: .pt / .yaml / .onnx path or a name
    conf: float = 0.1  #: confidence threshold, in [0, 1]
    iou: float = 0.6  #: NMS IoU threshold, in [0, 1]
    imgsz: Union[int, List[int]] = 640  #: inference size in px, >= 32, or an [h, w] pair (an export's fixed size, e.g. [480, 640])
    max_det: int = 100  #: most boxes per image, >= 1
    device: Optional[str] = None  #: None: the pipeline's device
    half: bool = False  #: fp16 inference (CUDA); an OpenVINO export on the CPU: bf16 where the CPU has it (else f32)
    batch: int = 8  #: frames per ultralytics call, >= 1
    threads: int = 0  #: CPU threads of an OpenVINO export (its INFERENCE_NUM_THREADS), >= 0; 0: OpenVINO's default (every core)
    allow_download: bool = False  #: let ultralytics fetch missing weights (needs network)
    trust_weights: bool = False  #: skip the check of a local .pt (ultralytics then runs any code it holds); trusted files only
    file: Optional[str] = None  #: detection results JSON for ``type: file``
    ann: Optional[str] = None  #: annotation JSON for ``type: gt`` (``type: file``: maps file names to ids)
    score_threshold: float = 0.0  #: boxes scoring below this are dropped, in [0, 1]
    min_box_size: float = 2.0  #: boxes with a side shorter than this (px, >= 0) are dropped
    require_keypoints: bool = False  #: ``type: gt``: only people with labelled keypoints get a box

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, check_setting(field.name, getattr(self, field.name)))


# ----------------------------------------------------------------------------- value checks


def check_number(name: str, value: Any, low: Optional[float] = None, high: Optional[float] = None) -> float:
    """A finite real value within ``[low, high]``; raises DetectorError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DetectorError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise DetectorError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return value


def check_int(name: str, value: Any, low: int = 1) -> int:
    """An integer value ``>= low``; raises DetectorError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DetectorError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low:
        raise DetectorError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise DetectorError(f"{name} must be true or false, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_path(name: str, value: Any) -> str:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value).strip():
        raise DetectorError(f"{name} must be a file path, got {value!r}")
    return os.fspath(value).strip()


def _check_optional_path(name: str, value: Any) -> Optional[str]:
    return None if value is None else _check_path(name, value)


def _check_type(name: str, value: Any) -> str:
    # which names exist is the registry's business (it lists them in its error)
    if not isinstance(value, str) or not value:
        raise DetectorError(f"{name} must be a detector name such as 'yolo', got {value!r}")
    return value


def _check_imgsz(name: str, value: Any) -> Union[int, Tuple[int, int]]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise DetectorError(f"{name} must be an integer or [h, w], got {value!r}")
        return (check_int(name, value[0], MIN_IMGSZ), check_int(name, value[1], MIN_IMGSZ))
    return check_int(name, value, MIN_IMGSZ)


def _check_device(name: str, value: Any) -> Optional[Union[str, int]]:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
        raise DetectorError(f"{name} must be a string like 'cpu' or 'cuda:0', got {value!r}")
    return value


def _unit_interval(name: str, value: Any) -> float:
    return check_number(name, value, 0.0, 1.0)


#: The check of each :class:`DetectorSettings` field: ``(name, value) -> checked value``.
_CHECKS: Dict[str, Callable[[str, Any], Any]] = {
    "type": _check_type,
    "weights": _check_path,
    "conf": _unit_interval,
    "iou": _unit_interval,
    "imgsz": _check_imgsz,
    "max_det": lambda name, value: check_int(name, value, 1),
    "device": _check_device,
    "half": _check_bool,
    "batch": lambda name, value: check_int(name, value, 1),
    "threads": lambda name, value: check_int(name, value, 0),
    "allow_download": _check_bool,
    "trust_weights": _check_bool,
    "file": _check_optional_path,
    "ann": _check_optional_path,
    "score_threshold": _unit_interval,
    "min_box_size": lambda name, value: check_number(name, value, 0.0),
    "require_keypoints": _check_bool,
}


def check_setting(name: str, value: Any) -> Any:
    """Check one :class:`DetectorSettings` field's value (see the field comments for ranges).

    Returns:
        the value, converted (ints and floats as Python numbers, paths as stripped strings,
        an ``imgsz`` pair as a tuple).

    Raises:
        DetectorError: naming ``detector.<name>`` and the valid range.
    """
    return _CHECKS[name](f"detector.{name}", value)


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(DetectorSettings))


def detector_settings(config: Any = None, **overrides: Any) -> DetectorSettings:
    """Complete, checked settings from a config plus keyword overrides.

    Args:
        config: ``None`` (all defaults), a :class:`DetectorSettings`, a mapping (missing keys
            keep their defaults), or any object with the setting names as attributes (e.g.
            a config dataclass; missing ones keep their defaults).
        **overrides: settings that replace the config's.

    Raises:
        DetectorError: an unknown key in a mapping or in ``overrides``, a dataclass with a
            field this package does not know, or a bad value.
    """
    values: Dict[str, Any] = {}
    if config is None:
        pass
    elif isinstance(config, Mapping):
        for key, value in config.items():
            if key not in SETTING_NAMES:
                raise DetectorError(f"unknown detector setting 'detector.{key}' (known: {', '.join(SETTING_NAMES)})")
            values[key] = value
    else:
        if dataclasses.is_dataclass(config):
            extra = {f.name for f in dataclasses.fields(config)} - set(SETTING_NAMES)
            if extra:  # a field this package does not know would be silently ignored
                raise DetectorError(
                    f"detector config has settings this version does not support: {', '.join(sorted(extra))}"
                )
        values = {key: getattr(config, key) for key in SETTING_NAMES if hasattr(config, key)}
    for key, value in overrides.items():
        if key not in SETTING_NAMES:
            raise DetectorError(f"unknown detector setting '{key}' (known: {', '.join(SETTING_NAMES)})")
        values[key] = value
    return DetectorSettings(**values)
