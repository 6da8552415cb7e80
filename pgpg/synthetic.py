"""Synthetic people with planted, pose-dependent detector offsets (for tests and demos).

Each person is one of a few pose families (COCO-17 templates in torso units), scaled,
placed side by side on an image and jittered. Its "detection" is its GT box displaced by
offsets drawn from a Gaussian whose mean and spread depend on the family, so a correct
PGPG fit must find the families as atomic poses and recover each family's offset
distribution.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

#: COCO-17 templates (x right, y down) in torso units: torso centre at 0, shoulder-to-hip 1.
POSE_TEMPLATES: Dict[str, np.ndarray] = {}

_STANDING = np.array(
    [
        [0.00, -1.45],  # nose
        [0.08, -1.55], [-0.08, -1.55],  # eyes (left, right)
        [0.18, -1.50], [-0.18, -1.50],  # ears
        [0.40, -0.50], [-0.40, -0.50],  # shoulders
        [0.50, 0.10], [-0.50, 0.10],  # elbows
        [0.55, 0.60], [-0.55, 0.60],  # wrists
        [0.25, 0.50], [-0.25, 0.50],  # hips
        [0.27, 1.40], [-0.27, 1.40],  # knees
        [0.28, 2.30], [-0.28, 2.30],  # ankles
    ]
)
POSE_TEMPLATES["standing"] = _STANDING
_ARMS_UP = _STANDING.copy()
_ARMS_UP[[7, 8]] = [[0.65, -1.10], [-0.65, -1.10]]
_ARMS_UP[[9, 10]] = [[0.75, -1.75], [-0.75, -1.75]]
POSE_TEMPLATES["arms_up"] = _ARMS_UP
_CROUCHING = _STANDING.copy()
_CROUCHING[[13, 14]] = [[0.70, 0.65], [-0.70, 0.65]]
_CROUCHING[[15, 16]] = [[0.45, 1.35], [-0.45, 1.35]]
_CROUCHING[[9, 10]] = [[0.70, 0.45], [-0.70, 0.45]]
POSE_TEMPLATES["crouching"] = _CROUCHING


def make_planted_people(
    num_per_family: int,
    offset_means: np.ndarray,
    offset_stds: np.ndarray,
    *,
    families: Sequence[str] = ("standing", "arms_up"),
    seed: int = 0,
    people_per_image: int = 3,
    joint_noise: float = 0.04,
    missing_prob: float = 0.1,
    torso_range: Sequence[float] = (40.0, 120.0),
    detection_rate: float = 1.0,
    false_positives_per_image: int = 1,
) -> Dict[str, np.ndarray]:
    """People of several pose families with family-dependent detection offsets.

    Args:
        num_per_family: people per family.
        offset_means: (F, 4) planted offset mean per family (dx1/w, dy1/h, dx2/w, dy2/h).
        offset_stds: (F, 4) planted offset standard deviation per family (independent sides).
        families: names in :data:`POSE_TEMPLATES`, one per row of the offsets.
        seed: random seed.
        people_per_image: people placed side by side (without overlap) on each image.
        joint_noise: per-joint Gaussian noise in torso units.
        missing_prob: chance that a joint is unlabelled (v = 0, coordinates 0).
        torso_range: uniform range of torso lengths in pixels.
        detection_rate: chance that a person has a detection.
        false_positives_per_image: detections placed far from everyone (never match).

    Returns:
        Dict with ``gt_boxes`` (N, 4) xyxy, ``keypoints`` (N, 17, 3), ``image_ids`` (N,),
        ``family`` (N,), ``det_boxes`` (M, 4), ``det_image_ids`` (M,), ``det_scores`` (M,),
        ``det_person`` (M,) index of the person a detection came from (-1: false positive),
        ``offsets`` (N, 4) planted offsets of every person.
    """
    rng = np.random.default_rng(seed)
    offset_means = np.asarray(offset_means, dtype=np.float64).reshape(len(families), 4)
    offset_stds = np.asarray(offset_stds, dtype=np.float64).reshape(len(families), 4)
    family = np.repeat(np.arange(len(families)), num_per_family)
    family = family[rng.permutation(len(family))]
    n = len(family)
    templates = np.stack([POSE_TEMPLATES[f] for f in families])[family]  # (N, 17, 2)
    pose = templates + joint_noise * rng.standard_normal(templates.shape)
    torso = rng.uniform(torso_range[0], torso_range[1], n)
    # box in torso units: template extent plus a margin of 0.15
    lo = templates.min(1) - 0.15
    hi = templates.max(1) + 0.15
    # place people left to right on each image, with gaps
    image_ids = np.arange(n) // people_per_image
    slot = np.arange(n) % people_per_image
    width_px = (hi[:, 0] - lo[:, 0]) * torso
    gap = 3.0 * torso_range[1]
    left = 20.0 + slot * (gap + np.max(width_px))
    top = 30.0 + rng.uniform(0, 50, n)
    origin = np.stack([left - lo[:, 0] * torso, top - lo[:, 1] * torso], 1)
    xy = origin[:, None, :] + pose * torso[:, None, None]
    gt_boxes = np.concatenate([origin + lo * torso[:, None], origin + hi * torso[:, None]], 1)
    visible = rng.random((n, 17)) >= missing_prob
    keypoints = np.concatenate([np.where(visible[..., None], xy, 0.0), 2.0 * visible[..., None]], -1)

    offsets = offset_means[family] + offset_stds[family] * rng.standard_normal((n, 4))
    w, h = gt_boxes[:, 2] - gt_boxes[:, 0], gt_boxes[:, 3] - gt_boxes[:, 1]
    dets = gt_boxes + offsets * np.stack([w, h, w, h], 1)
    detected = rng.random(n) < detection_rate
    det_boxes, det_ids, det_person = dets[detected], image_ids[detected], np.flatnonzero(detected)
    num_images = int(image_ids.max()) + 1
    if false_positives_per_image > 0:
        m = num_images * false_positives_per_image
        fp_ids = np.repeat(np.arange(num_images), false_positives_per_image)
        x0 = 20.0 + people_per_image * (gap + np.max(width_px)) + rng.uniform(0, 200, m)
        y0 = rng.uniform(0, 200, m)
        size = rng.uniform(30, 150, (m, 2))
        fp = np.stack([x0, y0, x0 + size[:, 0], y0 + size[:, 1]], 1)
        det_boxes = np.concatenate([det_boxes, fp])
        det_ids = np.concatenate([det_ids, fp_ids])
        det_person = np.concatenate([det_person, np.full(m, -1)])
    det_scores = np.where(det_person >= 0, rng.uniform(0.5, 1.0, len(det_person)), rng.uniform(0.05, 0.6, len(det_person)))
    return {
        "gt_boxes": gt_boxes,
        "keypoints": keypoints,
        "image_ids": image_ids,
        "family": family,
        "det_boxes": det_boxes,
        "det_image_ids": det_ids,
        "det_scores": det_scores,
        "det_person": det_person,
        "offsets": offsets,
    }
