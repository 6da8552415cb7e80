"""The Python API: :class:`PoseEstimator`.

Three lines in a notebook::

    from rmpe import PoseEstimator
    est = PoseEstimator(config="configs/coco/fastpose_se50_256x192.yaml", checkpoint="fast_res50_256x192.pth")
    people = est.predict("photo.jpg")          # list of Person: keypoints (17,3) image px, box, score
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from .config import Config, load_config
from .errors import RMPEError
from .distributed import resolve_device
from .pipeline import PosePipeline, StageTimer
from .sources import ThreadedReader, VideoSource, batched
from .structures import Person

ImageLike = Union[np.ndarray, str, "os.PathLike[str]"]


def as_config(config: Union[None, str, "os.PathLike[str]", Config], overrides: Sequence[str] = ()) -> Config:
    """A :class:`Config` from a path, an existing Config (copied with overrides), or None (defaults)."""
    if isinstance(config, Config):
        if not overrides:
            return config
        from .config import apply_overrides, config_from_dict

        return config_from_dict(apply_overrides(config.to_dict(), overrides), "<config> (with --set)")
    return load_config(config, overrides)


def build_model(config: Config, checkpoint: Optional[str], device: torch.device):
    """The RMPE model of ``config`` with ``checkpoint`` loaded, in eval mode on ``device``.

    ``checkpoint=None`` leaves the weights random (a warning says so).
    """
    from .checkpoints import load_model_checkpoint
    from .model import RMPEModel

    model = RMPEModel.from_config(config, load_init=False)
    if checkpoint is not None:
        load_model_checkpoint(model, checkpoint)
    else:
        warnings.warn("no checkpoint given: the pose model has random weights", stacklevel=2)
    return model.to(device).eval()


def build_person_detector(config: Config, detector: Any, device: torch.device):
    """A person detector from an instance, a path (``.json`` detection file or YOLO weights) or the config."""
    from detectors import build_detector
    from detectors.base import PersonDetector

    if isinstance(detector, PersonDetector) or callable(detector) and not isinstance(detector, (str, os.PathLike)):
        return detector
    overrides = {}
    if config.detector.device is None and config.detector.type == "yolo":
        overrides["device"] = str(device)
    if detector is not None:
        path = os.fspath(detector)
        if path.lower().endswith(".json"):
            overrides.update(type="file", file=path)
        else:
            overrides.update(type="yolo", weights=path)
            if config.detector.device is None:
                overrides["device"] = str(device)
    return build_detector(config.detector, **overrides)


def read_image(image: ImageLike) -> np.ndarray:
    """A BGR uint8 image from an array (returned as is) or a file path."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise RMPEError(f"images must be (H, W, 3) uint8 BGR arrays, got {image.dtype} {image.shape}")
        return image
    path = os.fspath(image)
    if not os.path.isfile(path):
        raise RMPEError(f"image not found: {path}")
    out = cv2.imread(path, cv2.IMREAD_COLOR)
    if out is None:
        raise RMPEError(f"cannot read image {path}: corrupt or not an image")
    return out


class PoseEstimator:
    """Multi-person pose estimation on images and videos.

    Args:
        config: a YAML path, a :class:`Config`, or None for the defaults (FastPose-50, COCO-17).
        checkpoint: SPPE/RMPE checkpoint: AlphaPose's ``fast_res50_256x192.pth`` or a file
            written by ``rmpe-train``. None gives random weights (with a warning).
        detector: None (the config's ``detector`` section), a ``detectors.PersonDetector``,
            a detection results ``.json`` file, or ultralytics YOLO weights (path or name).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
        flip: flip test (default: ``eval.flip`` of the config).
        decoder: ``argmax`` or ``dark`` (default: ``codec.decoder``).
        overrides: ``key.sub=value`` strings applied to the config.
        batch: frames per pipeline step for videos (default ``demo.batch``).
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
    ) -> None:
        self.config = as_config(config, overrides)
        cfg = self.config
        self.device = resolve_device(device or cfg.device)
        self.model = build_model(cfg, checkpoint, self.device)
        self.detector = build_person_detector(cfg, detector, self.device)
        self.batch = int(batch or cfg.demo.batch)
        if self.batch < 1:
            raise RMPEError(f"batch must be at least 1, got {self.batch}")
        self.timer = StageTimer(self.device, enabled=profile)
        keypoint_set = cfg.data.keypoint_set()
        self.keypoint_set = keypoint_set
        self.pipeline = PosePipeline(
            self.model,
            self.detector,
            device=self.device,
            nms=cfg.pose_nms.type,
            nms_params=cfg.pose_nms,
            oks_threshold=cfg.pose_nms.oks_threshold,
            sigmas=keypoint_set.sigmas or None,
            flip=cfg.eval.flip if flip is None else flip,
            decoder=decoder or cfg.codec.decoder,
            sppe_batch=cfg.demo.sppe_batch,
            score=cfg.eval.score,
            keypoint_threshold=cfg.eval.keypoint_threshold,
            half=cfg.demo.half,
            timer=self.timer,
        )

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

    def predict_video(self, path: Union[str, int], queue_size: Optional[int] = None) -> Iterator[Tuple[int, List[Person]]]:
        """Iterate over ``(frame_index, people)`` of a video file (or a webcam index).

        Frames are decoded on a background thread into a bounded queue and processed in
        batches of ``batch`` frames, so memory stays bounded for any video length.
        """
        source = VideoSource(path)
        reader = ThreadedReader(source, queue_size or self.config.demo.queue_size)
        try:
            for frames in batched(reader, self.batch):
                people = self.pipeline([f.image for f in frames], [f.index for f in frames])
                for frame, p in zip(frames, people):
                    yield frame.index, p
        finally:
            reader.close()
