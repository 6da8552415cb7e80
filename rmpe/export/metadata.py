"""What an exported pose model carries about itself: the ``rmpe`` entry of the ONNX metadata.

``rmpe-export`` writes one JSON document into the ONNX file's ``metadata_props`` under the
key :data:`METADATA_KEY`; :func:`read_metadata` reads it back. It holds everything needed to
use the file without the config or the checkpoint: keypoint names and flip pairs, crop and
heatmap sizes, pixel mean/std, the codec settings, the crop-box rules, the model name, the
rmpe version, the graph's input and output names and whether the graph outputs theta.

This module imports neither torch nor onnx (only the standard library), so a torch-free
runtime can read it; :func:`read_metadata` accepts an ``onnx.ModelProto`` or a path (then
``onnx`` is imported to parse the file).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..errors import RMPEError

#: Key of the JSON document in the ONNX ``metadata_props``.
METADATA_KEY = "rmpe"
#: Version of the metadata layout (raise it when a field changes meaning).
FORMAT_VERSION = 1

#: Graph input: (N,3,H,W) RGB crops, uint8 0..255 or float32 in [0, 1] (``input_dtype``).
INPUT_NAME = "crops"
#: Graph output: (N,K,h,w) float32 heatmaps in the crop' frame (the crop frame without the STN).
HEATMAPS_NAME = "heatmaps"
#: Graph output (only with the STN): (N,3,3) float32 theta, crop' px -> crop px.
THETA_NAME = "theta"
#: Graph output (when the SPPE has ``forward_features``): (N,C) float32 appearance features of
#: the (unmirrored) crop', the trunk's last map averaged over its positions (for the pose tracker).
FEATURES_NAME = "features"
#: Internal tensor (only with the STN): (N,3,H,W) float32 raw RGB crop' in [0, 1], the
#: SPPE part's input; the backends cut the graph here (docs/export.md, "one interpolation").
STN_CROPS_NAME = "stn_crops"


@dataclass
class ExportMetadata:
    """The ``rmpe`` metadata of an exported model (all sizes (H, W) / (h, w) in pixels).

    Attributes:
        model_name: SPPE registry name (``fastpose_se50``).
        rmpe_version: the exporting rmpe's version.
        keypoint_names: K names; flip_pairs: (left, right) index pairs; skeleton: drawing pairs;
            sigmas: K OKS sigmas (may be empty).
        input_size: (H, W) crop; heatmap_size: (h, w) heatmaps.
        pixel_mean / pixel_std: RGB normalisation inside the graph ((x - mean) / std on [0, 1]).
        input_dtype: ``uint8`` (0..255) or ``float32`` ([0, 1]) for the graph input.
        batch: fixed batch size, or None for a dynamic batch.
        stn: the graph holds the STN and outputs theta.
        features: the graph outputs the SPPE's appearance features.
        flip: the flip test is inside the graph (heatmaps already averaged with the mirrored crop's).
        half: the SPPE part runs in float16 inside the graph (inputs and outputs stay float32).
        codec: ``{"sigma": ..., "decoder": ...}`` of the heatmap codec.
        aspect_ratio / box_scale: crop-box rules (``data.aspect_ratio`` / ``data.box_scale``).
        opset: ONNX opset of the graph.
        input_name / outputs / stn_crops_name: tensor names (see the module constants).
        config: the full rmpe config used at export (a plain dict), for the tools.
        format_version: :data:`FORMAT_VERSION`.
    """

    model_name: str
    rmpe_version: str
    keypoint_names: List[str]
    flip_pairs: List[Tuple[int, int]]
    input_size: Tuple[int, int]
    heatmap_size: Tuple[int, int]
    pixel_mean: Tuple[float, float, float]
    pixel_std: Tuple[float, float, float]
    input_dtype: str = "float32"
    batch: Optional[int] = None
    stn: bool = False
    features: bool = False
    flip: bool = False
    half: bool = False
    codec: Dict[str, Any] = field(default_factory=dict)
    aspect_ratio: float = 0.75
    box_scale: float = 1.25
    skeleton: List[Tuple[int, int]] = field(default_factory=list)
    sigmas: List[float] = field(default_factory=list)
    opset: int = 17
    input_name: str = INPUT_NAME
    outputs: List[str] = field(default_factory=lambda: [HEATMAPS_NAME])
    stn_crops_name: Optional[str] = None
    config: Dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def num_keypoints(self) -> int:
        """K."""
        return len(self.keypoint_names)

    def to_json(self) -> str:
        """The JSON text stored in the file."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "model") -> "ExportMetadata":
        """Parse the stored JSON; a missing or foreign document is an :class:`RMPEError` naming ``where``."""
        try:
            data = json.loads(text)
        except ValueError:
            raise RMPEError(f"{where}: the '{METADATA_KEY}' metadata is not valid JSON; re-export with rmpe-export") from None
        if not isinstance(data, dict):
            raise RMPEError(f"{where}: the '{METADATA_KEY}' metadata is not a JSON object; re-export with rmpe-export")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise RMPEError(f"{where}: metadata format {version} is not {FORMAT_VERSION}, the one this rmpe reads; "
                            "re-export the model with this rmpe's rmpe-export")
        known = set(cls.__dataclass_fields__)
        try:
            meta = cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise RMPEError(f"{where}: incomplete '{METADATA_KEY}' metadata ({exc}); re-export with rmpe-export") from None
        meta.input_size = tuple(int(v) for v in meta.input_size)  # type: ignore[assignment]
        meta.heatmap_size = tuple(int(v) for v in meta.heatmap_size)  # type: ignore[assignment]
        meta.flip_pairs = [tuple(int(i) for i in p) for p in meta.flip_pairs]  # type: ignore[misc]
        meta.skeleton = [tuple(int(i) for i in p) for p in meta.skeleton]  # type: ignore[misc]
        return meta


def read_metadata(model: Any) -> ExportMetadata:
    """The :class:`ExportMetadata` of an exported model.

    Args:
        model: an ``onnx.ModelProto`` or the path of an ``.onnx`` file.

    Raises:
        RMPEError: a missing or unreadable file, or a file without rmpe metadata (an ONNX
            file not written by ``rmpe-export``).
    """
    where = "model"
    if isinstance(model, (str, os.PathLike)):
        where = os.fspath(model)
        model = load_onnx(where)
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise RMPEError(f"{where}: no '{METADATA_KEY}' metadata; this ONNX file was not written by rmpe-export "
                        "(export the model with rmpe-export --config C --checkpoint W --out model.onnx)")
    return ExportMetadata.from_json(props[METADATA_KEY], where)


def load_onnx(path: str) -> Any:
    """``onnx.load`` with the rmpe error for a missing, non-file or unparsable path."""
    if os.path.isdir(path):
        raise RMPEError(f"model {path} is a folder; give the .onnx file")
    if not os.path.isfile(path):
        raise RMPEError(f"model not found: {path}")
    try:
        import onnx
    except ImportError:
        raise RMPEError("reading an .onnx file needs the onnx package: pip install -e \".[export]\"") from None
    try:
        return onnx.load(path)
    except Exception as exc:  # onnx raises DecodeError / various on foreign bytes
        raise RMPEError(f"{path} is not a readable ONNX file ({type(exc).__name__}); "
                        "give a file written by rmpe-export") from None
