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
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import yaml

from .data.synthetic.config import SyntheticConfig
from .errors import RMPEError
from .keypoints import COCO, KeypointSet


@dataclass
class ModelConfig:
    """The SPPE and the symmetric STN around it."""

    name: str = "fastpose_se50"  #: SPPE registry name (``sppe.build_sppe``)
    num_keypoints: int = 17
    input_size: Tuple[int, int] = (256, 192)  #: crop (H, W) in pixels
    heatmap_size: Tuple[int, int] = (64, 48)  #: heatmap (h, w)
    pixel_mean: Tuple[float, float, float] = (0.406, 0.457, 0.480)  #: RGB, on [0, 1] pixels
    pixel_std: Tuple[float, float, float] = (1.0, 1.0, 1.0)  #: AlphaPose divides by no std
    stn: bool = False  #: wrap the SPPE in the symmetric STN (localisation net + SDTN)
    init_from: Optional[str] = None  #: checkpoint (ours or AlphaPose's) to initialise the SPPE
    channels_last: bool = False


@dataclass
class DataConfig:
    """A COCO-format keypoint data set and how people are cropped from it."""

    train_ann: Optional[str] = None
    train_images: Optional[str] = None
    val_ann: Optional[str] = None
    val_images: Optional[str] = None
    #: keypoint set; ``None`` means COCO-17 (names, pairs, sigmas from ``rmpe.keypoints``)
    keypoint_names: Optional[List[str]] = None
    flip_pairs: Optional[List[List[int]]] = None
    skeleton: Optional[List[List[int]]] = None
    sigmas: Optional[List[float]] = None
    upper_body_ids: Optional[List[int]] = None
    lower_body_ids: Optional[List[int]] = None
    aspect_ratio: float = 0.75  #: crop box w / h
    box_scale: float = 1.25  #: crop box enlargement
    num_workers: int = 2
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
    """Heatmap targets and decoding (sizes come from the model section)."""

    sigma: float = 2.0
    decoder: Literal["argmax", "dark"] = "argmax"


@dataclass
class DetectorConfig:
    """The person detector. ``type``: ``yolo`` (ultralytics), ``file`` (COCO detections), ``gt``."""

    type: Literal["yolo", "file", "gt"] = "yolo"
    weights: str = "yolov8n.pt"  #: ultralytics model: .pt / .yaml / .onnx path or a name
    conf: float = 0.1  #: confidence threshold
    iou: float = 0.6  #: NMS IoU threshold
    imgsz: int = 640
    max_det: int = 100
    device: Optional[str] = None  #: None: the pipeline's device
    half: bool = False
    batch: int = 8  #: frames per ultralytics call
    allow_download: bool = False  #: let ultralytics fetch missing weights (needs network)
    file: Optional[str] = None  #: detection results JSON for ``type: file``
    ann: Optional[str] = None  #: annotation JSON for ``type: gt``
    score_threshold: float = 0.0  #: for ``type: file``
    min_box_size: float = 2.0  #: boxes with a side shorter than this (px) are dropped
    require_keypoints: bool = False  #: ``type: gt``: only people with labelled keypoints get a box


@dataclass
class PoseNMSConfig:
    """Redundant-pose elimination (DESIGN.md section 5)."""

    type: Literal["pose", "oks", "none"] = "pose"
    delta1: float = 1.0
    delta2: float = 2.65
    mu: float = 1.7
    gamma: float = 22.48
    score_threshold: float = 0.3
    match_threshold: int = 5
    alpha: float = 0.1
    min_area: float = 0.0
    distance: Literal["pixel", "normalized"] = "pixel"
    oks_threshold: float = 0.9
    params_file: Optional[str] = None  #: YAML written by the parameter search; overrides the above


@dataclass
class ProposalsConfig:
    """Which boxes the SPPE is trained on."""

    type: Literal["gt", "jitter", "pgpg"] = "gt"
    model: Optional[str] = None  #: PGPG model file (``rmpe-pgpg fit``) for ``type: pgpg``
    probability: float = 1.0  #: chance a sample uses a generated proposal instead of the GT box


@dataclass
class TrainConfig:
    """Training recipe; defaults are AlphaPose's FastPose-50 COCO recipe."""

    epochs: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_steps: List[int] = field(default_factory=lambda: [90, 120])
    lr_factor: float = 0.1
    warmup_epochs: float = 0.0
    loss_weight: float = 0.5  #: multiplier of the visibility-weighted heatmap MSE
    parallel_sppe_weight: float = 1.0  #: weight of the frozen parallel-SPPE loss (needs model.stn)
    scale_factor: float = 0.3
    rotation_factor: float = 40.0
    rotation_prob: float = 0.6
    flip: bool = True
    half_body_prob: float = 0.0
    half_body_min_joints: int = 8
    photometric: bool = False
    proposals: ProposalsConfig = field(default_factory=ProposalsConfig)
    amp: bool = True  #: mixed precision on CUDA (ignored on the CPU)
    seed: int = 0
    deterministic: bool = False
    val_interval: int = 1
    log_interval: int = 20
    max_samples: Optional[int] = None  #: use only the first N training samples
    max_minutes: Optional[float] = None  #: stop after this much wall time


@dataclass
class EvalConfig:
    """rmpe-eval settings."""

    boxes: str = "gt"  #: ``gt``, ``detector`` or a detection results JSON path
    flip: bool = False
    batch: int = 64
    #: person score written to results: ``pose_nms`` (DESIGN.md formula), ``box``, or
    #: ``box_x_keypoints`` (box score x mean keypoint score above ``keypoint_threshold``)
    score: Literal["pose_nms", "box", "box_x_keypoints"] = "pose_nms"
    keypoint_threshold: float = 0.2


@dataclass
class DemoConfig:
    """rmpe-demo settings."""

    batch: int = 8  #: frames per detector call and pipeline step
    sppe_batch: int = 64  #: crops per SPPE call
    keypoint_threshold: float = 0.3  #: keypoints drawn above this score
    show_boxes: bool = False
    format: Literal["alphapose", "coco", "openpose"] = "alphapose"
    queue_size: int = 32  #: frames buffered between threads
    half: bool = False  #: fp16 autocast for the pose model on CUDA


@dataclass
class Config:
    """A whole experiment."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    pose_nms: PoseNMSConfig = field(default_factory=PoseNMSConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)  #: rmpe-synth's generated world
    device: str = "auto"  #: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:1``...

    def to_dict(self) -> Dict[str, Any]:
        """Plain nested dict (tuples as lists), safe to dump as YAML or store in a checkpoint."""
        return _to_plain(dataclasses.asdict(self))


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


def _build(cls: type, data: Dict[str, Any], prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in names:
            known = ", ".join(sorted(names))
            raise RMPEError(f"{source}: unknown key '{key}' (known here: {known})")
        kwargs[name] = _convert(value, hints[name], key, source)
    return cls(**kwargs)


def config_from_dict(data: Optional[Dict[str, Any]], source: str = "<dict>") -> Config:
    """Build a :class:`Config` from a nested dict; missing keys keep their defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RMPEError(f"{source}: a config must be a mapping of sections, got {type(data).__name__}")
    return _build(Config, data, "", source)


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


def save_config(config: Config, path: Union[str, os.PathLike]) -> None:
    """Write a config as YAML, atomically."""
    from .io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
