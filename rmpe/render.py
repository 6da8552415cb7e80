"""Drawing poses onto BGR images with OpenCV."""
from __future__ import annotations

from collections import OrderedDict, deque
from typing import Deque, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from .keypoints import COCO_KEYPOINT_COLORS, COCO_LIMB_COLORS, COCO_SKELETON
from .structures import Person


#: BGR colours of tracked people, indexed by ``track_id % len(TRACK_PALETTE)``: well apart in hue,
#: so the same id has the same colour in every frame and neighbouring ids differ.
TRACK_PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (255, 64, 0), (0, 200, 255), (60, 220, 60), (220, 0, 220), (0, 80, 255), (255, 200, 0),
    (160, 60, 255), (0, 255, 160), (255, 0, 120), (120, 255, 0), (0, 140, 200), (200, 120, 255),
)
#: colour of a tracked run's people outside any confirmed track
UNTRACKED_COLOR: Tuple[int, int, int] = (160, 160, 160)


def track_color(track_id: Optional[int]) -> Tuple[int, int, int]:
    """The stable BGR colour of a track id (:data:`UNTRACKED_COLOR` for None)."""
    if track_id is None or track_id < 0:
        return UNTRACKED_COLOR
    return TRACK_PALETTE[int(track_id) % len(TRACK_PALETTE)]


def person_centre(person: Person, threshold: float = 0.3) -> Tuple[float, float]:
    """A person's trail point: the hips' midpoint when both score above ``threshold`` (COCO-17
    joints 11 and 12), else the box centre."""
    kp = person.keypoints
    if len(kp) >= 13 and kp[11, 2] >= threshold and kp[12, 2] >= threshold and np.isfinite(kp[[11, 12], :2]).all():
        return float((kp[11, 0] + kp[12, 0]) / 2), float((kp[11, 1] + kp[12, 1]) / 2)
    x1, y1, x2, y2 = (float(v) for v in person.box)
    return (x1 + x2) / 2, (y1 + y2) / 2


class Trails:
    """The last ``length`` centres (:func:`person_centre`) of every track id, drawn as polylines.

    Call :meth:`draw` once per frame, in frame order; an id unseen for ``length`` frames is
    forgotten.
    """

    def __init__(self, length: int, threshold: float = 0.3) -> None:
        self.length = int(length)
        self.threshold = threshold
        self._points: "OrderedDict[int, Deque[Tuple[float, float]]]" = OrderedDict()
        self._last_seen: Dict[int, int] = {}
        self._frame = 0

    def draw(self, image: np.ndarray, people: Sequence[Person]) -> np.ndarray:
        """Add this frame's centres and draw every live trail onto ``image`` (in place)."""
        self._frame += 1
        if self.length <= 0:
            return image
        for person in people:
            if person.track_id is None:
                continue
            tid = int(person.track_id)
            self._points.setdefault(tid, deque(maxlen=self.length)).append(person_centre(person, self.threshold))
            self._last_seen[tid] = self._frame
        for tid in [t for t, seen in self._last_seen.items() if self._frame - seen >= self.length]:
            del self._points[tid], self._last_seen[tid]
        h, w = image.shape[:2]
        thick = max(1, int(round(min(h, w) / 240)))
        for tid, points in self._points.items():
            if len(points) >= 2:
                pts = np.round(np.asarray(points)).astype(np.int32).reshape(-1, 1, 2)
                cv2.polylines(image, [pts], False, track_color(tid), thick + 1, cv2.LINE_AA)
        return image


def draw_people(
    image: np.ndarray,
    people: Sequence[Person],
    threshold: float = 0.3,
    show_boxes: bool = False,
    skeleton: Sequence[Tuple[int, int]] = COCO_SKELETON,
    limb_colors: Sequence[Tuple[int, int, int]] = COCO_LIMB_COLORS,
    keypoint_colors: Sequence[Tuple[int, int, int]] = COCO_KEYPOINT_COLORS,
    color_by_id: bool = False,
) -> np.ndarray:
    """Draw skeletons (limbs whose two keypoints score above ``threshold``) in place.

    Args:
        image: (H, W, 3) uint8 BGR, modified in place and returned.
        people: people with keypoints (K,3) in image pixels.
        threshold: keypoint score below which a joint (and its limbs) is not drawn.
        show_boxes: also draw each person's detector box and score.
        color_by_id: draw each person (limbs, joints, box) in the colour of its ``track_id``
            (:func:`track_color`; grey for a person without one) and label the box with the id.
    """
    h, w = image.shape[:2]
    thick = max(1, int(round(min(h, w) / 240)))
    for person in people:
        own = track_color(person.track_id) if color_by_id else None
        kp = person.keypoints
        ok = np.isfinite(kp[:, :2]).all(1) & (kp[:, 2] >= threshold)
        pts = np.round(np.nan_to_num(kp[:, :2])).astype(np.int32)
        for li, (a, b) in enumerate(skeleton):
            if a < len(kp) and b < len(kp) and ok[a] and ok[b]:
                color = own or limb_colors[li % len(limb_colors)]
                cv2.line(image, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), color, thick + 1, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            color = own or keypoint_colors[j % len(keypoint_colors)]
            cv2.circle(image, tuple(int(v) for v in pts[j]), thick + 2, color, -1, cv2.LINE_AA)
        if show_boxes:
            x1, y1, x2, y2 = (int(round(float(v))) for v in person.box)
            box_color = own or (0, 255, 0)
            label = f"{person.score:.2f}"
            if color_by_id and person.track_id is not None:
                label = f"#{person.track_id} {label}"
            cv2.rectangle(image, (x1, y1), (x2, y2), box_color, thick)
            cv2.putText(image, label, (x1, max(0, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4 * thick, box_color, thick, cv2.LINE_AA)
    return image
