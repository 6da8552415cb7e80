"""A :class:`rmpe.export.runtime.PoseRuntime` inside an :class:`rmpe.model.RMPEModel`.

The runtime stands in for the two networks only: :class:`RuntimeSPPE` for the SPPE (raw
crop' -> heatmaps; normalisation is inside the exported graph, so its ``normalize`` passes
the raw crops through) and :class:`RuntimeSTN` for the localisation net (raw crops -> theta
in crop px). Everything else is :class:`~rmpe.model.RMPEModel`'s own inference code: crop
matrices, crop' cut once from the full image with ``gamma @ M``, the flip test (mirrored
crop' through the same runtime, flipped back, averaged), decoding and the way back to the
image through ``M^-1 @ theta @ S``. The backend path and the torch path thus differ only in
the network arithmetic (tolerances in docs/export.md).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from ..codec import HeatmapCodec
from ..errors import RMPEError
from .runtime import PoseRuntime, build_runtime


def _numpy(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().float().cpu().numpy())


class RuntimeSPPE(nn.Module):
    """The SPPE of an exported model: raw RGB crop' (N,3,H,W) in [0, 1] -> (N,K,h,w) float32
    heatmaps; with ``forward_features`` (files that output features) also the (N,C) features."""

    def __init__(self, runtime: PoseRuntime) -> None:
        super().__init__()
        meta = runtime.meta
        self.runtime = runtime
        self.num_keypoints = meta.num_keypoints
        self.input_size = tuple(meta.input_size)
        self.heatmap_size = tuple(meta.heatmap_size)
        self.pixel_mean = tuple(meta.pixel_mean)
        self.pixel_std = tuple(meta.pixel_std)
        if meta.features:  # RMPEModel looks for forward_features to give the tracker appearance features
            self.forward_features = self._forward_features

    def normalize(self, crops: torch.Tensor) -> torch.Tensor:
        """Identity: the exported graph normalises its input itself."""
        return crops

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.runtime.heatmaps(_numpy(crops))).to(crops.device)

    def _forward_features(self, crops: torch.Tensor):
        """(N,3,H,W) raw crop' -> heatmaps (N,K,h,w) and features (N,C), one runtime call (as
        ``sppe.FastPose.forward_features``)."""
        hm, feats = self.runtime.heatmaps_and_features(_numpy(crops))
        return torch.from_numpy(hm).to(crops.device), torch.from_numpy(feats).to(crops.device)


class RuntimeSTN(nn.Module):
    """The localisation net of an exported model; :meth:`predict_pixel_theta` is what
    :meth:`rmpe.model.RMPEModel.predict_theta` calls (theta straight from the graph, in crop px)."""

    def __init__(self, runtime: PoseRuntime) -> None:
        super().__init__()
        self.runtime = runtime

    def predict_pixel_theta(self, crops: torch.Tensor) -> torch.Tensor:
        """(N,3,H,W) raw RGB crops in [0, 1] -> (N,3,3) float32 theta, crop' px -> crop px."""
        return torch.from_numpy(self.runtime.theta(_numpy(crops))).to(crops.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - predict_theta uses the hook
        raise RMPEError("an exported STN gives theta in pixels only (predict_pixel_theta); it cannot be trained")


def load_runtime_model(checkpoint: str, backend: str, config=None, device: str = "cpu", threads: int = 0,
                       precision: str = "fp32"):
    """An :class:`rmpe.model.RMPEModel` (eval mode) whose networks run on ``backend``.

    The crop sizes, keypoint count, flip pairs, crop-box rules and codec sigma come from the
    file's metadata (they are the file's architecture, whatever ``config`` says; the CLIs
    check ``--config`` against the stored config first); ``config`` (optional) gives the
    decoder (``inference.decoder``) and the SPPE batch (``inference.sppe_batch``).

    Args:
        checkpoint: the ``.onnx`` file.
        backend: ``onnxruntime`` or ``openvino``.
        config: the run's :class:`rmpe.config.Config`, or None.
        device: where crops and decoding run (and onnxruntime's CUDA providers with ``cuda``).
        threads: runtime threads (0: the runtime's default).
        precision: ``fp32`` or ``bf16`` (OpenVINO's inference precision hint; :mod:`rmpe.precision`).

    Raises:
        RMPEError: a bad file or a missing package.
    """
    from ..model import RMPEModel

    runtime = build_runtime(backend, checkpoint, str(device), threads, precision)
    meta = runtime.meta
    decoder = meta.codec.get("decoder", "argmax")
    batch = 64
    if config is not None:
        decoder = config.inference.decoder
        batch = config.inference.sppe_batch
    codec = HeatmapCodec(input_size=tuple(meta.input_size), heatmap_size=tuple(meta.heatmap_size),
                         sigma=float(meta.codec.get("sigma", 2.0)), decoder=decoder)
    model = RMPEModel(
        RuntimeSPPE(runtime), codec, stn=meta.stn, parallel_sppe=False, flip_pairs=meta.flip_pairs,
        aspect_ratio=meta.aspect_ratio, box_scale=meta.box_scale, batch=batch,
        loc_net=RuntimeSTN(runtime) if meta.stn else None, num_keypoints=meta.num_keypoints,
    )
    model.backend = backend
    return model.to(device).eval()


def runtime_of(model: nn.Module) -> Optional[PoseRuntime]:
    """The runtime behind an RMPE model built by :func:`load_runtime_model` (None for a torch model)."""
    sppe = getattr(model, "sppe", None)
    return sppe.runtime if isinstance(sppe, RuntimeSPPE) else None
