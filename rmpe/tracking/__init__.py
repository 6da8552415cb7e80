"""Pose tracking: stable person ids across video frames (docs/tracking.md).

* :class:`PoseTracker`: ``update(boxes, scores, keypoints, keypoint_scores, features=None) -> ids``
  per frame, ByteTrack's two-stage matching on pose (OKS), box (IoU) and appearance costs, a
  constant-velocity Kalman filter on the box and the keypoints, a lost-track buffer.
* :mod:`rmpe.tracking.kalman`: the batched constant-velocity Kalman filter.
* :mod:`rmpe.tracking.association`: IoU, OKS and appearance costs, gating, Hungarian assignment.

numpy and scipy only; nothing here runs torch.
"""
from .tracker import PoseTracker

__all__ = ["PoseTracker"]
