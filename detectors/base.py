"""The detector interface: :class:`Detections` and :class:`PersonDetector`.

Conventions (DESIGN.md section 3):

* Images are ``numpy`` arrays of shape ``(H, W, 3)`` and dtype ``uint8`` in **BGR** channel
  order, as ``cv2.imread`` and ``cv2.VideoCapture`` return them.
* Boxes are ``float32`` ``xyxy`` in image pixels (x to the right, y down, an integer
  coordinate is the centre of that pixel). They are not clipped to the image.
* Image identity: detectors that do not look at pixels (a detection-results file, ground
  truth) need to know *which* image they are asked about. Every detector is therefore called
  as ``detector(images, image_ids=None)``; see :func:`image_key` for the accepted ids.
"""
from __future__ import annotations

import abc
import os
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Union

import numpy as np

from .errors import DetectorError
from .settings import check_setting

ImageId = Union[int, str, "os.PathLike[str]"]


@dataclass(frozen=True, eq=False)
class Detections:
    """Person boxes found in one image.

    Attributes:
        boxes: ``(N, 4)`` float32, ``x1, y1, x2, y2`` in image pixels.
        scores: ``(N,)`` float32 detector confidences.

    An image without people has ``boxes.shape == (0, 4)`` and ``scores.shape == (0,)``.
    Inputs are converted to contiguous float32 arrays on construction.
    """

    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        boxes = np.ascontiguousarray(np.asarray(self.boxes, dtype=np.float32))
        scores = np.ascontiguousarray(np.asarray(self.scores, dtype=np.float32))
        if boxes.size == 0 and scores.size == 0:
            boxes = boxes.reshape(0, 4)
            scores = scores.reshape(0)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"Detections.boxes must have shape (N, 4), got {boxes.shape}")
        if scores.shape != (boxes.shape[0],):
            raise ValueError(
                f"Detections.scores must have shape ({boxes.shape[0]},), got {scores.shape}"
            )
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)

    @classmethod
    def empty(cls) -> "Detections":
        """No people: boxes ``(0, 4)``, scores ``(0,)``."""
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __getitem__(self, index: Any) -> "Detections":
        """Select people with a boolean mask ``(N,)``, an index array, or a slice."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(self.boxes[index], self.scores[index])

    def __repr__(self) -> str:
        return f"Detections(n={len(self)})"

    @property
    def widths(self) -> np.ndarray:
        """``(N,)`` box widths ``x2 - x1`` in pixels."""
        return self.boxes[:, 2] - self.boxes[:, 0]

    @property
    def heights(self) -> np.ndarray:
        """``(N,)`` box heights ``y2 - y1`` in pixels."""
        return self.boxes[:, 3] - self.boxes[:, 1]


def image_key(image_id: Any) -> Union[int, str]:
    """Normalise an image identity to the key detectors look images up by.

    * ``int`` (or numpy integer): a COCO ``image_id``, or the 0-based frame index of a video.
    * ``str`` / path: a file name. Folders and the extension are dropped; a stem made only of
      ASCII digits becomes that integer (``"val2017/000000000785.jpg"`` -> ``785``), any other
      stem stays a string (``"frames/frame_000012.png"`` -> ``"frame_000012"``).

    Raises:
        DetectorError: for anything else (``bool``, ``float``, ``None``...).
    """
    if isinstance(image_id, (bool, np.bool_)):
        raise DetectorError(f"image id {image_id!r}: expected an int (COCO id or frame index) or a file name")
    if isinstance(image_id, (int, np.integer)):
        return int(image_id)
    if isinstance(image_id, (str, os.PathLike)):
        text = os.fspath(image_id).replace("\\", "/").rstrip("/")
        stem = os.path.splitext(text.rsplit("/", 1)[-1])[0]
        if not stem:
            raise DetectorError(f"image id {image_id!r}: empty file name")
        if stem.isascii() and stem.isdigit():
            return int(stem)
        return stem
    raise DetectorError(
        f"image id {image_id!r} ({type(image_id).__name__}): expected an int (COCO id or frame index) or a file name"
    )


# ----------------------------------------------------------------------------- interface


class PersonDetector(abc.ABC):
    """Finds people in images.

    Call it on a list of images; it returns one :class:`Detections` per image, in order::

        dets = detector([cv2.imread("a.jpg"), cv2.imread("b.jpg")], image_ids=["a.jpg", "b.jpg"])
        dets[0].boxes   # (N, 4) float32 xyxy, image pixels

    After the subclass has produced its boxes, two filters common to every detector are
    applied: boxes with ``score < score_threshold`` and boxes with a side (width or height)
    shorter than ``min_box_size`` pixels are dropped. Order is otherwise kept.

    Subclasses implement :meth:`_detect` and set :attr:`needs_pixels` to ``False`` when they
    identify images by ``image_ids`` alone (then ``images`` may be ``None``).

    Args:
        min_box_size: drop boxes whose width or height is below this (pixels, ``>= 0``).
        score_threshold: drop boxes scoring below this (in [0, 1]).
    """

    #: whether the detector looks at pixels (False: images are identified by ``image_ids``).
    needs_pixels: bool = True
    #: whether ``image_ids`` must be given.
    needs_image_ids: bool = False

    def __init__(self, *, min_box_size: float = 2.0, score_threshold: float = 0.0) -> None:
        self.min_box_size = check_setting("min_box_size", min_box_size)
        self.score_threshold = check_setting("score_threshold", score_threshold)

    def __call__(
        self,
        images: Optional[Sequence[np.ndarray]],
        image_ids: Optional[Sequence[ImageId]] = None,
    ) -> List[Detections]:
        """Detect people.

        Args:
            images: B images, each ``(H, W, 3)`` uint8 BGR. A ``(B, H, W, 3)`` array is
                accepted too. May be ``None`` for detectors with ``needs_pixels = False``.
            image_ids: B image identities (see :func:`image_key`): COCO ids, video frame
                indices, or file names. Required by the file and ground-truth detectors,
                ignored by detectors that look at pixels.

        Returns:
            B :class:`Detections`, boxes ``(N_b, 4)`` float32 xyxy in pixels of image b.

        Raises:
            DetectorError: bad images or ids, or an image a file-based detector cannot find.
        """
        count = None
        if images is None:
            if self.needs_pixels:
                raise DetectorError(f"{type(self).__name__} needs images, got None")
        else:
            images = self._check_images(images)
            count = len(images)
        if image_ids is not None:
            if isinstance(image_ids, (str, bytes, os.PathLike)) or not hasattr(image_ids, "__len__"):
                raise DetectorError(
                    f"image_ids must be a list with one id per image, got {type(image_ids).__name__}"
                )
            image_ids = list(image_ids)
            if count is not None and len(image_ids) != count:
                raise DetectorError(f"got {count} images but {len(image_ids)} image_ids; pass one id per image")
            count = len(image_ids)
        elif self.needs_image_ids:
            raise DetectorError(
                f"{type(self).__name__} finds boxes by image identity: pass image_ids "
                "(COCO ids, frame indices or file names), one per image"
            )
        if not count:
            return []
        results = self._detect(images, image_ids)
        if len(results) != count:  # internal bug, not a user error
            raise RuntimeError(f"{type(self).__name__} returned {len(results)} results for {count} images")
        return [self._filter(d) for d in results]

    def _filter(self, dets: Detections) -> Detections:
        if len(dets) == 0:
            return dets
        keep = dets.scores >= self.score_threshold
        if self.min_box_size > 0:
            keep &= (dets.widths >= self.min_box_size) & (dets.heights >= self.min_box_size)
        return dets if bool(keep.all()) else dets[keep]

    @staticmethod
    def _check_images(images: Any) -> List[np.ndarray]:
        if isinstance(images, np.ndarray):
            if images.ndim != 4:
                raise DetectorError(
                    f"images must be a list of (H, W, 3) arrays or one (B, H, W, 3) array, got shape {images.shape}"
                )
            images = list(images)
        if not isinstance(images, Sequence) or isinstance(images, (str, bytes)):
            raise DetectorError(f"images must be a list of (H, W, 3) uint8 BGR arrays, got {type(images).__name__}")
        images = list(images)
        for i, img in enumerate(images):
            if not isinstance(img, np.ndarray):
                raise DetectorError(f"image {i}: expected a numpy array, got {type(img).__name__}")
            if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
                raise DetectorError(f"image {i}: expected shape (H, W, 3) (BGR), got {img.shape}")
            if img.dtype != np.uint8:
                raise DetectorError(f"image {i}: expected dtype uint8, got {img.dtype}")
        return images

    @abc.abstractmethod
    def _detect(
        self, images: Optional[List[np.ndarray]], image_ids: Optional[List[ImageId]]
    ) -> List[Detections]:
        """Return one :class:`Detections` per image, before the common filters.

        Args:
            images: B checked ``(H, W, 3)`` uint8 BGR images, or None (``needs_pixels`` False).
            image_ids: B ids as the caller gave them, or None.
        """
