"""Pose normalisation: move a pose to its torso centre and divide by its torso length.

Frame: image pixels (x right, y down). After normalisation a pose lives in "torso units":
the torso centre is the origin and the distance from the shoulder midpoint to the hip
midpoint is 1, so poses of different people, sizes and positions can be compared and
clustered (the atomic poses of RMPE's PGPG). No rotation is removed.

Reference points, chosen per pose by the first rule that applies:

1. ``torso``: at least one shoulder and at least one hip visible. The shoulder midpoint is
   the mean of the visible shoulders, the hip midpoint likewise; centre = midpoint of the
   two. scale = the distance of the two midpoints when both shoulders and both hips are
   visible; otherwise the mean length of the sides (left, right) whose shoulder and hip
   are both visible, so that a missing joint does not turn the torso into a diagonal; the
   midpoint distance again when no side is complete. One shoulder and one hip are enough.
2. ``shoulders``: no hip visible but both shoulders. scale = ``shoulder_ratio`` x the
   shoulder width, centre = shoulder midpoint + (0, scale / 2) (half a torso below the
   shoulders; assumes an upright person, which upper-body-only people mostly are).
3. ``hips``: no shoulder visible but both hips. scale = ``hip_ratio`` x the hip width,
   centre = hip midpoint - (0, scale / 2).
4. Otherwise, or when the scale is not positive, or fewer than ``min_keypoints`` joints
   are visible, the pose is invalid (``valid`` False): it has no atomic pose and the
   proposal generator uses its global offset model for it.

:class:`~pgpg.atomic_poses.AtomicPoses` estimates ``shoulder_ratio`` and ``hip_ratio``
from the fitting poses that have a full torso (median torso length / width), so rules 2
and 3 follow the data; the defaults below are rough adult proportions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from .errors import PGPGError

#: COCO-17 indices of (left, right) shoulder and (left, right) hip.
COCO_SHOULDERS: Tuple[int, int] = (5, 6)
COCO_HIPS: Tuple[int, int] = (11, 12)
#: Default torso length / shoulder width and torso length / hip width.
DEFAULT_SHOULDER_RATIO = 1.25
DEFAULT_HIP_RATIO = 2.0

@dataclass(frozen=True)
class PoseNormalization:
    """How poses are normalised to torso units (the rules of the module docstring).

    Indices are joint positions in the (K, 3) keypoint rows; they are checked against K when
    poses are normalised.
    """

    shoulders: Tuple[int, int] = COCO_SHOULDERS  #: (left, right) shoulder indices (COCO: 5, 6)
    hips: Tuple[int, int] = COCO_HIPS  #: (left, right) hip indices (COCO: 11, 12)
    visibility_threshold: float = 0.0  #: a joint is visible when v > this (COCO: v = 1 labelled, 2 visible)
    min_keypoints: int = 3  #: a pose with fewer visible joints is invalid
    shoulder_ratio: float = DEFAULT_SHOULDER_RATIO  #: torso length / shoulder width, for rule 2
    hip_ratio: float = DEFAULT_HIP_RATIO  #: torso length / hip width, for rule 3

    def __post_init__(self) -> None:
        try:
            values = dict(
                shoulders=tuple(int(i) for i in self.shoulders),
                hips=tuple(int(i) for i in self.hips),
                visibility_threshold=float(self.visibility_threshold),
                min_keypoints=int(self.min_keypoints),
                shoulder_ratio=float(self.shoulder_ratio),
                hip_ratio=float(self.hip_ratio),
            )
        except (TypeError, ValueError) as exc:
            raise PGPGError(f"bad pose normalisation setting: {exc}") from None
        for name, value in values.items():
            object.__setattr__(self, name, value)


#: Codes of the rule that normalised each pose (:attr:`NormalizedPoses.method`).
METHOD_INVALID, METHOD_TORSO, METHOD_SHOULDERS, METHOD_HIPS = 0, 1, 2, 3


@dataclass
class NormalizedPoses:
    """Poses in torso units.

    Attributes:
        coords: (N, K, 2) float64, ``(p - centre) / scale``; invisible joints are 0.
        visible: (N, K) bool, joint visible and the pose valid.
        centres: (N, 2) float64 torso centres in image pixels (NaN where invalid).
        scales: (N,) float64 torso lengths in pixels (NaN where invalid).
        valid: (N,) bool, the pose could be normalised.
        method: (N,) int8, ``METHOD_TORSO`` / ``METHOD_SHOULDERS`` / ``METHOD_HIPS`` /
            ``METHOD_INVALID``.
    """

    coords: np.ndarray
    visible: np.ndarray
    centres: np.ndarray
    scales: np.ndarray
    valid: np.ndarray
    method: np.ndarray


def check_keypoints(keypoints: np.ndarray, name: str = "keypoints") -> np.ndarray:
    """Return ``keypoints`` as a float64 (N, K, 3) array, or raise :class:`PGPGError`.

    Args:
        keypoints: (N, K, 3) or (K, 3) array of (x, y, visibility) in image pixels.
        name: the argument name used in error messages.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[-1] != 3:
        raise PGPGError(f"{name} must have shape (N, K, 3) as (x, y, visibility), got {kp.shape}")
    return kp


def _check_pair(pair: Sequence[int], name: str, num_keypoints: int) -> Tuple[int, int]:
    pair = tuple(int(i) for i in pair)
    if len(pair) != 2 or min(pair) < 0 or max(pair) >= num_keypoints:
        raise PGPGError(
            f"{name} indices {pair} do not fit poses with {num_keypoints} keypoints; "
            f"pass the (left, right) {name} indices of your keypoint layout"
        )
    return pair


def _pair_mean(points: np.ndarray, vis: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean of the visible points of a pair. points (N,2,2), vis (N,2) -> (N,2), count (N,)."""
    count = vis.sum(1)
    total = (points * vis[..., None]).sum(1)
    mean = total / np.maximum(count, 1)[:, None]
    return mean, count


def normalize_poses(keypoints: np.ndarray, normalization: Optional[PoseNormalization] = None) -> NormalizedPoses:
    """Normalise poses to torso units (rules in the module docstring).

    Args:
        keypoints: (N, K, 3) or (K, 3) (x, y, v) in image pixels; a joint counts as visible
            when ``v > normalization.visibility_threshold`` and its coordinates are finite.
        normalization: the settings (None: :class:`PoseNormalization` defaults, COCO).

    Returns:
        :class:`NormalizedPoses` with N rows.
    """
    spec = PoseNormalization() if normalization is None else normalization
    kp = check_keypoints(keypoints)
    n, k, _ = kp.shape
    sh = _check_pair(spec.shoulders, "shoulder", k)
    hp = _check_pair(spec.hips, "hip", k)
    xy = kp[..., :2]
    vis = (kp[..., 2] > spec.visibility_threshold) & np.isfinite(xy).all(-1)
    xy = np.where(vis[..., None], xy, 0.0)

    sh_pts, sh_vis = xy[:, list(sh)], vis[:, list(sh)]
    hp_pts, hp_vis = xy[:, list(hp)], vis[:, list(hp)]
    sh_mid, sh_n = _pair_mean(sh_pts, sh_vis)
    hp_mid, hp_n = _pair_mean(hp_pts, hp_vis)
    sh_width = np.linalg.norm(sh_pts[:, 0] - sh_pts[:, 1], axis=-1)
    hp_width = np.linalg.norm(hp_pts[:, 0] - hp_pts[:, 1], axis=-1)

    rule_torso = (sh_n > 0) & (hp_n > 0)
    rule_sh = ~rule_torso & (sh_n == 2)
    rule_hp = ~rule_torso & ~rule_sh & (hp_n == 2)

    # torso length: midpoint distance when all four joints are visible; otherwise the mean
    # same-side shoulder-hip distance (a left shoulder with a right hip would measure a diagonal)
    side_ok = sh_vis & hp_vis  # (N, 2): left pair, right pair
    side_len = np.linalg.norm(sh_pts - hp_pts, axis=-1)
    same_side = (side_ok * side_len).sum(1) / np.maximum(side_ok.sum(1), 1)
    mid_len = np.linalg.norm(sh_mid - hp_mid, axis=-1)
    torso_len = np.where((sh_n == 2) & (hp_n == 2) | ~side_ok.any(1), mid_len, same_side)
    scale = np.where(
        rule_torso,
        torso_len,
        np.where(rule_sh, spec.shoulder_ratio * sh_width, np.where(rule_hp, spec.hip_ratio * hp_width, 0.0)),
    )
    half_down = np.zeros((n, 2))
    half_down[:, 1] = 0.5 * scale
    centre = np.where(
        rule_torso[:, None],
        0.5 * (sh_mid + hp_mid),
        np.where(rule_sh[:, None], sh_mid + half_down, hp_mid - half_down),
    )
    method = np.where(rule_torso, METHOD_TORSO, np.where(rule_sh, METHOD_SHOULDERS, np.where(rule_hp, METHOD_HIPS, METHOD_INVALID)))
    valid = (method != METHOD_INVALID) & (scale > 1e-6) & (vis.sum(1) >= spec.min_keypoints)
    method = np.where(valid, method, METHOD_INVALID).astype(np.int8)
    visible = vis & valid[:, None]

    safe_scale = np.where(valid, scale, 1.0)
    centre = np.where(valid[:, None], centre, 0.0)
    coords = np.where(visible[..., None], (xy - centre[:, None, :]) / safe_scale[:, None, None], 0.0)
    return NormalizedPoses(
        coords=coords,
        visible=visible,
        centres=np.where(valid[:, None], centre, np.nan),
        scales=np.where(valid, scale, np.nan),
        valid=valid,
        method=method,
    )


def estimate_width_ratios(
    keypoints: np.ndarray, normalization: Optional[PoseNormalization] = None, *, min_poses: int = 10
) -> Tuple[float, float]:
    """Median torso length / shoulder width and torso length / hip width over full-torso poses.

    Args:
        keypoints: (N, K, 3) (x, y, v) in image pixels.
        normalization: joint indices and visibility threshold (its ratios are not used).
        min_poses: below this many usable poses the default ratio is returned.

    Returns:
        (shoulder_ratio, hip_ratio).
    """
    spec = PoseNormalization() if normalization is None else normalization
    kp = check_keypoints(keypoints)
    k = kp.shape[1]
    sh = _check_pair(spec.shoulders, "shoulder", k)
    hp = _check_pair(spec.hips, "hip", k)
    vis = (kp[..., 2] > spec.visibility_threshold) & np.isfinite(kp[..., :2]).all(-1)
    xy = np.where(vis[..., None], kp[..., :2], 0.0)
    sh_mid, sh_n = _pair_mean(xy[:, list(sh)], vis[:, list(sh)])
    hp_mid, hp_n = _pair_mean(xy[:, list(hp)], vis[:, list(hp)])
    torso = np.linalg.norm(sh_mid - hp_mid, axis=-1)
    has_torso = (sh_n > 0) & (hp_n > 0) & (torso > 1e-6)
    ratios = []
    for pair, default in ((sh, DEFAULT_SHOULDER_RATIO), (hp, DEFAULT_HIP_RATIO)):
        width = np.linalg.norm(xy[:, pair[0]] - xy[:, pair[1]], axis=-1)
        use = has_torso & vis[:, pair[0]] & vis[:, pair[1]] & (width > 1e-6)
        ratios.append(float(np.median(torso[use] / width[use])) if use.sum() >= min_poses else default)
    return ratios[0], ratios[1]
