"""The bottom-up pipeline: whole images -> network -> association -> people in image pixels.

:class:`BottomUpPipeline` has the call signature of :class:`rmpe.pipeline.PosePipeline`
(``pipeline(frames, image_ids) -> per image a list of Person``), so ``rmpe-eval``, training
validation, ``rmpe-demo`` and :class:`rmpe.PoseEstimator` run it unchanged; it needs no person
detector. :func:`build_pipeline` and :func:`load_pose_model` pick the bottom-up or the top-down
path from ``model.name``.

Per batch of frames: each frame is letterboxed into the network input (one matrix per frame,
:func:`rmpe.bottomup.data.letterbox_matrix`, sampled on the device by
:func:`rmpe.crop.crop_images`, as the top-down crops are), the batch runs through the network once, every
frame's last-stage maps and fields are decoded (:func:`rmpe.bottomup.decode`, map pixels) and
the keypoints go back to image pixels through ``(letterbox)^-1 @ (map -> input)``. A person's
box is the extent of its found keypoints; its score (and box score) the association's person
score.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..crop import crop_images, frames_to_tensor
from ..distributed import resolve_device
from ..structures import Person
from .association import decode
from .data import apply, letterbox_matrix, map_to_input_matrix
from .network import BottomUpNet, is_bottomup


class BottomUpPipeline:
    """Bottom-up pose estimation of whole frames (module docstring).

    Args:
        model: a :class:`rmpe.bottomup.network.BottomUpNet` (used as it is, device kept).
        input_size: (H, W) network input; frames are letterboxed into it.
        device: where the frames go.
        decode_options: keyword arguments of :func:`rmpe.bottomup.decode` (thresholds, priors).
        half: fp16 autocast on CUDA.
        timer: a :class:`rmpe.pipeline.StageTimer` (stages ``pose`` and ``associate``), or None.
    """

    detector = None  #: no person detector: the network sees whole frames
    dropped_boxes = 0  #: no boxes to drop (the attribute rmpe-eval and rmpe-demo report)
    #: asked for by tracking with ``tracking.appearance``; a bottom-up model gives no per-person
    #: appearance feature (``Person.feature`` stays None), so the tracker uses pose and box costs only
    features = False

    def __init__(self, model: BottomUpNet, *, input_size: Sequence[int], device: Any = "cpu",
                 decode_options: Optional[Dict[str, Any]] = None, half: bool = False, timer: Any = None) -> None:
        self.model = model
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.map_size = (self.input_size[0] // 4, self.input_size[1] // 4)
        self.device = torch.device(device)
        self.decode_options = dict(decode_options or {})
        self.decode_options.setdefault("limbs", model.limbs)
        self.half = bool(half) and self.device.type == "cuda"
        self.timer = timer
        self.map_to_input = map_to_input_matrix(self.input_size, self.map_size)

    @classmethod
    def from_config(cls, config: Any, *, model: Any = None, checkpoint: Optional[str] = None, detector: Any = None,
                    device: Optional[str] = None, timer: Any = None) -> "BottomUpPipeline":
        """The pipeline of a bottom-up config (``model``, ``bottomup:``, ``inference.half``).

        ``detector`` is accepted for the signature of :meth:`rmpe.pipeline.PosePipeline.from_config`
        and ignored; ``model=None`` builds the config's network and loads ``checkpoint``.
        """
        dev = resolve_device(device or config.device)
        if model is None:
            model = load_bottomup_model(config, checkpoint, dev)
        b = config.bottomup
        options = dict(peak_threshold=b.peak_threshold, samples=b.samples, sample_threshold=b.sample_threshold,
                       min_agree=b.min_agree, max_length=b.max_length, min_parts=b.min_parts, min_score=b.min_score)
        return cls(model, input_size=tuple(config.model.input_size), device=dev, decode_options=options,
                   half=config.inference.half, timer=timer)

    def proposals(self, *args: Any, **kwargs: Any):
        """Refused: ``rmpe-eval --tune-nms`` tunes the top-down pose NMS, which a bottom-up model does not use."""
        from ..errors import RMPEError

        raise RMPEError("--tune-nms tunes the top-down pose NMS; a bottom-up model (model.name "
                        f"{self.model.name!r}) has none to tune")

    def _stage(self, name: str):
        return self.timer(name) if self.timer is not None else contextlib.nullcontext()

    @torch.no_grad()
    def __call__(self, images: Sequence[np.ndarray], image_ids: Optional[Sequence[Any]] = None) -> List[List[Person]]:
        """People of each frame.

        Args:
            images: B (H_i, W_i, 3) uint8 BGR frames (sizes may differ).
            image_ids: unused (the signature of :class:`rmpe.pipeline.PosePipeline`).

        Returns:
            per frame a list of :class:`rmpe.structures.Person` (image pixels), best score first.
        """
        if not len(images):
            return []
        with self._stage("pose"):
            frames, sizes = frames_to_tensor(images, self.device, dtype=torch.uint8)
            mats = [letterbox_matrix(tuple(int(v) for v in hw), self.input_size) for hw in sizes]
            matrices = torch.as_tensor(np.stack(mats), dtype=torch.float32, device=self.device)
            batch = crop_images(frames, torch.arange(len(mats), device=self.device), matrices, self.input_size)
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.half):
                out = self.model(batch)
            maps = out.maps[-1].float().cpu().numpy()
            fields = out.fields[-1].float().cpu().numpy()
        results: List[List[Person]] = []
        with self._stage("associate"):
            for b, m in enumerate(mats):
                kp, ks, ps = decode(maps[b], fields[b], **self.decode_options)
                to_image = np.linalg.inv(m) @ self.map_to_input
                xy = apply(to_image, kp.astype(np.float64))
                people = []
                for i in range(len(ps)):
                    found = ks[i] > 0
                    pts = xy[i][found]
                    box = np.concatenate([pts.min(axis=0), pts.max(axis=0)]).astype(np.float32)
                    k3 = np.concatenate([np.where(found[:, None], xy[i], 0.0), ks[i][:, None]], axis=1).astype(np.float32)
                    people.append(Person(keypoints=k3, box=box, score=float(ps[i]), box_score=float(ps[i])))
                results.append(people)
        return results


def load_bottomup_model(config: Any, checkpoint: Optional[str], device: torch.device) -> BottomUpNet:
    """The config's bottom-up network with ``checkpoint`` loaded, in eval mode on ``device``.

    ``checkpoint=None`` leaves the weights random (a warning says so).

    Raises:
        RMPEError: ``inference.backend`` other than ``torch``; a checkpoint that does not fit.
    """
    from ..errors import RMPEError
    from .checkpoint import load_bottomup_checkpoint

    backend = getattr(config.inference, "backend", "torch")
    if backend != "torch":
        raise RMPEError(f"inference.backend {backend!r}: a bottom-up model (model.name {config.model.name!r}) runs on "
                        "the torch backend only; rmpe-export exports the top-down SPPE")
    model = BottomUpNet.from_config(config)
    if checkpoint is not None:
        load_bottomup_checkpoint(model, checkpoint)
    else:
        warnings.warn("no checkpoint given: the pose model has random weights", stacklevel=2)
    return model.to(device).eval()


def load_pose_model(config: Any, checkpoint: Optional[str], device: torch.device):
    """The config's model, bottom-up (``model.name`` a bottom-up network) or top-down (RMPE), loaded."""
    if is_bottomup(config.model.name):
        return load_bottomup_model(config, checkpoint, device)
    from ..pipeline import load_model

    return load_model(config, checkpoint, device)


def build_pipeline(config: Any, **kwargs: Any):
    """:meth:`BottomUpPipeline.from_config` for a bottom-up ``model.name``, else
    :meth:`rmpe.pipeline.PosePipeline.from_config` (same keyword arguments)."""
    if is_bottomup(config.model.name):
        return BottomUpPipeline.from_config(config, **kwargs)
    from ..pipeline import PosePipeline

    return PosePipeline.from_config(config, **kwargs)
