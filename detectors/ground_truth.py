"""Ground-truth person boxes from a COCO annotation file, for evaluation with GT boxes.

Every annotation of the person category that is not a crowd region (``iscrowd`` 0 or absent)
becomes a box with score 1, in the file's order. ``bbox`` ``[x, y, w, h]`` becomes ``xyxy``.
Images are identified as in :class:`~detectors.detection_file.DetectionFileDetector`: by COCO
id or by file name (matched against the file's ``images`` list); asking for an image that is
not in the file is an error.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from .base import Detections, PersonDetector
from .detection_file import CocoImageIndex, _short, parse_xywh, read_json
from .errors import DetectorError
from .registry import register_detector
from .settings import DetectorSettings, check_int, check_setting


@register_detector("gt")
class GroundTruthDetector(PersonDetector):
    """Boxes of the non-crowd persons of a COCO annotation file, all with score 1.

    Call with ``image_ids`` (COCO ids or file names); ``images`` may be None.

    Args:
        ann: COCO annotation JSON (``images``, ``annotations``).
        min_box_size: drop boxes with a side shorter than this (pixels).
        score_threshold: drop boxes scoring below this (all scores are 1).
        category_id: the person category id (COCO: 1).
        require_keypoints: also drop persons with ``num_keypoints == 0`` (useful when scoring
            keypoints, since such people cannot be matched by OKS).

    Raises:
        DetectorError: missing/malformed file or annotation (named by its index), or, when
            called, an image that is not in the file.
    """

    needs_pixels = False
    needs_image_ids = True

    def __init__(
        self,
        ann: str,
        *,
        min_box_size: float = 2.0,
        score_threshold: float = 0.0,
        category_id: int = 1,
        require_keypoints: bool = False,
    ) -> None:
        super().__init__(min_box_size=min_box_size, score_threshold=score_threshold)
        self.ann = check_setting("ann", ann)
        self.category_id = check_int("category_id", category_id, low=0)
        self.require_keypoints = check_setting("require_keypoints", require_keypoints)
        data = read_json(self.ann, "annotation file")
        self.index = CocoImageIndex(data, self.ann)
        self._boxes = self._load(data)

    @classmethod
    def from_config(cls, settings: DetectorSettings) -> "GroundTruthDetector":
        """Build from the ``detector:`` settings (uses ann, min_box_size, score_threshold,
        require_keypoints)."""
        if settings.ann is None:
            raise DetectorError("detector.type is 'gt' but detector.ann is not set; give the COCO annotation JSON")
        return cls(
            settings.ann,
            min_box_size=settings.min_box_size,
            score_threshold=settings.score_threshold,
            require_keypoints=settings.require_keypoints,
        )

    def _load(self, data: Dict[str, Any]) -> Dict[int, np.ndarray]:
        path = self.ann
        annotations = data.get("annotations")
        if not isinstance(annotations, list):
            raise DetectorError(f"{path}: not a COCO annotation file (expected an 'annotations' list)")
        boxes: Dict[int, List[Any]] = {}
        for i, ann in enumerate(annotations):
            if not isinstance(ann, dict):
                raise DetectorError(f"{path}: annotations[{i}] must be an object, got {_short(ann)}")
            image_id = ann.get("image_id")
            where = f"{path}: annotations[{i}] (image_id {image_id!r})"
            if isinstance(image_id, bool) or not isinstance(image_id, int):
                raise DetectorError(f"{where}: 'image_id' must be an integer")
            if image_id not in self.index.ids:
                raise DetectorError(f"{where}: image_id is not in the file's 'images' list")
            category = ann.get("category_id")
            if isinstance(category, bool) or not isinstance(category, int):
                raise DetectorError(f"{where}: 'category_id' must be an integer, got {_short(category)}")
            crowd = ann.get("iscrowd", 0)
            if crowd not in (0, 1, False, True):
                raise DetectorError(f"{where}: 'iscrowd' must be 0 or 1, got {_short(crowd)}")
            if "bbox" not in ann:
                raise DetectorError(f"{where}: missing 'bbox'")
            box = parse_xywh(ann["bbox"], where)
            if category != self.category_id or crowd:
                continue
            if self.require_keypoints:
                nk = ann.get("num_keypoints")
                if isinstance(nk, bool) or not isinstance(nk, int):
                    raise DetectorError(f"{where}: 'num_keypoints' must be an integer, got {_short(nk)}")
                if nk == 0:
                    continue
            boxes.setdefault(image_id, []).append(box)
        return {k: np.asarray(v, np.float32) for k, v in boxes.items()}

    def _detect(self, images: Optional[List[np.ndarray]], image_ids: Optional[List[Any]]) -> List[Detections]:
        assert image_ids is not None
        out = []
        for image_id in image_ids:
            boxes = self._boxes.get(self.index.resolve(image_id))
            if boxes is None:
                out.append(Detections.empty())
            else:
                out.append(Detections(boxes.copy(), np.ones(len(boxes), np.float32)))
        return out

    def __repr__(self) -> str:
        return f"GroundTruthDetector(ann={self.ann!r}, images={len(self.index.ids)}, min_box_size={self.min_box_size})"
