"""Person boxes read from a COCO detection-results file.

The file is a JSON list of entries in the COCO results format::

    [{"image_id": 785, "category_id": 1, "bbox": [x, y, w, h], "score": 0.99}, ...]

* ``bbox`` is ``[x, y, w, h]`` in image pixels (converted to ``xyxy``); ``w, h >= 0``.
* ``score`` is required.
* ``category_id`` is optional; entries of another category than ``category_id`` (COCO
  person = 1) are skipped, so a results file for all 80 classes can be used as is.
* ``image_id`` is an int (a COCO image id, or the 0-based frame index for a video) or a file
  name; an optional ``file_name`` key gives a file name for an int ``image_id``.

Image identity (what ``image_ids`` passed to the detector match) follows
:func:`detectors.base.image_key`: ints match ``image_id``; a file name matches (1) an entry's
``file_name`` or string ``image_id``, (2) an image of the annotation file ``ann`` when one is
given, (3) otherwise its digits-only stem (``000000000785.jpg`` -> 785). An image without
entries has no people. Boxes keep the file's order.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .base import Detections, PersonDetector, image_key
from .errors import DetectorError
from .registry import register_detector
from .settings import DetectorSettings, check_int, check_setting

Key = Union[int, str]


def read_json(path: str, what: str) -> Any:
    """Load a JSON file; a missing, unreadable or malformed file is a DetectorError."""
    if not os.path.isfile(path):
        raise DetectorError(f"{what} not found: {path}")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DetectorError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    except UnicodeDecodeError:
        raise DetectorError(f"{path}: not a UTF-8 text file; expected a JSON {what}") from None
    except OSError as exc:
        raise DetectorError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_xywh(bbox: Any, where: str) -> Tuple[float, float, float, float]:
    """Check a COCO ``[x, y, w, h]`` box and return it as ``(x1, y1, x2, y2)``."""
    if (
        not isinstance(bbox, (list, tuple))
        or len(bbox) != 4
        or not all(_is_number(v) for v in bbox)
        or bbox[2] < 0
        or bbox[3] < 0
    ):
        raise DetectorError(f"{where}: 'bbox' must be [x, y, w, h], 4 finite numbers with w, h >= 0, got {_short(bbox)}")
    x, y, w, h = (float(v) for v in bbox)
    return x, y, x + w, y + h


class CocoImageIndex:
    """Images of a COCO annotation file: ``id -> key`` and ``file name -> id``.

    Args:
        data: the loaded annotation JSON (a dict with an ``images`` list).
        path: its file name, for messages.
    """

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise DetectorError(f"{path}: not a COCO annotation file (expected an object with an 'images' list)")
        self.path = path
        self.ids: set = set()
        self.names: Dict[Key, int] = {}
        for i, img in enumerate(data["images"]):
            image_id = img.get("id") if isinstance(img, dict) else None
            if isinstance(image_id, bool) or not isinstance(image_id, int):
                raise DetectorError(f"{path}: images[{i}] must have an integer 'id', got {_short(img)}")
            self.ids.add(image_id)
            name = img.get("file_name")
            if isinstance(name, str) and name:
                self.names[image_key(name)] = image_id

    def resolve(self, image_id: Any) -> int:
        """The COCO id of ``image_id`` (an id or a file name); DetectorError if not in the file."""
        key = image_key(image_id)
        if isinstance(image_id, (str, os.PathLike)) and key in self.names:
            return self.names[key]
        if isinstance(key, int) and key in self.ids:
            return key
        raise DetectorError(f"image {image_id!r} is not in the annotation file {self.path}")


@register_detector("file")
class DetectionFileDetector(PersonDetector):
    """Boxes from a COCO detection-results JSON file (see the module docstring).

    Call with ``image_ids`` (COCO ids, frame indices or file names); ``images`` may be None.

    Args:
        file: path of the detection-results JSON.
        ann: optional COCO annotation JSON; when given, file names are looked up in its
            ``images`` list and asking for an image it does not contain is an error.
        score_threshold: drop entries scoring below this.
        min_box_size: drop boxes with a side shorter than this (pixels).
        category_id: the person category (entries of other categories are skipped).

    Raises:
        DetectorError: missing file, malformed JSON, a malformed entry (named by its index
            and image), or, when called, an image that cannot be identified.
    """

    needs_pixels = False
    needs_image_ids = True

    def __init__(
        self,
        file: str,
        *,
        ann: Optional[str] = None,
        score_threshold: float = 0.0,
        min_box_size: float = 2.0,
        category_id: int = 1,
    ) -> None:
        super().__init__(min_box_size=min_box_size, score_threshold=score_threshold)
        self.file = check_setting("file", file)
        self.category_id = check_int("category_id", category_id, low=0)
        self.index: Optional[CocoImageIndex] = None
        if ann is not None:
            ann = check_setting("ann", ann)
            self.index = CocoImageIndex(read_json(ann, "annotation file"), ann)
        self._boxes, self._aliases, self._string_keys = self._load(read_json(self.file, "detection file"))

    @classmethod
    def from_config(cls, settings: DetectorSettings) -> "DetectionFileDetector":
        """Build from the ``detector:`` settings (uses file, ann, score_threshold, min_box_size)."""
        if settings.file is None:
            raise DetectorError("detector.type is 'file' but detector.file is not set; give the detection results JSON")
        return cls(
            settings.file,
            ann=settings.ann,
            score_threshold=settings.score_threshold,
            min_box_size=settings.min_box_size,
        )

    def _load(self, data: Any) -> Tuple[Dict[Key, Detections], Dict[Key, Key], bool]:
        path = self.file
        if isinstance(data, dict):
            hint = (
                " (this looks like an annotation file: use detector.type: gt with detector.ann)"
                if "annotations" in data
                else ""
            )
            raise DetectorError(f"{path}: a detection file must be a JSON list of COCO results entries, got an object{hint}")
        if not isinstance(data, list):
            raise DetectorError(f"{path}: a detection file must be a JSON list of COCO results entries")
        boxes: Dict[Key, List[Tuple[float, float, float, float]]] = {}
        scores: Dict[Key, List[float]] = {}
        aliases: Dict[Key, Key] = {}
        string_keys = False
        for i, entry in enumerate(data):
            if not isinstance(entry, dict):
                raise DetectorError(f"{path}: entry {i} must be an object with image_id, bbox, score, got {_short(entry)}")
            image_id = entry.get("image_id")
            where = f"{path}: entry {i} (image_id {image_id!r})"
            if "image_id" not in entry:
                raise DetectorError(f"{path}: entry {i} has no 'image_id'")
            if isinstance(image_id, bool) or not isinstance(image_id, (int, str)) or image_id == "":
                raise DetectorError(f"{where}: 'image_id' must be an integer or a file name")
            category = entry.get("category_id", self.category_id)
            if isinstance(category, bool) or not isinstance(category, int):
                raise DetectorError(f"{where}: 'category_id' must be an integer, got {_short(category)}")
            if "bbox" not in entry:
                raise DetectorError(f"{where}: missing 'bbox'")
            box = parse_xywh(entry["bbox"], where)
            if "score" not in entry:
                raise DetectorError(f"{where}: missing 'score'")
            score = entry["score"]
            if not _is_number(score):
                raise DetectorError(f"{where}: 'score' must be a finite number, got {_short(score)}")
            file_name = entry.get("file_name")
            if file_name is not None and (not isinstance(file_name, str) or not file_name):
                raise DetectorError(f"{where}: 'file_name' must be a non-empty string, got {_short(file_name)}")
            if category != self.category_id:
                continue
            key = image_key(image_id)
            if isinstance(key, str) and self.index is not None and key in self.index.names:
                key = self.index.names[key]
            string_keys |= isinstance(key, str)
            if file_name is not None:
                alias = image_key(file_name)
                string_keys |= isinstance(alias, str)
                if aliases.setdefault(alias, key) != key:
                    raise DetectorError(
                        f"{where}: file_name {file_name!r} is also given to image_id {aliases[alias]!r}"
                    )
            boxes.setdefault(key, []).append(box)
            scores.setdefault(key, []).append(float(score))
        table = {k: Detections(np.asarray(boxes[k], np.float64), np.asarray(scores[k], np.float64)) for k in boxes}
        return table, aliases, string_keys

    def entries_per_image(self) -> Dict[Key, int]:
        """Image key -> number of person entries in the file (keys as :func:`image_key` makes
        them; file names that the annotation file ``ann`` knows are its integer ids).

        Lets a caller check the file's images against the images it will ask about: entries
        whose key is never asked for are silently unused otherwise.
        """
        return {key: len(dets) for key, dets in self._boxes.items()}

    def _resolve(self, image_id: Any) -> Key:
        key = image_key(image_id)
        if isinstance(image_id, (str, os.PathLike)) and key in self._aliases:
            return self._aliases[key]
        if self.index is not None:
            return self.index.resolve(image_id)
        if isinstance(key, str) and not self._string_keys:
            raise DetectorError(
                f"image {image_id!r}: the detection file {self.file} identifies images by integer image_id "
                "and this name has no digits-only stem; pass COCO ids or set detector.ann to map file names"
            )
        return key

    def _detect(self, images: Optional[List[np.ndarray]], image_ids: Optional[List[Any]]) -> List[Detections]:
        assert image_ids is not None
        out = []
        for image_id in image_ids:
            dets = self._boxes.get(self._resolve(image_id))
            # copies: callers may edit the arrays in place
            out.append(Detections.empty() if dets is None else Detections(dets.boxes.copy(), dets.scores.copy()))
        return out

    def __repr__(self) -> str:
        return (
            f"DetectionFileDetector(file={self.file!r}, images={len(self._boxes)}, "
            f"score_threshold={self.score_threshold}, min_box_size={self.min_box_size})"
        )
