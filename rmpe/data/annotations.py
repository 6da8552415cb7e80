"""Reading COCO person-keypoint annotation files and images: the one reader of both in ``rmpe``.

One parser (:func:`read_coco_annotations`) turns a COCO file into flat arrays over all its
annotations (:class:`CocoAnnotations`); three views select from it:

* :func:`load_coco_persons`: the people a data set trains or validates on (:class:`CocoPersons`);
* :func:`load_coco_images`: the images of the file with their paths and sizes (:class:`CocoImages`),
  what an evaluation runs the pipeline on;
* :func:`load_person_boxes`: every non-crowd person box with its keypoints, what ``rmpe-pgpg``
  fits proposals to (files without an ``images`` list or without keypoint categories, such as
  COCO instance files, are accepted there).

Which annotations are persons: those of the keypoint categories (the categories whose
``keypoints`` list names K keypoints); when no category lists keypoints, those of the
categories named ``person``; when the file lists no categories, every annotation.

Which persons become samples (:func:`load_coco_persons`):

* ``iscrowd`` is 0;
* at least one keypoint is labelled (``v > 0``); ``num_keypoints`` is not trusted;
* its image is in the file's ``images`` list;
* its box (``bbox`` ``[x, y, w, h]`` clipped to the image when the image size is known,
  or the extent of its labelled keypoints when it has no box) has both sides >= 1 px.

Everything else is counted in :attr:`CocoPersons.skipped` by reason. A file that is not COCO
keypoint JSON (no ``images``/``annotations`` lists, no ``keypoints`` anywhere, a keypoint
count other than the caller's, a ``bbox`` that is not four numbers) raises
:class:`~rmpe.errors.RMPEError` at once, with a one-line message naming the file.

Coordinates are image pixels (DESIGN.md): boxes ``xyxy`` inside the code, ``xywh`` only in
the file; keypoints ``(x, y, v)`` with COCO's ``v`` (0 unlabelled, 1 labelled but hidden,
2 visible).
"""
from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..errors import RMPEError
from ..geometry import xywh_to_xyxy
from ..io import read_json

_WHAT = "annotation file"


def read_image(path: str) -> np.ndarray:
    """Read an image file as it is stored on disk.

    Args:
        path: image file (any format OpenCV decodes).

    Returns:
        (H, W, 3) uint8 BGR image in image pixels.

    Raises:
        RMPEError: the file is missing, or corrupt / not an image (the message names it).
    """
    if not os.path.isfile(path):
        raise RMPEError(f"image not found: {path}")
    try:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None or image.ndim != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise RMPEError(f"cannot read image {path}: corrupt or not an image")
    return image


# ----------------------------------------------------------------------------- the parser


@dataclass
class CocoImages:
    """The ``images`` list of a COCO file, in file order (I images).

    Attributes:
        ann_file: the annotation file read.
        image_dir: folder the file names are relative to.
        ids: (I,) the COCO image ids as the file writes them.
        file_names: (I,) paths relative to :attr:`image_dir`.
        sizes: (I,2) int64 ``(height, width)`` in pixels, 0 where the file does not say.
    """

    ann_file: str
    image_dir: str
    ids: List[Any]
    file_names: List[str]
    sizes: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def path(self, index: int) -> str:
        """File path of the image at position ``index`` (``image_dir`` joined with its name)."""
        return os.path.join(self.image_dir, self.file_names[index])

    @cached_property
    def paths(self) -> Dict[Any, str]:
        """Image id -> file path (built on first use)."""
        return {image_id: self.path(i) for i, image_id in enumerate(self.ids)}


@dataclass
class CocoAnnotations:
    """Every annotation of a COCO file as flat arrays (A annotations, K keypoints).

    Attributes:
        ann_file: the annotation file read.
        images: the file's images (empty when read with ``keypoint_file=False``).
        num_keypoints: K (0 when no annotation has keypoints and the caller gave no K).
        ann_ids: (A,) annotation ids (the position in the file where an id is missing).
        image_ids: (A,) image ids as the file writes them (None where missing).
        person: (A,) bool, the annotation belongs to a person category (module docstring).
        crowd: (A,) bool, ``iscrowd`` is set.
        boxes: (A,4) float64 xyxy image pixels; NaN where the annotation has no ``bbox``.
        keypoints: (A,K,3) float64 ``x, y, v``; zeros where the annotation has none.
        has_keypoints: (A,) bool, the annotation has a ``keypoints`` list.
        areas: (A,) float64 COCO ``area``; NaN where missing or 0.
        categories: the file's ``categories`` list (kept for evaluation).
        description: the file's ``info.description`` ("" when it has none).
    """

    ann_file: str
    images: CocoImages
    num_keypoints: int
    ann_ids: np.ndarray
    image_ids: List[Any]
    person: np.ndarray
    crowd: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray
    has_keypoints: np.ndarray
    areas: np.ndarray
    categories: List[Dict[str, Any]] = field(default_factory=list)
    description: str = ""

    def __len__(self) -> int:
        return len(self.image_ids)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: The ``bbox`` of an annotation without one: NaN, replaced later where a box is needed.
_NO_BOX = [math.nan] * 4


def _numbers(rows: List[Any], anns: List[Dict[str, Any]], ann_file: str, key: str) -> np.ndarray:
    """``rows`` (equal-length lists, one per annotation) as a float64 array; RMPEError naming the
    first annotation whose ``key`` entry holds something other than numbers."""
    try:
        return np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    for i, row in enumerate(rows):  # only on a bad file: find the annotation to name
        if not all(_is_number(v) or (row is _NO_BOX) for v in row):
            what = "4 numbers [x, y, w, h]" if key == "bbox" else "a flat list [x, y, v] * K of numbers"
            raise RMPEError(f"{ann_file}: annotation {anns[i].get('id', i)}: '{key}' must be {what}")
    raise RMPEError(f"{ann_file}: '{key}' entries must hold numbers")


def _description(data: Dict[str, Any]) -> str:
    info = data.get("info")
    text = info.get("description") if isinstance(info, dict) else None
    return text if isinstance(text, str) else ""


def _read_images(data: Dict[str, Any], ann_file: str, image_dir: str) -> CocoImages:
    ids: List[Any] = []
    names: List[str] = []
    sizes: List[Tuple[int, int]] = []
    for im in data.get("images") or []:
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            raise RMPEError(f"{ann_file}: an entry of 'images' lacks 'id' or 'file_name'")
        try:
            sizes.append((int(im.get("height") or 0), int(im.get("width") or 0)))
        except (TypeError, ValueError):
            raise RMPEError(f"{ann_file}: image {im['id']} has a non-numeric 'height' or 'width'") from None
        ids.append(im["id"])
        names.append(im["file_name"])
    return CocoImages(ann_file, image_dir, ids, names, np.asarray(sizes, dtype=np.int64).reshape(-1, 2))


def read_coco_annotations(
    ann_file: str,
    num_keypoints: Optional[int] = None,
    *,
    image_dir: str = "",
    keypoint_file: bool = True,
) -> CocoAnnotations:
    """Parse a COCO annotation file into flat arrays (see :class:`CocoAnnotations`).

    Args:
        ann_file: the JSON file.
        num_keypoints: K the caller expects; a keypoint category or annotation with another
            count is refused. None takes K from the file.
        image_dir: folder the images' ``file_name`` entries are relative to.
        keypoint_file: require a COCO person-keypoints file: an ``images`` list, a category
            that lists ``keypoints`` (when the file lists categories) and at least one
            annotation with ``keypoints``. False accepts any COCO file with ``annotations``.

    Returns:
        :class:`CocoAnnotations`, annotations in file order.

    Raises:
        RMPEError: a missing or malformed file, not COCO (keypoints), a wrong keypoint
            count, a ``bbox`` or ``keypoints`` entry that does not hold numbers.
    """
    if not ann_file:
        raise RMPEError("no annotation file given; set data.train_ann / data.val_ann in the config")
    data = read_json(ann_file, _WHAT)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list) or (
        keypoint_file and not isinstance(data.get("images"), list)
    ):
        needs = "'images' and 'annotations' lists" if keypoint_file else "an 'annotations' list"
        raise RMPEError(f"{ann_file} is not a COCO annotation file (it needs {needs})")
    categories = [c for c in data.get("categories", []) or [] if isinstance(c, dict)]
    kp_categories = [c for c in categories if isinstance(c.get("keypoints"), list) and c.get("keypoints")]
    if keypoint_file and categories and not kp_categories:
        raise RMPEError(
            f"{ann_file} is not a COCO keypoints file: no category lists 'keypoints' (an instances or captions file?)"
        )
    hint = "; set model.num_keypoints and data.keypoint_names to match the file" if num_keypoints else ""
    k = int(num_keypoints) if num_keypoints else None
    for c in kp_categories:
        if k is None:
            k = len(c["keypoints"])
        if len(c["keypoints"]) != k:
            raise RMPEError(
                f"{ann_file}: category '{c.get('name', c.get('id'))}' has {len(c['keypoints'])} keypoints but "
                f"{'the config expects' if hint else 'another category has'} {k}{hint}"
            )
    person_ids: Optional[set] = {c.get("id") for c in kp_categories}
    if not person_ids:
        person_ids = {c.get("id") for c in categories if c.get("name") == "person"} or None
    anns = data["annotations"]
    if keypoint_file and anns and not any(isinstance(a, dict) and "keypoints" in a for a in anns):
        raise RMPEError(f"{ann_file} is not a COCO keypoints file: no annotation has 'keypoints'")
    images = _read_images(data if keypoint_file else {}, ann_file, image_dir)

    ann_ids: List[Any] = []
    image_ids: List[Any] = []
    person: List[bool] = []
    crowd: List[bool] = []
    boxes: List[Any] = []
    keypoints: List[Any] = []
    areas: List[float] = []
    for i, a in enumerate(anns):  # file parsing, once per annotation; values are converted below
        if not isinstance(a, dict):
            raise RMPEError(f"{ann_file}: an entry of 'annotations' is not an object")
        where = f"{ann_file}: annotation {a.get('id', i)}"
        bbox = a.get("bbox")
        if bbox is None:
            bbox = _NO_BOX
        elif not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise RMPEError(f"{where}: 'bbox' must be 4 numbers [x, y, w, h], got {str(bbox)[:80]}")
        kp = a.get("keypoints")
        if kp is not None and kp != []:
            if not isinstance(kp, list) or len(kp) % 3:
                raise RMPEError(f"{where}: 'keypoints' must be a flat list [x, y, v] * K of numbers")
            if k is None:
                k = len(kp) // 3
            if len(kp) != 3 * k:
                raise RMPEError(f"{where} has {len(kp)} keypoint values, expected 3 x {k} = {3 * k}{hint}")
        else:
            kp = None
        area = a.get("area")
        ann_ids.append(a.get("id", i))
        image_ids.append(a.get("image_id"))
        person.append(person_ids is None or a.get("category_id") in person_ids)
        crowd.append(bool(a.get("iscrowd", 0)))
        boxes.append(bbox)
        keypoints.append(kp)
        areas.append(float(area) if _is_number(area) and area else math.nan)

    k = k or 0
    has_keypoints = np.asarray([kp is not None for kp in keypoints], dtype=bool).reshape(-1)
    no_keypoints = [0.0] * (3 * k)
    kp_arr = _numbers([no_keypoints if kp is None else kp for kp in keypoints], anns, ann_file, "keypoints")
    kp_arr = kp_arr.reshape(len(keypoints), k, 3)
    box_xywh = torch.from_numpy(_numbers(boxes, anns, ann_file, "bbox").reshape(-1, 4))
    try:
        ann_id_arr = np.asarray(ann_ids, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise RMPEError(f"{ann_file}: annotation ids must be integers") from None
    return CocoAnnotations(
        ann_file=ann_file,
        images=images,
        num_keypoints=k,
        ann_ids=ann_id_arr,
        image_ids=image_ids,
        person=np.asarray(person, dtype=bool).reshape(-1),
        crowd=np.asarray(crowd, dtype=bool).reshape(-1),
        boxes=xywh_to_xyxy(box_xywh).numpy(),
        keypoints=kp_arr,
        has_keypoints=has_keypoints,
        areas=np.asarray(areas, dtype=np.float64).reshape(-1),
        categories=categories,
        description=_description(data),
    )


def keypoint_extent_boxes(keypoints: np.ndarray) -> np.ndarray:
    """The extent of each person's labelled keypoints.

    Args:
        keypoints: (N,K,3) ``x, y, v`` in image pixels.

    Returns:
        (N,4) float64 xyxy image pixels; NaN for a person without labelled keypoints.
    """
    if keypoints.shape[1] == 0:
        return np.full((keypoints.shape[0], 4), np.nan)
    labelled = keypoints[..., 2] > 0
    pts = np.where(labelled[..., None], keypoints[..., :2], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.concatenate([np.nanmin(pts, axis=1), np.nanmax(pts, axis=1)], axis=1).reshape(-1, 4)


# ----------------------------------------------------------------------------- views


@dataclass
class CocoPersons:
    """The usable people of a COCO keypoint file, as flat arrays (P people, K keypoints).

    Attributes:
        ann_file: the annotation file read.
        image_dir: folder holding the images.
        num_keypoints: K.
        boxes: (P,4) float32 xyxy person boxes in image pixels (clipped to the image).
        keypoints: (P,K,3) float32 ``x, y, v`` in image pixels (COCO ``v``: 0 unlabelled,
            1 labelled but hidden, 2 visible).
        image_ids: (P,) int64 COCO image id of each person.
        ann_ids: (P,) int64 COCO annotation id of each person.
        areas: (P,) float32 COCO ``area`` (box area when missing).
        image_index: (P,) int64 index into :attr:`file_names`.
        file_names: one relative path per distinct image, in first-use order.
        image_sizes: (I,2) int64 ``(height, width)`` per entry of :attr:`file_names`
            (0 when the file does not say).
        skipped: annotations left out, by reason (``crowd``, ``no_keypoints``,
            ``degenerate_box``, ``other_category``, ``unknown_image``).
        categories: the file's ``categories`` list (kept for evaluation).
        description: the file's ``info.description`` ("" when it has none).
    """

    ann_file: str
    image_dir: str
    num_keypoints: int
    boxes: np.ndarray
    keypoints: np.ndarray
    image_ids: np.ndarray
    ann_ids: np.ndarray
    areas: np.ndarray
    image_index: np.ndarray
    file_names: List[str]
    image_sizes: np.ndarray
    skipped: Dict[str, int] = field(default_factory=dict)
    categories: List[Dict[str, Any]] = field(default_factory=list)
    description: str = ""

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def image_path(self, person: int) -> str:
        """Absolute (or config-relative) path of person ``person``'s image."""
        return os.path.join(self.image_dir, self.file_names[int(self.image_index[person])])

    def subset(self, indices: Sequence[int]) -> "CocoPersons":
        """The people at ``indices`` (image tables are shared)."""
        idx = np.asarray(indices, dtype=np.int64)
        return CocoPersons(
            ann_file=self.ann_file,
            image_dir=self.image_dir,
            num_keypoints=self.num_keypoints,
            boxes=self.boxes[idx],
            keypoints=self.keypoints[idx],
            image_ids=self.image_ids[idx],
            ann_ids=self.ann_ids[idx],
            areas=self.areas[idx],
            image_index=self.image_index[idx],
            file_names=self.file_names,
            image_sizes=self.image_sizes,
            skipped=dict(self.skipped),
            categories=self.categories,
            description=self.description,
        )


def load_coco_persons(
    ann_file: str,
    image_dir: str,
    num_keypoints: int = 17,
    *,
    check_images: bool = False,
) -> CocoPersons:
    """Read a COCO keypoint annotation file and keep the usable people (module docstring).

    Args:
        ann_file: COCO person-keypoints JSON.
        image_dir: folder the ``file_name`` entries are relative to.
        num_keypoints: K the config expects; a file with another count is refused.
        check_images: also require ``image_dir`` to exist (training and validation do).

    Returns:
        :class:`CocoPersons`, people in annotation-file order.

    Raises:
        RMPEError: missing or malformed file, not COCO keypoints, wrong keypoint count,
            missing image folder.
    """
    coco = read_coco_annotations(ann_file, num_keypoints, image_dir=image_dir)
    if check_images and (not image_dir or not os.path.isdir(image_dir)):
        raise RMPEError(f"image folder not found: {image_dir}; check data.train_images / data.val_images")
    slot_of = {image_id: i for i, image_id in enumerate(coco.images.ids)}
    known_image = np.asarray([i in slot_of for i in coco.image_ids], dtype=bool).reshape(-1)
    skipped: Counter = Counter()
    skipped["other_category"] = int((~coco.person).sum())
    rest = coco.person
    skipped["crowd"] = int((rest & coco.crowd).sum())
    rest = rest & ~coco.crowd
    skipped["no_keypoints"] = int((rest & ~coco.has_keypoints).sum())
    rest = rest & coco.has_keypoints
    skipped["unknown_image"] = int((rest & ~known_image).sum())
    rest = rest & known_image

    image_slot = np.asarray([slot_of.get(i, 0) for i in coco.image_ids], dtype=np.int64).reshape(-1)
    kp = coco.keypoints
    has_kp = (kp[..., 2] > 0).any(axis=1)
    # a missing box becomes the extent of the labelled keypoints
    xyxy = coco.boxes.copy()
    no_box = ~np.isfinite(xyxy).all(axis=1)
    xyxy[no_box] = keypoint_extent_boxes(kp[no_box])
    sizes = coco.images.sizes[image_slot].astype(np.float64) if len(coco.images) else np.zeros((len(coco), 2))
    known = (sizes > 0).all(axis=1)
    clipped = xyxy.copy()
    clipped[:, [0, 2]] = np.where(known[:, None], np.clip(xyxy[:, [0, 2]], 0, sizes[:, 1:2] - 1), xyxy[:, [0, 2]])
    clipped[:, [1, 3]] = np.where(known[:, None], np.clip(xyxy[:, [1, 3]], 0, sizes[:, 0:1] - 1), xyxy[:, [1, 3]])
    with np.errstate(invalid="ignore"):
        good_box = np.isfinite(clipped).all(axis=1) & ((clipped[:, 2] - clipped[:, 0]) >= 1) & (
            (clipped[:, 3] - clipped[:, 1]) >= 1
        )
    skipped["no_keypoints"] += int((rest & ~has_kp).sum())
    skipped["degenerate_box"] += int((rest & has_kp & ~good_box).sum())
    keep = rest & has_kp & good_box

    kept_slots = image_slot[keep]
    file_names: List[str] = []
    image_sizes: List[Tuple[int, int]] = []
    first_use: Dict[int, int] = {}
    image_index = np.empty(len(kept_slots), dtype=np.int64)
    for j, s in enumerate(kept_slots.tolist()):  # once per person at load time
        if s not in first_use:
            first_use[s] = len(file_names)
            file_names.append(coco.images.file_names[s])
            image_sizes.append(tuple(int(v) for v in coco.images.sizes[s]))
        image_index[j] = first_use[s]
    kept_boxes = clipped[keep].astype(np.float32)
    area = coco.areas[keep]
    box_area = (kept_boxes[:, 2] - kept_boxes[:, 0]) * (kept_boxes[:, 3] - kept_boxes[:, 1])
    area = np.where(np.isfinite(area), area, box_area).astype(np.float32)
    try:
        image_ids = np.asarray([coco.images.ids[s] for s in kept_slots.tolist()], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise RMPEError(f"{ann_file}: image ids must be integers") from None
    return CocoPersons(
        ann_file=ann_file,
        image_dir=image_dir,
        num_keypoints=coco.num_keypoints,
        boxes=kept_boxes,
        keypoints=kp[keep].astype(np.float32),
        image_ids=image_ids,
        ann_ids=coco.ann_ids[keep],
        areas=area,
        image_index=image_index,
        file_names=file_names,
        image_sizes=np.asarray(image_sizes, dtype=np.int64).reshape(-1, 2),
        skipped={r: int(c) for r, c in skipped.items() if c},
        categories=coco.categories,
        description=coco.description,
    )


def load_coco_images(ann_file: str, image_dir: str) -> CocoImages:
    """The images of a COCO keypoint file, for running a pipeline over them.

    Args:
        ann_file: COCO person-keypoints JSON.
        image_dir: folder the ``file_name`` entries are relative to (must exist).

    Returns:
        :class:`CocoImages` in file order (ids, file paths, sizes).

    Raises:
        RMPEError: missing annotation file or image folder, a file that is not COCO keypoints.
    """
    coco = read_coco_annotations(ann_file, image_dir=image_dir)
    if not image_dir or not os.path.isdir(image_dir):
        raise RMPEError(f"image folder not found: {image_dir}")
    return coco.images


@dataclass
class PersonBoxes:
    """The non-crowd person annotations of a COCO file (N people, K keypoints).

    Attributes:
        boxes: (N,4) float64 xyxy image pixels (the extent of the labelled keypoints where
            an annotation has no ``bbox``).
        keypoints: (N,K,3) float64 ``x, y, v`` in image pixels; zeros where an annotation
            has none.
        image_ids: (N,) image ids as the file writes them.
        has_keypoints: (N,) bool, the annotation has keypoints.
        crowd: number of crowd annotations left out.
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    image_ids: List[Any]
    has_keypoints: np.ndarray
    crowd: int


def load_person_boxes(ann_file: str) -> PersonBoxes:
    """Every non-crowd person annotation of a COCO file, in file order (module docstring).

    Args:
        ann_file: a COCO annotation JSON (an ``images`` list and keypoint categories are
            optional here).

    Returns:
        :class:`PersonBoxes`.

    Raises:
        RMPEError: a missing or malformed file, an annotation without ``image_id``, a person
            with neither a box nor labelled keypoints.
    """
    coco = read_coco_annotations(ann_file, keypoint_file=False)
    keep = coco.person & ~coco.crowd
    idx = np.flatnonzero(keep)
    for i in idx.tolist():
        if coco.image_ids[i] is None:
            raise RMPEError(f"{ann_file}: annotation {coco.ann_ids[i]} has no 'image_id'")
    boxes = coco.boxes[keep].copy()
    no_box = ~np.isfinite(boxes).all(axis=1)
    boxes[no_box] = keypoint_extent_boxes(coco.keypoints[keep][no_box])
    if not np.isfinite(boxes).all():
        bad = int(idx[np.flatnonzero(~np.isfinite(boxes).all(axis=1))[0]])
        raise RMPEError(f"{ann_file}: annotation {coco.ann_ids[bad]} has neither a 'bbox' nor labelled keypoints")
    return PersonBoxes(
        boxes=boxes,
        keypoints=coco.keypoints[keep],
        image_ids=[coco.image_ids[i] for i in idx.tolist()],
        has_keypoints=coco.has_keypoints[keep],
        crowd=int((coco.person & coco.crowd).sum()),
    )
