"""Detectors by name, built from the config's ``detector:`` section.

``build_detector(config, **overrides)`` reads the settings by attribute name from a
dataclass-like object (``rmpe.config.DetectorConfig``) or by key from a dict, so this package
never imports ``rmpe``. Keyword overrides replace settings (the pipeline passes
``device="cuda:0"`` this way). ``settings["type"]`` picks the registered detector::

    det = build_detector({"type": "file", "file": "dets.json", "score_threshold": 0.3})
    det = build_detector(cfg.detector, device="cuda")

Which setting each type uses (the other types' settings do not apply to it):

========================  ======  ======  ======
setting                   yolo    file    gt
========================  ======  ======  ======
weights, conf, iou,       yes     -       -
imgsz, max_det, device,
half, batch,
allow_download
file                      -       yes     -
ann                       -       yes     yes
score_threshold           yes     yes     yes
min_box_size              yes     yes     yes
require_keypoints         -       -       yes
========================  ======  ======  ======

A detector-file path given to ``yolo``/``gt``, or an annotation file given to ``yolo``, is
reported with a warning, since that usually means ``type`` was forgotten.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable, Dict, List, Mapping

from .base import PersonDetector
from .errors import DetectorError

#: Every setting of the ``detector:`` section and its default (same as ``rmpe.config.DetectorConfig``).
DETECTOR_DEFAULTS: Dict[str, Any] = {
    "type": "yolo",
    "weights": "yolov8n.pt",
    "conf": 0.1,
    "iou": 0.6,
    "imgsz": 640,
    "max_det": 100,
    "device": None,
    "half": False,
    "batch": 8,
    "allow_download": False,
    "file": None,
    "ann": None,
    "score_threshold": 0.0,
    "min_box_size": 2.0,
    "require_keypoints": False,
}

_REGISTRY: Dict[str, Callable[[Dict[str, Any]], PersonDetector]] = {}


def register_detector(name: str) -> Callable[[Any], Any]:
    """Register a detector under ``name`` (the value of ``detector.type``).

    Decorates either a :class:`PersonDetector` subclass with a ``from_settings(settings)``
    classmethod, or a function ``settings -> PersonDetector``. ``settings`` is the complete
    dict of :data:`DETECTOR_DEFAULTS` keys after overrides.
    """

    def decorator(obj: Any) -> Any:
        if name in _REGISTRY:
            raise ValueError(f"detector '{name}' is already registered")
        factory = getattr(obj, "from_settings", None) if isinstance(obj, type) else obj
        if not callable(factory):
            raise TypeError(f"detector '{name}': {obj!r} has no from_settings classmethod")
        _REGISTRY[name] = factory
        return obj

    return decorator


def available_detectors() -> List[str]:
    """Names accepted by ``detector.type``."""
    return sorted(_REGISTRY)


def detector_settings(config: Any = None, **overrides: Any) -> Dict[str, Any]:
    """The complete settings dict from a config object or dict plus keyword overrides.

    Args:
        config: ``None`` (all defaults), a mapping, or any object with the setting names as
            attributes (missing ones keep their defaults).
        **overrides: settings that replace the config's.

    Raises:
        DetectorError: an unknown key in a mapping or in ``overrides``.
    """
    settings = dict(DETECTOR_DEFAULTS)
    if config is None:
        pass
    elif isinstance(config, Mapping):
        for key, value in config.items():
            if key not in DETECTOR_DEFAULTS:
                raise DetectorError(f"unknown detector setting 'detector.{key}' (known: {', '.join(DETECTOR_DEFAULTS)})")
            settings[key] = value
    else:
        if dataclasses.is_dataclass(config):
            extra = {f.name for f in dataclasses.fields(config)} - set(DETECTOR_DEFAULTS)
            if extra:  # a field this package does not know would be silently ignored
                raise DetectorError(
                    f"detector config has settings this version does not support: {', '.join(sorted(extra))}"
                )
        for key in DETECTOR_DEFAULTS:
            if hasattr(config, key):
                settings[key] = getattr(config, key)
    for key, value in overrides.items():
        if key not in DETECTOR_DEFAULTS:
            raise DetectorError(f"unknown detector setting '{key}' (known: {', '.join(DETECTOR_DEFAULTS)})")
        settings[key] = value
    return settings


def build_detector(config: Any = None, **overrides: Any) -> PersonDetector:
    """Build the detector that ``config.type`` names, honouring every setting.

    Args:
        config: the ``detector:`` section (``rmpe.config.DetectorConfig``, any object with
            those attribute names, a dict, or ``None`` for the defaults).
        **overrides: settings replacing the config's, e.g. ``device="cuda:0"``.

    Returns:
        A :class:`PersonDetector`: call it as ``detector(images, image_ids)``.

    Raises:
        DetectorError: unknown type or setting, bad value, missing weights/files.
    """
    settings = detector_settings(config, **overrides)
    kind = settings["type"]
    if kind not in _REGISTRY:
        raise DetectorError(
            f"unknown detector type detector.type={kind!r}; choose one of {', '.join(available_detectors())}"
        )
    if settings["file"] is not None and kind != "file":
        warnings.warn(
            f"detector.file is set but detector.type is {kind!r}, so the file is not used "
            "(set detector.type: file to use it)",
            UserWarning,
            stacklevel=2,
        )
    if settings["ann"] is not None and kind not in ("file", "gt"):
        warnings.warn(
            f"detector.ann is set but detector.type is {kind!r}, so it is not used "
            "(set detector.type: gt for ground-truth boxes)",
            UserWarning,
            stacklevel=2,
        )
    return _REGISTRY[kind](settings)
