"""Articulated bodies of the synthetic world: posture sampling and forward kinematics.

A body is a 3D stick figure measured in standing heights (head top to soles = about 1),
built in its own frame ``(u, v, w)``: u the person's left, v down, w forward (out of the
chest), origin at the pelvis centre. Joint angles (radians) per person:

* trunk ``bend`` (forward flexion at the hips) and ``lean`` (sideways), rotating the upper body;
* head ``head_yaw`` (turn to the person's left) and ``head_pitch`` (look up);
* per side (index 0 = left, 1 = right): shoulder ``sh_abd`` (abduction, 0 = hanging, 180 =
  straight up beside the head) and ``sh_flex`` (flexion, forward swing), ``elbow`` bend;
  hip ``hip_abd`` and ``hip_flex`` (thigh forward), ``knee`` bend (shin backward).

A limb direction with abduction ``a`` (signed outward) and flexion ``f`` is
``(sin a cos f, cos a cos f, sin f)``; a distal segment adds its bend to ``f``. The body is
seen by an orthographic camera after a turn ``yaw`` about the vertical axis (0: facing the
camera, so the person's left is on the image right; pi: seen from behind) and an in-plane
``roll`` (lying people). :func:`project` returns image offsets in standing heights (x right,
y down) from the pelvis and a depth per point (larger = nearer the camera).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Dict, Sequence, Tuple

import numpy as np

from .synthetic_config import POSE_FAMILIES

# Indices of the extra body points after the 17 COCO keypoints.
NECK, HEAD, PELVIS, L_HAND, R_HAND, L_TOE, R_TOE, HEAD_UP, HEAD_FWD, HEAD_LEFT = range(17, 27)
TORSO_CORNERS = tuple(range(27, 35))  #: 8 corners of the torso box (shoulders and hips, front/back)
NUM_POINTS = 35

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


@dataclass
class BodyShape:
    """Body proportions of N people, each (N,), in standing heights."""

    torso: np.ndarray  #: pelvis centre to the shoulder midpoint (neck point)
    neck: np.ndarray  #: neck point to head centre
    head_r: np.ndarray  #: head radius
    shoulder_half: np.ndarray  #: half the distance between the shoulder joints
    hip_half: np.ndarray  #: half the distance between the hip joints
    depth: np.ndarray  #: chest thickness (front to back)
    upper_arm: np.ndarray
    forearm: np.ndarray
    hand: np.ndarray  #: wrist to hand centre
    thigh: np.ndarray
    shin: np.ndarray
    foot: np.ndarray  #: ankle to toe
    girth: np.ndarray  #: multiplier of all limb widths (slim 0.85 .. sturdy 1.2)

    def subset(self, index: np.ndarray) -> "BodyShape":
        return BodyShape(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def sample_shape(rng: np.random.Generator, n: int) -> BodyShape:
    """Random proportions around an adult average (lengths +-5 %, girth 0.85..1.2)."""
    length = rng.uniform(0.95, 1.05, size=(n, 4))
    head = rng.uniform(0.92, 1.08, size=n)
    girth = rng.uniform(0.85, 1.2, size=n)
    return BodyShape(
        torso=0.29 * length[:, 0],
        neck=0.115 * head,
        head_r=0.062 * head,
        shoulder_half=0.105 * rng.uniform(0.9, 1.1, size=n),
        hip_half=0.082 * rng.uniform(0.9, 1.1, size=n),
        depth=0.115 * girth,
        upper_arm=0.172 * length[:, 1],
        forearm=0.148 * length[:, 1],
        hand=0.045 * length[:, 1],
        thigh=0.245 * length[:, 2],
        shin=0.235 * length[:, 3],
        foot=0.12 * length[:, 3],
        girth=girth,
    )


# ----------------------------------------------------------------------------- postures


def _u(rng: np.random.Generator, lo: float, hi: float, shape) -> np.ndarray:
    return rng.uniform(lo, hi, size=shape) * _DEG


def _n(rng: np.random.Generator, mean: float, std: float, shape) -> np.ndarray:
    return rng.normal(mean, std, size=shape) * _DEG


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
    p["sh_abd"] = _u(rng, 3, 12, (n, 2))
    p["hip_abd"] = _u(rng, 1, 6, (n, 2))
    p["bend"] = _u(rng, 2, 8, n)
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
    p["elbow"] = _u(rng, 20, 85, (n, 2))
    p["sh_abd"] = _u(rng, 5, 20, (n, 2))
    return p


def _bending(rng: np.random.Generator, n: int) -> Dict[str, np.ndarray]:
    p = _standing(rng, n)
    p["bend"] = _u(rng, 50, 100, n)
    p["hip_flex"] = _u(rng, -10, 5, (n, 2))
    p["knee"] = _u(rng, 0, 25, (n, 2))
    p["hip_abd"] = _u(rng, 3, 15, (n, 2))
    p["sh_flex"] = p["bend"][:, None] + _u(rng, -25, 25, (n, 2))  # arms hang towards the ground
    p["sh_abd"] = _u(rng, 0, 15, (n, 2))
    p["elbow"] = _u(rng, 0, 30, (n, 2))
    p["head_pitch"] = _u(rng, 10, 50, n)
    p["yaw"] = _side_yaw(rng, n, 0.6, 25.0)
    return p


def _lying(rng: np.random.Generator, n: int) -> Dict[str, np.ndarray]:
    p = _standing(rng, n)
    p["roll"] = (rng.choice([-90.0, 90.0], size=n) + rng.normal(0, 12, size=n)) * _DEG
    bent = rng.random((n, 2)) < 0.3
    p["hip_flex"] = np.where(bent, _u(rng, 20, 70, (n, 2)), p["hip_flex"])
    p["knee"] = np.where(bent, _u(rng, 30, 90, (n, 2)), p["knee"])
    p["sh_abd"] = _u(rng, 5, 80, (n, 2))
    p["elbow"] = _u(rng, 0, 60, (n, 2))
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


# ----------------------------------------------------------------------------- kinematics


def _rot_u(a: np.ndarray) -> np.ndarray:
    """(N,3,3) rotation in the v-w plane taking down (0,1,0) to (0, cos a, sin a)."""
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (3, 3))
    m[..., 0, 0] = 1
    m[..., 1, 1], m[..., 1, 2], m[..., 2, 1], m[..., 2, 2] = c, -s, s, c
    return m


def _rot_w(b: np.ndarray) -> np.ndarray:
    """(N,3,3) rotation in the u-v plane taking down (0,1,0) to (sin b, cos b, 0)."""
    c, s = np.cos(b), np.sin(b)
    m = np.zeros(b.shape + (3, 3))
    m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1] = c, s, -s, c
    m[..., 2, 2] = 1
    return m


def _rot_v(y: np.ndarray) -> np.ndarray:
    """(N,3,3) turn about the vertical axis: forward (0,0,1) goes to (sin y, 0, cos y)."""
    c, s = np.cos(y), np.sin(y)
    m = np.zeros(y.shape + (3, 3))
    m[..., 0, 0], m[..., 0, 2], m[..., 2, 0], m[..., 2, 2] = c, s, -s, c
    m[..., 1, 1] = 1
    return m


def limb_direction(abd: np.ndarray, flex: np.ndarray) -> np.ndarray:
    """Unit direction (..., 3) of a limb with signed abduction ``abd`` and flexion ``flex``."""
    return np.stack([np.sin(abd) * np.cos(flex), np.cos(abd) * np.cos(flex), np.sin(flex)], axis=-1)


def _apply(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("nij,nj->ni", m, v)


def body_points(pose: PoseParams, shape: BodyShape) -> np.ndarray:
    """Forward kinematics: (N, NUM_POINTS, 3) body-frame points (u left, v down, w forward).

    Points 0..16 are the COCO keypoints, then :data:`NECK`, :data:`HEAD` (head centre),
    :data:`PELVIS`, hands, toes, head axis tips (:data:`HEAD_UP`, :data:`HEAD_FWD`,
    :data:`HEAD_LEFT`, one head radius from the centre) and the 8 torso box corners.
    """
    n = len(pose)
    pts = np.zeros((n, NUM_POINTS, 3))
    side = np.array([1.0, -1.0])  # outward direction along u for left, right
    trunk = _rot_w(pose.lean) @ _rot_u(-pose.bend)
    up = np.array([0.0, -1.0, 0.0])
    neck = _apply(trunk, np.outer(shape.torso, up))
    pts[:, NECK] = neck
    pts[:, PELVIS] = 0.0

    head_frame = trunk @ _rot_v(pose.head_yaw) @ _rot_u(pose.head_pitch)
    head = neck + _apply(trunk, np.outer(shape.neck, up))
    r = shape.head_r[:, None]
    pts[:, HEAD] = head
    local = {
        0: (0.0, 0.12, 1.0),  # nose
        1: (0.36, -0.12, 0.82), 2: (-0.36, -0.12, 0.82),  # eyes
        3: (0.98, 0.0, -0.05), 4: (-0.98, 0.0, -0.05),  # ears
        HEAD_UP: (0.0, -1.0, 0.0), HEAD_FWD: (0.0, 0.0, 1.0), HEAD_LEFT: (1.0, 0.0, 0.0),
    }
    for k, offset in local.items():
        pts[:, k] = head + r * _apply(head_frame, np.tile(np.asarray(offset), (n, 1)))

    lat = np.array([1.0, 0.0, 0.0])
    fwd = np.array([0.0, 0.0, 1.0])
    for s, (sho, elb, wri, hand, hip, kne, ank, toe) in enumerate(
        ((5, 7, 9, L_HAND, 11, 13, 15, L_TOE), (6, 8, 10, R_HAND, 12, 14, 16, R_TOE))
    ):
        sgn = side[s]
        shoulder = neck + _apply(trunk, np.outer(sgn * shape.shoulder_half, lat))
        abd = sgn * pose.sh_abd[:, s]
        d_up = _apply(trunk, limb_direction(abd, pose.sh_flex[:, s]))
        d_lo = _apply(trunk, limb_direction(abd, pose.sh_flex[:, s] + pose.elbow[:, s]))
        pts[:, sho] = shoulder
        pts[:, elb] = shoulder + shape.upper_arm[:, None] * d_up
        pts[:, wri] = pts[:, elb] + shape.forearm[:, None] * d_lo
        pts[:, hand] = pts[:, wri] + shape.hand[:, None] * d_lo

        hip_joint = np.outer(sgn * shape.hip_half, lat) + np.outer(0.02 * np.ones(n), -up)
        habd = sgn * pose.hip_abd[:, s]
        shin_flex = pose.hip_flex[:, s] - pose.knee[:, s]
        pts[:, hip] = hip_joint
        pts[:, kne] = hip_joint + shape.thigh[:, None] * limb_direction(habd, pose.hip_flex[:, s])
        pts[:, ank] = pts[:, kne] + shape.shin[:, None] * limb_direction(habd, shin_flex)
        pts[:, toe] = pts[:, ank] + shape.foot[:, None] * limb_direction(habd, shin_flex + 75 * _DEG)

    # Torso box: shoulders slightly wider than the joints (deltoids), hips wider than the hip joints.
    half_d = 0.5 * shape.depth[:, None]
    corners = []
    for base, width, drop, frame in (
        (neck, shape.shoulder_half + 0.025, 0.015, trunk),
        (np.zeros((n, 3)), shape.hip_half + 0.035, 0.03, None),
    ):
        for sgn in (1.0, -1.0):
            for dz in (1.0, -1.0):
                local_pt = np.stack([sgn * width, np.full(n, drop), dz * half_d[:, 0]], axis=1)
                corners.append(base + (_apply(frame, local_pt) if frame is not None else local_pt))
    pts[:, list(TORSO_CORNERS)] = np.stack(corners, axis=1)
    return pts


def project(points: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Orthographic view of body-frame points.

    Args:
        points: (N, P, 3) body-frame points in standing heights.
        yaw: (N,) turn about the vertical axis (0 = facing the camera).
        roll: (N,) in-plane rotation (positive turns x towards y, i.e. clockwise on screen).

    Returns:
        xy: (N, P, 2) image-plane offsets from the pelvis in standing heights (x right, y down).
        depth: (N, P) towards the camera (larger = nearer).
    """
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    u, v, w = points[..., 0], points[..., 1], points[..., 2]
    x = u * c + w * s
    depth = -u * s + w * c
    cr, sr = np.cos(roll)[:, None], np.sin(roll)[:, None]
    xy = np.stack([x * cr - v * sr, x * sr + v * cr], axis=-1)
    return xy, depth
