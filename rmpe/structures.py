"""Result containers returned by the inference pipeline and the Python API."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np


@dataclass
class Person:
    """One person found in one image.

    Attributes:
        keypoints: (K,3) float32 ``[x, y, score]`` in image pixels.
        box: (4,) float32 xyxy detector box (of the proposal the pose was taken from), image pixels.
        score: person score (DESIGN.md: mean + box score + 1.25 x max keypoint score under pose
            NMS; see :class:`rmpe.config.EvalConfig` for the other rankings).
        box_score: the detector's confidence for ``box``.
        merged: input proposal indices merged into this person by pose NMS.
        track_id: the person's id across video frames when tracking is on (docs/tracking.md);
            None without tracking, or for a person not (yet) in a confirmed track.
        feature: (C,) float32 appearance feature from the SPPE backbone (the crop' of the
            proposal that pose NMS kept), present only while tracking with
            ``tracking.appearance``; never written to the output files.
    """

    keypoints: np.ndarray
    box: np.ndarray
    score: float
    box_score: float = 1.0
    merged: List[int] = field(default_factory=list)
    track_id: Optional[int] = None
    feature: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    @property
    def xy(self) -> np.ndarray:
        """(K,2) keypoint coordinates in image pixels."""
        return self.keypoints[:, :2]

    @property
    def keypoint_scores(self) -> np.ndarray:
        """(K,) keypoint scores."""
        return self.keypoints[:, 2]

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "keypoints": [round(float(v), 3) for v in self.keypoints.reshape(-1)],
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 5),
            "box_score": round(float(self.box_score), 5),
        }
        if self.track_id is not None:
            out["track_id"] = int(self.track_id)
        return out


@dataclass
class FrameResult:
    """All people of one frame or image, with its identity."""

    index: int
    people: List[Person]
    image_id: Optional[Any] = None
    name: Optional[str] = None
    #: the people come from a tracked run: the output formats carry their track ids
    tracked: bool = False
