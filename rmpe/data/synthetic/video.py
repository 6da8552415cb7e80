"""Synthetic videos: people walking back and forth and waving, on a static cluttered scene.

The scene is a ground plane seen from a camera above head height: a person whose feet touch
row ``y`` is ``k * (y - horizon)`` px tall, so nearer people are lower in the image, larger,
drawn later, and the head of a farther person stays above the head of a nearer one (each
person walks in its own lane, so nobody is hidden completely). Every frame shows the same
people (``num_people``), all inside the frame, each annotated with its ``track_id``. Walkers move as ``x(t) = cx + A sin(w t + p)``: they slow down, turn through a
front or back view and walk back, with the gait phase tied to the distance walked. Wavers
stand and raise and lower their arms.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import cv2
import numpy as np

from ...errors import RMPEError
from .background import add_grain, make_background
from .body import BodyShape, body_points, project, sample_shape
from .pose import PoseParams, empty_pose, walking_angles
from .coco import VIDEO_DESCRIPTION, annotation_record, detection_records, image_record, write_coco_files
from .config import SyntheticConfig
from .detector import simulate_detections
from .files import check_seed, encode_image, resolve_config, write_bytes
from .render import Looks, sample_looks
from .scene import body_geometry, render_people

PathLike = Union[str, "os.PathLike[str]"]
_DEG = np.pi / 180.0


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


def plan_cast(rng: np.random.Generator, n: int, size: Tuple[int, int], config: SyntheticConfig) -> VideoCast:
    """Choose N people, their lanes on the ground plane and their motion."""
    w, h = size
    horizon = rng.uniform(0.1, 0.3) * h
    k = rng.uniform(0.78, 0.92)
    lo_h, hi_h = config.height_range
    y_min = min(horizon + max(lo_h, 0.12 * h) / k, 0.97 * h)
    y_max = min(0.97 * h, horizon + hi_h / k)
    y_min = min(y_min, y_max)
    # One lane per person, at least 0.4 lane widths apart, so nobody hides another completely.
    feet_y = y_min + (np.arange(n) + rng.uniform(0.2, 0.8, n)) * (y_max - y_min) / max(n, 1)
    heights = np.maximum(k * (feet_y - horizon), 8.0)
    shape = sample_shape(rng, n)
    looks = sample_looks(rng, n)

    neutral = empty_pose(n)
    _, _, _, ext = body_geometry(neutral, shape, heights)
    pelvis_drop = ext[:, 3]
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


def cast_motion(cast: VideoCast, times: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame positions and gait state.

    Args:
        cast: the people.
        times: (T,) frame times in seconds.

    Returns:
        x: (T, N) pelvis x in px; theta: (T, N) motion angle ``w t + p``; gait: (T, N) gait
        phase (radians, grows with the distance walked).
    """
    theta = cast.omega[None, :] * times[:, None] + cast.phase0[None, :]
    x = cast.centre[None, :] + np.where(cast.walker, cast.amplitude, 0.02 * cast.heights)[None, :] * np.sin(theta)
    step = np.abs(np.diff(x, axis=0, prepend=x[:1]))
    distance = np.cumsum(step, axis=0)
    gait = 2 * np.pi * distance / (0.8 * cast.heights[None, :]) + cast.phase0[None, :]
    return x, theta, gait


def frame_pose(cast: VideoCast, theta: np.ndarray, gait: np.ndarray) -> PoseParams:
    """The N people's joint angles at one frame (``theta``, ``gait``: (N,))."""
    n = len(cast.heights)
    pose = empty_pose(n)
    drive = np.cos(theta)  # walking direction and speed fraction
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


def _video_paths(out: str) -> Tuple[str, str, str, str]:
    if out.lower().endswith(".mp4"):
        folder = os.path.dirname(os.path.abspath(out))
        stem = os.path.splitext(os.path.basename(out))[0]
        return (os.path.abspath(out), os.path.join(folder, f"{stem}.annotations.json"),
                os.path.join(folder, f"{stem}.detections.json"), os.path.join(folder, f"{stem}_frames"))
    folder = os.path.abspath(out)
    return (os.path.join(folder, "video.mp4"), os.path.join(folder, "annotations.json"),
            os.path.join(folder, "detections.json"), os.path.join(folder, "frames"))


def generate_video(
    out_path_or_dir: PathLike,
    seconds: float,
    seed: int = 0,
    fps: Optional[float] = None,
    size: Optional[Tuple[int, int]] = None,
    config: Optional[SyntheticConfig] = None,
    num_people: Optional[int] = None,
    write_frames: bool = False,
    progress: bool = False,
) -> Dict[str, Any]:
    """Write a synthetic mp4 with per-frame COCO annotations and simulated detections.

    Args:
        out_path_or_dir: a ``.mp4`` path (annotations go beside it as ``<stem>.annotations.json``
            and ``<stem>.detections.json``) or a folder (``video.mp4``, ``annotations.json``,
            ``detections.json``).
        seconds: duration; the video has ``round(seconds * fps)`` frames.
        seed: video seed (cast and background from ``[seed, 0, 2]``, frame ``t``'s grain from
            ``[seed, t, 3]``, its detections from ``[seed, t, 1]``).
        fps: frame rate (default ``config.fps``).
        size: (width, height) in px; None keeps ``config.size`` (default 640x480).
        config: world settings (defaults: :class:`SyntheticConfig`).
        num_people: people in every frame (default ``config.video_people``).
        write_frames: also write every frame as an image in ``frames/`` (the annotation
            ``file_name`` points there).
        progress: show a tqdm bar.

    Returns:
        Summary dict: ``video``, ``annotations``, ``detections`` (paths), ``num_frames``,
        ``fps``, ``num_people`` (per frame), ``num_annotations``, ``num_detections``, ``seconds``.

    Raises:
        RMPEError: bad duration, frame rate, people count or config; a video that cannot be written.
    """
    config = resolve_config(config, size)
    seed = check_seed(seed)
    fps = float(config.fps if fps is None else fps)
    n = int(config.video_people if num_people is None else num_people)
    if not (isinstance(seconds, (int, float, np.integer, np.floating)) and not isinstance(seconds, bool)) or seconds <= 0:
        raise RMPEError(f"video length must be a number of seconds > 0, got {seconds!r}")
    if not fps > 0:
        raise RMPEError(f"video frame rate must be > 0, got {fps}")
    if n < 0:
        raise RMPEError(f"people per video frame must be >= 0, got {n}")
    num_frames = max(1, int(round(float(seconds) * fps)))
    w, h = config.size
    video_path, ann_path, det_path, frames_dir = _video_paths(os.fspath(out_path_or_dir))
    try:
        os.makedirs(os.path.dirname(video_path), exist_ok=True)
        if write_frames:
            os.makedirs(frames_dir, exist_ok=True)
    except OSError as exc:
        raise RMPEError(f"cannot create output folder for {video_path}: {exc.strerror}") from None
    start = time.perf_counter()

    rng = np.random.default_rng([int(seed), 0, 2])
    background, clutter_boxes, limb_like = make_background(rng, (w, h), config.clutter, config.distractors)
    cast = plan_cast(rng, n, (w, h), config)
    times = np.arange(num_frames) / fps
    xs, thetas, gaits = cast_motion(cast, times)
    order = np.argsort(cast.feet_y, kind="stable")

    tmp_video = os.path.join(os.path.dirname(video_path), f".{os.path.basename(video_path)}.{os.getpid()}.partial.mp4")
    writer = cv2.VideoWriter(tmp_video, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RMPEError(f"OpenCV cannot write an mp4v video at {video_path}; check the folder and codec support")
    from tqdm import tqdm

    images: List[dict] = []
    annotations: List[dict] = []
    detections: List[dict] = []
    video_name = os.path.basename(video_path)
    try:
        for t in tqdm(range(num_frames), unit="frame", disable=not progress, desc="rmpe-synth video"):
            image = background.copy()
            pose = frame_pose(cast, thetas[t], gaits[t])
            unit = project(body_points(pose, cast.shape), pose.yaw, pose.roll)
            positions = np.stack([xs[t], cast.feet_y - cast.pelvis_drop], axis=1)
            people, _ = render_people(image, pose, cast.shape, cast.looks, cast.heights, positions, order,
                                      config.segmentation, unit)
            add_grain(np.random.default_rng([int(seed), t, 3]), image, config.noise)
            writer.write(image)
            name = f"frame_{t:06d}.{config.image_format}"
            if write_frames:
                write_bytes(os.path.join(frames_dir, name), encode_image(image, config))
            images.append(image_record(t, name, w, h, frame_index=t, video=video_name))
            for p in people:
                annotations.append(annotation_record(p, len(annotations) + 1, t, config.segmentation, track_id=p["index"]))
            dets = simulate_detections(np.random.default_rng([int(seed), t, 1]), people, (w, h),
                                       clutter_boxes, limb_like, config.detector)
            detections.extend(detection_records(dets, t))
        writer.release()
        os.replace(tmp_video, video_path)
    finally:
        writer.release()
        if os.path.exists(tmp_video):
            os.unlink(tmp_video)

    info = {
        "description": VIDEO_DESCRIPTION,
        "version": "1",
        "seed": int(seed),
        "fps": fps,
        "num_frames": num_frames,
        "video": video_name,
        "config": config.to_dict(),
    }
    write_coco_files(ann_path, det_path, images, annotations, detections, info)
    return {
        "video": video_path,
        "annotations": ann_path,
        "detections": det_path,
        "frames_dir": frames_dir if write_frames else None,
        "num_frames": num_frames,
        "fps": fps,
        "num_people": n,
        "num_annotations": len(annotations),
        "num_detections": len(detections),
        "seconds": time.perf_counter() - start,
    }
