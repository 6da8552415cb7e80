"""The limbs of the bottom-up model: which joint pairs get a part affinity field.

Choice: the COCO skeleton (:data:`rmpe.keypoints.COCO_SKELETON`, the 19 pairs COCO's category
lists and the renderer draws) plus two limbs nose -> left shoulder and nose -> right shoulder,
21 limbs and 42 field channels. OpenPose's 2018 COCO model instead synthesises a neck (the
shoulders' midpoint) and hangs the head and arms from it; we keep to the 17 annotated joints so
that targets, decoding and results need no joint that does not exist in the data, and the two
nose-shoulder limbs play the neck's part: they keep the head attached to the body when an ear,
the only other head-to-body link of the COCO skeleton, is unlabelled or unseen. The graph has
cycles (face triangle, torso quadrilateral, nose-shoulder-ear): the association merges partial
people that meet through a redundant limb instead of requiring a tree.

Indices are 0-based COCO-17 keypoints; a limb ``(a, b)`` has its field pointing from ``a``
to ``b`` (channels ``2c`` = x, ``2c+1`` = y of limb ``c``).
"""
from __future__ import annotations

from typing import Tuple

from ..keypoints import COCO_SKELETON

#: The bottom-up model's limbs: COCO's skeleton, then nose->left shoulder and nose->right shoulder.
LIMBS: Tuple[Tuple[int, int], ...] = tuple(COCO_SKELETON) + ((0, 5), (0, 6))

#: Keypoints of the layout :data:`LIMBS` is written for (COCO-17).
NUM_KEYPOINTS = 17


def config_limbs(config) -> Tuple[Tuple[int, int], ...]:
    """The limbs of a config's keypoint set: :data:`LIMBS` for COCO-17, else ``data.skeleton``.

    Raises:
        RMPEError: a custom keypoint set without a skeleton (the fields need limbs).
    """
    from ..errors import RMPEError

    if config.data.keypoint_names is None and int(config.model.num_keypoints) == NUM_KEYPOINTS:
        return LIMBS
    skeleton = config.data.keypoint_set().skeleton
    if not skeleton:
        raise RMPEError("a bottom-up model on a custom keypoint set needs its limbs: set data.skeleton")
    return tuple(tuple(int(i) for i in p) for p in skeleton)
