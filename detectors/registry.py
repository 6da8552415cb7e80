"""Detectors by name, built from the config's ``detector:`` section.

``build_detector(config, **overrides)`` takes a :class:`~detectors.settings.DetectorSettings`,
a (partial) dict, or any object with the setting names as attributes, so this package never
imports ``rmpe``. Keyword overrides replace settings (the pipeline passes ``device="cuda:0"``
this way). ``settings.type`` picks the registered detector::

    det = build_detector({"type": "file", "file": "dets.json", "score_threshold": 0.3})
    det = build_detector(cfg.detector, device="cuda")

Which setting each type uses (the other types' settings do not apply to it):

========================  ======  ======  ======
setting                   yolo    file    gt
========================  ======  ======  ======
weights, conf, iou,       yes     -       -
imgsz, max_det, device,
half, batch,
allow_download,
trust_weights
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

import warnings
from typing import Any, Callable, Dict, List

from .base import PersonDetector
from .errors import DetectorError
from .settings import DetectorSettings, detector_settings

_REGISTRY: Dict[str, Callable[[DetectorSettings], PersonDetector]] = {}


def register_detector(name: str) -> Callable[[Any], Any]:
    """Register a detector under ``name`` (the value of ``detector.type``).

    Decorates either a :class:`PersonDetector` subclass with a ``from_config(settings)``
    classmethod, or a function ``settings -> PersonDetector``. ``settings`` is the complete,
    checked :class:`~detectors.settings.DetectorSettings` after overrides.
    """

    def decorator(obj: Any) -> Any:
        if name in _REGISTRY:
            raise ValueError(f"detector '{name}' is already registered")
        factory = getattr(obj, "from_config", None) if isinstance(obj, type) else obj
        if not callable(factory):
            raise TypeError(f"detector '{name}': {obj!r} has no from_config classmethod")
        _REGISTRY[name] = factory
        return obj

    return decorator


def available_detectors() -> List[str]:
    """Names accepted by ``detector.type``."""
    return sorted(_REGISTRY)


def build_detector(config: Any = None, **overrides: Any) -> PersonDetector:
    """Build the detector that ``config.type`` names, honouring every setting.

    Args:
        config: the ``detector:`` section: a :class:`~detectors.settings.DetectorSettings`,
            any object with those attribute names, a (partial) dict, or ``None`` for the
            defaults (see :func:`~detectors.settings.detector_settings`).
        **overrides: settings replacing the config's, e.g. ``device="cuda:0"``.

    Returns:
        A :class:`PersonDetector`: call it as ``detector(images, image_ids)``.

    Raises:
        DetectorError: unknown type or setting, bad value, missing weights/files.
    """
    settings = detector_settings(config, **overrides)
    kind = settings.type
    if kind not in _REGISTRY:
        raise DetectorError(
            f"unknown detector type detector.type={kind!r}; choose one of {', '.join(available_detectors())}"
        )
    if settings.file is not None and kind != "file":
        warnings.warn(
            f"detector.file is set but detector.type is {kind!r}, so the file is not used "
            "(set detector.type: file to use it)",
            UserWarning,
            stacklevel=2,
        )
    if settings.ann is not None and kind not in ("file", "gt"):
        warnings.warn(
            f"detector.ann is set but detector.type is {kind!r}, so it is not used "
            "(set detector.type: gt for ground-truth boxes)",
            UserWarning,
            stacklevel=2,
        )
    return _REGISTRY[kind](settings)
