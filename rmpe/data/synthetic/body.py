"""Articulated bodies of the synthetic world: proportions and forward kinematics.

A body is a 3D stick figure measured in standing heights (head top to soles = about 1),
built in its own frame ``(u, v, w)``: u the person's left, v down, w forward (out of the
chest), origin at the pelvis centre. Joint angles (radians) per person:

see :mod:`rmpe.data.synthetic.pose` (trunk bend and lean, head yaw and pitch, shoulder
abduction and flexion, elbow bend, hip abduction and flexion, knee bend).

A limb direction with abduction ``a`` (signed outward) and flexion ``f`` is
``(sin a cos f, cos a cos f, sin f)``; a distal segment adds its bend to ``f``. The body is
seen by an orthographic camera after a turn ``yaw`` about the vertical axis (0: facing the
camera, so the person's left is on the image right; pi: seen from behind) and an in-plane
``roll`` (lying people). :func:`project` returns image offsets in standing heights (x right,
y down) from the pelvis and a depth per point (larger = nearer the camera).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Tuple

import numpy as np

from .pose import PoseParams

# Indices of the extra body points after the 17 COCO keypoints.
NECK, HEAD, PELVIS, L_HAND, R_HAND, L_TOE, R_TOE, HEAD_UP, HEAD_FWD, HEAD_LEFT = range(17, 27)
TORSO_CORNERS = tuple(range(27, 35))  #: 8 corners of the torso box (shoulders and hips, front/back)
CHEST, CHEST_IN = 35, 36  #: a point on the chest surface and the point inside it (its normal)
NUM_POINTS = 37

_DEG = np.pi / 180.0


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


# ----------------------------------------------------------------------------- kinematics


def _plane_rotation(angle: np.ndarray, i: int, j: int) -> np.ndarray:
    """(N,3,3) rotation by ``angle`` (N,) in the plane of the axes ``i`` and ``j``.

    ``m[i, i] = m[j, j] = cos``, ``m[i, j] = -sin``, ``m[j, i] = sin``; the third axis is kept.
    """
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(angle.shape + (3, 3))
    k = 3 - i - j
    m[..., k, k] = 1
    m[..., i, i], m[..., i, j], m[..., j, i], m[..., j, j] = c, -s, s, c
    return m


def _rot_u(a: np.ndarray) -> np.ndarray:
    """(N,3,3) rotation in the v-w plane taking down (0,1,0) to (0, cos a, sin a)."""
    return _plane_rotation(a, 1, 2)


def _rot_w(b: np.ndarray) -> np.ndarray:
    """(N,3,3) rotation in the u-v plane taking down (0,1,0) to (sin b, cos b, 0)."""
    return _plane_rotation(b, 1, 0)


def _rot_v(y: np.ndarray) -> np.ndarray:
    """(N,3,3) turn about the vertical axis: forward (0,0,1) goes to (sin y, 0, cos y)."""
    return _plane_rotation(y, 2, 0)


def limb_direction(abd: np.ndarray, flex: np.ndarray) -> np.ndarray:
    """Unit direction (..., 3) of a limb with signed abduction ``abd`` and flexion ``flex``."""
    return np.stack([np.sin(abd) * np.cos(flex), np.cos(abd) * np.cos(flex), np.sin(flex)], axis=-1)


def _apply(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("nij,nj->ni", m, v)


def body_points(pose: PoseParams, shape: BodyShape) -> np.ndarray:
    """Forward kinematics: (N, NUM_POINTS, 3) body-frame points (u left, v down, w forward).

    Points 0..16 are the COCO keypoints, then :data:`NECK`, :data:`HEAD` (head centre),
    :data:`PELVIS`, hands, toes, head axis tips (:data:`HEAD_UP`, :data:`HEAD_FWD`,
    :data:`HEAD_LEFT`, one head radius from the centre), the 8 torso box corners and
    :data:`CHEST` / :data:`CHEST_IN` (chest surface and the point behind it).
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
    chest_in = neck + _apply(trunk, np.outer(np.full(n, 0.09), -up))
    pts[:, CHEST_IN] = chest_in
    pts[:, CHEST] = chest_in + _apply(trunk, half_d * fwd)
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
