"""Drawing poses onto BGR images with OpenCV."""
from __future__ import annotations

from typing import Sequence, Tuple

import cv2
import numpy as np

from .keypoints import COCO_KEYPOINT_COLORS, COCO_LIMB_COLORS, COCO_SKELETON
from .structures import Person


def draw_people(
    image: np.ndarray,
    people: Sequence[Person],
    threshold: float = 0.3,
    show_boxes: bool = False,
    skeleton: Sequence[Tuple[int, int]] = COCO_SKELETON,
    limb_colors: Sequence[Tuple[int, int, int]] = COCO_LIMB_COLORS,
    keypoint_colors: Sequence[Tuple[int, int, int]] = COCO_KEYPOINT_COLORS,
) -> np.ndarray:
    """Draw skeletons (limbs whose two keypoints score above ``threshold``) in place.

    Args:
        image: (H, W, 3) uint8 BGR, modified in place and returned.
        people: people with keypoints (K,3) in image pixels.
        threshold: keypoint score below which a joint (and its limbs) is not drawn.
        show_boxes: also draw each person's detector box and score.
    """
    h, w = image.shape[:2]
    thick = max(1, int(round(min(h, w) / 240)))
    for person in people:
        kp = person.keypoints
        ok = np.isfinite(kp[:, :2]).all(1) & (kp[:, 2] >= threshold)
        pts = np.round(np.nan_to_num(kp[:, :2])).astype(np.int32)
        for li, (a, b) in enumerate(skeleton):
            if a < len(kp) and b < len(kp) and ok[a] and ok[b]:
                color = limb_colors[li % len(limb_colors)]
                cv2.line(image, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), color, thick + 1, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            color = keypoint_colors[j % len(keypoint_colors)]
            cv2.circle(image, tuple(int(v) for v in pts[j]), thick + 2, color, -1, cv2.LINE_AA)
        if show_boxes:
            x1, y1, x2, y2 = (int(round(float(v))) for v in person.box)
            cv2.rectangle(image, (x1, y1), (x2, y2), (0, 255, 0), thick)
            cv2.putText(image, f"{person.score:.2f}", (x1, max(0, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4 * thick, (0, 255, 0), thick, cv2.LINE_AA)
    return image
