"""Experiment configuration: YAML files -> typed dataclasses with defaults.

A config file holds any subset of the sections below; everything left out keeps its
default. Files are read with ``yaml.safe_load``. An unknown key or a value of the wrong
type raises :class:`~rmpe.errors.RMPEError` naming the key and the file. Command-line
overrides use dotted keys: ``--set train.lr=5e-4 --set model.stn=true``.

Example::

    cfg = load_config("configs/coco/fastpose_se50_256x192.yaml", overrides=["train.epochs=10"])
    cfg.model.input_size   # (256, 192)
"""
from __future__ import annotations

import dataclasses
import math
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import yaml

from detectors import DetectorSettings
from pose_nms import PoseNMSParams

from .data.synthetic.config import SyntheticConfig
from .errors import RMPEError, user_errors
from .keypoints import COCO, KeypointSet


class Range:
    """The valid interval of a numeric setting (applied to every element of a list/tuple).

    ``Range(0, None, low_open=True)`` reads "> 0"; ``Range(0, 1)`` reads "in [0, 1]".
    """

    def __init__(self, low: Optional[float] = None, high: Optional[float] = None, *,
                 low_open: bool = False, high_open: bool = False) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_num(self.high)}"
        return "finite"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def setting(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING,
            low: Optional[float] = None, high: Optional[float] = None,
            low_open: bool = False, high_open: bool = False) -> Any:
    """A dataclass field with a valid range, checked when a config is loaded.

    Example: ``sigma: float = setting(2.0, low=0, low_open=True)`` (sigma > 0).
    """
    meta = {"range": Range(low, high, low_open=low_open, high_open=high_open)}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


POSITIVE = dict(low=0, low_open=True)
NON_NEGATIVE = dict(low=0)
PROBABILITY = dict(low=0, high=1)
AT_LEAST_ONE = dict(low=1)


@dataclass
class ModelConfig:
    """The SPPE and the symmetric STN around it."""

    name: str = "fastpose_se50"  #: SPPE registry name (``sppe.build_sppe``)
    num_keypoints: int = setting(17, **AT_LEAST_ONE)  #: keypoints per person (heatmap channels)
    input_size: Tuple[int, int] = setting((256, 192), low=8)  #: crop (H, W) in pixels
    heatmap_size: Tuple[int, int] = setting((64, 48), **AT_LEAST_ONE)  #: heatmap (h, w); must be input_size / 4
    pixel_mean: Tuple[float, float, float] = (0.406, 0.457, 0.480)  #: RGB, on [0, 1] pixels
    pixel_std: Tuple[float, float, float] = setting((1.0, 1.0, 1.0), **POSITIVE)  #: AlphaPose divides by no std
    stn: bool = False  #: wrap the SPPE in the symmetric STN (localisation net + SDTN)
    init_from: Optional[str] = None  #: checkpoint (ours or AlphaPose's) to initialise the SPPE
    channels_last: bool = False  #: channels-last memory format for the SPPE


@dataclass
class DataConfig:
    """A COCO-format keypoint data set and how people are cropped from it."""

    train_ann: Optional[str] = None  #: training annotation JSON (COCO person keypoints)
    train_images: Optional[str] = None  #: training image folder
    val_ann: Optional[str] = None  #: validation annotation JSON; also rmpe-eval's default ``--ann``
    val_images: Optional[str] = None  #: validation image folder; also rmpe-eval's default ``--images``
    #: keypoint names; ``None`` means COCO-17 (names, pairs, sigmas from ``rmpe.keypoints``)
    keypoint_names: Optional[List[str]] = None
    flip_pairs: Optional[List[List[int]]] = None  #: left/right keypoint index pairs (custom keypoint sets)
    skeleton: Optional[List[List[int]]] = None  #: limbs as keypoint index pairs, for drawing
    sigmas: Optional[List[float]] = setting(None, **POSITIVE)  #: OKS sigmas per keypoint (custom keypoint sets)
    upper_body_ids: Optional[List[int]] = None  #: keypoints of the upper body (half-body augmentation)
    lower_body_ids: Optional[List[int]] = None  #: keypoints of the lower body (half-body augmentation)
    aspect_ratio: float = setting(0.75, **POSITIVE)  #: crop box w / h
    box_scale: float = setting(1.25, **POSITIVE)  #: crop box enlargement
    num_workers: int = setting(2, **NON_NEGATIVE)  #: DataLoader worker processes
    skip_bad_images: bool = True  #: warn and count a missing/corrupt image instead of failing

    def keypoint_set(self) -> KeypointSet:
        """The data set's :class:`KeypointSet` (COCO-17 unless the config describes another)."""
        if self.keypoint_names is None:
            return COCO
        try:
            return KeypointSet(
                names=tuple(self.keypoint_names),
                flip_pairs=tuple(tuple(p) for p in (self.flip_pairs or [])),
                skeleton=tuple(tuple(p) for p in (self.skeleton or [])),
                sigmas=tuple(self.sigmas or ()),
                upper_body_ids=tuple(self.upper_body_ids or ()),
                lower_body_ids=tuple(self.lower_body_ids or ()),
            )
        except ValueError as exc:
            raise RMPEError(f"data: bad keypoint description: {exc}") from None


@dataclass
class CodecConfig:
    """Heatmap targets (sizes come from the model section; the decoder is ``inference.decoder``)."""

    sigma: float = setting(2.0, **POSITIVE)  #: Gaussian target sigma in heatmap pixels


@dataclass(frozen=True)
class PoseNMSConfig(PoseNMSParams):
    """Redundant-pose elimination (docs/pose-nms.md). The constants are ``pose_nms.PoseNMSParams``'s."""

    #: ``parametric`` (RMPE's parametric pose NMS), ``oks`` (greedy OKS NMS) or ``none``
    type: Literal["parametric", "oks", "none"] = "parametric"
    #: drop a person whose largest keypoint score (before or after merging) is below this, in [0, 1]
    score_threshold: float = setting(0.3, **PROBABILITY)
    oks_threshold: float = setting(0.9, **PROBABILITY)  #: OKS above which ``oks`` NMS suppresses a pose
    params_file: Optional[str] = None  #: YAML written by ``rmpe-eval --tune-nms``; overrides the constants


@dataclass
class ProposalsConfig:
    """Which boxes the SPPE is trained on."""

    type: Literal["gt", "jitter", "pgpg"] = "gt"  #: ground-truth boxes, AlphaPose's jitter, or PGPG proposals
    model: Optional[str] = None  #: PGPG model file (``rmpe-pgpg fit``) for ``type: pgpg``
    probability: float = setting(1.0, **PROBABILITY)  #: chance a sample uses a generated proposal instead of the GT box


@dataclass
class TrainConfig:
    """Training recipe; defaults are AlphaPose's FastPose-50 COCO recipe."""

    epochs: int = setting(200, **AT_LEAST_ONE)  #: passes over the training people
    batch_size: int = setting(32, **AT_LEAST_ONE)  #: crops per optimiser step (per process)
    lr: float = setting(1e-3, **POSITIVE)  #: Adam learning rate
    weight_decay: float = setting(0.0, **NON_NEGATIVE)  #: Adam weight decay
    lr_steps: List[int] = setting(default_factory=lambda: [90, 120], **NON_NEGATIVE)  #: epochs where the rate is multiplied by lr_factor
    lr_factor: float = setting(0.1, **POSITIVE)  #: learning-rate multiplier at each step
    warmup_epochs: float = setting(0.0, **NON_NEGATIVE)  #: linear warm-up length in epochs
    loss_weight: float = setting(0.5, **NON_NEGATIVE)  #: multiplier of the visibility-weighted heatmap MSE
    parallel_sppe_weight: float = setting(1.0, **NON_NEGATIVE)  #: weight of the frozen parallel-SPPE loss (needs model.stn)
    scale_factor: float = setting(0.3, low=0, high=1, high_open=True)  #: scale jitter: box scale in 1 +- this
    rotation_factor: float = setting(40.0, low=0, high=180)  #: rotation jitter in degrees
    rotation_prob: float = setting(0.6, **PROBABILITY)  #: chance a sample is rotated
    flip: bool = True  #: mirror augmentation with flip pairs (keep off for rmpe-synth data)
    half_body_prob: float = setting(0.0, **PROBABILITY)  #: chance of a half-body crop
    half_body_min_joints: int = setting(8, **NON_NEGATIVE)  #: visible joints a person needs for a half-body crop
    photometric: bool = False  #: brightness/contrast/colour jitter
    proposals: ProposalsConfig = field(default_factory=ProposalsConfig)
    amp: bool = True  #: mixed precision on CUDA (ignored on the CPU)
    seed: int = setting(0, **NON_NEGATIVE)  #: seed of sampling, augmentation and initialisation
    deterministic: bool = False  #: deterministic cuDNN kernels
    val_interval: int = setting(1, **AT_LEAST_ONE)  #: validate every N epochs
    log_interval: int = setting(20, **AT_LEAST_ONE)  #: log every N optimiser steps
    max_samples: Optional[int] = setting(None, **AT_LEAST_ONE)  #: use only the first N training samples
    max_minutes: Optional[float] = setting(None, **POSITIVE)  #: stop (with a resumable checkpoint) after this much wall time


@dataclass
class InferenceConfig:
    """How boxes become poses: shared by rmpe-demo, rmpe-eval, training validation and the API."""

    flip: bool = False  #: flip test: average with the mirrored crop's heatmaps
    decoder: Literal["argmax", "dark"] = "argmax"  #: heatmap decoder
    batch: int = setting(8, **AT_LEAST_ONE)  #: frames (images) per pipeline step and detector call
    sppe_batch: int = setting(64, **AT_LEAST_ONE)  #: crops per SPPE call
    #: reduced precision for the pose network: fp16 on CUDA, bf16 on CPUs with bf16 instructions
    #: (torch autocast + channels_last, OpenVINO's precision hint); fp32 with one line elsewhere
    half: bool = False
    #: person score written to results: ``pose_nms`` (mean + box score + 1.25 x max keypoint
    #: score), ``box``, or ``box_x_keypoints`` (box score x mean keypoint score above
    #: ``keypoint_threshold``)
    score: Literal["pose_nms", "box", "box_x_keypoints"] = "pose_nms"
    keypoint_threshold: float = setting(0.2, **PROBABILITY)  #: for ``score: box_x_keypoints``
    #: what runs the networks: ``torch`` (a .pth checkpoint), ``onnxruntime`` or ``openvino``
    #: (an .onnx file from rmpe-export; docs/export.md)
    backend: Literal["torch", "onnxruntime", "openvino"] = "torch"
    #: CPU threads of the pose network (torch, onnxruntime, OpenVINO); 0: automatic (rmpe-demo pipelined on the
    #: CPU with a torch or onnxruntime pose network: half the cores, the other half to a YOLO detector without
    #: detector.threads; elsewhere every core)
    threads: int = setting(0, low=0, high=1024)
    #: video and image streams: detect batch t+1 on a second thread while batch t's poses are estimated;
    #: null: automatic (on, except an OpenVINO pose network on the CPU: its threads already fill every core,
    #: and overlapping the two stages there was slower than running them one after the other)
    pipelined: Optional[bool] = None


@dataclass
class EvalConfig:
    """rmpe-eval and training validation: which boxes the people come from."""

    boxes: str = "gt"  #: ``gt``, ``detector`` or a detection results JSON path


@dataclass
class DemoConfig:
    """rmpe-demo's outputs and drawing."""

    format: Literal["alphapose", "coco", "openpose"] = "alphapose"  #: results JSON layout
    draw_threshold: float = setting(0.3, **PROBABILITY)  #: keypoints drawn above this score
    show_boxes: bool = False  #: draw detector boxes and person scores
    queue_size: int = setting(32, **AT_LEAST_ONE)  #: frames buffered between the reader, pipeline and writer threads
    track: bool = False  #: track people across frames (--track): ids in the JSON, each person drawn in its id's colour
    trails: int = setting(0, **NON_NEGATIVE)  #: with track, draw each id's last N centres as a trail (--trails N; 0: none)


@dataclass
class TrackingConfig:
    """Pose tracking across video frames (docs/tracking.md): the settings of ``rmpe.tracking.PoseTracker``.

    Scores are detector box scores in [0, 1]; a pair cost is in [0, 1] (0 = identical).
    ``appearance`` and the ``smooth*`` keys belong to the steps around the tracker (the
    pipeline's features, ``rmpe.tracking.smoothing``); :data:`PIPELINE_KEYS` names them.
    """

    #: keys read by the pipeline and the smoother rather than passed to ``PoseTracker``
    PIPELINE_KEYS = ("appearance", "smooth", "smooth_min_cutoff", "smooth_beta", "smooth_d_cutoff")

    #: detections scoring at least this are matched first, against every track (stage 1), and may start tracks
    high_score: float = setting(0.5, **PROBABILITY)
    #: detections below this are ignored; those in [low_score, high_score) only continue tracks seen in the previous frame (stage 2)
    low_score: float = setting(0.1, **PROBABILITY)
    new_track_score: float = setting(0.6, **PROBABILITY)  #: an unmatched detection starts a track only at this score or above
    match_cost: float = setting(0.9, **PROBABILITY)  #: stage-1 gate: a track and a detection costing more are never matched
    low_match_cost: float = setting(0.5, **PROBABILITY)  #: stage-2 gate, for low-score detections
    oks_weight: float = setting(1.0, **NON_NEGATIVE)  #: weight of 1 - OKS (predicted pose vs detected pose, COCO sigmas) in the cost
    iou_weight: float = setting(0.5, **NON_NEGATIVE)  #: weight of 1 - IoU (predicted box vs detected box) in the cost
    appearance_weight: float = setting(1.0, **NON_NEGATIVE)  #: weight of the appearance cosine distance, when features are given
    min_overlap: float = setting(0.05, **PROBABILITY)  #: a pair whose box IoU and OKS are both below this is impossible
    max_appearance_distance: float = setting(0.5, **PROBABILITY)  #: a pair whose appearance distance is above this is impossible
    keypoint_threshold: float = setting(0.2, **PROBABILITY)  #: keypoints scoring below this are neither compared (OKS) nor measured (Kalman update)
    min_keypoints: int = setting(3, **AT_LEAST_ONE)  #: OKS enters the cost only when both poses see this many keypoints
    #: an unmatched detection whose OKS (IoU when poses are not comparable) with a detection already given a track exceeds this starts no track
    duplicate_similarity: float = setting(0.8, **PROBABILITY)
    min_hits: int = setting(2, **AT_LEAST_ONE)  #: consecutive matched frames before a new track gets an id (the first frame: at once)
    max_lost: int = setting(30, **NON_NEGATIVE)  #: frames a track survives unseen (predicting, re-identifiable) before it is deleted
    appearance_momentum: float = setting(0.9, **PROBABILITY)  #: a track's feature becomes m x old + (1 - m) x new after each match
    #: re-identification (stage 3): the most centred cosine distance (0..2) between a lost track's feature and an unmatched detection's
    reid_max_distance: float = setting(0.5, low=0.0, high=2.0)
    #: frames a lost track with an appearance feature stays re-identifiable by appearance alone (stage 3) before it is deleted
    reid_max_lost: int = setting(300, **NON_NEGATIVE)
    #: detections averaged into the video's mean feature that centres the re-identification distances (a running mean over the last ~this many)
    reid_mean_window: int = setting(1000, **AT_LEAST_ONE)
    #: a track born fewer frames ago than this can still hand its detection to a lost track in stage 3 (it is deleted, its id retired)
    reid_young_frames: int = setting(15, **NON_NEGATIVE)
    position_noise: float = setting(0.05, **POSITIVE)  #: Kalman position noise per frame (process and measurement), as a fraction of the person's height
    #: Kalman velocity noise per frame at 30 fps, as a fraction of the person's height (x 30 / frame_rate at other rates)
    velocity_noise: float = setting(0.00625, **POSITIVE)
    #: frames per second of the video (0: the video's own rate where the caller knows it, else 30); the velocity noise scales with 30 / frame_rate
    frame_rate: float = setting(0.0, **NON_NEGATIVE)
    #: with tracking, the pipeline hands each person's SPPE backbone feature (pooled, no extra network pass) to the tracker
    appearance: bool = True
    smooth: bool = False  #: One-Euro smoothing of each tracked person's keypoints (rmpe-demo --smooth)
    smooth_min_cutoff: float = setting(1.0, **POSITIVE)  #: One-Euro cutoff at rest, Hz (lower: smoother, more lag)
    smooth_beta: float = setting(0.01, **NON_NEGATIVE)  #: One-Euro cutoff increase per px/s of keypoint speed (higher: less lag)
    smooth_d_cutoff: float = setting(1.0, **POSITIVE)  #: One-Euro cutoff of the speed estimate, Hz


@dataclass
class BottomUpConfig:
    """The bottom-up (OpenPose-style) model's targets and association (docs/bottom-up.md).

    Used when ``model.name`` is a bottom-up network (``openpose_lite``, ``openpose_res18``,
    ``openpose_res50``); lengths are in map pixels (the network's output, input / 4).
    """

    sigma: float = setting(1.5, **POSITIVE)  #: confidence-map Gaussian width: exp(-d^2 / sigma^2), map px
    limb_width: float = setting(1.0, **POSITIVE)  #: half-width sigma_l of a limb's affinity field, map px
    peak_threshold: float = setting(0.1, **PROBABILITY)  #: joint candidates are confidence-map peaks above this
    samples: int = setting(10, low=2)  #: points of the affinity line integral between two candidates
    sample_threshold: float = setting(0.05, low=-1, high=1)  #: a sample agrees when field . limb direction exceeds this
    min_agree: float = setting(0.8, **PROBABILITY)  #: fraction of samples that must agree for a connection
    max_length: Optional[float] = setting(None, **POSITIVE)  #: length prior, map px (None: half the map height)
    min_parts: int = setting(3, **AT_LEAST_ONE)  #: people with fewer joints are dropped
    min_score: float = setting(0.0, **PROBABILITY)  #: people whose score (mean keypoint score over K) is lower are dropped


@dataclass
class Config:
    """A whole experiment."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    pose_nms: PoseNMSConfig = field(default_factory=PoseNMSConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)  #: rmpe-synth's generated world
    bottomup: BottomUpConfig = field(default_factory=BottomUpConfig)  #: bottom-up model targets and association
    device: str = "auto"  #: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``...

    def to_dict(self) -> Dict[str, Any]:
        """Plain nested dict (tuples as lists), safe to dump as YAML or store in a checkpoint."""
        return _to_plain(dataclasses.asdict(self))

    def check(self, source: str = "<config>") -> None:
        """Rules that tie keys together (each key's own range is checked while loading)."""
        hm = tuple(self.model.heatmap_size)
        expect = (self.model.input_size[0] // 4, self.model.input_size[1] // 4)
        if hm != expect:
            raise RMPEError(f"{source}: model.heatmap_size {list(hm)} must be model.input_size / 4 = {list(expect)}")
        if self.tracking.low_score > self.tracking.high_score:
            raise RMPEError(f"{source}: tracking.low_score ({self.tracking.low_score}) must be <= "
                            f"tracking.high_score ({self.tracking.high_score})")
        try:
            self.synthetic.validate()  # the synthetic world's ranges (its messages name the key)
        except RMPEError as exc:
            raise RMPEError(f"{source}: {exc}") from None


#: Keys that moved when the config was grouped by pipeline stage: old dotted key -> new one.
MOVED_KEYS: Dict[str, str] = {
    "codec.decoder": "inference.decoder",
    "eval.flip": "inference.flip",
    "eval.batch": "inference.sppe_batch",
    "eval.score": "inference.score",
    "eval.keypoint_threshold": "inference.keypoint_threshold",
    "demo.batch": "inference.batch",
    "demo.sppe_batch": "inference.sppe_batch",
    "demo.half": "inference.half",
    "demo.keypoint_threshold": "demo.draw_threshold",
}


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


# ----------------------------------------------------------------------------- conversion


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (lists -> tuples etc.)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def bad(expected: str) -> RMPEError:
        return RMPEError(
            f"{source}: key '{key}' must be {expected}, got {type(value).__name__} {value!r}"
        )

    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad("a mapping")
        return _build(tp, value, key, source)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(value, option, key, source)
            except RMPEError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is Literal:
        if value not in args:
            raise bad("one of " + ", ".join(repr(a) for a in args))
        return value
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            raise bad("a list")
        (item,) = args or (Any,)
        return [_convert(v, item, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin in (tuple, Tuple):
        if not isinstance(value, (list, tuple)):
            raise bad(f"a list of {len(args)} values")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{key}[{i}]", source) for i, v in enumerate(value))
        if len(value) != len(args):
            raise bad(f"a list of {len(args)} values")
        return tuple(_convert(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads '5e-4' (no dot) as a string; accept numeric strings for numbers
            try:
                return float(value)
            except ValueError:
                raise bad("a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    raise TypeError(f"config type {tp!r} of '{key}' is not supported")  # internal bug


def _check_range(value: Any, spec: Range, key: str, source: str) -> None:
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if item is None or isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if not spec.contains(float(item)):
            raise RMPEError(f"{source}: key '{key}' must be {spec}, got {value!r}")


def _build(cls: type, data: Dict[str, Any], prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            if key in MOVED_KEYS:
                raise RMPEError(f"{source}: key '{key}' has moved: use '{MOVED_KEYS[key]}'")
            known = ", ".join(sorted(fields))
            raise RMPEError(f"{source}: unknown key '{key}' (known here: {known})")
        kwargs[name] = _convert(value, hints[name], key, source)
        spec = fields[name].metadata.get("range")
        if spec is not None:
            _check_range(kwargs[name], spec, key, source)
    try:
        return cls(**kwargs)
    except user_errors() as exc:  # a component's settings dataclass checks its own values
        message = str(exc) if str(exc).startswith(prefix) else f"{prefix or 'config'}: {exc}"
        raise RMPEError(f"{source}: {message}") from None


def config_from_dict(data: Optional[Dict[str, Any]], source: str = "<dict>") -> Config:
    """Build a :class:`Config` from a nested dict; missing keys keep their defaults.

    Raises:
        RMPEError: an unknown or moved key, a wrong type or a value out of range, naming the
            dotted key and ``source``.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RMPEError(f"{source}: a config must be a mapping of sections, got {type(data).__name__}")
    config = _build(Config, data, "", source)
    config.check(source)
    return config


def _parse_override(text: str) -> Tuple[List[str], Any]:
    if "=" not in text:
        raise RMPEError(f"--set '{text}': expected KEY=VALUE, e.g. train.lr=0.001")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise RMPEError(f"--set '{text}': empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: Dict[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """Apply ``a.b=value`` strings to a nested dict (values parsed as YAML scalars/lists)."""
    for text in overrides:
        path, value = _parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise RMPEError(f"--set '{text}': '{part}' is not a section")
            node = child
        node[path[-1]] = value
    return data


def read_yaml(path: Union[str, os.PathLike]) -> Any:
    """Read a YAML file with ``yaml.safe_load``; a missing or malformed file is an RMPEError."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise RMPEError(f"config file not found: {path}")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise RMPEError(f"{path}: not valid YAML{where}") from None
    except UnicodeDecodeError:
        raise RMPEError(f"{path}: not a text file") from None


def load_config(
    path: Optional[Union[str, os.PathLike]] = None, overrides: Sequence[str] = ()
) -> Config:
    """Load a config file (or the defaults when ``path`` is None) and apply ``--set`` overrides."""
    source = os.fspath(path) if path is not None else "<defaults>"
    data = read_yaml(path) if path is not None else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RMPEError(f"{source}: a config must be a mapping of sections")
    data = apply_overrides(data, overrides)
    return config_from_dict(data, source if not overrides else f"{source} (with --set)")


def as_config(config: Union[None, str, os.PathLike, Config], overrides: Sequence[str] = ()) -> Config:
    """A :class:`Config` from a YAML path, an existing Config (copied, with overrides), or None (defaults)."""
    if isinstance(config, Config):
        if not overrides:
            return config
        return config_from_dict(apply_overrides(config.to_dict(), overrides), "<config> (with --set)")
    return load_config(config, overrides)


def save_config(config: Config, path: Union[str, os.PathLike]) -> None:
    """Write a config as YAML, atomically."""
    from .io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
