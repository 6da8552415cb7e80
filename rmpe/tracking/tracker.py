"""``PoseTracker``: stable person ids across video frames (docs/tracking.md).

Per frame, after pose NMS, :meth:`PoseTracker.update` takes the frame's people and returns an
id per person. Steps:

1. Every track's Kalman filter (box as centre, aspect, height; each keypoint's x and y; all with
   velocities, :mod:`rmpe.tracking.kalman`) predicts the current frame.
2. Stage 1: detections scoring at least ``high_score`` are matched against all tracks (confirmed,
   lost and tentative) on the combined cost of :func:`~rmpe.tracking.association.combined_cost`
   (1 - OKS of the predicted pose, 1 - IoU of the predicted box, appearance distance when
   features are given), gated by ``match_cost``, solved by Hungarian assignment.
3. Stage 2: detections in ``[low_score, high_score)`` are matched against the confirmed tracks
   that were seen in the previous frame and are still unmatched, gated by ``low_match_cost``.
   Detections below ``low_score`` are ignored.
   Stage 3 (with features only): the high-score detections still unmatched, or matched to a track
   born less than ``reid_young_frames`` ago, against the lost tracks on appearance alone (each
   track's mean feature over its life vs the detection's, both centred by the video's running mean
   feature; cosine distance gated by ``reid_max_distance``; Hungarian). A re-identified track
   restarts its motion at the detection; a young track that lost its detection so is deleted.
4. Matched tracks are corrected with their detection. An unmatched tentative track is deleted;
   an unmatched confirmed track is lost: it keeps predicting for ``max_lost`` frames, during
   which stage 1 can re-identify it, and is deleted after, unless it has an appearance feature:
   then stage 3 alone can still re-identify it until ``reid_max_lost`` frames.
5. An unmatched detection scoring at least ``new_track_score`` that is not a duplicate of a
   detection already given a track this frame (similarity above ``duplicate_similarity``)
   starts a tentative track. A track is confirmed after ``min_hits`` consecutive matched frames
   (at once in the first frame after construction or :meth:`~PoseTracker.reset`).

Ids: a track receives its id when it is confirmed, from a counter that starts at 1 and only
grows, so ids are never reused, not even after the track is deleted. A detection that belongs to
no confirmed track (a tentative track's first frames, an unmatched low-score detection, a
duplicate) gets id ``-1``: the pose is still valid, it is just not (yet) a tracked person.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import RMPEError
from . import association, kalman

TENTATIVE, TRACKED, LOST = 0, 1, 2

_ASPECT_POSITION_STD = 1e-2  # process noise of the aspect ratio (w / h is nearly constant)
_ASPECT_VELOCITY_STD = 1e-5
_ASPECT_MEASUREMENT_STD = 1e-1
_MIN_ASPECT = 0.05  # predicted w / h never below this


class PoseTracker:
    """Multi-person pose tracker with ByteTrack's two-stage matching on pose, box and appearance.

    Every argument is a key of the config's ``tracking:`` section (docs/configuration.md), except
    ``sigmas``.

    Args:
        high_score: detections scoring at least this are matched first and may start tracks.
        low_score: detections below this are ignored; those in ``[low_score, high_score)`` only
            continue tracks seen in the previous frame.
        new_track_score: an unmatched detection starts a track only at this score or above.
        match_cost: the most a pair may cost in stage 1 (cost in [0, 1]).
        low_match_cost: the most a pair may cost in stage 2.
        oks_weight: weight of ``1 - OKS`` in the cost.
        iou_weight: weight of ``1 - IoU`` in the cost.
        appearance_weight: weight of the appearance distance (used when features are given).
        min_overlap: a pair whose box IoU and OKS are both below this is impossible.
        max_appearance_distance: a pair whose appearance distance is above this is impossible.
        keypoint_threshold: keypoints scoring below this are not measured and not compared.
        min_keypoints: OKS enters the cost only if the two poses share this many keypoints.
        duplicate_similarity: an unmatched detection whose OKS (IoU when the poses are not
            comparable) with a detection that got a track this frame exceeds this starts no track.
        min_hits: consecutive matched frames before a new track is confirmed and gets an id.
        max_lost: frames a confirmed track survives unmatched before it is deleted.
        appearance_momentum: a track's feature is ``m * old + (1 - m) * new`` after each match.
        reid_max_distance: stage 3 (re-identification) pairs a lost track and an unmatched detection
            only when the cosine distance of their features, both centred by the video's running mean
            feature, is at most this (0..2).
        reid_max_lost: a lost track that has a feature stays in the tracker this many frames (if more
            than ``max_lost``); after ``max_lost`` only stage 3 can match it.
        reid_mean_window: the running mean feature averages all high-score detections' (unit)
            features, the latest ones with weight ``1 / min(count, reid_mean_window)``.
        reid_young_frames: a track born fewer frames ago than this can still hand its detection to a
            lost track in stage 3 (and is deleted): a person walking back in is seen whole only a few
            frames after its first, partial, detection at the frame's edge.
        position_noise: Kalman position noise (process and measurement), as a fraction of the person's
            height per frame.
        velocity_noise: Kalman velocity noise, as a fraction of the person's height per frame at 30 fps.
        frame_rate: frames per second of the video; 0 means 30. A frame lasts ``dt = 30 / frame_rate``
            frames of 30 fps, and the velocity noise and the initial velocity uncertainty (per frame:
            a person moves and turns ``dt`` times as far between two frames) grow with ``dt``; the
            position and measurement noise do not depend on the rate.
        sigmas: K OKS sigmas; ``None`` means COCO's (``rmpe.keypoints.COCO_SIGMAS``, K = 17).
    """

    def __init__(self, *, high_score: float = 0.5, low_score: float = 0.1, new_track_score: float = 0.6,
                 match_cost: float = 0.9, low_match_cost: float = 0.5, oks_weight: float = 1.0,
                 iou_weight: float = 0.5, appearance_weight: float = 1.0, min_overlap: float = 0.05,
                 max_appearance_distance: float = 0.5, keypoint_threshold: float = 0.2, min_keypoints: int = 3,
                 duplicate_similarity: float = 0.8, min_hits: int = 2, max_lost: int = 30,
                 appearance_momentum: float = 0.9, reid_max_distance: float = 0.5, reid_max_lost: int = 300,
                 reid_mean_window: int = 1000, reid_young_frames: int = 15, position_noise: float = 0.05,
                 velocity_noise: float = 0.00625, frame_rate: float = 0.0,
                 sigmas: Optional[Sequence[float]] = None) -> None:
        if not 0 <= low_score <= high_score <= 1:
            raise RMPEError(f"tracking: need 0 <= low_score ({low_score}) <= high_score ({high_score}) <= 1")
        if min_hits < 1 or max_lost < 0 or min_keypoints < 1 or reid_max_lost < 0 or reid_mean_window < 1:
            raise RMPEError("tracking: min_hits, min_keypoints and reid_mean_window must be >= 1, "
                            "max_lost and reid_max_lost >= 0")
        if min(oks_weight, iou_weight, appearance_weight) < 0 or oks_weight + iou_weight <= 0:
            raise RMPEError("tracking: the cost weights must be >= 0 and oks_weight + iou_weight > 0")
        if position_noise <= 0 or velocity_noise <= 0:
            raise RMPEError("tracking: position_noise and velocity_noise must be > 0")
        if not frame_rate >= 0:
            raise RMPEError(f"tracking: frame_rate must be >= 0 (0: 30 fps), got {frame_rate}")
        self.high_score, self.low_score, self.new_track_score = high_score, low_score, new_track_score
        self.match_cost, self.low_match_cost = match_cost, low_match_cost
        self.oks_weight, self.iou_weight, self.appearance_weight = oks_weight, iou_weight, appearance_weight
        self.min_overlap, self.max_appearance_distance = min_overlap, max_appearance_distance
        self.keypoint_threshold, self.min_keypoints = keypoint_threshold, int(min_keypoints)
        self.duplicate_similarity = duplicate_similarity
        self.min_hits, self.max_lost = int(min_hits), int(max_lost)
        self.appearance_momentum = appearance_momentum
        self.reid_max_distance, self.reid_max_lost = float(reid_max_distance), int(reid_max_lost)
        self.reid_mean_window, self.reid_young_frames = int(reid_mean_window), int(reid_young_frames)
        self.position_noise, self.velocity_noise = position_noise, velocity_noise
        self.frame_rate = float(frame_rate)
        self._dt = 30.0 / self.frame_rate if self.frame_rate > 0 else 1.0  # frame length in 30-fps frames
        if sigmas is None:
            from ..keypoints import COCO_SIGMAS

            sigmas = COCO_SIGMAS
        self.sigmas = np.asarray(sigmas, dtype=np.float64)
        self.reset()

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> "PoseTracker":
        """Build from a :class:`rmpe.config.Config` (its ``tracking:`` section and its keypoint set's
        OKS sigmas) or from a ``TrackingConfig`` alone; ``overrides`` replace single settings."""
        section = getattr(config, "tracking", config)
        kwargs = dataclasses.asdict(section)
        for key in getattr(section, "PIPELINE_KEYS", ()):  # appearance switch and smoothing: not tracker settings
            kwargs.pop(key, None)
        data = getattr(config, "data", None)
        if data is not None and "sigmas" not in overrides:
            sigmas = tuple(data.keypoint_set().sigmas)
            if not sigmas:
                raise RMPEError("tracking needs OKS sigmas for the keypoint set: set data.sigmas")
            kwargs["sigmas"] = sigmas
        kwargs.update(overrides)
        return cls(**kwargs)

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        """Forget every track and restart the ids at 1 (call it between videos)."""
        k = len(self.sigmas)
        d = kalman.BOX_DIMS + 2 * k
        self._frame = 0
        self._next_id = 1
        self._ids = np.zeros(0, np.int64)  # public id, -1 while tentative
        self._state = np.zeros(0, np.int8)
        self._hits = np.zeros(0, np.int64)  # consecutive matched frames
        self._born = np.zeros(0, np.int64)  # frame of birth (for stage 3's young tracks)
        self._missed = np.zeros(0, np.int64)  # frames since the last match
        self._mean = np.zeros((0, d, 2))
        self._cov = np.zeros((0, d, 2, 2))
        self._seen = np.zeros((0, k), bool)  # keypoints measured at the last match
        self._features: Optional[np.ndarray] = None  # (T, F), NaN rows for tracks without one
        self._gallery: Optional[np.ndarray] = None  # (T, F) mean of all a track's unit features (stage 3)
        self._gallery_n = np.zeros(0, np.int64)  # (T,) features averaged into the gallery
        self._feature_mean: Optional[np.ndarray] = None  # (F,) running mean of the detections' unit features
        self._feature_count = 0

    @property
    def num_tracks(self) -> int:
        """Live tracks (tentative, tracked and lost)."""
        return len(self._ids)

    def tracks(self) -> dict:
        """A snapshot of the live tracks: ``ids`` ``(T,)`` (-1 tentative), ``state`` ``(T,)`` (0 tentative,
        1 tracked, 2 lost), ``boxes`` ``(T, 4)`` xyxy and ``keypoints`` ``(T, K, 2)`` image px (current
        estimates), ``missed`` ``(T,)`` frames since the last match."""
        return {"ids": self._ids.copy(), "state": self._state.copy(), "boxes": self._boxes(),
                "keypoints": self._keypoints(), "missed": self._missed.copy()}

    def _boxes(self) -> np.ndarray:
        return kalman.cxcyah_to_xyxy(self._mean[:, :kalman.BOX_DIMS, 0])

    def _keypoints(self) -> np.ndarray:
        return self._mean[:, kalman.BOX_DIMS:, 0].reshape(len(self._ids), -1, 2)

    def _noise(self, heights: np.ndarray):
        """Per track and coordinate ``(T, D)``: process position std, process velocity std, measurement std."""
        h = np.maximum(np.asarray(heights, dtype=np.float64), 1.0)[:, None]
        d = self._mean.shape[1]
        pos = np.repeat(self.position_noise * h, d, axis=1)
        vel = np.repeat(self.velocity_noise * self._dt * h, d, axis=1)
        meas = pos.copy()
        pos[:, 2], vel[:, 2], meas[:, 2] = _ASPECT_POSITION_STD, _ASPECT_VELOCITY_STD, _ASPECT_MEASUREMENT_STD
        return pos, vel, meas

    # ------------------------------------------------------------------ the frame step

    def update(self, boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, keypoint_scores: np.ndarray,
               features: Optional[np.ndarray] = None) -> np.ndarray:
        """Track one frame's people.

        Args:
            boxes: ``(N, 4)`` person boxes, xyxy image px.
            scores: ``(N,)`` detection (box) scores in [0, 1].
            keypoints: ``(N, K, 2)`` keypoints, image px.
            keypoint_scores: ``(N, K)`` keypoint scores in [0, 1].
            features: optional ``(N, F)`` appearance features (e.g. pooled SPPE backbone features);
                compared by cosine distance.

        Returns:
            ``(N,)`` int64 ids, in the order of the inputs; ``-1`` for a detection that belongs to no
            confirmed track.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        k = len(self.sigmas)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        keypoints = np.asarray(keypoints, dtype=np.float64).reshape(n, -1, 2) if n else np.zeros((0, k, 2))
        keypoint_scores = np.asarray(keypoint_scores, dtype=np.float64).reshape(n, -1) if n else np.zeros((0, k))
        if len(scores) != n or keypoints.shape[1] != k or keypoint_scores.shape != (n, k):
            raise ValueError(f"update: expected boxes (N,4), scores (N,), keypoints (N,{k},2), keypoint_scores "
                             f"(N,{k}); got {boxes.shape}, {scores.shape}, {keypoints.shape}, {keypoint_scores.shape}")
        if features is not None:
            features = np.asarray(features, dtype=np.float64).reshape(n, -1)
        self._frame += 1
        ids = np.full(n, -1, np.int64)

        # 1. predict
        if self.num_tracks:
            pos, vel, _ = self._noise(self._mean[:, 3, 0])
            self._mean, self._cov = kalman.predict(self._mean, self._cov, pos, vel)
            # a long-lost track must not shrink through zero: keep its box proper
            self._mean[:, 2, 0] = np.maximum(self._mean[:, 2, 0], _MIN_ASPECT)
            self._mean[:, 3, 0] = np.maximum(self._mean[:, 3, 0], 1.0)
        visible = keypoint_scores >= self.keypoint_threshold
        cost = self._cost(boxes, keypoints, visible, features)
        cost[self._missed >= self.max_lost + 1] = np.inf  # dormant: beyond max_lost, stage 3 only

        # 2. stage 1: high-score detections against every track
        high = np.flatnonzero(scores >= self.high_score)
        low = np.flatnonzero((scores >= self.low_score) & (scores < self.high_score))
        track_of = np.full(n, -1, np.int64)  # detection -> track row
        matches, free_rows, _ = association.assign(cost[:, high], self.match_cost)
        track_of[high[matches[:, 1]]] = matches[:, 0]

        # 3. stage 2: low-score detections against still-unmatched tracks seen last frame
        rows = free_rows[(self._state[free_rows] == TRACKED) & (self._missed[free_rows] == 0)]
        matches2, _, _ = association.assign(cost[np.ix_(rows, low)], self.low_match_cost)
        track_of[low[matches2[:, 1]]] = rows[matches2[:, 0]]

        # 3b. stage 3: re-identification of lost tracks by appearance alone
        young_rows = track_of.copy()
        reid_dets, reid_rows = self._reidentify(high, track_of, features)
        merged = np.zeros(self.num_tracks, bool)  # young tracks whose person stage 3 gave back to a lost track
        merged[young_rows[reid_dets][young_rows[reid_dets] >= 0]] = True

        # 4. correct matched tracks; age, lose and delete the others
        dets = np.flatnonzero(track_of >= 0)
        rows = track_of[dets]
        matched = np.zeros(self.num_tracks, bool)
        matched[rows] = True
        if len(rows):
            self._correct(rows, dets, boxes, keypoints, visible, features)
        if len(reid_rows):  # far from where the track was lost: restart its motion at the detection
            self._restart(reid_rows, reid_dets, boxes, keypoints, visible)
        self._missed[~matched] += 1
        self._hits[~matched] = 0
        confirm = matched & (self._state == TENTATIVE) & (self._hits >= self.min_hits)
        self._give_ids(confirm)
        self._state[matched & (self._state != TENTATIVE)] = TRACKED
        self._state[~matched & (self._state == TRACKED)] = LOST
        ids[dets] = self._ids[rows]
        keep_lost = self.max_lost
        if self.reid_max_lost > self.max_lost and self._features is not None:
            keep_lost = np.where(np.isnan(self._features[:, 0]), self.max_lost, self.reid_max_lost)
        dead = (~matched & (self._state == TENTATIVE)) | (self._missed > keep_lost) | merged
        self._keep(~dead)

        # 5. births from unmatched high-score detections that are not duplicates
        candidates = [i for i in high[np.argsort(-scores[high], kind="stable")]
                      if track_of[i] < 0 and scores[i] >= self.new_track_score]
        if candidates:
            taken = list(dets)
            similar = self._detection_similarity(boxes, keypoints, visible)
            born = []
            for i in candidates:
                if taken and similar[i, taken].max() > self.duplicate_similarity:
                    continue
                taken.append(i)
                born.append(i)
            born = np.asarray(born, np.int64)
            confirmed = self._frame == 1 or self.min_hits <= 1
            self._birth(born, boxes, keypoints, visible, features, confirmed)
            if confirmed:
                ids[born] = self._ids[-len(born):]
        return ids

    # ------------------------------------------------------------------ pieces

    def _reidentify(self, high, track_of, features):
        """Stage 3: the high-score detections that stages 1-2 left unmatched, or matched to a track born
        less than ``reid_young_frames`` frames ago, against the lost confirmed tracks that have a feature,
        on the centred cosine distance alone (no geometric gate: a person may come back anywhere), gated
        by ``reid_max_distance``, Hungarian. Updates ``track_of`` in place (a re-identified detection
        leaves its young track, which the caller deletes: its id, if it had one, is retired). First folds
        this frame's high-score features into the running mean.

        Returns:
            the re-identified detections ``(M,)`` and their tracks' rows ``(M,)``.
        """
        none = np.zeros(0, np.int64)
        if features is None or len(high) == 0:
            return none, none
        unit = features[high] / np.maximum(np.linalg.norm(features[high], axis=1, keepdims=True), 1e-12)
        if self._feature_mean is None or self._feature_mean.shape[0] != unit.shape[1]:
            self._feature_mean, self._feature_count = np.zeros(unit.shape[1]), 0
        # running mean: the exact mean of all features so far, then (past the window) each new one weighs 1 / window
        self._feature_count += len(unit)
        self._feature_mean += (unit.sum(axis=0) - len(unit) * self._feature_mean) / min(
            self._feature_count, max(self.reid_mean_window, len(unit)))
        if self._features is None or self._features.shape[1] != unit.shape[1] or not self.num_tracks:
            return none, none
        taken = np.zeros(self.num_tracks, bool)
        taken[track_of[track_of >= 0]] = True
        rows = np.flatnonzero((self._state == LOST) & ~taken & ~np.isnan(self._features[:, 0]))
        free = track_of[high] < 0
        young = self._frame - self._born < self.reid_young_frames  # tentative, or confirmed a moment ago
        free |= ~free & young[np.maximum(track_of[high], 0)] & (self._state[np.maximum(track_of[high], 0)] != LOST)
        cols = high[free]
        if len(rows) == 0 or len(cols) == 0:
            return none, none
        mean = self._feature_mean
        dist = association.appearance_distance(self._gallery[rows] - mean, unit[free] - mean)
        # appearance_distance clips at 1, so gates of 1 or more admit every pair (no pair beyond 1 is ranked)
        matches, _, _ = association.assign(dist, self.reid_max_distance)
        dets, track_rows = cols[matches[:, 1]], rows[matches[:, 0]]
        track_of[dets] = track_rows
        return dets, track_rows

    def _restart(self, rows, dets, boxes, keypoints, visible) -> None:
        """Re-initialise the motion state of re-identified tracks at their detections (as at birth)."""
        mean, cov = self._initial_state(boxes[dets], keypoints[dets])
        self._mean[rows], self._cov[rows] = mean, cov
        self._seen[rows] = visible[dets]

    def _initial_state(self, boxes, keypoints):
        """Kalman mean and covariance of new tracks at these detections (velocity 0, wide uncertainty)."""
        z = self._measurement(boxes, keypoints)
        h = np.maximum(z[:, 3], 1.0)[:, None]
        pos_std = np.repeat(2 * self.position_noise * h, z.shape[1], axis=1)
        vel_std = np.repeat(10 * self.velocity_noise * self._dt * h, z.shape[1], axis=1)
        pos_std[:, 2], vel_std[:, 2] = _ASPECT_POSITION_STD, _ASPECT_VELOCITY_STD
        return kalman.initiate(z, pos_std, vel_std)

    def _cost(self, boxes, keypoints, visible, features) -> np.ndarray:
        """``(T, N)`` pair costs (``inf`` = impossible) between the predicted tracks and the detections."""
        t, n = self.num_tracks, len(boxes)
        if t == 0 or n == 0:
            return np.zeros((t, n))
        track_boxes = self._boxes()
        iou = association.box_iou(track_boxes, boxes)
        areas = np.prod(track_boxes[:, 2:] - track_boxes[:, :2], axis=1)
        oks, comparable = association.pose_oks(self._keypoints(), self._seen, keypoints, visible, areas,
                                               self.sigmas, self.min_keypoints)
        appearance = None
        if features is not None and self._features is not None and self._features.shape[1] == features.shape[1]:
            missing = np.isnan(self._features[:, 0])
            appearance = association.appearance_distance(np.where(missing[:, None], 0.0, self._features), features)
            appearance[missing] = np.nan
        return association.combined_cost(
            iou, oks, comparable, oks_weight=self.oks_weight, iou_weight=self.iou_weight, appearance=appearance,
            appearance_weight=self.appearance_weight, min_overlap=self.min_overlap,
            max_appearance_distance=self.max_appearance_distance)

    def _detection_similarity(self, boxes, keypoints, visible) -> np.ndarray:
        """``(N, N)`` similarity between detections: OKS where the poses are comparable, else box IoU."""
        areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
        oks, comparable = association.pose_oks(keypoints, visible, keypoints, visible, areas, self.sigmas,
                                               self.min_keypoints)
        oks = np.maximum(oks, oks.T)  # symmetric: either side's area
        comparable = comparable & comparable.T
        return np.where(comparable, oks, association.box_iou(boxes, boxes))

    def _measurement(self, boxes, keypoints) -> np.ndarray:
        """``(M, D)`` measured state positions: box (cx, cy, aspect, h), then x0, y0, x1, y1, ..."""
        return np.concatenate([kalman.xyxy_to_cxcyah(boxes), keypoints.reshape(len(boxes), -1)], axis=1)

    def _correct(self, rows, dets, boxes, keypoints, visible, features) -> None:
        z = self._measurement(boxes[dets], keypoints[dets])
        mask = np.concatenate([np.ones((len(dets), kalman.BOX_DIMS), bool), np.repeat(visible[dets], 2, axis=1)], 1)
        _, _, meas = self._noise(self._mean[rows, 3, 0])
        self._mean[rows], self._cov[rows] = kalman.update(self._mean[rows], self._cov[rows], z, meas, mask)
        self._seen[rows] = visible[dets]
        self._hits[rows] += 1
        self._missed[rows] = 0
        if features is not None:
            self._ensure_features(features.shape[1])
            old = self._features[rows]
            new = features[dets] / np.maximum(np.linalg.norm(features[dets], axis=1, keepdims=True), 1e-12)
            m = self.appearance_momentum
            self._features[rows] = np.where(np.isnan(old[:, :1]), new, m * old + (1 - m) * new)  # NaN rows: first
            count = self._gallery_n[rows]
            gallery = np.where(count[:, None] > 0, self._gallery[rows], 0.0)  # the mean of all its features
            self._gallery[rows] = gallery + (new - gallery) / (count + 1)[:, None]
            self._gallery_n[rows] = count + 1

    def _ensure_features(self, size: int) -> None:
        if self._features is None or self._features.shape[1] != size:
            self._features = np.full((self.num_tracks, size), np.nan)
            self._gallery = np.full((self.num_tracks, size), np.nan)
            self._gallery_n = np.zeros(self.num_tracks, np.int64)

    def _give_ids(self, rows_mask: np.ndarray) -> None:
        rows = np.flatnonzero(rows_mask)
        self._ids[rows] = np.arange(self._next_id, self._next_id + len(rows))
        self._state[rows] = TRACKED
        self._next_id += len(rows)

    def _keep(self, keep: np.ndarray) -> None:
        self._ids, self._state, self._hits = self._ids[keep], self._state[keep], self._hits[keep]
        self._born = self._born[keep]
        self._missed, self._mean, self._cov = self._missed[keep], self._mean[keep], self._cov[keep]
        self._seen = self._seen[keep]
        if self._features is not None:
            self._features, self._gallery = self._features[keep], self._gallery[keep]
        self._gallery_n = self._gallery_n[keep]

    def _birth(self, born, boxes, keypoints, visible, features, confirmed: bool) -> None:
        m = len(born)
        if m == 0:
            return
        mean, cov = self._initial_state(boxes[born], keypoints[born])
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])
        self._ids = np.concatenate([self._ids, np.full(m, -1, np.int64)])
        self._state = np.concatenate([self._state, np.full(m, TENTATIVE, np.int8)])
        self._hits = np.concatenate([self._hits, np.ones(m, np.int64)])
        self._born = np.concatenate([self._born, np.full(m, self._frame, np.int64)])
        self._missed = np.concatenate([self._missed, np.zeros(m, np.int64)])
        self._seen = np.concatenate([self._seen, visible[born]])
        if self._features is not None or features is not None:
            old = self._features if self._features is not None else np.full((self.num_tracks - m, features.shape[1]), np.nan)
            new = np.full((m, old.shape[1]), np.nan)
            if features is not None and features.shape[1] == old.shape[1]:
                f = features[born]
                new = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
            self._features = np.concatenate([old, new])
            self._gallery = np.concatenate([self._gallery if self._gallery is not None else old, new])
        self._gallery_n = np.concatenate([self._gallery_n, np.full(m, int(features is not None), np.int64)])
        if confirmed:
            self._give_ids(np.arange(self.num_tracks) >= self.num_tracks - m)
