"""Motion planning of the synthetic videos: who walks where, in three scenarios.

The scene is a ground plane seen from a camera above head height: a person whose soles touch
image row ``y`` is ``k * (y - horizon)`` px tall, so nearer people stand lower in the image, are
larger and are painted later. Every person keeps its row (its depth) for the whole video and
moves along x as ``x(t) = centre + amplitude * wave(w t + p)``; ``theta = w t + p`` is its
motion angle and ``drive`` (in [-1, 1]) its velocity as a fraction of its top speed (> 0:
walking right), which sets the facing direction and the stride. The gait phase grows with the
distance walked. Scenarios (:data:`SCENARIOS`):

* ``lanes``: one depth lane per person, lanes spread over the ground, ``wave = sin``
  (people slow down, turn and walk back); 20 % of the people stand and wave their arms
  instead. Nobody is hidden completely and people rarely cross.
* ``crossing``: people walk in groups of two (three when the count is odd) that share a depth
  band, a walking range, a speed and a period, with phases spread evenly over the group. The
  members of a group stand 3 to 8 % of a height apart in depth (similar sizes, so their boxes
  overlap strongly when they meet), and the farther one is painted first and passes behind.
  ``wave`` is a rounded triangle wave (constant walking speed, short turns), which two group
  members cross twice per period; the period is at most :data:`MAX_CROSSING_PERIOD` s, so each
  person crosses a group partner at least every 4 s, i.e. more than twice per 10 s. A lone
  person (``num_people`` = 1) has nobody to cross.
* ``crowd``: groups of two to four as in ``crossing``; a third of the groups stay in the
  frame, the others walk out of it: through both sides (in at one side, across, out at the
  other, back later) or through one side (out and back in on the same side). A person outside
  the frame is not annotated; when it comes back it is the same person with the same
  ``track_id`` (tracking ground truth: identity belongs to the person, not to a visible run).

Arrays are over N people unless a shape says otherwise; x is in image px.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from .body import BodyShape, sample_shape
from .config import VIDEO_SCENARIOS, SyntheticConfig
from .pose import PoseParams, empty_pose, walking_angles
from .render import Looks, sample_looks
from .scene import body_geometry

_DEG = np.pi / 180.0

#: Scenario names accepted by :func:`plan_cast` (and ``rmpe-synth --scenario``).
SCENARIOS: Tuple[str, ...] = VIDEO_SCENARIOS

#: Longest back-and-forth period of a ``crossing`` group, seconds (two crossings per period).
MAX_CROSSING_PERIOD = 8.0

#: Sharpness of the rounded triangle wave of ``crossing`` and ``crowd`` walkers (0 < rho < 1).
TRIANGLE_RHO = 0.95


@dataclass
class VideoCast:
    """The people of a video and their motion parameters (arrays over N people)."""

    shape: BodyShape
    looks: Looks
    heights: np.ndarray  #: standing heights, px
    feet_y: np.ndarray  #: image row of the soles
    walker: np.ndarray  #: bool: walks back and forth (else stands and waves)
    centre: np.ndarray  #: x of the motion centre, px
    amplitude: np.ndarray  #: half the walking range, px
    omega: np.ndarray  #: rad/s of the back-and-forth motion (wavers: of the arm motion)
    phase0: np.ndarray
    turn_back: np.ndarray  #: bool: turn through the back view (else through the front view)
    yaw0: np.ndarray  #: wavers' fixed yaw
    leg_amp: np.ndarray
    arm_amp: np.ndarray
    elbow: np.ndarray  #: (N, 2) base elbow bend
    pelvis_drop: np.ndarray  #: soles-to-pelvis height of the neutral pose, px
    rho: Optional[np.ndarray] = None  #: wave shape: 0 a sine, else a rounded triangle wave of this sharpness
    group: Optional[np.ndarray] = None  #: (N,) int: the walking group (lanes: each person its own)

    def __post_init__(self) -> None:
        n = len(self.heights)
        if self.rho is None:
            self.rho = np.zeros(n)
        if self.group is None:
            self.group = np.arange(n)


def plan_cast(
    rng: np.random.Generator, n: int, size: Tuple[int, int], config: SyntheticConfig, scenario: str = "lanes"
) -> VideoCast:
    """Choose N people, their depths and their motion for one of :data:`SCENARIOS`.

    Args:
        rng: the video's scene stream (the ``lanes`` draws are those of the first rmpe-synth
            videos, so old seeds give the same people).
        n: number of people.
        size: image (width, height).
        config: world settings (``height_range`` bounds the people's heights).
        scenario: ``lanes``, ``crossing`` or ``crowd``.
    """
    if scenario == "lanes":
        return _plan_lanes(rng, n, size, config)
    if scenario in ("crossing", "crowd"):
        return _plan_groups(rng, n, size, config, crowd=scenario == "crowd")
    raise ValueError(f"unknown video scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")


def _ground(rng: np.random.Generator, size: Tuple[int, int], config: SyntheticConfig) -> Tuple[float, float, float, float]:
    """Horizon row, height per row below it (k), and the rows where soles may stand."""
    w, h = size
    horizon = rng.uniform(0.1, 0.3) * h
    k = rng.uniform(0.78, 0.92)
    lo_h, hi_h = config.height_range
    y_min = min(horizon + max(lo_h, 0.12 * h) / k, 0.97 * h)
    y_max = min(0.97 * h, horizon + hi_h / k)
    return horizon, k, min(y_min, y_max), y_max


def _plan_lanes(rng: np.random.Generator, n: int, size: Tuple[int, int], config: SyntheticConfig) -> VideoCast:
    w, h = size
    horizon, k, y_min, y_max = _ground(rng, size, config)
    # One lane per person, at least 0.4 lane widths apart, so nobody hides another completely.
    feet_y = y_min + (np.arange(n) + rng.uniform(0.2, 0.8, n)) * (y_max - y_min) / max(n, 1)
    heights = np.maximum(k * (feet_y - horizon), 8.0)
    shape = sample_shape(rng, n)
    looks = sample_looks(rng, n)

    pelvis_drop = _pelvis_drop(shape, heights)
    half_w = 0.32 * heights
    x_lo, x_hi = half_w, (w - 1) - half_w
    span = np.maximum(x_hi - x_lo, 0.0)
    amplitude = 0.5 * span * rng.uniform(0.3, 1.0, n)
    centre = x_lo + amplitude + rng.random(n) * np.maximum(span - 2 * amplitude, 0.0)
    centre = np.where(span > 0, centre, 0.5 * (w - 1))
    speed = rng.uniform(0.45, 0.8, n) * heights  # px/s at full stride
    omega = np.minimum(speed / np.maximum(amplitude, 1.0), 2 * np.pi / 4.0)
    walker = (rng.random(n) < 0.8) & (amplitude > 0.3 * heights)
    wave_omega = 2 * np.pi / rng.uniform(1.5, 3.0, n)
    return VideoCast(
        shape=shape, looks=looks, heights=heights, feet_y=feet_y, walker=walker, centre=centre,
        amplitude=amplitude, omega=np.where(walker, omega, wave_omega), phase0=rng.uniform(0, 2 * np.pi, n),
        turn_back=rng.random(n) < 0.5,
        yaw0=(rng.choice([0.0, 180.0], n) + rng.normal(0, 30, n)) * _DEG,
        leg_amp=rng.uniform(20, 32, n) * _DEG, arm_amp=rng.uniform(12, 28, n) * _DEG,
        elbow=rng.uniform(5, 30, (n, 2)) * _DEG, pelvis_drop=pelvis_drop,
    )


def _pelvis_drop(shape: BodyShape, heights: np.ndarray) -> np.ndarray:
    """(N,) soles-to-pelvis height of the neutral pose, px."""
    _, _, _, ext = body_geometry(empty_pose(len(heights)), shape, heights)
    return ext[:, 3]


def _group_sizes(rng: np.random.Generator, n: int, crowd: bool) -> List[int]:
    """Sizes of the walking groups (sum n): pairs (a trio when n is odd), or 2..4 in a crowd."""
    if n <= 0:
        return []
    if not crowd:
        sizes = [2] * (n // 2)
        if n % 2:
            if sizes:
                sizes[-1] = 3
            else:
                sizes = [1]
        return sizes
    sizes = []
    left = n
    while left > 0:
        s = min(int(rng.integers(2, 5)), left)
        if left - s == 1:  # never leave a lone walker when a group can take it
            s += 1
        sizes.append(s)
        left -= s
    return sizes


def _plan_groups(
    rng: np.random.Generator, n: int, size: Tuple[int, int], config: SyntheticConfig, crowd: bool
) -> VideoCast:
    w, h = size
    horizon, k, y_min, y_max = _ground(rng, size, config)
    sizes = _group_sizes(rng, n, crowd)
    g = len(sizes)
    group = np.repeat(np.arange(g), sizes).astype(np.int64)
    member = np.concatenate([np.arange(s) for s in sizes]) if g else np.zeros(0, np.int64)
    # One depth band per group; each member stands 3..8 % of its height behind the previous one.
    band_y = y_min + (rng.permutation(g) + rng.uniform(0.2, 0.8, g)) * (y_max - y_min) / max(g, 1)
    band_h = np.maximum(k * (band_y - horizon), 8.0)
    step = rng.uniform(0.03, 0.08, n) * band_h[group] / k  # rows between consecutive members
    step[member == 0] = 0.0
    offset = np.zeros(n)
    for i in range(n):  # cumulative offset within the group (scene setup, a few dozen people)
        offset[i] = step[i] + (offset[i - 1] if member[i] > 0 else 0.0)
    feet_y = np.minimum(band_y[group] - offset, 0.99 * h)
    heights = np.maximum(k * (feet_y - horizon), 8.0)
    shape = sample_shape(rng, n)
    looks = sample_looks(rng, n)
    pelvis_drop = _pelvis_drop(shape, heights)

    # Per group: a walking range [lo, hi] (for the largest member), a speed and a period.
    gh = np.array([heights[group == j].max() for j in range(g)]) if g else np.zeros(0)
    half_w = 0.32 * gh
    speed = rng.uniform(0.45, 0.8, g) * gh  # px/s
    gain = TRIANGLE_RHO / np.arcsin(TRIANGLE_RHO)  # top speed = gain * amplitude * omega
    x_lo, x_hi = half_w, (w - 1) - half_w
    span = np.maximum(x_hi - x_lo, 0.0)
    # Range kind: 0 inside the frame; out through 1 both sides, 2 the left side, 3 the right side.
    kind = np.where(rng.random(g) < (1.0 / 3.0 if crowd else 1.0), 0, rng.choice([1, 1, 1, 2, 3], g))
    if crowd and g and not kind.any():
        kind[int(rng.integers(0, g))] = 1  # a crowd always has people coming and going
    margin = rng.uniform(0.3, 1.2, g) * gh  # how far beyond the frame edge an outside walker turns
    inner = rng.uniform(0.3, 0.7, g) * (w - 1)
    lo = np.where(kind == 0, 0.0, np.where(kind == 3, inner, -half_w - margin))
    hi = np.where(kind == 0, 0.0, np.where(kind == 2, inner, (w - 1) + half_w + margin))
    amplitude = np.maximum(0.5 * (hi - lo), 1.0)
    centre = 0.5 * (hi + lo)
    # Groups inside the frame: a wide range, at most MAX_CROSSING_PERIOD s per back and forth.
    a_in = np.minimum(0.5 * span * rng.uniform(0.6, 1.0, g), speed / (gain * 2 * np.pi / MAX_CROSSING_PERIOD))
    a_in = np.maximum(a_in, 1.0)
    c_in = x_lo + a_in + rng.random(g) * np.maximum(span - 2 * a_in, 0.0)
    c_in = np.where(span > 0, c_in, 0.5 * (w - 1))
    amplitude = np.where(kind == 0, a_in, amplitude)
    centre = np.where(kind == 0, c_in, centre)
    omega = speed / (gain * amplitude)
    if not crowd:
        omega = np.maximum(omega, 2 * np.pi / MAX_CROSSING_PERIOD)  # tiny frames: walk slower, not rarer
    # Phases spread evenly over each group (each pair of members meets twice per period).
    base = rng.uniform(0, 2 * np.pi, g)
    sz = np.asarray(sizes, np.float64)
    jitter = rng.uniform(-0.2, 0.2, n)
    phase0 = base[group] + 2 * np.pi * (member + jitter) / sz[group]

    return VideoCast(
        shape=shape, looks=looks, heights=heights, feet_y=feet_y, walker=np.ones(n, bool),
        centre=centre[group], amplitude=amplitude[group], omega=omega[group], phase0=phase0,
        turn_back=rng.random(n) < 0.5, yaw0=np.zeros(n),
        leg_amp=rng.uniform(20, 32, n) * _DEG, arm_amp=rng.uniform(12, 28, n) * _DEG,
        elbow=rng.uniform(5, 30, (n, 2)) * _DEG, pelvis_drop=pelvis_drop,
        rho=np.full(n, TRIANGLE_RHO), group=group,
    )


def wave(theta: np.ndarray, rho: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The back-and-forth waveform and its normalised derivative.

    ``rho = 0`` gives ``(sin theta, cos theta)``; ``0 < rho < 1`` a rounded triangle wave
    ``arcsin(rho sin theta) / arcsin(rho)`` (range [-1, 1], odd, symmetric about pi/2) and its
    derivative divided by its maximum, ``cos theta / sqrt(1 - rho^2 sin^2 theta)``.

    Args:
        theta: (...,) angles; rho: broadcastable to theta.

    Returns:
        position in [-1, 1] and drive in [-1, 1], both shaped like theta.
    """
    rho = np.broadcast_to(np.asarray(rho, np.float64), np.shape(theta))
    s, c = np.sin(theta), np.cos(theta)
    tri = rho > 0
    safe = np.where(tri, rho, 0.5)
    pos = np.where(tri, np.arcsin(safe * s) / np.arcsin(safe), s)
    drive = np.where(tri, c / np.sqrt(1.0 - (safe * s) ** 2), c)
    return pos, drive


def cast_motion(cast: VideoCast, times: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame positions and gait state.

    Args:
        cast: the people.
        times: (T,) frame times in seconds.

    Returns:
        x: (T, N) pelvis x in px; theta: (T, N) motion angle ``w t + p``; gait: (T, N) gait
        phase (radians, grows with the distance walked); drive: (T, N) velocity as a fraction
        of the top speed (> 0: walking right).
    """
    theta = cast.omega[None, :] * times[:, None] + cast.phase0[None, :]
    pos, drive = wave(theta, cast.rho[None, :])
    x = cast.centre[None, :] + np.where(cast.walker, cast.amplitude, 0.02 * cast.heights)[None, :] * pos
    step = np.abs(np.diff(x, axis=0, prepend=x[:1]))
    distance = np.cumsum(step, axis=0)
    gait = 2 * np.pi * distance / (0.8 * cast.heights[None, :]) + cast.phase0[None, :]
    return x, theta, gait, drive


def frame_pose(cast: VideoCast, theta: np.ndarray, gait: np.ndarray, drive: np.ndarray) -> PoseParams:
    """The N people's joint angles at one frame (``theta``, ``gait``, ``drive``: (N,))."""
    n = len(cast.heights)
    pose = empty_pose(n)
    s = np.tanh(3.0 * drive)
    walk_yaw = np.where(cast.turn_back, np.pi - 0.5 * np.pi * s, 0.5 * np.pi * s)
    stride = np.clip(1.5 * np.abs(drive), 0.0, 1.0)
    walk = walking_angles(gait, cast.leg_amp * stride, cast.arm_amp * stride)

    raise_angle = (95.0 + 65.0 * np.sin(theta)) * _DEG  # wavers' shoulder abduction
    wk = cast.walker
    pose.yaw = np.where(wk, walk_yaw, cast.yaw0)
    pose.bend = np.where(wk, 4 * _DEG, 0.0)
    for key in ("hip_flex", "knee", "sh_flex"):
        setattr(pose, key, np.where(wk[:, None], walk[key], 0.0))
    pose.elbow = np.where(wk[:, None], walk["elbow"], cast.elbow)
    pose.sh_abd = np.where(wk[:, None], 6 * _DEG, np.repeat(raise_angle[:, None], 2, axis=1))
    pose.hip_abd = np.full((n, 2), 4 * _DEG)
    pose.family = np.where(wk, "walking", np.where(raise_angle > 120 * _DEG, "arms_raised", "standing")).astype(object)
    return pose
