"""Person detectors behind one interface.

A detector is called on a list of images, each ``(H, W, 3)`` uint8 in **BGR** order (as
``cv2.imread`` / ``cv2.VideoCapture`` give them), and returns one :class:`Detections` per
image: ``boxes`` ``(N, 4)`` float32 ``xyxy`` in image pixels and ``scores`` ``(N,)``::

    from detectors import build_detector
    detector = build_detector({"type": "yolo", "weights": "yolov8n.pt", "conf": 0.25})
    dets = detector([cv2.imread("street.jpg")])
    dets[0].boxes, dets[0].scores

Detectors that read boxes from a file need to know which image they are asked about:
``detector(images, image_ids=[785, "000000040083.jpg", ...])`` (see :func:`image_key`).

Built-in types (``detector.type``): ``yolo`` (:class:`UltralyticsDetector`), ``file``
(:class:`DetectionFileDetector`), ``gt`` (:class:`GroundTruthDetector`). Add one with
:func:`register_detector`. ultralytics is imported only when a ``yolo`` detector is built.
"""
from .base import Detections, PersonDetector, image_key
from .errors import DetectorError
from .registry import available_detectors, build_detector, register_detector
from .settings import DetectorSettings, detector_settings
from .detection_file import DetectionFileDetector  # noqa: E402  (registers "file")
from .ground_truth import GroundTruthDetector  # noqa: E402  (registers "gt")
from .ultralytics_detector import UltralyticsDetector  # noqa: E402  (registers "yolo")

__all__ = [
    "DetectionFileDetector",
    "Detections",
    "DetectorError",
    "DetectorSettings",
    "GroundTruthDetector",
    "PersonDetector",
    "UltralyticsDetector",
    "available_detectors",
    "build_detector",
    "detector_settings",
    "image_key",
    "register_detector",
]
