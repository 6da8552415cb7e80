"""Output layouts for pose results: AlphaPose list, COCO results, OpenPose 18-joint frames.

All functions take :class:`rmpe.structures.FrameResult` objects (people in image pixels)
and return plain JSON-serialisable objects.

* ``alphapose``: a list with one entry per person: ``image_id`` (the frame's file name, or
  ``"<frame>.jpg"`` for video frames, as AlphaPose writes them), ``category_id`` 1,
  ``keypoints`` flat ``[x, y, score] * K``, ``score``, ``box`` ``[x, y, w, h]``, ``idx``
  (the person's index within the frame, as a one-element list; with tracking the person's
  track id instead, as AlphaPose's pose-tracking output writes it).
* ``coco``: COCO keypoint results: ``image_id`` (an int: the COCO id, or the frame index),
  ``category_id`` 1, flat ``keypoints`` ``[x, y, score] * K``, ``score``; with tracking also ``track_id``. For images named like COCO's ``000000000785.jpg``
  (or ``COCO_val2014_000000000192.jpg``) the id is that number.
* ``openpose``: one object per frame, ``{"frame": i, "version": 1.3, "people": [...]}`` with
  ``pose_keypoints_2d`` in OpenPose's 18-joint COCO order (a neck joint added at the
  shoulders' midpoint) and empty face/hand lists; ``person_id`` is ``[-1]`` as OpenPose
  writes it, or ``[track id]`` with tracking.

Tracking: a person whose :attr:`~rmpe.structures.Person.track_id` is set carries it (see
docs/tracking.md); a tracked person outside any confirmed track (``track_id`` None) gets
``idx`` ``[-1]``, ``track_id`` ``-1`` and ``person_id`` ``[-1]``. A frame neither marked ``tracked``
nor with any track id is written exactly as without tracking.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List

import numpy as np

from .structures import FrameResult

FORMATS = ("alphapose", "coco", "openpose")

#: OpenPose COCO-18 joint order, as indices into COCO-17 (-1 = neck, built from the shoulders).
OPENPOSE18_FROM_COCO17 = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)


def _flat(keypoints: np.ndarray) -> List[float]:
    return [round(float(v), 3) for v in np.asarray(keypoints, dtype=np.float64).reshape(-1)]


def _xywh(box: np.ndarray) -> List[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]


def frame_name(frame: FrameResult) -> str:
    """AlphaPose's image_id for a frame: its file name, else ``"<index>.jpg"``."""
    return frame.name if frame.name is not None else f"{frame.index}.jpg"


def coco_image_id(frame: FrameResult) -> int:
    """COCO results need an int image id: the frame's int id; for a file named like COCO's
    ``000000000785.jpg`` the number in its name; otherwise the frame index."""
    if isinstance(frame.image_id, (int, np.integer)):
        return int(frame.image_id)
    name = frame.image_id if isinstance(frame.image_id, str) else frame.name
    if name:
        stem = os.path.splitext(os.path.basename(name))[0]
        digits = stem.rsplit("_", 1)[-1]
        if digits.isdigit():
            return int(digits)
    return int(frame.index)


def _tracked(frame: FrameResult) -> bool:
    """Whether the frame comes from a tracked run (marked so, or some person has a track id)."""
    return frame.tracked or any(p.track_id is not None for p in frame.people)


def _track_id(person) -> int:
    return -1 if person.track_id is None else int(person.track_id)


def to_alphapose(frame: FrameResult) -> List[Dict[str, Any]]:
    name = frame_name(frame)
    tracked = _tracked(frame)
    return [
        {
            "image_id": name,
            "category_id": 1,
            "keypoints": _flat(p.keypoints),
            "score": round(float(p.score), 5),
            "box": _xywh(p.box),
            "idx": [_track_id(p) if tracked else i],
        }
        for i, p in enumerate(frame.people)
    ]


def to_coco(frame: FrameResult) -> List[Dict[str, Any]]:
    image_id = coco_image_id(frame)
    tracked = _tracked(frame)
    out = []
    for p in frame.people:
        rec = {"image_id": image_id, "category_id": 1, "keypoints": _flat(p.keypoints), "score": round(float(p.score), 5)}
        if tracked:
            rec["track_id"] = _track_id(p)
        out.append(rec)
    return out


def coco17_to_openpose18(keypoints: np.ndarray) -> np.ndarray:
    """(K=17,3) COCO keypoints -> (18,3) OpenPose order; the neck is the shoulders' midpoint
    with the smaller of their two scores (0 when either shoulder is missing)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    out = np.zeros((18, 3))
    for j, src in enumerate(OPENPOSE18_FROM_COCO17):
        if src >= 0:
            out[j] = kp[src]
    ls, rs = kp[5], kp[6]
    out[1, :2] = (ls[:2] + rs[:2]) / 2
    out[1, 2] = min(ls[2], rs[2])
    return out


def to_openpose(frame: FrameResult) -> Dict[str, Any]:
    people = []
    for p in frame.people:
        if p.keypoints.shape[0] != 17:
            raise ValueError("the OpenPose layout needs COCO-17 keypoints")
        people.append(
            {
                "person_id": [_track_id(p)],
                "pose_keypoints_2d": _flat(coco17_to_openpose18(p.keypoints)),
                "face_keypoints_2d": [],
                "hand_left_keypoints_2d": [],
                "hand_right_keypoints_2d": [],
                "pose_keypoints_3d": [],
                "face_keypoints_3d": [],
                "hand_left_keypoints_3d": [],
                "hand_right_keypoints_3d": [],
            }
        )
    return {"frame": int(frame.index), "version": 1.3, "people": people}


def frame_records(frame: FrameResult, fmt: str) -> List[Any]:
    """The JSON records one frame contributes to a results file in layout ``fmt``."""
    if fmt == "alphapose":
        return to_alphapose(frame)
    if fmt == "coco":
        return to_coco(frame)
    if fmt == "openpose":
        return [to_openpose(frame)]
    raise ValueError(f"unknown output format '{fmt}' (use one of {', '.join(FORMATS)})")


def records(frames: Iterable[FrameResult], fmt: str) -> List[Any]:
    out: List[Any] = []
    for f in frames:
        out.extend(frame_records(f, fmt))
    return out
