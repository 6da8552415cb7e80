"""Whole-image training samples of the bottom-up model, and the image <-> input <-> map frames.

Frames (all 3x3 matrices, pixels with integer = pixel centre):

* image -> input: :func:`letterbox_matrix`: the image scaled to fit the network input
  ``(H, W)`` keeping its aspect ratio, centred (the rest is zero); training composes a random
  scale and rotation about the input centre with it;
* map -> input: :func:`rmpe.geometry.heatmap_to_crop_matrix` (``u = x_map * W / w``), the same
  rule as the top-down heatmaps, so the bottom-up maps and the SPPE's heatmaps share one
  convention.

:class:`BottomUpDataset` yields one sample per image of a COCO keypoint file (the images that
hold at least one usable person, :func:`rmpe.data.annotations.load_coco_persons`): the warped
image and its targets (:func:`rmpe.bottomup.encode`) rendered in the DataLoader worker. The
people COCOeval ignores (crowd regions and people with no labelled keypoint) mark the loss
mask's ignored pixels through their boxes.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.annotations import CocoPersons, load_coco_persons, read_coco_annotations, read_image
from ..data.augment import warp_crop
from ..errors import RMPEError
from ..geometry import heatmap_to_crop_matrix
from .limbs import LIMBS, config_limbs
from .targets import DEFAULT_LIMB_WIDTH, DEFAULT_SIGMA, encode

SampleKey = Union[int, Tuple[int, int]]


def letterbox_matrix(image_size: Tuple[int, int], input_size: Tuple[int, int]) -> np.ndarray:
    """(3,3) float64 image px -> input px: uniform scale to fit ``input_size``, centres aligned.

    Args:
        image_size: (h, w) of the image; input_size: (H, W) of the network input.
    """
    (ih, iw), (h, w) = image_size, input_size
    s = min(h / ih, w / iw)
    return np.array([[s, 0, (w - 1) / 2 - s * (iw - 1) / 2], [0, s, (h - 1) / 2 - s * (ih - 1) / 2], [0, 0, 1]])


def map_to_input_matrix(input_size: Tuple[int, int], map_size: Tuple[int, int]) -> np.ndarray:
    """(3,3) float64 map px -> input px (:func:`rmpe.geometry.heatmap_to_crop_matrix`)."""
    return heatmap_to_crop_matrix(tuple(input_size), tuple(map_size), dtype=torch.float64).numpy()


def augment_matrix(input_size: Tuple[int, int], scale: float, rotation_deg: float) -> np.ndarray:
    """(3,3) input px -> input px: scale by ``scale`` and rotate by ``rotation_deg`` about the input centre."""
    h, w = input_size
    cx, cy = (w - 1) / 2, (h - 1) / 2
    a = math.radians(rotation_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0, 0, 1]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` (...,2) through the (3,3) ``matrix``."""
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def boxes_through(matrix: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(M,4) xyxy boxes -> the (M,4) xyxy boxes around their four transformed corners."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], axis=1)  # (M,4,2)
    t = apply(matrix, corners)
    return np.concatenate([t.min(axis=1), t.max(axis=1)], axis=1)


def unannotated_boxes(ann_file: str, image_dir: str, num_keypoints: int) -> Dict[Any, np.ndarray]:
    """Image id -> (M,4) xyxy image-pixel boxes of the people without labels (crowd or no keypoint)."""
    coco = read_coco_annotations(ann_file, num_keypoints, image_dir=image_dir)
    labelled = (coco.keypoints[..., 2] > 0).any(axis=1) if coco.keypoints.size else np.zeros(len(coco), bool)
    pick = coco.person & (coco.crowd | ~labelled) & np.isfinite(coco.boxes).all(axis=1)
    out: Dict[Any, List[np.ndarray]] = {}
    for i in np.flatnonzero(pick):
        out.setdefault(coco.image_ids[i], []).append(coco.boxes[i])
    return {k: np.stack(v) for k, v in out.items()}


class BottomUpDataset(Dataset):
    """One sample per image with usable people: the warped image and its maps, fields and mask.

    Sample keys: an index or the ``(epoch, index)`` pair of :class:`rmpe.train.sampler.EpochSampler`;
    the augmentation is drawn from ``numpy.random.default_rng([seed, epoch, index])``.

    Args:
        persons: the usable people (:func:`load_coco_persons`).
        ignore: image id -> (M,4) boxes of unannotated people (:func:`unannotated_boxes`).
        input_size: (H, W) network input; map size is input / 4.
        limbs / sigma / limb_width: targets (:func:`rmpe.bottomup.encode`).
        scale_factor: scale drawn from ``1 +- scale_factor`` (0: none).
        rotation_factor / rotation_prob: rotation drawn from ``+- rotation_factor`` degrees
            with probability ``rotation_prob``.
        seed: base seed of the per-sample generators.
        skip_bad_images: a missing image is replaced by the next image (its path reported in
            ``bad``); otherwise the sample carries an ``error`` and training stops.

    Sample (dict): ``image`` (3,H,W) uint8 RGB; ``maps`` (K+1,h,w), ``fields`` (2C,h,w), ``mask``
    (h,w) float32; ``index``; ``bad`` list of failed paths; ``error`` str or None.
    """

    def __init__(
        self,
        persons: CocoPersons,
        ignore: Optional[Dict[Any, np.ndarray]] = None,
        *,
        input_size: Tuple[int, int] = (256, 320),
        limbs: Sequence[Tuple[int, int]] = LIMBS,
        sigma: float = DEFAULT_SIGMA,
        limb_width: float = DEFAULT_LIMB_WIDTH,
        scale_factor: float = 0.0,
        rotation_factor: float = 0.0,
        rotation_prob: float = 0.0,
        seed: int = 0,
        skip_bad_images: bool = True,
    ) -> None:
        self.persons = persons
        self.ignore = ignore or {}
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.map_size = (self.input_size[0] // 4, self.input_size[1] // 4)
        self.limbs = tuple(limbs)
        self.sigma, self.limb_width = float(sigma), float(limb_width)
        self.scale_factor, self.rotation_factor, self.rotation_prob = scale_factor, rotation_factor, rotation_prob
        self.seed = int(seed)
        self.skip_bad_images = bool(skip_bad_images)
        #: image index (into persons.file_names) of each sample, and the people of each image
        self.images = np.unique(persons.image_index)
        self.people = [np.flatnonzero(persons.image_index == i) for i in self.images]
        self.to_map = np.linalg.inv(map_to_input_matrix(self.input_size, self.map_size))

    @classmethod
    def from_config(cls, config: Any, split: str = "train", max_images: Optional[int] = None) -> "BottomUpDataset":
        """The ``train`` (augmented, ``train.max_samples`` images at most) or ``val`` set of a config."""
        d, t, b = config.data, config.train, config.bottomup
        ann = d.train_ann if split == "train" else d.val_ann
        images = d.train_images if split == "train" else d.val_images
        if not ann or not images:
            raise RMPEError(f"config has no data.{split}_ann / data.{split}_images; name the COCO file and image folder")
        k = d.keypoint_set().num_keypoints
        persons = load_coco_persons(ann, images, k, check_images=True)
        if len(persons) == 0:
            raise RMPEError(f"{ann}: no usable person (all crowd, without keypoints or with degenerate boxes)")
        train = split == "train"
        data = cls(
            persons, unannotated_boxes(ann, images, k), input_size=tuple(config.model.input_size),
            limbs=config_limbs(config), sigma=b.sigma, limb_width=b.limb_width,
            scale_factor=t.scale_factor if train else 0.0, rotation_factor=t.rotation_factor if train else 0.0,
            rotation_prob=t.rotation_prob if train else 0.0, seed=t.seed, skip_bad_images=d.skip_bad_images,
        )
        limit = t.max_samples if train else max_images
        if limit is not None:
            data.images, data.people = data.images[:limit], data.people[:limit]
        return data

    def __len__(self) -> int:
        return len(self.images)

    def matrix(self, image_size: Tuple[int, int], rng: Optional[np.random.Generator]) -> np.ndarray:
        """(3,3) image px -> input px of one sample (letterbox, then the random scale and rotation)."""
        m = letterbox_matrix(image_size, self.input_size)
        if rng is None:
            return m
        scale = 1.0 + rng.uniform(-self.scale_factor, self.scale_factor) if self.scale_factor else 1.0
        rotate = rng.random() < self.rotation_prob
        angle = rng.uniform(-self.rotation_factor, self.rotation_factor) if rotate else 0.0
        return augment_matrix(self.input_size, scale, angle) @ m

    def __getitem__(self, key: SampleKey) -> Dict[str, Any]:
        epoch, index = (0, key) if isinstance(key, (int, np.integer)) else (int(key[0]), int(key[1]))
        bad: List[str] = []
        n = len(self.images)
        for attempt in range(min(n, 16)):
            slot = (int(index) + attempt) % n
            path = self.persons.image_path(int(self.people[slot][0]))
            try:
                image = read_image(path)
            except RMPEError:
                bad.append(path)
                if not self.skip_bad_images:
                    return self._empty(slot, bad, f"image {path} is missing or not a readable image; fix it or set "
                                                  "data.skip_bad_images: true")
                continue
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, epoch, slot])
            return self._sample(slot, image, rng if self.scale_factor or self.rotation_prob else None, bad)
        return self._empty(int(index) % n, bad, f"{len(bad)} images in a row are missing or unreadable (last "
                                                f"{bad[-1]}); check data.*_images")

    def _sample(self, slot: int, image: np.ndarray, rng: Optional[np.random.Generator], bad: List[str]) -> Dict[str, Any]:
        people = self.people[slot]
        m = self.matrix(image.shape[:2], rng)
        to_map = self.to_map @ m
        kp = self.persons.keypoints[people].astype(np.float64)
        image_id = self.persons.image_ids[people[0]].item()
        ignore = self.ignore.get(image_id)
        maps, fields, mask = encode(
            apply(to_map, kp[..., :2]), kp[..., 2] > 0, self.map_size, sigma=self.sigma, limb_width=self.limb_width,
            ignore_boxes=None if ignore is None else boxes_through(to_map, ignore), limbs=self.limbs,
        )
        crop = warp_crop(image, m, self.input_size)
        rgb = np.ascontiguousarray(crop[:, :, ::-1].transpose(2, 0, 1))
        return {"image": torch.from_numpy(rgb), "maps": torch.from_numpy(maps), "fields": torch.from_numpy(fields),
                "mask": torch.from_numpy(mask), "index": slot, "bad": bad, "error": None}

    def _empty(self, slot: int, bad: List[str], error: Optional[str]) -> Dict[str, Any]:
        h, w = self.map_size
        k = self.persons.num_keypoints
        return {"image": torch.zeros((3, *self.input_size), dtype=torch.uint8),
                "maps": torch.zeros((k + 1, h, w)), "fields": torch.zeros((2 * len(self.limbs), h, w)),
                "mask": torch.zeros((h, w)), "index": slot, "bad": bad, "error": error}

    @staticmethod
    def collate(samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        """Stack samples: ``image`` (B,3,H,W) uint8, ``maps``, ``fields``, ``mask``; ``bad`` and ``errors`` lists."""
        batch: Dict[str, Any] = {k: torch.stack([s[k] for s in samples]) for k in ("image", "maps", "fields", "mask")}
        batch["index"] = torch.tensor([s["index"] for s in samples], dtype=torch.long)
        batch["bad"] = [p for s in samples for p in s["bad"]]
        batch["errors"] = [s["error"] for s in samples if s["error"]]
        return batch
