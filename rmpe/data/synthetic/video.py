"""Synthetic videos: people walking (and waving) on a static cluttered scene, with track ids.

:func:`generate_video` renders the people that :mod:`~rmpe.data.synthetic.scenarios` plans
(``lanes``, ``crossing`` or ``crowd``) frame by frame, painted far to near, annotates every
person visible in a frame (area > 0, keypoints flagged as in the still-image world) with its
``track_id`` (its index in the cast, kept when it leaves the frame and comes back), and runs
the simulated detector with memory (:class:`~rmpe.data.synthetic.detector.VideoDetector`).
"""
from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Optional, Tuple, Union

import cv2
import numpy as np

from ...errors import RMPEError
from .background import add_grain, make_background
from .body import body_points, project
from .coco import VIDEO_DESCRIPTION, annotation_record, detection_records, image_record, write_coco_files
from .config import SyntheticConfig
from .detector import VideoDetector
from .files import check_seed, encode_image, resolve_config, write_bytes
from .scenarios import SCENARIOS, cast_motion, frame_pose, plan_cast
from .scene import render_people

PathLike = Union[str, "os.PathLike[str]"]


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
    scenario: str = "lanes",
) -> Dict[str, Any]:
    """Write a synthetic mp4 with per-frame COCO annotations and simulated detections.

    Args:
        out_path_or_dir: a ``.mp4`` path (annotations go beside it as ``<stem>.annotations.json``
            and ``<stem>.detections.json``) or a folder (``video.mp4``, ``annotations.json``,
            ``detections.json``).
        seconds: duration; the video has ``round(seconds * fps)`` frames.
        seed: video seed (cast and background from ``[seed, 0, 2]``, frame ``t``'s grain from
            ``[seed, t, 3]``, the detector's false-positive sites from ``[seed, 0, 4]`` and its
            frame ``t`` draws from ``[seed, t, 1]``).
        fps: frame rate (default ``config.fps``).
        size: (width, height) in px; None keeps ``config.size`` (default 640x480).
        config: world settings (defaults: :class:`SyntheticConfig`).
        num_people: people in the video (default ``config.video_people``); in ``lanes`` and
            ``crossing`` all of them are in every frame, in ``crowd`` they come and go.
        write_frames: also write every frame as an image in ``frames/`` (the annotation
            ``file_name`` points there).
        progress: show a tqdm bar.
        scenario: ``lanes`` (each person in its own depth lane), ``crossing`` (people walk
            across each other, one behind the other) or ``crowd`` (crossing, plus people
            leaving and entering the frame); see :mod:`~rmpe.data.synthetic.scenarios`.

    Returns:
        Summary dict: ``video``, ``annotations``, ``detections`` (paths), ``num_frames``,
        ``fps``, ``num_people`` (in the cast), ``scenario``, ``num_annotations``, ``num_detections``, ``seconds``.

    Raises:
        RMPEError: bad duration, frame rate, people count, scenario or config; a video that
            cannot be written.
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
    if scenario not in SCENARIOS:
        raise RMPEError(f"video scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
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
    cast = plan_cast(rng, n, (w, h), config, scenario)
    times = np.arange(num_frames) / fps
    xs, thetas, gaits, drives = cast_motion(cast, times)
    order = np.argsort(cast.feet_y, kind="stable")
    detector = VideoDetector((w, h), clutter_boxes, limb_like, config.detector,
                             rng=np.random.default_rng([int(seed), 0, 4]))

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
            pose = frame_pose(cast, thetas[t], gaits[t], drives[t])
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
            dets = detector(np.random.default_rng([int(seed), t, 1]), people)
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
        "scenario": scenario,
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
        "scenario": scenario,
        "num_annotations": len(annotations),
        "num_detections": len(detections),
        "seconds": time.perf_counter() - start,
    }
