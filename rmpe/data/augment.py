"""Training augmentation as one affine matrix per sample, plus optional photometric jitter.

Everything geometric is folded into the crop matrix of :func:`rmpe.geometry.crop_matrices`
(image px -> crop px), so the image is resampled once and the keypoints follow through the
same matrix:

* half-body (probability ``half_body_prob``, only for people with more than
  ``half_body_min_joints`` labelled joints): the box becomes the extent of the labelled
  upper-body or lower-body joints (each half drawn with probability 1/2; a half with fewer
  than two labelled joints falls back to the other), enlarged 1.2x about its centre; the
  crop-box rule (aspect ratio, x ``box_scale``) applies on top as for any box;
* scale: the crop box is multiplied by ``clip(1 + scale_factor * N(0, 1), 1 - sf, 1 + sf)``
  (> 1 zooms out);
* rotation: with probability ``rotation_prob``, ``clip(rotation_factor * N(0, 1), -2 rf,
  2 rf)`` degrees (counter-clockwise on screen), about the crop centre;
* flip: with probability 1/2 the crop is mirrored about its centre; the caller swaps the
  left/right keypoint channels (``KeypointSet.flip_permutation``).

Random numbers come from a ``numpy.random.Generator`` given per sample, always drawn in the
same order, so a sample's augmentation depends only on that generator's seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from ..keypoints import COCO, KeypointSet


@dataclass
class AugmentParams:
    """One sample's augmentation.

    Attributes:
        box: (4,) xyxy box replacing the person box (half-body), or None.
        scale: crop-box size factor (> 1 zooms out).
        rotation: degrees, counter-clockwise on screen.
        flip: mirror horizontally.
    """

    box: Optional[np.ndarray] = None
    scale: float = 1.0
    rotation: float = 0.0
    flip: bool = False


def warp_crop(image: np.ndarray, matrix: np.ndarray, input_size: Tuple[int, int]) -> np.ndarray:
    """Crop with ``cv2.warpAffine`` (bilinear, zero border), as :func:`rmpe.crop.crop_images` does.

    Args:
        image: (H,W,3) uint8 image.
        matrix: (3,3) image px -> crop px.
        input_size: (h, w) of the crop.

    Returns:
        (h,w,3) uint8 crop.
    """
    h, w = int(input_size[0]), int(input_size[1])
    return cv2.warpAffine(
        image,
        np.asarray(matrix, dtype=np.float64)[:2],
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def half_body_box(
    keypoints: np.ndarray,
    visible: np.ndarray,
    upper_ids: Sequence[int],
    lower_ids: Sequence[int],
    choose_upper: bool,
    enlarge: float = 1.2,
) -> Optional[np.ndarray]:
    """Box around the labelled joints of one body half.

    Args:
        keypoints: (K,2) image pixels.
        visible: (K,) bool, labelled joints.
        upper_ids / lower_ids: joint indices of the halves.
        choose_upper: preferred half; the other is used when the preferred one has fewer
            than two labelled joints.
        enlarge: factor applied to the extent about its centre.

    Returns:
        (4,) float64 xyxy box, or None when neither half has two labelled joints.
    """
    halves = [list(upper_ids), list(lower_ids)]
    if not choose_upper:
        halves.reverse()
    for ids in halves:
        if not ids:
            continue
        sel = np.asarray(ids, dtype=np.int64)
        sel = sel[visible[sel]]
        if sel.size < 2:
            continue
        pts = keypoints[sel]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        centre = 0.5 * (lo + hi)
        half = 0.5 * np.maximum(hi - lo, 1.0) * enlarge
        return np.concatenate([centre - half, centre + half])
    return None


def photometric_jitter(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast and saturation changes (each applied with probability 1/2).

    Brightness adds ``U(-32, 32)`` grey levels, contrast scales about the mean grey level by
    ``U(0.7, 1.3)``, saturation blends with the grey image by ``U(0.7, 1.3)``.

    Args:
        crop: (h,w,3) uint8 BGR or RGB crop.
        rng: the sample's generator (6 numbers are always drawn).

    Returns:
        (h,w,3) uint8 crop.
    """
    u = rng.random(3)
    brightness = rng.uniform(-32.0, 32.0)
    contrast = rng.uniform(0.7, 1.3)
    saturation = rng.uniform(0.7, 1.3)
    x = crop.astype(np.float32)
    if u[0] < 0.5:
        x += brightness
    if u[1] < 0.5:
        level = x.mean()
        x = (x - level) * contrast + level
    if u[2] < 0.5:
        grey = x.mean(axis=2, keepdims=True)
        x = grey + (x - grey) * saturation
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


class Augmentation:
    """Draws one :class:`AugmentParams` per sample (module docstring for the recipe).

    Args:
        scale_factor: sf of the scale rule (0 disables scaling).
        rotation_factor: rf in degrees (0 disables rotation).
        rotation_prob: probability that a sample is rotated.
        flip: allow horizontal flips (probability 1/2).
        half_body_prob: probability of the half-body box.
        half_body_min_joints: a person needs more labelled joints than this for half-body.
        upper_body_ids / lower_body_ids: joint indices of the halves.
        photometric: apply :func:`photometric_jitter` to the crop.
    """

    def __init__(
        self,
        *,
        scale_factor: float = 0.3,
        rotation_factor: float = 40.0,
        rotation_prob: float = 0.6,
        flip: bool = True,
        half_body_prob: float = 0.0,
        half_body_min_joints: int = 8,
        upper_body_ids: Sequence[int] = COCO.upper_body_ids,
        lower_body_ids: Sequence[int] = COCO.lower_body_ids,
        photometric: bool = False,
    ) -> None:
        self.scale_factor = float(scale_factor)
        self.rotation_factor = float(rotation_factor)
        self.rotation_prob = float(rotation_prob)
        self.flip = bool(flip)
        self.half_body_prob = float(half_body_prob)
        self.half_body_min_joints = int(half_body_min_joints)
        self.upper_body_ids = tuple(int(i) for i in upper_body_ids)
        self.lower_body_ids = tuple(int(i) for i in lower_body_ids)
        self.photometric = bool(photometric)

    @classmethod
    def from_config(cls, train, keypoint_set: KeypointSet = COCO) -> "Augmentation":
        """From a :class:`rmpe.config.TrainConfig` and the data set's keypoint set."""
        return cls(
            scale_factor=train.scale_factor,
            rotation_factor=train.rotation_factor,
            rotation_prob=train.rotation_prob,
            flip=train.flip,
            half_body_prob=train.half_body_prob,
            half_body_min_joints=train.half_body_min_joints,
            upper_body_ids=keypoint_set.upper_body_ids,
            lower_body_ids=keypoint_set.lower_body_ids,
            photometric=train.photometric,
        )

    def sample(
        self, rng: np.random.Generator, box: np.ndarray, keypoints: np.ndarray, visible: np.ndarray
    ) -> AugmentParams:
        """Draw one sample's augmentation.

        Args:
            rng: the sample's generator (always 6 numbers, in a fixed order).
            box: (4,) xyxy person box in image pixels (unused except for reference).
            keypoints: (K,2) image pixels.
            visible: (K,) bool labelled joints.
        """
        u_half, u_upper, u_rot, u_flip = rng.random(4)
        z_scale, z_rot = rng.standard_normal(2)
        new_box = None
        if (
            self.half_body_prob > 0
            and u_half < self.half_body_prob
            and int(np.count_nonzero(visible)) > self.half_body_min_joints
        ):
            new_box = half_body_box(keypoints, visible, self.upper_body_ids, self.lower_body_ids, u_upper < 0.5)
        sf, rf = self.scale_factor, self.rotation_factor
        scale = float(np.clip(1.0 + sf * z_scale, 1.0 - sf, 1.0 + sf)) if sf > 0 else 1.0
        rotation = float(np.clip(rf * z_rot, -2.0 * rf, 2.0 * rf)) if (rf > 0 and u_rot < self.rotation_prob) else 0.0
        flip = bool(self.flip and u_flip < 0.5)
        return AugmentParams(box=new_box, scale=scale, rotation=rotation, flip=flip)
