"""Postures of the synthetic world: joint angles for each pose family and the walk cycle.

Angles are radians in the body frame of :mod:`rmpe.data.synthetic.body` (u the person's
left, v down, w forward). Per person: trunk ``bend`` (forward flexion at the hips) and
``lean`` (sideways); head ``head_yaw`` (turn to the person's left) and ``head_pitch`` (look
up); per side (index 0 = left, 1 = right) shoulder ``sh_abd`` (abduction: 0 hanging, 180
straight up beside the head), ``sh_flex`` (forward swing) and ``elbow`` bend, hip ``hip_abd``,
``hip_flex`` (thigh forward) and ``knee`` bend (shin backward); the view ``yaw`` about the
vertical axis (0 facing the camera, pi seen from behind) and in-plane ``roll`` (lying).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Dict, Sequence, Tuple

import numpy as np

from .config import POSE_FAMILIES

_DEG = np.pi / 180.0


@dataclass
class PoseParams:
    """Joint angles of N people (radians). Scalars are (N,), per-side arrays (N, 2) [left, right]."""

    family: np.ndarray  # (N,) str, one of POSE_FAMILIES
    yaw: np.ndarray
    roll: np.ndarray
    bend: np.ndarray
    lean: np.ndarray
    head_yaw: np.ndarray
    head_pitch: np.ndarray
    sh_abd: np.ndarray
    sh_flex: np.ndarray
    elbow: np.ndarray
    hip_abd: np.ndarray
    hip_flex: np.ndarray
    knee: np.ndarray

    def __len__(self) -> int:
        return len(self.yaw)

    def subset(self, index: np.ndarray) -> "PoseParams":
        """The people at ``index`` (an index array or boolean mask)."""
        return PoseParams(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def _u(rng: np.random.Generator, lo: float, hi: float, shape) -> np.ndarray:
    return rng.uniform(lo, hi, size=shape) * _DEG


def _n(rng: np.random.Generator, mean: float, std: float, shape) -> np.ndarray:
    return rng.normal(mean, std, size=shape) * _DEG


#: Angles with one value per side ((N, 2) [left, right]); the others are (N,).
_PER_SIDE = frozenset({"sh_abd", "sh_flex", "elbow", "hip_abd", "hip_flex", "knee"})


def _set_uniform(p: Dict[str, np.ndarray], rng: np.random.Generator, n: int, **ranges: Tuple[float, float]) -> None:
    """Set each ``p[key]`` to uniform degrees in ``[lo, hi)`` (as radians), drawn in the order given."""
    for key, (lo, hi) in ranges.items():
        p[key] = _u(rng, lo, hi, (n, 2) if key in _PER_SIDE else n)


def _side_yaw(rng: np.random.Generator, n: int, side_prob: float, spread: float) -> np.ndarray:
    """Yaw near +-90 degrees (profile) with probability ``side_prob``, else uniform."""
    profile = rng.choice([-90.0, 90.0], size=n) + rng.normal(0.0, spread, size=n)
    anywhere = rng.uniform(-180.0, 180.0, size=n)
    return np.where(rng.random(n) < side_prob, profile, anywhere) * _DEG


def _standing(rng: np.random.Generator, n: int) -> Dict[str, np.ndarray]:
    p = {
        "yaw": _u(rng, -180, 180, n),
        "roll": _n(rng, 0, 3, n),
        "bend": _u(rng, -3, 8, n),
        "lean": _n(rng, 0, 3, n),
        "head_yaw": np.clip(_n(rng, 0, 20, n), -1.0, 1.0),
        "head_pitch": _n(rng, 0, 10, n),
        "sh_abd": _u(rng, 4, 25, (n, 2)),
        "sh_flex": _u(rng, -15, 20, (n, 2)),
        "elbow": _u(rng, 0, 35, (n, 2)),
        "hip_abd": _u(rng, 1, 10, (n, 2)),
        "hip_flex": _n(rng, 0, 4, (n, 2)),
        "knee": _u(rng, 0, 8, (n, 2)),
    }
    # Some people hold something in front of them.
    hold = rng.random((n, 2)) < 0.15
    p["sh_flex"] = np.where(hold, _u(rng, 20, 50, (n, 2)), p["sh_flex"])
    p["elbow"] = np.where(hold, _u(rng, 60, 110, (n, 2)), p["elbow"])
    return p


def walking_angles(phase: np.ndarray, leg_amp: np.ndarray, arm_amp: np.ndarray) -> Dict[str, np.ndarray]:
    """Leg and arm angles of a walk cycle at ``phase`` (radians, (N,)); amplitudes in radians.

    The left thigh swings forward as ``leg_amp * sin(phase)``, the right opposite; each knee
    bends most in mid-swing; the arms swing opposite to the leg of their side.
    """
    s, c = np.sin(phase), np.cos(phase)
    hip_flex = np.stack([leg_amp * s, -leg_amp * s], axis=1)
    knee = np.stack([6 + 42 * np.maximum(0, c), 6 + 42 * np.maximum(0, -c)], axis=1) * _DEG
    sh_flex = np.stack([-arm_amp * s, arm_amp * s], axis=1)
    elbow = 15 * _DEG + np.maximum(sh_flex, 0) * 0.8
    return {"hip_flex": hip_flex, "knee": knee, "sh_flex": sh_flex, "elbow": elbow}


def _walking(rng: np.random.Generator, n: int) -> Dict[str, np.ndarray]:
    p = _standing(rng, n)
    p.update(walking_angles(_u(rng, 0, 360, n), _u(rng, 18, 32, n), _u(rng, 12, 30, n)))
    _set_uniform(p, rng, n, sh_abd=(3, 12), hip_abd=(1, 6), bend=(2, 8))
    p["yaw"] = _side_yaw(rng, n, 0.7, 25.0)
    return p


def _arms_raised(rng: np.random.Generator, n: int) -> Dict[str, np.ndarray]:
    p = _standing(rng, n)
    sideways = rng.random((n, 2)) < 0.6
    abd = np.where(sideways, _u(rng, 135, 175, (n, 2)), _u(rng, 5, 30, (n, 2)))
    flex = np.where(sideways, _u(rng, -10, 20, (n, 2)), _u(rng, 145, 180, (n, 2)))
    elbow = _u(rng, 0, 40, (n, 2))
    # One arm raised for about a third of the people, the other one hanging.
    raised = np.ones((n, 2), dtype=bool)
    one = rng.random(n) < 0.35
    down_side = rng.integers(0, 2, size=n)
    raised[one, down_side[one]] = False
    p["sh_abd"] = np.where(raised, abd, p["sh_abd"])
    p["sh_flex"] = np.where(raised, flex, p["sh_flex"])
    p["elbow"] = np.where(raised, elbow, p["elbow"])
    p["hip_abd"] = _u(rng, 2, 20, (n, 2))
    front = rng.choice([0.0, 180.0], size=n) + rng.normal(0, 35, size=n)
    p["yaw"] = np.where(rng.random(n) < 0.6, front * _DEG, p["yaw"])
    return p


def _sitting(rng: np.random.Generator, n: int) -> Dict[str, np.ndarray]:
    p = _standing(rng, n)
    crouch = rng.random(n) < 0.4
    p["bend"] = np.where(crouch, _u(rng, 20, 50, n), _u(rng, -15, 15, n))
    c2 = crouch[:, None]
    p["hip_flex"] = np.where(c2, _u(rng, 100, 135, (n, 2)), _u(rng, 70, 100, (n, 2)))
    p["knee"] = np.where(c2, _u(rng, 115, 150, (n, 2)), _u(rng, 70, 110, (n, 2)))
    p["hip_abd"] = _u(rng, 3, 20, (n, 2))
    p["sh_flex"] = _u(rng, 10, 60, (n, 2)) + np.where(c2, p["bend"][:, None] * 0.5, 0.0)
    _set_uniform(p, rng, n, elbow=(20, 85), sh_abd=(5, 20))
    return p


def _bending(rng: np.random.Generator, n: int) -> Dict[str, np.ndarray]:
    p = _standing(rng, n)
    _set_uniform(p, rng, n, bend=(50, 100), hip_flex=(-10, 5), knee=(0, 25), hip_abd=(3, 15))
    p["sh_flex"] = p["bend"][:, None] + _u(rng, -25, 25, (n, 2))  # arms hang towards the ground
    _set_uniform(p, rng, n, sh_abd=(0, 15), elbow=(0, 30), head_pitch=(10, 50))
    p["yaw"] = _side_yaw(rng, n, 0.6, 25.0)
    return p


def _lying(rng: np.random.Generator, n: int) -> Dict[str, np.ndarray]:
    p = _standing(rng, n)
    p["roll"] = (rng.choice([-90.0, 90.0], size=n) + rng.normal(0, 12, size=n)) * _DEG
    bent = rng.random((n, 2)) < 0.3
    p["hip_flex"] = np.where(bent, _u(rng, 20, 70, (n, 2)), p["hip_flex"])
    p["knee"] = np.where(bent, _u(rng, 30, 90, (n, 2)), p["knee"])
    _set_uniform(p, rng, n, sh_abd=(5, 80), elbow=(0, 60))
    return p


_SAMPLERS = {
    "standing": _standing,
    "walking": _walking,
    "arms_raised": _arms_raised,
    "sitting": _sitting,
    "bending": _bending,
    "lying": _lying,
}
_PARTIAL_FROM = ("standing", "walking", "arms_raised")


def empty_pose(n: int) -> PoseParams:
    """N people in the neutral pose (standing straight, facing the camera, arms hanging)."""
    z1, z2 = np.zeros(n), np.zeros((n, 2))
    return PoseParams(
        family=np.full(n, "standing", dtype=object), yaw=z1.copy(), roll=z1.copy(), bend=z1.copy(),
        lean=z1.copy(), head_yaw=z1.copy(), head_pitch=z1.copy(), sh_abd=z2.copy(),
        sh_flex=z2.copy(), elbow=z2.copy(), hip_abd=z2.copy(), hip_flex=z2.copy(), knee=z2.copy(),
    )


def sample_pose(rng: np.random.Generator, families: Sequence[str]) -> PoseParams:
    """Joint angles for people of the given posture families (see :data:`POSE_FAMILIES`).

    Args:
        rng: random generator (consumed in a fixed order, so results are reproducible).
        families: N family names.

    Returns:
        :class:`PoseParams` with ``family`` set to ``families``.
    """
    fam = np.asarray(list(families), dtype=object)
    n = len(fam)
    pose = empty_pose(n)
    pose.family = fam.copy()
    source = fam.copy()
    partial = np.flatnonzero(fam == "partial")
    if len(partial):
        source[partial] = rng.choice(np.asarray(_PARTIAL_FROM, dtype=object), size=len(partial), p=[0.4, 0.35, 0.25])
    for name in _SAMPLERS:
        idx = np.flatnonzero(source == name)
        if len(idx) == 0:
            continue
        for key, value in _SAMPLERS[name](rng, len(idx)).items():
            getattr(pose, key)[idx] = value
    unknown = set(fam.tolist()) - set(POSE_FAMILIES)
    if unknown:
        raise ValueError(f"unknown pose families {sorted(unknown)}")
    return pose
