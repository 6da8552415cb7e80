"""The inference pipeline shared by the demo, the Python API, evaluation and training validation.

For a batch of frames: person detection (one detector call), crops of every person of the
batch in one device call, the SPPE in batches, decoding and SDTN on the device (all inside
:meth:`rmpe.model.RMPEModel.predict`), then redundant-pose removal per image.

:meth:`PosePipeline.from_config` is the one place that turns a config (the ``inference:``,
``pose_nms:`` and ``detector:`` sections) into a pipeline.
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from pose_nms.parametric import MAX_SCORE_WEIGHT  # the one home of the pose-NMS person score weight

from .crop import frames_to_tensor
from .distributed import resolve_device
from .errors import RMPEError
from .precision import Precision, pipelined_threads, resolve_precision
from .sources import ThreadedReader
from .sigstack import ensure_signal_stack
from .structures import Person

if TYPE_CHECKING:
    from .config import Config

#: Values of ``pose_nms.type`` / ``--nms``.
NMS_TYPES = ("parametric", "oks", "none")


class StageTimer:
    """Accumulates wall time per named stage (``--profile``); syncs CUDA before reading clocks."""

    def __init__(self, device: torch.device, enabled: bool = True) -> None:
        self.device = device
        self.enabled = enabled
        self.seconds: Dict[str, float] = defaultdict(float)
        self.calls: Dict[str, int] = defaultdict(int)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.seconds[name] += time.perf_counter() - start
            self.calls[name] += 1

    def summary(self, frames: int) -> str:
        total = sum(self.seconds.values()) or 1e-12
        lines = [f"{'stage':<10}{'total s':>10}{'ms/frame':>10}{'share':>8}"]
        for name, sec in self.seconds.items():
            lines.append(f"{name:<10}{sec:>10.2f}{1e3 * sec / max(frames, 1):>10.1f}{100 * sec / total:>7.1f}%")
        return "\n".join(lines)


def person_scores(mode: str, kp_scores: torch.Tensor, box_scores: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """Ranking score per person.

    Args:
        mode: ``pose_nms`` (mean + box score + 1.25 x max keypoint score, DESIGN.md), ``box``,
            or ``box_x_keypoints`` (box score x mean of the keypoint scores above ``threshold``).
        kp_scores: (P,K); box_scores: (P,).
    """
    if mode == "pose_nms":
        return kp_scores.mean(-1) + box_scores + MAX_SCORE_WEIGHT * kp_scores.amax(-1)
    if mode == "box":
        return box_scores.clone()
    if mode == "box_x_keypoints":
        above = kp_scores > threshold
        mean = torch.where(above.any(-1), (kp_scores * above).sum(-1) / above.sum(-1).clamp(min=1), torch.zeros_like(box_scores))
        return box_scores * mean
    raise ValueError(f"unknown person score mode '{mode}'")


class PosePipeline:
    """Detector + RMPE model + pose NMS over batches of frames.

    Args:
        model: an :class:`rmpe.model.RMPEModel` (anything with the same ``predict``).
        detector: a ``detectors.PersonDetector`` (called as ``detector(images, image_ids=...)``).
        device: where crops, the SPPE and decoding run.
        nms: ``parametric`` (RMPE's parametric pose NMS), ``oks`` (greedy OKS NMS) or ``none``.
        nms_params: ``pose_nms.PoseNMSParams`` (or the config's ``pose_nms`` section, a subclass
            of it, whose ``params_file`` then replaces the constants); None: the defaults.
        oks_threshold: OKS above which ``oks`` NMS suppresses a pose.
        sigmas: OKS sigmas for ``oks`` NMS (default COCO-17).
        flip: flip test (mirrored crops averaged in).
        decoder: ``argmax`` / ``dark`` (None: the model codec's).
        sppe_batch: crops per SPPE forward.
        score: person ranking score mode (see :func:`person_scores`).
        keypoint_threshold: keypoint score threshold of the ``box_x_keypoints`` score.
        half: reduced precision for the SPPE (:mod:`rmpe.precision`): fp16 autocast on CUDA,
            bf16 autocast with channels_last on CPUs with bf16 instructions (torch models; a
            runtime backend gets its precision when it is loaded, :func:`load_model`).
        timer: optional :class:`StageTimer`.
        min_box_size: a box whose width or height is below this (px) after clipping to the
            image is dropped (None: the detector's ``min_box_size``, else 2).
        features: give every :class:`Person` its SPPE appearance feature (``Person.feature``,
            for the pose tracker); set by :class:`rmpe.api.PoseEstimator` while it tracks.
        pipelined: in :meth:`stream`, detect the next batch on a second thread while this
            batch's poses are estimated.

    Boxes are clipped to the image before cropping (as AlphaPose does): a box reaching past
    the frame would otherwise give a crop, and keypoints, far outside it. Boxes that clipping
    leaves smaller than ``min_box_size`` are dropped and counted in :attr:`dropped_boxes`.
    """

    def __init__(
        self,
        model: Any,
        detector: Any,
        *,
        device: torch.device | str = "cpu",
        nms: str = "parametric",
        nms_params: Any = None,
        oks_threshold: float = 0.9,
        sigmas: Optional[Sequence[float]] = None,
        flip: bool = False,
        decoder: Optional[str] = None,
        sppe_batch: int = 64,
        score: str = "pose_nms",
        keypoint_threshold: float = 0.2,
        half: bool = False,
        timer: Optional[StageTimer] = None,
        min_box_size: Optional[float] = None,
        features: bool = False,
        pipelined: bool = True,
    ) -> None:
        if nms not in NMS_TYPES:
            raise RMPEError(f"unknown NMS '{nms}' (use {', '.join(NMS_TYPES)})")
        self.model = model
        self.detector = detector
        self.device = torch.device(device)
        self.nms = nms
        self.oks_threshold = oks_threshold
        self.sigmas = sigmas
        self.flip = flip
        self.decoder = decoder
        self.sppe_batch = sppe_batch
        self.score = score
        self.keypoint_threshold = keypoint_threshold
        backend = getattr(model, "backend", "torch")
        #: the precision the SPPE runs in (:class:`rmpe.precision.Precision`)
        self.precision: Precision = resolve_precision(bool(half), str(self.device), backend)
        self.half = self.precision.reduced
        self.amp: Any = False  # what RMPEModel.predict's ``amp`` gets
        if backend == "torch" and self.precision.name == "fp16":
            self.amp = torch.float16
        elif backend == "torch" and self.precision.name == "bf16":
            self.amp = torch.bfloat16
            sppe = getattr(model, "sppe", None)
            if isinstance(sppe, torch.nn.Module):  # bf16 convolutions run fastest on NHWC
                sppe.to(memory_format=torch.channels_last)
        self.pipelined = bool(pipelined)
        self.timer = timer or StageTimer(self.device, enabled=False)
        if min_box_size is None:
            min_box_size = getattr(detector, "min_box_size", 2.0)
        self.min_box_size = float(min_box_size)
        self.features = bool(features)
        #: boxes dropped so far because clipping to the image left them below ``min_box_size``
        self.dropped_boxes = 0
        self.nms_params = None
        if nms == "parametric":
            from pose_nms import PoseNMSParams

            self.nms_params = PoseNMSParams.from_config(nms_params)

    @classmethod
    def from_config(
        cls,
        config: "Config",
        *,
        model: Any = None,
        checkpoint: Optional[str] = None,
        detector: Any = None,
        device: Optional[str] = None,
        timer: Optional[StageTimer] = None,
    ) -> "PosePipeline":
        """The pipeline a config describes.

        Reads ``inference:`` (flip, decoder, sppe_batch, half, score, keypoint_threshold,
        threads, pipelined),
        ``pose_nms:``, ``detector:``, ``data:`` (the keypoint set's OKS sigmas) and ``device``.

        Args:
            config: the experiment config.
            model: an RMPE model to use as it is (its device is kept); None builds the
                config's model and loads ``checkpoint`` into it (random weights, with a
                warning, when there is none).
            detector: None (the config's ``detector:`` section), a ``detectors.PersonDetector``
                (or any callable with its signature), a detection results ``.json`` path, or
                ultralytics YOLO weights (path or name).
            device: overrides ``config.device``.
        """
        dev = resolve_device(device or config.device)
        inf = config.inference
        apply_threads(inf.threads)
        if model is None:
            model = load_model(config, checkpoint, dev)
        pipeline = cls(
            model,
            build_person_detector(config, detector, dev),
            device=dev,
            nms=config.pose_nms.type,
            nms_params=config.pose_nms,
            oks_threshold=config.pose_nms.oks_threshold,
            sigmas=config.data.keypoint_set().sigmas or None,
            flip=inf.flip,
            decoder=inf.decoder,
            sppe_batch=inf.sppe_batch,
            score=inf.score,
            keypoint_threshold=inf.keypoint_threshold,
            half=inf.half,
            timer=timer,
            min_box_size=config.detector.min_box_size,
            pipelined=pipelining(config, dev),
        )
        if inf.half:  # the user asked for reduced precision: say which ran (or why not)
            print(f"rmpe: {pipeline.precision.note}", file=sys.stderr)
        return pipeline

    # ------------------------------------------------------------------ stages

    def __call__(self, images: Sequence[np.ndarray], image_ids: Optional[Sequence[Any]] = None) -> List[List[Person]]:
        """Detect and estimate poses in a batch of BGR uint8 frames -> per image its people."""
        detections = self.detect(images, image_ids)
        return self.estimate(images, [d.boxes for d in detections], [d.scores for d in detections])

    def detect(self, images: Sequence[np.ndarray], image_ids: Optional[Sequence[Any]] = None) -> List[Any]:
        """The detector on a batch of BGR uint8 frames -> per image ``detectors.Detections``."""
        with self.timer("detect"):
            found = self.detector(list(images), image_ids=list(image_ids) if image_ids is not None else None)
        ensure_signal_stack()  # an OpenVINO detector leaves a signal stack too small for AMX (rmpe/sigstack.py)
        return found

    def warmup(self, size: Tuple[int, int], batch: int = 1) -> float:
        """Run the detector and the pose network once on blank frames, outside the timer.

        Models that load or compile at their first call (ultralytics' exported detectors,
        OpenVINO at a new batch size) then do so before the timed work; ``rmpe-demo`` calls
        this before its clock starts and reports the time. A detector that reads no pixels
        (detection file, ground truth) is not called.

        Args:
            size: (H, W) of the frames to come.
            batch: frames per detector call in the run (``inference.batch``).

        Returns:
            the seconds it took.
        """
        start = time.perf_counter()
        h, w = int(size[0]), int(size[1])
        frames = [np.zeros((h, w, 3), np.uint8) for _ in range(max(1, int(batch)))]
        enabled, self.timer.enabled = self.timer.enabled, False
        try:
            if getattr(self.detector, "needs_pixels", True) and not getattr(self.detector, "needs_image_ids", False):
                self.detect(frames)
            box = np.array([[0.25 * w, 0.1 * h, 0.75 * w, 0.9 * h]], np.float32)
            self._poses(frames[:1], [box], [np.ones(1, np.float32)])
        finally:
            self.timer.enabled = enabled
        return time.perf_counter() - start

    def stream(self, batches: Iterable[Tuple[Sequence[np.ndarray], Optional[Sequence[Any]], Any]]
               ) -> Iterator[Tuple[Any, List[List[Person]]]]:
        """Poses for a stream of batches, in order: ``(images, image_ids, tag)`` -> ``(tag, people)``.

        With :attr:`pipelined`, a worker thread pulls the next batch from ``batches`` and runs
        the detector on it while this thread estimates the current batch's poses: on a CPU the
        two stages then share the cores instead of taking turns. At most one detected batch
        waits (bounded memory); results come out in input order; an exception raised while
        reading or detecting is re-raised here; closing the iterator (or an exception here)
        stops the worker. Without :attr:`pipelined` it is ``self(images, image_ids)`` per batch.

        Args:
            batches: iterable of (B frames (H, W, 3) uint8 BGR, B image ids or None, any tag).
        """
        if not self.pipelined:
            for images, image_ids, tag in batches:
                yield tag, self(images, image_ids)
            return
        detected = ((images, tag, self.detect(images, image_ids)) for images, image_ids, tag in batches)
        ahead = ThreadedReader(detected, queue_size=1)
        try:
            for images, tag, detections in ahead:
                yield tag, self.estimate(images, [d.boxes for d in detections], [d.scores for d in detections])
        finally:
            ahead.close()

    def estimate(
        self,
        images: Sequence[np.ndarray],
        boxes: Sequence[np.ndarray],
        box_scores: Sequence[np.ndarray],
    ) -> List[List[Person]]:
        """Poses for given boxes.

        Args:
            images: B frames (H, W, 3) uint8 BGR.
            boxes: per image (N_b, 4) xyxy float32 in image pixels.
            box_scores: per image (N_b,).

        Returns:
            per image a list of :class:`Person` (after NMS), best first.
        """
        raw = self._poses(images, boxes, box_scores)
        if raw is None:
            return [[] for _ in images]
        with self.timer("nms"):
            return self._select(*raw)

    def proposals(
        self, images: Sequence[np.ndarray], image_ids: Optional[Sequence[Any]] = None
    ) -> List[Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per image the pose proposals before NMS: boxes (N,4), box scores (N,),
        keypoints (N,K,2) image px, keypoint scores (N,K) (CPU tensors). Used to tune pose NMS."""
        with self.timer("detect"):
            dets = self.detector(list(images), image_ids=list(image_ids) if image_ids is not None else None)
        raw = self._poses(images, [d.boxes for d in dets], [d.scores for d in dets])
        if raw is None:
            k = getattr(self.model, "num_keypoints", 17)
            empty = (torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, k, 2), torch.zeros(0, k))
            return [empty for _ in images]
        kp, kp_scores, boxes, box_scores, counts, _ = raw
        parts = [torch.split(t.cpu(), counts) for t in (boxes, box_scores, kp, kp_scores)]
        return list(zip(*parts))

    def clip_boxes(
        self, images: Sequence[np.ndarray], boxes: torch.Tensor, scores: torch.Tensor, image_index: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Clip boxes to their images and drop the ones left too small (counted in :attr:`dropped_boxes`).

        Args:
            images: B frames (H, W, 3).
            boxes: (N,4) xyxy image px; scores: (N,); image_index: (N,) image of each box.

        Returns:
            the kept boxes (clipped to x in [0, W], y in [0, H]), their scores and image indices.
        """
        sizes = torch.tensor([[img.shape[1], img.shape[0]] for img in images], dtype=boxes.dtype)  # (B,2) W,H
        limit = sizes[image_index].repeat(1, 2)  # (N,4) W,H,W,H
        clipped = torch.minimum(boxes.clamp(min=0), limit)
        wh = clipped[:, 2:] - clipped[:, :2]
        keep = (wh >= self.min_box_size).all(dim=1) & (wh > 0).all(dim=1)
        dropped = int((~keep).sum())
        if dropped:
            self.dropped_boxes += dropped
            return clipped[keep], scores[keep], image_index[keep]
        return clipped, scores, image_index

    @torch.no_grad()
    def _poses(self, images, boxes, box_scores):
        counts = [len(b) for b in boxes]
        if sum(counts) == 0:
            return None
        with self.timer("pose"):
            all_boxes = torch.from_numpy(np.concatenate([np.asarray(b, np.float32).reshape(-1, 4) for b in boxes]))
            all_scores = torch.from_numpy(np.concatenate([np.asarray(s, np.float32).reshape(-1) for s in box_scores]))
            image_index = torch.repeat_interleave(torch.arange(len(images)), torch.tensor(counts))
            all_boxes, all_scores, image_index = self.clip_boxes(images, all_boxes, all_scores, image_index)
            counts = torch.bincount(image_index, minlength=len(images)).tolist()
            if sum(counts) == 0:
                return None
            tensor, _ = frames_to_tensor(list(images), device=self.device, dtype=torch.uint8)
            extra = {"features": True} if self.features else {}
            found = self.model.predict(
                tensor,
                image_index.to(self.device),
                all_boxes.to(self.device),
                flip=self.flip,
                decoder=self.decoder,
                amp=self.amp,
                batch=self.sppe_batch,
                **extra,
            )
            kp, kp_scores = found[0].float(), found[1].float()
            feats = found[2] if self.features else None
        return kp, kp_scores, all_boxes.to(kp.device), all_scores.to(kp.device), counts, feats

    def _select(self, kp, kp_scores, boxes, box_scores, counts, feats=None) -> List[List[Person]]:
        splits = lambda t: torch.split(t, counts)  # noqa: E731
        per_image = list(zip(splits(kp), splits(kp_scores), splits(boxes), splits(box_scores)))
        image_feats = (np.split(feats.cpu().numpy(), np.cumsum(counts)[:-1]) if feats is not None
                       else [None] * len(per_image))
        out: List[List[Person]] = []
        if self.nms == "parametric":
            from pose_nms import batched_parametric_pose_nms

            results = batched_parametric_pose_nms(
                [p[2] for p in per_image], [p[3] for p in per_image],
                [p[0] for p in per_image], [p[1] for p in per_image], params=self.nms_params,
            )
            for (k, s, b, bs), r, f in zip(per_image, results, image_feats):
                if len(r) == 0:
                    out.append([])
                    continue
                taken_box_scores = bs[r.indices]
                scores = (r.scores if self.score == "pose_nms" else
                          person_scores(self.score, r.keypoint_scores, taken_box_scores, self.keypoint_threshold))
                out.append(self._people(r.keypoints, r.keypoint_scores, r.boxes, scores, taken_box_scores,
                                        [m.tolist() for m in r.members], _take(f, r.indices)))
            return out
        for (k, s, b, bs), f in zip(per_image, image_feats):
            if k.shape[0] == 0:
                out.append([])
                continue
            scores = person_scores(self.score, s.clamp(min=1e-5) if self.score == "pose_nms" else s, bs, self.keypoint_threshold)
            keep = torch.arange(k.shape[0], device=k.device)
            if self.nms == "oks":
                from pose_nms import oks_nms

                kwargs = {} if self.sigmas is None else {"sigmas": self.sigmas}
                keep = torch.as_tensor(oks_nms(k, s, scores, None, threshold=self.oks_threshold, **kwargs), device=k.device)
            else:
                keep = torch.argsort(scores, descending=True, stable=True)
            out.append(self._people(k[keep], s[keep], b[keep], scores[keep], bs[keep], [[int(i)] for i in keep],
                                    _take(f, keep)))
        return out

    @staticmethod
    def _people(kp, kp_scores, boxes, scores, box_scores, merged, feats=None) -> List[Person]:
        kp3 = torch.cat([kp, kp_scores[..., None]], dim=-1).cpu().numpy().astype(np.float32)
        boxes = boxes.cpu().numpy().astype(np.float32)
        scores = scores.cpu().numpy()
        box_scores = box_scores.cpu().numpy()
        return [
            Person(keypoints=kp3[i], box=boxes[i], score=float(scores[i]), box_score=float(box_scores[i]),
                   merged=merged[i], feature=None if feats is None else feats[i])
            for i in range(kp3.shape[0])
        ]


def _take(features: Optional[np.ndarray], index: Any) -> Optional[np.ndarray]:
    """Rows ``index`` (a tensor or sequence of proposal indices) of one image's (N,C) features, or None."""
    if features is None:
        return None
    return features[np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index, dtype=np.int64)]


def load_model(config: "Config", checkpoint: Optional[str], device: torch.device):
    """The RMPE model of ``config`` with ``checkpoint`` loaded, in eval mode on ``device``.

    ``checkpoint=None`` leaves the weights random (a warning says so). With
    ``inference.backend`` ``onnxruntime`` / ``openvino``, ``checkpoint`` is an ``.onnx`` file
    from ``rmpe-export`` whose networks run on that runtime inside the same model class
    (:func:`rmpe.export.adapter.load_runtime_model`; docs/export.md).
    """
    from .checkpoints import load_model_checkpoint
    from .model import RMPEModel

    backend = getattr(config.inference, "backend", "torch")
    if backend != "torch" or (checkpoint is not None and os.fspath(checkpoint).lower().endswith(".onnx")):
        from .export.adapter import load_runtime_model
        from .export.runtime import check_backend

        check_backend(backend, checkpoint)
        precision = resolve_precision(config.inference.half, str(device), backend)
        return load_runtime_model(checkpoint, backend, config, str(device), threads=config.inference.threads,
                                  precision=precision.name if precision.name == "bf16" else "fp32")

    model = RMPEModel.from_config(config, load_init=False)
    if checkpoint is not None:
        load_model_checkpoint(model, checkpoint)
    else:
        warnings.warn("no checkpoint given: the pose model has random weights", stacklevel=2)
    return model.to(device).eval()


def apply_threads(threads: int) -> int:
    """Set torch's CPU threads to ``threads`` (``inference.threads``; 0 leaves torch's default,
    every core) and return the count the runtimes get (0: their default, every core)."""
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(int(threads))
    return int(threads)


def pipelining(config: "Config", device: torch.device) -> bool:
    """Whether a pipeline on ``device`` overlaps detection with pose estimation:
    ``inference.pipelined`` where it is set; when it is null (automatic), on, except for an
    OpenVINO pose network on the CPU. OpenVINO's threads already fill every core within each
    stage, so two overlapped stages only compete: on the 2-core machine the sequential loop gave
    15.3 frames/s and the pipelined one 11.7 (both stages on 2 threads) or 7.0 (a core each),
    side by side, with the host at full rate; in its slow state pipelining won (BENCHMARKS.md,
    "CPU real time", session six)."""
    inf = config.inference
    if inf.pipelined is not None:
        return bool(inf.pipelined)
    return not (torch.device(device).type == "cpu" and inf.backend == "openvino")


def streaming_threads(config: "Config", device: torch.device) -> "Config":
    """``config`` for a pipeline that will :meth:`PosePipeline.stream` (rmpe-demo applies it;
    API users who stream may too): with ``inference.threads`` 0, pipelining on
    (:func:`pipelining`), a CPU device and a PyTorch or onnxruntime pose network, the cores are
    split between the pose network (``inference.threads``) and a YOLO detector without its own
    ``detector.threads`` (:func:`rmpe.precision.pipelined_threads`; 2 cores: one each): their
    worker threads spin while they wait, and two stages that each spin every core ran at half
    the frame rate (BENCHMARKS.md, "CPU real time"). An OpenVINO pose network (sequential
    unless pipelining is asked for) keeps every core: its threads sleep when idle, and
    splitting the cores lowered its frame rate by a quarter instead. Evaluation and training
    validation, which do not overlap the stages, keep every core. Returns a copy when it
    changes anything."""
    import copy

    inf = config.inference
    if (inf.threads or not pipelining(config, device) or torch.device(device).type != "cpu"
            or inf.backend == "openvino"):
        return config
    pose, det = pipelined_threads()
    out = copy.deepcopy(config)
    out.inference.threads = pose
    if not out.detector.threads:
        out.detector.threads = det
    return out


def build_person_detector(config: "Config", detector: Any, device: torch.device):
    """A person detector from an instance, a path (``.json`` detection file or YOLO weights) or the config.

    A YOLO detector without its own ``detector.device`` runs on the pipeline's ``device``.
    """
    from detectors import build_detector
    from detectors.base import PersonDetector

    if isinstance(detector, PersonDetector) or callable(detector) and not isinstance(detector, (str, os.PathLike)):
        return detector
    overrides: Dict[str, Any] = {}
    if detector is not None:
        path = os.fspath(detector)
        if path.lower().endswith(".json"):
            overrides.update(type="file", file=path)
        else:
            overrides.update(type="yolo", weights=path)
    if config.detector.device is None and overrides.get("type", config.detector.type) == "yolo":
        overrides["device"] = str(device)
    return build_detector(config.detector, **overrides)
