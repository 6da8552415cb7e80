"""COCO-format keypoint data sets: one sample per annotated person.

Any data set in the COCO person-keypoints layout works without code: the config names the
annotation file, the image folder and (for a keypoint set other than COCO-17) the keypoint
names, flip pairs and OKS sigmas (``data`` section, :meth:`rmpe.config.DataConfig.keypoint_set`).

Which annotations become samples (:func:`load_coco_persons`):

* the annotation belongs to the keypoint category (the category whose ``keypoints`` list
  has K names; every annotation when the file lists no categories);
* ``iscrowd`` is 0;
* at least one keypoint is labelled (``v > 0``); ``num_keypoints`` is not trusted;
* its box (``bbox`` ``[x, y, w, h]`` clipped to the image when the image size is known,
  or the extent of its labelled keypoints when it has no box) has both sides >= 1 px.

Everything else is counted in :attr:`CocoPersons.skipped` by reason. A file that is not
COCO keypoint JSON (no ``images``/``annotations`` lists, no ``keypoints`` anywhere, a
keypoint count other than the config's) raises :class:`~rmpe.errors.RMPEError` at once,
with a one-line message.

:class:`COCOKeypointDataset` turns a person into a training or validation sample: one
affine matrix per sample (crop box, plus the augmentation of :mod:`rmpe.data.augment`),
``cv2.warpAffine`` in the DataLoader worker, keypoints mapped by the same matrix. Heatmap
targets are *not* rendered here: the trainer encodes the whole batch with the shared
:class:`rmpe.codec.HeatmapCodec` (the same instance the model decodes with).
"""
from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import RMPEError
from ..keypoints import COCO, KeypointSet
from ..geometry import crop_boxes, crop_matrices, transform_points
from .augment import Augmentation, AugmentParams, photometric_jitter, warp_crop

SampleKey = Union[int, Tuple[int, int]]


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


def _read_json(path: str) -> Any:
    if not path:
        raise RMPEError("no annotation file given; set data.train_ann / data.val_ann in the config")
    if not os.path.isfile(path):
        raise RMPEError(f"annotation file not found: {path}; check data.train_ann / data.val_ann")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise RMPEError(f"{path} is not valid JSON ({reason}); give a COCO person_keypoints file") from None
    except OSError as exc:
        raise RMPEError(f"cannot read annotation file {path}: {exc.strerror or exc}") from None


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
            missing image folder, no usable person at all.
    """
    data = _read_json(ann_file)
    if check_images and (not image_dir or not os.path.isdir(image_dir)):
        raise RMPEError(f"image folder not found: {image_dir}; check data.train_images / data.val_images")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
        data.get("annotations"), list
    ):
        raise RMPEError(f"{ann_file} is not a COCO annotation file (it needs 'images' and 'annotations' lists)")
    k = int(num_keypoints)
    categories = [c for c in data.get("categories", []) or [] if isinstance(c, dict)]
    kp_categories = [c for c in categories if isinstance(c.get("keypoints"), list) and c.get("keypoints")]
    if categories and not kp_categories:
        raise RMPEError(
            f"{ann_file} is not a COCO keypoints file: no category lists 'keypoints' (an instances or captions file?)"
        )
    for c in kp_categories:
        if len(c["keypoints"]) != k:
            raise RMPEError(
                f"{ann_file}: category '{c.get('name', c.get('id'))}' has {len(c['keypoints'])} keypoints but the "
                f"config expects {k}; set model.num_keypoints and data.keypoint_names to match the file"
            )
    kp_category_ids = {c.get("id") for c in kp_categories}
    anns = data["annotations"]
    if anns and not any(isinstance(a, dict) and "keypoints" in a for a in anns):
        raise RMPEError(f"{ann_file} is not a COCO keypoints file: no annotation has 'keypoints'")

    image_rows: Dict[Any, Tuple[str, int, int]] = {}
    for im in data["images"]:
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            raise RMPEError(f"{ann_file}: an entry of 'images' lacks 'id' or 'file_name'")
        try:
            image_rows[im["id"]] = (im["file_name"], int(im.get("height") or 0), int(im.get("width") or 0))
        except (TypeError, ValueError):
            raise RMPEError(f"{ann_file}: image {im['id']} has a non-numeric 'height' or 'width'") from None

    skipped: Counter = Counter()
    boxes: List[List[float]] = []
    keypoints: List[List[float]] = []
    image_ids: List[int] = []
    ann_ids: List[int] = []
    areas: List[float] = []
    for a in anns:
        if not isinstance(a, dict):
            raise RMPEError(f"{ann_file}: an entry of 'annotations' is not an object")
        if kp_category_ids and a.get("category_id") not in kp_category_ids:
            skipped["other_category"] += 1
            continue
        if a.get("iscrowd", 0):
            skipped["crowd"] += 1
            continue
        kp = a.get("keypoints")
        if not isinstance(kp, list):
            skipped["no_keypoints"] += 1
            continue
        if len(kp) != 3 * k:
            raise RMPEError(
                f"{ann_file}: annotation {a.get('id')} has {len(kp)} keypoint values, expected 3 x {k} = {3 * k}; "
                f"set model.num_keypoints and data.keypoint_names to match the file"
            )
        if a.get("image_id") not in image_rows:
            skipped["unknown_image"] += 1
            continue
        keypoints.append(kp)
        boxes.append(a.get("bbox") if isinstance(a.get("bbox"), list) and len(a.get("bbox")) == 4 else [np.nan] * 4)
        image_ids.append(a["image_id"])
        ann_ids.append(a.get("id", len(ann_ids)))
        areas.append(float(a.get("area", np.nan) or np.nan))

    try:
        kp_arr = np.asarray(keypoints, dtype=np.float64).reshape(-1, k, 3)
        box_arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    except (TypeError, ValueError):
        raise RMPEError(f"{ann_file}: 'keypoints' and 'bbox' must hold numbers") from None
    labelled = kp_arr[..., 2] > 0
    has_kp = labelled.any(axis=1)
    # a missing box becomes the extent of the labelled keypoints
    no_box = ~np.isfinite(box_arr).all(axis=1)
    if no_box.any():
        big = np.where(labelled[..., None], kp_arr[..., :2], np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanmin(big, axis=1)
            hi = np.nanmax(big, axis=1)
        box_arr[no_box] = np.concatenate([lo, hi - lo], axis=1)[no_box]
    xyxy = np.concatenate([box_arr[:, :2], box_arr[:, :2] + box_arr[:, 2:]], axis=1)
    sizes = np.asarray([image_rows[i][1:] for i in image_ids], dtype=np.float64).reshape(-1, 2)
    known = (sizes > 0).all(axis=1)
    clipped = xyxy.copy()
    clipped[:, [0, 2]] = np.where(known[:, None], np.clip(xyxy[:, [0, 2]], 0, sizes[:, 1:2] - 1), xyxy[:, [0, 2]])
    clipped[:, [1, 3]] = np.where(known[:, None], np.clip(xyxy[:, [1, 3]], 0, sizes[:, 0:1] - 1), xyxy[:, [1, 3]])
    with np.errstate(invalid="ignore"):
        good_box = np.isfinite(clipped).all(axis=1) & ((clipped[:, 2] - clipped[:, 0]) >= 1) & (
            (clipped[:, 3] - clipped[:, 1]) >= 1
        )
    skipped["no_keypoints"] += int((~has_kp).sum())
    skipped["degenerate_box"] += int((has_kp & ~good_box).sum())
    keep = has_kp & good_box

    image_ids_arr = np.asarray(image_ids, dtype=np.int64).reshape(-1)[keep]
    file_names: List[str] = []
    image_sizes: List[Tuple[int, int]] = []
    slot: Dict[int, int] = {}
    image_index = np.empty(len(image_ids_arr), dtype=np.int64)
    for j, iid in enumerate(image_ids_arr.tolist()):  # once per person at load time
        if iid not in slot:
            slot[iid] = len(file_names)
            name, h, w = image_rows[iid]
            file_names.append(name)
            image_sizes.append((h, w))
        image_index[j] = slot[iid]
    kept_boxes = clipped[keep].astype(np.float32)
    area = np.asarray(areas, dtype=np.float64).reshape(-1)[keep]
    box_area = (kept_boxes[:, 2] - kept_boxes[:, 0]) * (kept_boxes[:, 3] - kept_boxes[:, 1])
    area = np.where(np.isfinite(area), area, box_area).astype(np.float32)
    return CocoPersons(
        ann_file=ann_file,
        image_dir=image_dir,
        num_keypoints=k,
        boxes=kept_boxes,
        keypoints=kp_arr[keep].astype(np.float32),
        image_ids=image_ids_arr,
        ann_ids=np.asarray(ann_ids, dtype=np.int64).reshape(-1)[keep],
        areas=area,
        image_index=image_index,
        file_names=file_names,
        image_sizes=np.asarray(image_sizes, dtype=np.int64).reshape(-1, 2),
        skipped={r: int(c) for r, c in skipped.items() if c},
        categories=categories,
        description=_description(data),
    )


def _description(data: Dict[str, Any]) -> str:
    info = data.get("info")
    text = info.get("description") if isinstance(info, dict) else None
    return text if isinstance(text, str) else ""


def read_image(path: str) -> Optional[np.ndarray]:
    """BGR uint8 (H,W,3) image, or None when the file is missing or cannot be decoded."""
    if not os.path.isfile(path):
        return None
    try:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    if image is None or image.ndim != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        return None
    return image


class COCOKeypointDataset(Dataset):
    """One sample per person of a COCO keypoint file, cropped in the DataLoader worker.

    Sample keys accept an index or an ``(epoch, index)`` pair (what
    :class:`rmpe.train.sampler.EpochSampler` yields): the augmentation of a sample is drawn
    from ``numpy.random.default_rng([seed, epoch, index])``, so it depends neither on the
    worker that loads it nor on the order, and a resumed run sees exactly the same crops.

    A missing or undecodable image is reported in the sample's ``bad`` list. With
    ``skip_bad_images`` a training sample is replaced by the next person of another image
    (``substitute_bad``; the batch keeps its size) and a validation sample comes back with
    ``valid`` False (the person is left out of the results); without it the sample carries
    the error in ``error`` and the trainer stops with that one line. The worker itself
    never raises for bad data.

    Args:
        persons: the people (:func:`load_coco_persons`).
        keypoint_set: keypoint names, flip pairs, body-part ids.
        input_size: (H, W) of the crops.
        aspect_ratio / box_scale: crop-box rule (:func:`rmpe.geometry.crop_boxes`).
        augmentation: per-sample random affine and photometric jitter; None for validation.
        proposals: a ``pgpg.ProposalGenerator`` that replaces the GT box by a proposal
            (training); None uses the GT box.
        seed: base seed of the per-sample generators.
        skip_bad_images: see above.
        substitute_bad: replace a bad training sample by the next person (see above).

    Sample (dict of tensors):
        ``image`` (3,H,W) uint8 RGB crop; ``keypoints`` (K,2) float32 crop pixels (channels
        swapped after a flip); ``visible`` (K,) float32 0/1; ``centred`` (K,2) float32 the
        keypoints in the crop of the ground-truth box with the same rotation and flip (the
        parallel SPPE's targets); ``matrix`` (3,3) float32 image -> crop; ``index`` the
        person; ``bad`` list of image paths that failed; ``error`` str or None; ``valid``
        False when no image could be read (all arrays are then zero).
    """

    def __init__(
        self,
        persons: CocoPersons,
        *,
        keypoint_set: KeypointSet = COCO,
        input_size: Tuple[int, int] = (256, 192),
        aspect_ratio: float = 0.75,
        box_scale: float = 1.25,
        augmentation: Optional[Augmentation] = None,
        proposals: Any = None,
        seed: int = 0,
        skip_bad_images: bool = True,
        substitute_bad: bool = True,
    ) -> None:
        if keypoint_set.num_keypoints != persons.num_keypoints:
            raise RMPEError(
                f"{persons.ann_file}: the data set has {persons.num_keypoints} keypoints but the keypoint set "
                f"{keypoint_set.num_keypoints}; make data.keypoint_names match"
            )
        self.persons = persons
        self.keypoint_set = keypoint_set
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.aspect_ratio = float(aspect_ratio)
        self.box_scale = float(box_scale)
        self.augmentation = augmentation
        self.proposals = proposals
        self.seed = int(seed)
        self.skip_bad_images = bool(skip_bad_images)
        self.substitute_bad = bool(substitute_bad)
        self.flip_perm = np.asarray(keypoint_set.flip_permutation(), dtype=np.int64)
        self.max_substitutes = 16

    @classmethod
    def from_config(cls, config, split: str = "train") -> "COCOKeypointDataset":
        """Build the ``train`` or ``val`` data set of an :class:`rmpe.config.Config`.

        Training uses augmentation, ``train.proposals`` and ``train.max_samples``;
        validation uses the ground-truth boxes and no augmentation.
        """
        d, t = config.data, config.train
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        ann = d.train_ann if split == "train" else d.val_ann
        images = d.train_images if split == "train" else d.val_images
        if not ann:
            raise RMPEError(f"config has no data.{split}_ann; name the COCO keypoint annotation file")
        if not images:
            raise RMPEError(f"config has no data.{split}_images; name the image folder")
        keypoint_set = d.keypoint_set()
        persons = load_coco_persons(ann, images, keypoint_set.num_keypoints, check_images=True)
        if split == "train" and t.max_samples is not None:
            persons = persons.subset(np.arange(min(len(persons), int(t.max_samples))))
        if len(persons) == 0:
            raise RMPEError(f"{ann}: no usable person (all crowd, without keypoints or with degenerate boxes)")
        augmentation = proposals = None
        if split == "train":
            augmentation = Augmentation.from_config(t, keypoint_set)
            if t.proposals.type != "gt":
                from pgpg import proposals_from_config

                proposals = proposals_from_config(t.proposals)
        return cls(
            persons,
            keypoint_set=keypoint_set,
            input_size=tuple(config.model.input_size),
            aspect_ratio=d.aspect_ratio,
            box_scale=d.box_scale,
            augmentation=augmentation,
            proposals=proposals,
            seed=t.seed,
            skip_bad_images=d.skip_bad_images,
            substitute_bad=split == "train",
        )

    def __len__(self) -> int:
        return len(self.persons)

    def _rng(self, epoch: int, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed & 0xFFFFFFFF, int(epoch), int(index)])

    def __getitem__(self, key: SampleKey) -> Dict[str, Any]:
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: Sequence[SampleKey]) -> List[Dict[str, Any]]:
        """A batch of samples (the DataLoader's batched fetch; same result as one by one).

        Images are read and augmentations drawn per sample; the crop matrices and keypoint
        transforms of the whole batch are computed in single batched calls of
        :mod:`rmpe.geometry`; then one ``cv2.warpAffine`` per sample.
        """
        out: List[Optional[Dict[str, Any]]] = [None] * len(keys)
        loaded = []
        for slot, key in enumerate(keys):  # one image per sample
            epoch, index = (0, key) if isinstance(key, (int, np.integer)) else (int(key[0]), int(key[1]))
            image, person, bad, error = self._load(int(index))
            if image is None:
                out[slot] = self._empty(person, bad, error)
                continue
            rng = self._rng(epoch, person)
            box, params = self._draw(person, rng)
            loaded.append((slot, person, image, box, params, rng, bad))
        if loaded:
            for slot, sample in zip((entry[0] for entry in loaded), self._make_batch(loaded)):
                out[slot] = sample
        return out  # type: ignore[return-value]

    def _load(self, index: int) -> Tuple[Optional[np.ndarray], int, List[str], Optional[str]]:
        """(image or None, person actually used, failed paths, error) for data set index ``index``."""
        bad: List[str] = []
        n = len(self.persons)
        person = int(index) % n
        image_index = self.persons.image_index
        for _ in range(self.max_substitutes):
            path = self.persons.image_path(person)
            image = read_image(path)
            if image is not None:
                return image, person, bad, None
            bad.append(path)
            if not self.skip_bad_images:
                error = f"image {path} is missing or not a readable image; fix it or set data.skip_bad_images: true"
                return None, person, bad, error
            if not self.substitute_bad:
                return None, person, bad, None
            # the next person in another image
            start = person
            person = (person + 1) % n
            while image_index[person] == image_index[start] and person != start:
                person = (person + 1) % n
        error = f"{len(bad)} images in a row are missing or unreadable (last {bad[-1]}); check data.*_images"
        return None, person, bad, error

    def _draw(self, person: int, rng: np.random.Generator) -> Tuple[np.ndarray, AugmentParams]:
        """The box to crop (proposal or half-body box) and the augmentation of one sample."""
        gt_box = self.persons.boxes[person].astype(np.float64)
        if self.augmentation is None:
            return gt_box, AugmentParams()
        kp = self.persons.keypoints[person].astype(np.float64)
        box = gt_box
        if self.proposals is not None:
            box = np.asarray(self.proposals.sample(gt_box, kp, 1, rng)[0], dtype=np.float64)
        params = self.augmentation.sample(rng, box, kp[:, :2], kp[:, 2] > 0)
        return (params.box if params.box is not None else box), params

    def _empty(self, index: int, bad: List[str], error: Optional[str]) -> Dict[str, Any]:
        h, w = self.input_size
        k = self.persons.num_keypoints
        return {
            "image": torch.zeros((3, h, w), dtype=torch.uint8),
            "keypoints": torch.zeros((k, 2), dtype=torch.float32),
            "visible": torch.zeros((k,), dtype=torch.float32),
            "centred": torch.zeros((k, 2), dtype=torch.float32),
            "matrix": torch.eye(3, dtype=torch.float32),
            "index": int(index),
            "bad": bad,
            "error": error,
            "valid": False,
        }

    def _make_batch(self, loaded: List[Tuple]) -> List[Dict[str, Any]]:
        """Crops and keypoints for the loaded samples (batched geometry, one warp per sample)."""
        p = self.persons
        people = np.asarray([entry[1] for entry in loaded], dtype=np.int64)
        boxes = torch.from_numpy(np.stack([entry[3] for entry in loaded]).astype(np.float64))
        rotation = torch.tensor([entry[4].rotation for entry in loaded], dtype=torch.float64)
        scale = torch.tensor([entry[4].scale for entry in loaded], dtype=torch.float64)
        flip = torch.tensor([entry[4].flip for entry in loaded], dtype=torch.bool)
        m = crop_matrices(crop_boxes(boxes, self.aspect_ratio, self.box_scale), self.input_size,
                          rotation=rotation, scale=scale, flip=flip)
        # the parallel SPPE's targets: the same pose in the crop of the ground-truth box with
        # the same rotation and flip (no scale change, no box error)
        gt = torch.from_numpy(p.boxes[people].astype(np.float64))
        mc = crop_matrices(crop_boxes(gt, self.aspect_ratio, self.box_scale), self.input_size,
                           rotation=rotation, flip=flip)
        kp = torch.from_numpy(p.keypoints[people].astype(np.float64))
        pts = transform_points(m, kp[..., :2])
        centred = transform_points(mc, kp[..., :2])
        vis = (kp[..., 2] > 0).to(torch.float32)
        # a flipped sample swaps its left/right channels
        k = kp.shape[1]
        perm = torch.where(flip[:, None], torch.from_numpy(self.flip_perm)[None, :], torch.arange(k)[None, :])
        pts = pts.gather(1, perm[..., None].expand(-1, -1, 2))
        centred = centred.gather(1, perm[..., None].expand(-1, -1, 2))
        vis = vis.gather(1, perm)
        m_np = m.numpy()
        photometric = self.augmentation is not None and self.augmentation.photometric
        samples = []
        for j, (_, person, image, _, _, rng, bad) in enumerate(loaded):  # one warp per image
            crop = warp_crop(image, m_np[j], self.input_size)
            if photometric:
                crop = photometric_jitter(crop, rng)
            rgb = np.ascontiguousarray(crop[:, :, ::-1].transpose(2, 0, 1))
            samples.append({
                "image": torch.from_numpy(rgb),
                "keypoints": pts[j].to(torch.float32),
                "visible": vis[j],
                "centred": centred[j].to(torch.float32),
                "matrix": m[j].to(torch.float32),
                "index": int(person),
                "bad": bad,
                "error": None,
                "valid": True,
            })
        return samples


def collate_samples(samples: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Stack samples into a batch; ``bad`` lists are concatenated, ``errors`` collected."""
    batch: Dict[str, Any] = {}
    for key in ("image", "keypoints", "visible", "centred", "matrix"):
        batch[key] = torch.stack([s[key] for s in samples])
    batch["index"] = torch.tensor([s["index"] for s in samples], dtype=torch.long)
    batch["bad"] = [path for s in samples for path in s["bad"]]
    batch["errors"] = [s["error"] for s in samples if s["error"]]
    batch["valid"] = torch.tensor([bool(s["valid"]) for s in samples], dtype=torch.bool)
    return batch
