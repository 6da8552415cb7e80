"""Export an :class:`rmpe.model.RMPEModel` to one ONNX graph: crops -> (STN) -> SPPE -> heatmaps (+ theta).

The graph (docs/export.md):

* input ``crops`` (N,3,H,W) RGB, uint8 0..255 or float32 in [0, 1] (``input_dtype``), N
  dynamic unless a fixed batch is asked for;
* inside: uint8 -> float / 255; with the STN, the localisation net on the normalised crops
  gives the normalised theta, the sampling grid is built by :func:`rmpe.crop.affine_grid`
  (plain ops: ``F.affine_grid`` has no ONNX export) and ``GridSample`` (opset 16+) resamples
  the raw crops into crop' (tensor ``stn_crops``); normalisation; the SPPE (its
  ``PixelShuffle`` becomes ``DepthToSpace``); optionally the flip test and float16 for the SPPE;
* outputs ``heatmaps`` (N,K,h,w) float32 in the crop' frame, with the STN ``theta``
  (N,3,3) float32, crop' px -> crop px (the same matrix as :meth:`RMPEModel.predict_theta`),
  and, when the SPPE has ``forward_features`` (FastPose does), ``features`` (N,C) float32,
  the appearance features the pose tracker uses.

The TorchScript exporter (``torch.onnx.export(..., dynamo=False)``) is used: it gives a
plain graph with stable input/output names and dynamic axes, and it lowers ``grid_sample``
to ``GridSample`` and ``pixel_shuffle`` to ``DepthToSpace``. :func:`export_onnx` checks the
file with ``onnx.checker`` and compares onnxruntime with PyTorch on a random batch before it
writes the file (atomically).
"""
from __future__ import annotations

import copy
import io
import os
import warnings
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import __version__
from ..crop import affine_grid
from ..errors import RMPEError
from ..geometry import pixel_to_normalized_matrix, invert_affine
from ..io import atomic_open
from .metadata import (
    FEATURES_NAME,
    HEATMAPS_NAME,
    INPUT_NAME,
    METADATA_KEY,
    STN_CROPS_NAME,
    THETA_NAME,
    ExportMetadata,
)

#: Largest |ONNX - PyTorch| heatmap difference accepted at export time, float32 graphs.
FP32_TOLERANCE = 1e-4
#: The same for ``--half`` graphs (float16 has 11 significant bits).
FP16_TOLERANCE = 2e-2
#: Lowest opset with ``GridSample`` (needed by the STN's resampling).
MIN_OPSET = 16

INPUT_DTYPES = ("float32", "uint8")


class ExportGraph(nn.Module):
    """The exported computation around an :class:`rmpe.model.RMPEModel` (eval mode).

    Args:
        model: the RMPE model (its SPPE, STN, normalisation and flip pairs are used).
        input_dtype: ``float32`` (crops in [0, 1]) or ``uint8`` (0..255).
        flip: average the heatmaps with the mirrored crop's (the torch flip test).
        half: run the SPPE in float16 (the STN stays float32, as in :meth:`RMPEModel.predict_theta`).

    Shapes:
        forward: crops (N,3,H,W) -> heatmaps (N,K,h,w) float32, then theta (N,3,3) float32
        (with the STN), features (N,C) float32 (when the SPPE has ``forward_features``) and
        stn_crops (N,3,H,W) float32 (with the STN; an internal tensor of the file), in that
        order (:meth:`output_names`).
    """

    def __init__(self, model: nn.Module, *, input_dtype: str = "float32", flip: bool = False, half: bool = False) -> None:
        super().__init__()
        if input_dtype not in INPUT_DTYPES:
            raise RMPEError(f"input dtype must be one of {', '.join(INPUT_DTYPES)}, got '{input_dtype}'")
        self.model = model
        # --half: a float16 copy of the SPPE (the caller's model keeps its float32 weights)
        self.sppe = copy.deepcopy(model.sppe).half() if half else model.sppe
        self.input_dtype = input_dtype
        self.flip = bool(flip)
        self.half = bool(half)
        h, w = model.input_size
        p = pixel_to_normalized_matrix((h, w), torch.float64)  # crop px -> normalised
        # theta (px) = P^-1 @ theta_norm @ P, with constants rounded once from float64
        self.register_buffer("to_norm", p.float(), persistent=False)
        self.register_buffer("from_norm", invert_affine(p[None])[0].float(), persistent=False)
        self.register_buffer("last_row", torch.tensor([[[0.0, 0.0, 1.0]]]), persistent=False)
        self.features = hasattr(self.sppe, "forward_features")

    def output_names(self):
        """Names of :meth:`forward`'s outputs, in order."""
        names = [HEATMAPS_NAME]
        if self.model.stn is not None:
            names.append(THETA_NAME)
        if self.features:
            names.append(FEATURES_NAME)
        if self.model.stn is not None:
            names.append(STN_CROPS_NAME)
        return names

    def forward(self, crops: torch.Tensor):
        model = self.model
        x = crops.float() / 255.0 if self.input_dtype == "uint8" else crops.float()
        theta = None
        if model.stn is not None:
            theta_norm = model.stn(model.normalize(x))  # (N,2,3) normalised crop' -> crop
            grid = affine_grid(theta_norm, model.input_size)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            t3 = torch.cat([theta_norm, self.last_row.expand(theta_norm.shape[0], 1, 3)], dim=1)
            theta = torch.matmul(torch.matmul(self.from_norm, t3), self.to_norm)
        heatmaps, features = self.heatmaps(x)
        outputs = [heatmaps]
        if theta is not None:
            outputs.append(theta)
        if features is not None:
            outputs.append(features)
        if theta is not None:
            outputs.append(x)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def heatmaps(self, x: torch.Tensor):
        """(N,3,H,W) raw crop' in [0, 1] -> (N,K,h,w) float32 heatmaps (the SPPE part) and the
        (N,C) float32 features of the unmirrored crop' (None without ``forward_features``)."""
        from ..codec import flip_heatmaps

        z = self.model.normalize(x)
        n = z.shape[0]
        if self.flip:
            z = torch.cat([z, z.flip(-1)], dim=0)
        if self.half:
            z = z.half()
        features = None
        if self.features:
            hm, features = self.sppe.forward_features(z)
            features = features[:n].float()
        else:
            hm = self.sppe(z)
        hm = hm.float()
        if self.flip:
            hm = 0.5 * (hm[:n] + flip_heatmaps(hm[n:], self.model.flip_pairs, shift=True))
        return hm, features


def resize_for_export(model: nn.Module, config: Any, input_size: Tuple[int, int]) -> Any:
    """Set a loaded model to another crop size for export (``rmpe-export --input-size HxW``).

    The SPPE is fully convolutional, so the same weights run on (H, W) crops with (H/4, W/4)
    heatmaps; the codec and the SPPE's ``input_size`` follow. The localisation net pools to a
    fixed grid: its 4 stride-2 stages need H/16 and W/16 divisible by that grid for the ONNX
    export (checked by the exporter). Returns the config with ``model.input_size`` /
    ``model.heatmap_size`` changed (stored in the metadata).
    """
    from ..codec import HeatmapCodec
    from ..config import apply_overrides, config_from_dict

    h, w = (int(v) for v in input_size)
    if h % 32 or w % 32 or h <= 0 or w <= 0:
        raise RMPEError(f"--input-size {h}x{w}: H and W must be positive multiples of 32")
    old = model.codec
    model.codec = HeatmapCodec(input_size=(h, w), heatmap_size=(h // 4, w // 4), sigma=old.sigma, decoder=old.decoder)
    if hasattr(model.sppe, "input_size"):
        model.sppe.input_size = (h, w)
    if config is None:
        return None
    data = apply_overrides(config.to_dict(), [f"model.input_size=[{h},{w}]", f"model.heatmap_size=[{h // 4},{w // 4}]"])
    return config_from_dict(data, "the exported config")


def build_metadata(model: nn.Module, config: Any = None, *, input_dtype: str = "float32", batch: Optional[int] = None,
                   flip: bool = False, half: bool = False, opset: int = 17, model_name: Optional[str] = None) -> ExportMetadata:
    """The :class:`ExportMetadata` of ``model`` exported with these settings.

    Keypoint names, skeleton and sigmas come from ``config``'s keypoint set (COCO-17
    without a config); sizes, mean/std, flip pairs and crop-box rules from the model.
    """
    from ..keypoints import COCO

    keypoints = config.data.keypoint_set() if config is not None else COCO
    if len(keypoints.names) != model.num_keypoints:
        raise RMPEError(f"export: the keypoint set has {len(keypoints.names)} names but the model "
                        f"outputs {model.num_keypoints} heatmaps")
    name = model_name or (config.model.name if config is not None else type(model.sppe).__name__)
    stn = model.stn is not None
    return ExportMetadata(
        model_name=str(name),
        rmpe_version=__version__,
        keypoint_names=list(keypoints.names),
        flip_pairs=[tuple(p) for p in model.flip_pairs],
        skeleton=[tuple(p) for p in keypoints.skeleton],
        sigmas=[float(s) for s in keypoints.sigmas],
        input_size=tuple(model.input_size),
        heatmap_size=tuple(model.heatmap_size),
        pixel_mean=tuple(model.pixel_mean),
        pixel_std=tuple(model.pixel_std),
        input_dtype=input_dtype,
        batch=batch,
        stn=stn,
        flip=bool(flip),
        half=bool(half),
        codec={"sigma": float(model.codec.sigma), "decoder": str(model.codec.decoder)},
        aspect_ratio=float(model.aspect_ratio),
        box_scale=float(model.box_scale),
        opset=int(opset),
        features=hasattr(model.sppe, "forward_features"),
        outputs=[n for n in ExportGraph(model).output_names() if n != STN_CROPS_NAME],
        stn_crops_name=STN_CROPS_NAME if stn else None,
        config=config.to_dict() if config is not None else {},
    )


def export_onnx(
    model: nn.Module,
    out: Optional[str] = None,
    *,
    config: Any = None,
    opset: int = 17,
    batch: Optional[int] = None,
    input_dtype: str = "float32",
    flip: bool = False,
    half: bool = False,
    verify: bool = True,
    verify_batch: int = 3,
    seed: int = 0,
) -> Tuple[Any, Dict[str, float]]:
    """Export ``model`` to ONNX, check it and (with ``out``) write it atomically.

    Args:
        model: an :class:`rmpe.model.RMPEModel` (moved to the CPU and put in eval mode).
        out: the ``.onnx`` path; None returns the model without writing.
        config: the rmpe config (keypoint names and the stored config in the metadata).
        opset: ONNX opset, at least :data:`MIN_OPSET` (``GridSample``).
        batch: fixed batch size, or None for a dynamic batch.
        input_dtype: ``float32`` (crops in [0, 1]) or ``uint8`` (0..255).
        flip: flip test inside the graph.
        half: the SPPE in float16 inside the graph.
        verify: run onnxruntime against PyTorch on a random batch (seeded) and raise when the
            heatmaps (or theta) differ by more than :data:`FP32_TOLERANCE` (``half``:
            :data:`FP16_TOLERANCE`).
        verify_batch: crops in that random batch (a fixed ``batch`` wins).

    Returns:
        the ``onnx.ModelProto`` and the verification report ``{"heatmaps": max |diff|,
        "theta": ..., "features": ...}`` (empty without ``verify``).

    Raises:
        RMPEError: a bad setting, a missing ``onnx`` package, a failed check or a mismatch.
    """
    try:
        import onnx
    except ImportError:
        raise RMPEError('rmpe-export needs the onnx package: pip install -e ".[export]"') from None
    if opset < MIN_OPSET:
        raise RMPEError(f"--opset {opset}: the graph needs opset {MIN_OPSET} or newer (GridSample)")
    if batch is not None and batch < 1:
        raise RMPEError(f"--batch must be 'dynamic' or at least 1, got {batch}")
    model = model.cpu().eval()
    graph = ExportGraph(model, input_dtype=input_dtype, flip=flip, half=half).eval()
    h, w = model.input_size
    n = batch or 2
    example = (torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8) if input_dtype == "uint8"
               else torch.rand(n, 3, h, w))
    stn = model.stn is not None
    output_names = graph.output_names()
    dynamic_axes = None
    if batch is None:
        dynamic_axes = {name: {0: "batch"} for name in [INPUT_NAME] + output_names}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph, (example,), buffer, dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
            output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    if stn:  # stn_crops stays a named internal tensor: the backends cut the graph there
        keep = [o for o in proto.graph.output if o.name != STN_CROPS_NAME]
        inner = [o for o in proto.graph.output if o.name == STN_CROPS_NAME]
        del proto.graph.output[:]
        proto.graph.output.extend(keep)
        proto.graph.value_info.extend(inner)  # its type and shape, for onnx.utils.Extractor
    meta = build_metadata(model, config, input_dtype=input_dtype, batch=batch, flip=flip, half=half, opset=opset)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta.to_json()
    proto.producer_name, proto.producer_version = "rmpe", __version__
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise RMPEError(f"export: the ONNX graph fails onnx.checker ({str(exc).splitlines()[0][:200]})") from None
    report: Dict[str, float] = {}
    if verify:
        report = verify_against_torch(proto, graph, batch=batch or verify_batch, seed=seed,
                                      tolerance=FP16_TOLERANCE if half else FP32_TOLERANCE)
    if out is not None:
        with atomic_open(out, "wb") as fh:
            fh.write(proto.SerializeToString())
    return proto, report


def verify_against_torch(proto: Any, graph: ExportGraph, *, batch: int, seed: int, tolerance: float) -> Dict[str, float]:
    """Run onnxruntime (CPU) and PyTorch on one random batch; raise when they differ beyond ``tolerance``.

    Returns:
        max |diff| per output of the file (``heatmaps``, ``theta``, ``features``).
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise RMPEError('export verification needs onnxruntime: pip install -e ".[export]" '
                        "(or pass --no-verify)") from None
    model = graph.model
    h, w = model.input_size
    gen = torch.Generator().manual_seed(seed)
    if graph.input_dtype == "uint8":
        x = torch.randint(0, 256, (batch, 3, h, w), dtype=torch.uint8, generator=gen)
    else:
        x = torch.rand(batch, 3, h, w, generator=gen)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: x.numpy()})
    with torch.no_grad():
        ref = graph(x)
    ref = ref if isinstance(ref, tuple) else (ref,)
    report: Dict[str, float] = {}
    names = [o.name for o in proto.graph.output]
    for name, a, b in zip(names, got, ref):  # the file's outputs lead the graph's (stn_crops is internal)
        diff = float(np.max(np.abs(a.astype(np.float64) - b.double().numpy()))) if a.size else 0.0
        report[name] = diff
        if not diff <= tolerance:
            raise RMPEError(f"export: onnxruntime and PyTorch differ by {diff:.3g} on '{name}' "
                            f"(tolerance {tolerance:g}); the file was not written")
    return report


def check_onnx_output_path(out: str, inputs=()) -> str:
    """``--out`` must end in ``.onnx`` and destroy no input (:func:`rmpe.io.check_output_path`)."""
    from ..io import check_output_path

    if not os.fspath(out).lower().endswith(".onnx"):
        raise RMPEError(f"--out {out}: give a file name ending in .onnx")
    return check_output_path(out, inputs=inputs, flag="--out")
