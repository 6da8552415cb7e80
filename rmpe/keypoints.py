"""Keypoint metadata: COCO-17 names, left/right flip pairs, skeleton, OKS sigmas.

Indices are 0-based and follow the COCO person_keypoints order. Data sets with a
different keypoint set describe theirs with a :class:`KeypointSet` (built from the
config's ``data`` section) instead of changing this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

from pose_nms.oks import COCO_SIGMAS as _OKS_SIGMAS

COCO_KEYPOINTS: Tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

#: (left, right) index pairs swapped by a horizontal flip.
COCO_FLIP_PAIRS: Tuple[Tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
)

#: Limbs drawn between keypoints (0-based; the COCO category lists the same pairs 1-based).
COCO_SKELETON: Tuple[Tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12),
    (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
    (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)

#: Per-keypoint OKS standard deviations used by COCOeval (COCO val2017 values); defined once,
#: in the pose-NMS component that needs them without importing rmpe.
COCO_SIGMAS: Tuple[float, ...] = tuple(_OKS_SIGMAS)

COCO_UPPER_BODY_IDS: Tuple[int, ...] = tuple(range(0, 11))
COCO_LOWER_BODY_IDS: Tuple[int, ...] = tuple(range(11, 17))

#: BGR colours per limb of :data:`COCO_SKELETON` for rendering (left side warm, right side cool).
COCO_LIMB_COLORS: Tuple[Tuple[int, int, int], ...] = (
    (0, 128, 255), (0, 170, 255), (255, 128, 0), (255, 170, 0), (0, 255, 255),
    (0, 200, 255), (255, 200, 0), (0, 255, 128), (0, 80, 255), (255, 80, 0),
    (0, 40, 255), (255, 40, 0), (200, 0, 200), (230, 0, 160), (160, 0, 230),
    (255, 0, 120), (120, 0, 255), (0, 160, 200), (200, 160, 0),
)
#: BGR colour per keypoint for rendering.
COCO_KEYPOINT_COLORS: Tuple[Tuple[int, int, int], ...] = (
    (255, 255, 255), (0, 200, 255), (255, 200, 0), (0, 128, 255), (255, 128, 0),
    (0, 255, 255), (255, 255, 0), (0, 170, 255), (255, 170, 0), (0, 80, 255),
    (255, 80, 0), (0, 255, 128), (128, 255, 0), (0, 200, 128), (128, 200, 0),
    (0, 150, 80), (80, 150, 0),
)


@dataclass(frozen=True)
class KeypointSet:
    """Everything the pipeline needs to know about a data set's keypoints.

    Attributes:
        names: K keypoint names in data set order.
        flip_pairs: (left, right) index pairs swapped by a horizontal flip.
        skeleton: index pairs joined when drawing.
        sigmas: K OKS standard deviations (COCOeval convention, not divided by 10 again).
        upper_body_ids / lower_body_ids: indices used by half-body augmentation.
    """

    names: Tuple[str, ...]
    flip_pairs: Tuple[Tuple[int, int], ...]
    skeleton: Tuple[Tuple[int, int], ...] = ()
    sigmas: Tuple[float, ...] = ()
    upper_body_ids: Tuple[int, ...] = ()
    lower_body_ids: Tuple[int, ...] = ()

    def __post_init__(self) -> None:
        k = len(self.names)
        for a, b in tuple(self.flip_pairs) + tuple(self.skeleton):
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"keypoint index pair ({a}, {b}) is outside 0..{k - 1}")
        if self.sigmas and len(self.sigmas) != k:
            raise ValueError(f"{len(self.sigmas)} OKS sigmas given for {k} keypoints")

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    def flip_permutation(self) -> List[int]:
        """Index list ``perm`` so that ``flipped[:, perm]`` swaps every left/right pair."""
        return flip_permutation(self.num_keypoints, self.flip_pairs)


def flip_permutation(num_keypoints: int, flip_pairs: Sequence[Sequence[int]]) -> List[int]:
    """Return the channel permutation that swaps each (left, right) pair."""
    perm = list(range(num_keypoints))
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return perm


COCO = KeypointSet(
    names=COCO_KEYPOINTS,
    flip_pairs=COCO_FLIP_PAIRS,
    skeleton=COCO_SKELETON,
    sigmas=COCO_SIGMAS,
    upper_body_ids=COCO_UPPER_BODY_IDS,
    lower_body_ids=COCO_LOWER_BODY_IDS,
)


def coco_category() -> dict:
    """The COCO ``person`` category entry (1-based skeleton, as in COCO annotation files)."""
    return {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(COCO_KEYPOINTS),
        "skeleton": [[a + 1, b + 1] for a, b in COCO_SKELETON],
    }
