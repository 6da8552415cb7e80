"""The COCO keypoint data set: one training or validation sample per annotated person.

Any data set in the COCO person-keypoints layout works without code: the config names the
annotation file, the image folder and (for a keypoint set other than COCO-17) the keypoint
names, flip pairs and OKS sigmas (``data`` section, :meth:`rmpe.config.DataConfig.keypoint_set`).
Which annotations become people is decided by :func:`rmpe.data.annotations.load_coco_persons`.

:class:`COCOKeypointDataset` turns a person into a sample: one affine matrix per sample (crop
box, plus the augmentation of :mod:`rmpe.data.augment`), ``cv2.warpAffine`` in the DataLoader
worker, keypoints mapped by the same matrix. Heatmap targets are *not* rendered here: the
trainer encodes the whole batch with the shared :class:`rmpe.codec.HeatmapCodec` (the same
instance the model decodes with). Batches are assembled by :mod:`rmpe.data.loader`.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import RMPEError
from ..geometry import centred_keypoints, crop_boxes, crop_matrices, transform_points
from ..keypoints import COCO, KeypointSet
from .annotations import CocoPersons, load_coco_persons, read_image
from .augment import Augmentation, AugmentParams, photometric_jitter, warp_crop

#: A sample key: a data set index, or the ``(epoch, index)`` pair of :class:`rmpe.train.sampler.EpochSampler`.
SampleKey = Union[int, Tuple[int, int]]


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
            try:
                return read_image(path), person, bad, None
            except RMPEError:
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
        kp = torch.from_numpy(p.keypoints[people].astype(np.float64))
        pts = transform_points(m, kp[..., :2])
        centred = centred_keypoints(kp[..., :2], gt, self.input_size, self.aspect_ratio, self.box_scale,
                                    rotation=rotation, flip=flip)
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
