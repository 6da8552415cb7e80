"""The Python API: :class:`PoseEstimator`.

Three lines in a notebook::

    from rmpe import PoseEstimator
    est = PoseEstimator(config="configs/coco/fastpose_se50_256x192.yaml", checkpoint="fast_res50_256x192.pth")
    people = est.predict("photo.jpg")          # list of Person: keypoints (17,3) image px, box, score
"""
from __future__ import annotations

import os
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .config import Config, as_config
from .data.annotations import read_image as read_image_file
from .errors import RMPEError
from .distributed import resolve_device
from .bottomup.pipeline import build_pipeline
from .pipeline import StageTimer
from .sources import Frame, ThreadedReader, VideoSource, batched
from .structures import Person
from .tracking import PoseTracker
from .tracking.smoothing import KeypointSmoother

ImageLike = Union[np.ndarray, str, "os.PathLike[str]"]


def read_image(image: ImageLike) -> np.ndarray:
    """A BGR uint8 image from an array (returned as is) or a file path."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise RMPEError(f"images must be (H, W, 3) uint8 BGR arrays, got {image.dtype} {image.shape}")
        return image
    return read_image_file(os.fspath(image))


def assign_track_ids(tracker: PoseTracker, people: List[Person], smoother: Optional[KeypointSmoother] = None,
                     frame_index: int = 0) -> List[Person]:
    """Run one frame's people (after pose NMS) through ``tracker`` and set their ``track_id``
    (None for a person in no confirmed track); returns ``people``.

    The people's appearance features (:attr:`Person.feature`) go to the tracker when every
    person has one. With a ``smoother`` the tracked people's keypoints are then smoothed in
    place (One-Euro, :mod:`rmpe.tracking.smoothing`), ``frame_index`` giving the time.
    """
    if people:
        kp = np.stack([np.asarray(p.keypoints, dtype=np.float64) for p in people])
        boxes = np.stack([np.asarray(p.box, dtype=np.float64) for p in people])
        scores = np.array([float(p.box_score) for p in people])
        feats = None
        if all(p.feature is not None for p in people):
            feats = np.stack([np.asarray(p.feature, dtype=np.float64) for p in people])
        found = tracker.update(boxes, scores, kp[:, :, :2], kp[:, :, 2], features=feats)
    else:
        found = tracker.update(np.zeros((0, 4)), np.zeros(0), np.zeros((0, len(tracker.sigmas), 2)),
                               np.zeros((0, len(tracker.sigmas))))
    for person, tid in zip(people, found):
        person.track_id = int(tid) if tid >= 0 else None
    if smoother is not None:
        smoothed = smoother(frame_index, found, kp[:, :, :2] if people else np.zeros((0, len(tracker.sigmas), 2)))
        for person, xy in zip(people, smoothed):
            person.keypoints = person.keypoints.copy()
            person.keypoints[:, :2] = xy
    return people


class PoseEstimator:
    """Multi-person pose estimation on images and videos.

    Args:
        config: a YAML path, a :class:`Config`, or None for the defaults (FastPose-50, COCO-17).
        checkpoint: SPPE/RMPE checkpoint: AlphaPose's ``fast_res50_256x192.pth`` or a file
            written by ``rmpe-train``. None gives random weights (with a warning).
        detector: None (the config's ``detector`` section), a ``detectors.PersonDetector``,
            a detection results ``.json`` file, or ultralytics YOLO weights (path or name).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N`` (default: ``device``).
        flip: flip test (default: ``inference.flip``).
        decoder: ``argmax`` or ``dark`` (default: ``inference.decoder``).
        overrides: ``key.sub=value`` strings applied to the config.
        batch: frames per pipeline step (default ``inference.batch``).
        profile: time every stage (see :attr:`timer`).
        backend: ``torch``, ``onnxruntime`` or ``openvino`` (default ``inference.backend``);
            the last two take an ``.onnx`` file from ``rmpe-export`` as ``checkpoint``.
    """

    def __init__(
        self,
        config: Union[None, str, "os.PathLike[str]", Config] = None,
        checkpoint: Optional[str] = None,
        detector: Any = None,
        device: Optional[str] = None,
        *,
        flip: Optional[bool] = None,
        decoder: Optional[str] = None,
        overrides: Sequence[str] = (),
        batch: Optional[int] = None,
        profile: bool = False,
        backend: Optional[str] = None,
    ) -> None:
        flags = [f"{key}={value}" for key, value in (
            ("inference.flip", None if flip is None else str(bool(flip)).lower()),
            ("inference.decoder", decoder),
            ("inference.batch", batch),
            ("device", device),
            ("inference.backend", backend),
        ) if value is not None]
        self.config = as_config(config, list(overrides) + flags)
        cfg = self.config
        self.device = resolve_device(cfg.device)
        self.timer = StageTimer(self.device, enabled=profile)
        self.pipeline = build_pipeline(cfg, checkpoint=checkpoint, detector=detector,  # bottom-up or top-down
                                       device=str(self.device), timer=self.timer)
        self.model = self.pipeline.model
        self.detector = self.pipeline.detector
        self.batch = cfg.inference.batch
        self.keypoint_set = cfg.data.keypoint_set()

    def tracker(self, fps: Optional[float] = None) -> "PoseTracker":
        """A new :class:`rmpe.tracking.PoseTracker` from this estimator's config (``tracking:``);
        with ``tracking.frame_rate: 0`` it runs at ``fps`` (the video's rate) when given, else 30."""
        rate = self.config.tracking.frame_rate or (float(fps) if fps and fps > 0 else 0.0)
        return PoseTracker.from_config(self.config, frame_rate=rate)

    def predict(
        self, images: Union[ImageLike, Sequence[ImageLike]], image_ids: Optional[Sequence[Any]] = None
    ) -> Union[List[Person], List[List[Person]]]:
        """Poses in one image (-> list of :class:`Person`) or a list of images (-> one list each).

        Args:
            images: (H, W, 3) uint8 BGR arrays or image paths.
            image_ids: identities for file-based detectors (COCO ids, frame indices, file names);
                for paths the file name is used by default.
        """
        single = isinstance(images, (np.ndarray, str, os.PathLike))
        items = [images] if single else list(images)
        if image_ids is None:
            image_ids = [os.path.basename(os.fspath(i)) if not isinstance(i, np.ndarray) else n for n, i in enumerate(items)]
        frames = [read_image(i) for i in items]
        out: List[List[Person]] = []
        for start in range(0, len(frames), self.batch):
            out.extend(self.pipeline(frames[start:start + self.batch], image_ids[start:start + self.batch]))
        return out[0] if single else out

    def predict_video(self, path: Union[str, int], queue_size: Optional[int] = None,
                      track: bool = False) -> Iterator[Tuple[int, List[Person]]]:
        """Iterate over ``(frame_index, people)`` of a video file (or a webcam index).

        Frames are decoded on a background thread into a bounded queue and processed in
        batches of ``batch`` frames, so memory stays bounded for any video length.
        With ``track=True`` every person gets :attr:`Person.track_id` (see :meth:`run`).
        """
        for frame, people in self.run(VideoSource(path), queue_size, track=track):
            yield frame.index, people

    def run(self, source: Any, queue_size: Optional[int] = None, ids: Any = None,
            track: bool = False, fps: Optional[float] = None) -> Iterator[Tuple[Frame, List[Person]]]:
        """Iterate over ``(frame, people)`` of a frame source (``rmpe.sources.VideoSource`` or ``ImageSource``).

        Args:
            source: an iterable of :class:`rmpe.sources.Frame`.
            queue_size: frames decoded ahead (default ``demo.queue_size``).
            ids: ``frame -> image id`` for file-based detectors (default: the frame index for
                videos, the file name for images).
            track: give every person a stable :attr:`Person.track_id` across the frames
                (docs/tracking.md): after pose NMS, each frame's people go through one new
                :class:`rmpe.tracking.PoseTracker` (settings from ``tracking:``), in frame order;
                a person outside any confirmed track keeps ``track_id`` None. With
                ``tracking.appearance`` the pipeline also hands the tracker each person's SPPE
                feature (:attr:`Person.feature`); with ``tracking.smooth`` the tracked keypoints
                are One-Euro smoothed at the source's frame rate.
            fps: the video's frame rate, for the tracker's motion model (``tracking.frame_rate: 0``)
                and the smoothing (default: the source's ``fps``; else 30 for the tracker, 25
                for the smoothing).
        """
        ids = ids or (lambda f: f.index if f.name is None else f.name)
        settings = self.config.tracking
        fps = fps or getattr(source, "fps", None)
        tracker = self.tracker(fps) if track else None
        smoother = KeypointSmoother.from_config(self.config, fps or 25.0) if track and settings.smooth else None
        features = self.pipeline.features
        self.pipeline.features = bool(track and settings.appearance)
        reader = ThreadedReader(source, queue_size or self.config.demo.queue_size)
        try:
            for frames in batched(reader, self.batch):
                people = self.pipeline([f.image for f in frames], [ids(f) for f in frames])
                if tracker is not None:
                    for frame, found in zip(frames, people):
                        assign_track_ids(tracker, found, smoother, frame.index)
                yield from zip(frames, people)
        finally:
            reader.close()
            self.pipeline.features = features
