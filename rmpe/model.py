"""RMPEModel: symmetric STN + SPPE + SDTN (+ the frozen parallel SPPE used in training).

Frames (stated once in :mod:`rmpe.geometry`, which holds every matrix used here):

* image px --M--> crop px, ``M`` from :func:`rmpe.geometry.crop_matrices` of the enlarged box;
* crop' (what the SPPE sees): crop' pixel ``u'`` = crop value at ``theta @ u'``; image ->
  crop' is ``gamma @ M`` with ``gamma = theta^-1``;
* heatmap px --S--> crop px with ``S = heatmap_to_crop_matrix`` (x4 for 256x192 / 64x48).

Inference has one path, :meth:`RMPEModel.predict_crops`: localisation net -> theta on the
crops, crop' (the crops resampled with theta, or cut once from the full images with
``gamma @ M`` when they are given), SPPE, optional flip test, decode, and back to the image
with ``M^-1 @ theta @ S`` (all batched 3x3 matrices). :meth:`RMPEModel.predict` (images and
person boxes) crops and calls it; so does training validation. Without the STN
(``stn=False``), or with an untrained one, this is plain crop + SPPE + inverse crop.

Training (:meth:`RMPEModel.forward_crops`): returns the SPPE heatmaps resampled into the crop
frame with gamma (ordinary targets apply; gradients reach SPPE and STN), the frozen parallel
SPPE's heatmaps on crop' (centre-located targets: :func:`rmpe.geometry.centred_keypoints`
encoded by the codec; gradients reach only the STN) and theta. :meth:`RMPEModel.losses`
combines them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from .codec import HeatmapCodec, flip_heatmaps
from .crop import crop_images, frames_to_tensor, sample_affine
from .errors import RMPEError
from .geometry import (
    as_tensor,
    compose_crop_matrices,
    crop_boxes,
    crop_matrices,
    heatmap_to_image_matrices,
    theta_to_pixel,
    transform_points,
)
from .keypoints import COCO_FLIP_PAIRS
from .stn import LocalizationNet, sdtn_heatmaps

ALPHAPOSE_PIXEL_MEAN = (0.406, 0.457, 0.480)

#: Heatmap pixels per crop pixel along each side (DESIGN.md section 5: 256x192 -> 64x48).
HEATMAP_STRIDE = 4


def heatmap_size_for(input_size: Sequence[int]) -> Tuple[int, int]:
    """The (h, w) heatmap size of an SPPE for (H, W) crops: a quarter of the crop."""
    return int(input_size[0]) // HEATMAP_STRIDE, int(input_size[1]) // HEATMAP_STRIDE


def check_sppe_sizes(sppe: nn.Module, codec: HeatmapCodec, where: str = "model") -> None:
    """Check that an SPPE fits the codec's crop and heatmap sizes.

    The SPPE's ``input_size`` (H, W) and ``heatmap_size`` (h, w) attributes, where it has
    them (:mod:`sppe` networks do, after building or loading a checkpoint), must equal the
    codec's, i.e. ``model.input_size`` and ``model.heatmap_size``.

    Args:
        sppe: the heatmap network.
        codec: the model's heatmap codec.
        where: what the error message names first (``"model"``, a checkpoint path).

    Raises:
        RMPEError: a size differs; the message says which setting to change.
    """
    trained = getattr(sppe, "input_size", None)
    if trained is not None and tuple(trained) != tuple(codec.input_size):
        raise RMPEError(
            f"{where}: the SPPE works on {_hw(trained)} crops but model.input_size is "
            f"{_hw(codec.input_size)}; make them match (for a checkpoint, use the config it was trained with)"
        )
    heatmap = getattr(sppe, "heatmap_size", None)
    if isinstance(heatmap, (tuple, list)) and tuple(heatmap) != tuple(codec.heatmap_size):
        raise RMPEError(
            f"{where}: the SPPE outputs {_hw(heatmap)} heatmaps but model.heatmap_size is "
            f"{_hw(codec.heatmap_size)}; set model.heatmap_size to model.input_size / {HEATMAP_STRIDE} = "
            f"{_hw(heatmap_size_for(codec.input_size))}"
        )


def _hw(size: Sequence[int]) -> str:
    return f"{int(size[0])}x{int(size[1])}"


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` / ``DataParallel`` wrapper (else ``model``)."""
    return getattr(model, "module", model)


@dataclass
class RMPEOutput:
    """What the training forward returns (all on the crops' device).

    Attributes:
        heatmaps: (N,K,h,w) SPPE heatmaps in the CROP frame (SDTN-resampled with gamma when
            the STN is on; the raw SPPE output otherwise). Compare with ordinary targets.
        stn_heatmaps: (N,K,h,w) raw SPPE heatmaps in the crop' frame (= ``heatmaps``
            without the STN).
        theta: (N,3,3) crop' px -> crop px, or None without the STN.
        parallel_heatmaps: (N,K,h,w) heatmaps of the frozen parallel SPPE on crop' (no
            SDTN), or None when the parallel branch is off. Compare with centre-located
            targets (``codec.encode`` of :func:`rmpe.geometry.centred_keypoints`).
        stn_crops: (N,3,H,W) crop' in raw RGB [0, 1] (None without the STN), for inspection.
    """

    heatmaps: torch.Tensor
    stn_heatmaps: torch.Tensor
    theta: Optional[torch.Tensor] = None
    parallel_heatmaps: Optional[torch.Tensor] = None
    stn_crops: Optional[torch.Tensor] = None


def weighted_heatmap_mse(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean over (N,K,h,w) of ``w_nk * (pred - target)^2`` (float32; AMP outputs are upcast).

    Args:
        pred: (N,K,h,w) predicted heatmaps.
        target: (N,K,h,w) target heatmaps in the same frame.
        weights: (N,K) joint weights (0 for unlabelled joints).
    """
    diff = pred.float() - target.float()
    return (diff * diff * weights.float()[..., None, None]).mean()


class RMPEModel(nn.Module):
    """Symmetric STN + SPPE + SDTN around any heatmap network.

    Args:
        sppe: network mapping normalised crops (N,3,H,W) to heatmaps (N,K,H/4,W/4) (any
            ``nn.Module``; a :mod:`sppe` FastPose provides ``normalize``, which is used).
        codec: the heatmap codec shared with the data pipeline (sizes and decoder).
        stn: wrap the SPPE in the symmetric STN.
        parallel_sppe: keep a frozen copy of the SPPE for the parallel training branch
            (only with ``stn``). It is not a registered submodule: it appears neither in
            ``parameters()`` nor in ``state_dict()`` (checkpoints and optimisers see only the
            trainable model) but follows ``.to()`` / ``.half()`` and stays in eval mode.
        flip_pairs: (left, right) keypoint pairs for the flip test.
        aspect_ratio: crop box w / h (``data.aspect_ratio``).
        box_scale: crop box enlargement (``data.box_scale``).
        batch: crops per SPPE call in :meth:`predict`.
        pixel_mean / pixel_std: RGB normalisation used only when ``sppe`` has no
            ``normalize`` method (defaults: AlphaPose's mean, std 1).
        loc_net: the localisation network (default :class:`rmpe.stn.LocalizationNet`).
        num_keypoints: K; default ``sppe.num_keypoints`` (required when the SPPE lacks it).
    """

    def __init__(
        self,
        sppe: nn.Module,
        codec: HeatmapCodec,
        *,
        stn: bool = False,
        parallel_sppe: bool = True,
        flip_pairs: Sequence[Sequence[int]] = COCO_FLIP_PAIRS,
        aspect_ratio: float = 0.75,
        box_scale: float = 1.25,
        batch: int = 64,
        pixel_mean: Optional[Sequence[float]] = None,
        pixel_std: Optional[Sequence[float]] = None,
        loc_net: Optional[nn.Module] = None,
        num_keypoints: Optional[int] = None,
    ) -> None:
        super().__init__()
        check_sppe_sizes(sppe, codec, "model")
        if batch < 1:
            raise RMPEError(f"model: batch must be at least 1, got {batch}")
        k = num_keypoints if num_keypoints is not None else getattr(sppe, "num_keypoints", None)
        if k is None:
            raise RMPEError("model: the SPPE has no num_keypoints attribute; pass num_keypoints=K")
        self.num_keypoints = int(k)
        self.sppe = sppe
        self.codec = codec
        self.use_stn = bool(stn)
        self.stn = (loc_net if loc_net is not None else LocalizationNet()) if self.use_stn else None
        self.flip_pairs = tuple(tuple(int(i) for i in p) for p in flip_pairs)
        self.aspect_ratio = float(aspect_ratio)
        self.box_scale = float(box_scale)
        self.batch = int(batch)
        mean = pixel_mean if pixel_mean is not None else getattr(sppe, "pixel_mean", ALPHAPOSE_PIXEL_MEAN)
        std = pixel_std if pixel_std is not None else getattr(sppe, "pixel_std", (1.0, 1.0, 1.0))
        self.pixel_mean = tuple(float(v) for v in mean)
        self.pixel_std = tuple(float(v) for v in std)
        self._use_sppe_normalize = pixel_mean is None and pixel_std is None and hasattr(sppe, "normalize")
        object.__setattr__(self, "_parallel", None)
        if self.use_stn and parallel_sppe:
            self.update_parallel_sppe()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_config(cls, config, *, load_init: bool = True) -> "RMPEModel":
        """Build from an :class:`rmpe.config.Config`.

        Uses ``model.name / num_keypoints / input_size / pixel_mean / pixel_std / stn``,
        the ``codec`` section with ``inference.decoder``, ``data.aspect_ratio / box_scale``,
        the keypoint set's flip pairs and ``inference.sppe_batch``; the parallel SPPE exists when ``model.stn`` is on and
        ``train.parallel_sppe_weight > 0``. With ``load_init`` and ``model.init_from`` set,
        that checkpoint is loaded into the SPPE (the STN stays at identity).
        """
        from sppe import build_sppe

        m = config.model
        net = build_sppe(
            m.name,
            num_keypoints=m.num_keypoints,
            input_size=tuple(m.input_size),
            pixel_mean=tuple(m.pixel_mean),
            pixel_std=tuple(m.pixel_std),
        )
        if m.channels_last:
            net = net.to(memory_format=torch.channels_last)
        keypoint_set = config.data.keypoint_set()
        if keypoint_set.num_keypoints != m.num_keypoints:
            raise RMPEError(
                f"config: model.num_keypoints is {m.num_keypoints} but the data's keypoint set has "
                f"{keypoint_set.num_keypoints}; make them agree"
            )
        model = cls(
            net,
            HeatmapCodec.from_config(config),
            stn=m.stn,
            parallel_sppe=m.stn and config.train.parallel_sppe_weight > 0,
            flip_pairs=keypoint_set.flip_pairs,
            aspect_ratio=config.data.aspect_ratio,
            box_scale=config.data.box_scale,
            batch=config.inference.sppe_batch,
        )
        if load_init and m.init_from:
            model.load_sppe_checkpoint(m.init_from)
        return model

    def load_sppe_checkpoint(self, path) -> Dict[str, object]:
        """Load an SPPE checkpoint (ours or AlphaPose's FastPose) into the SPPE.

        Delegates to ``sppe.load_checkpoint``; the STN's parameters are not touched (an
        untrained STN stays at the identity, so the model then predicts exactly what the
        plain SPPE predicts). The parallel copy is refreshed.

        Returns:
            the checkpoint's extra entries (``{}`` for a plain state dict).

        Raises:
            SPPEError: a missing or unfitting checkpoint (from ``sppe.load_checkpoint``).
            RMPEError: the checkpoint's crop size differs from the codec's.
        """
        from sppe import load_checkpoint

        extra = load_checkpoint(self.sppe, path)
        check_sppe_sizes(self.sppe, self.codec, f"checkpoint {path}")
        if self._parallel is not None:
            self.update_parallel_sppe()
        return extra

    # ------------------------------------------------------------------ parallel SPPE

    @property
    def parallel_sppe(self) -> Optional[nn.Module]:
        """The frozen copy of the SPPE (None when the parallel branch is off)."""
        return self._parallel

    def update_parallel_sppe(self) -> None:
        """Refresh the frozen copy from the main SPPE (call at each epoch start).

        The copy has ``requires_grad=False`` on every parameter and stays in eval mode
        (BN uses running statistics) whatever mode the parent is in.
        """
        if self._parallel is None:
            frozen = copy.deepcopy(self.sppe)
        else:
            frozen = self._parallel
            frozen.load_state_dict(self.sppe.state_dict())
        frozen.requires_grad_(False)
        frozen.eval()
        object.__setattr__(self, "_parallel", frozen)

    def _apply(self, fn, *args, **kwargs):  # noqa: D401 - nn.Module hook (.to, .cuda, .half)
        super()._apply(fn, *args, **kwargs)
        if self._parallel is not None:
            self._parallel._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True) -> "RMPEModel":
        """Set training mode; the parallel SPPE stays in eval mode."""
        super().train(mode)
        if self._parallel is not None:
            self._parallel.eval()
        return self

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict``, then refresh the parallel copy."""
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        if self._parallel is not None:
            self.update_parallel_sppe()
        return result

    # ------------------------------------------------------------------ pieces

    @property
    def input_size(self) -> Tuple[int, int]:
        """(H, W) of the crops."""
        return tuple(self.codec.input_size)  # type: ignore[return-value]

    @property
    def heatmap_size(self) -> Tuple[int, int]:
        """(h, w) of the heatmaps."""
        return tuple(self.codec.heatmap_size)  # type: ignore[return-value]

    def normalize(self, crops: torch.Tensor) -> torch.Tensor:
        """Raw RGB crops (N,3,H,W) in [0, 1] -> SPPE input (the SPPE's own ``normalize`` if any)."""
        if self._use_sppe_normalize:
            return self.sppe.normalize(crops)
        mean = torch.tensor(self.pixel_mean, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
        std = torch.tensor(self.pixel_std, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
        return (crops - mean) / std

    def predict_theta(self, crops: torch.Tensor) -> torch.Tensor:
        """Localisation net on raw RGB crops (N,3,H,W) -> theta (N,3,3) crop' px -> crop px (float32).

        Runs in float32 even under autocast: the net is small and theta is geometry (an fp16
        theta would move keypoints by a tenth of a crop pixel).
        """
        if self.stn is None:
            raise RMPEError("model: predict_theta needs the STN; build the model with stn=True (model.stn)")
        pixel_theta = getattr(self.stn, "predict_pixel_theta", None)
        if pixel_theta is not None:  # a runtime backend's exported STN (rmpe.export.adapter) gives crop-px theta
            return pixel_theta(crops.float()).float()
        with torch.autocast(device_type=crops.device.type, enabled=False):
            theta_norm = self.stn(self.normalize(crops.float()))
        return theta_to_pixel(theta_norm.float(), self.input_size)

    # ------------------------------------------------------------------ training

    def forward(self, crops: torch.Tensor) -> RMPEOutput:
        """Training forward on crops (see :meth:`forward_crops`; inference uses :meth:`predict_crops`)."""
        return self.forward_crops(crops)

    def forward_crops(self, crops: torch.Tensor) -> RMPEOutput:
        """Run STN, SPPE, SDTN and the parallel SPPE on crops from the data loader.

        Args:
            crops: (N,3,H,W) raw RGB crops in [0, 1] (NOT normalised: the STN resamples raw
                pixels so its zero border is black, as in a crop taken from the image, and
                normalisation follows), in the crop frame of the targets.

        Returns:
            :class:`RMPEOutput`. With the STN, crop' is the crops resampled with theta (a
            second interpolation after the loader's crop).
        """
        if self.stn is None:
            return self._heads(crops, None)
        theta = self.predict_theta(crops)
        stn_crops = sample_affine(crops, theta)
        return self._heads(stn_crops, theta)

    def _heads(self, stn_crops: torch.Tensor, theta: Optional[torch.Tensor]) -> RMPEOutput:
        x = self.normalize(stn_crops)
        raw = self.sppe(x)
        if theta is None:
            return RMPEOutput(heatmaps=raw, stn_heatmaps=raw)
        heatmaps = sdtn_heatmaps(raw, theta, self.input_size)
        parallel = self._parallel(x) if self._parallel is not None else None
        return RMPEOutput(
            heatmaps=heatmaps, stn_heatmaps=raw, theta=theta, parallel_heatmaps=parallel, stn_crops=stn_crops
        )

    def losses(
        self,
        output: RMPEOutput,
        targets: torch.Tensor,
        target_weights: torch.Tensor,
        centred_targets: Optional[torch.Tensor] = None,
        centred_weights: Optional[torch.Tensor] = None,
        loss_weight: float = 0.5,
        parallel_weight: float = 1.0,
    ) -> Dict[str, torch.Tensor]:
        """The two training losses.

        ``heatmap = loss_weight * mse(output.heatmaps, targets)`` (crop frame; reaches SPPE
        and STN); ``parallel = parallel_weight * loss_weight * mse(output.parallel_heatmaps,
        centred_targets)`` (reaches only the STN); ``total`` is their sum. ``mse`` is
        :func:`weighted_heatmap_mse`. The parallel term is left out when the branch is off,
        no centred targets are given or ``parallel_weight`` is 0.

        Args:
            output: from :meth:`forward_crops`.
            targets: (N,K,h,w) ordinary targets in the crop frame; target_weights (N,K).
            centred_targets: (N,K,h,w) centre-located targets, ``codec.encode`` of
                :func:`rmpe.geometry.centred_keypoints`; centred_weights (N,K).
            loss_weight: ``train.loss_weight``.
            parallel_weight: ``train.parallel_sppe_weight``.

        Returns:
            dict with ``heatmap``, ``total`` and, when used, ``parallel`` (scalar tensors).
        """
        out = {"heatmap": loss_weight * weighted_heatmap_mse(output.heatmaps, targets, target_weights)}
        total = out["heatmap"]
        if output.parallel_heatmaps is not None and centred_targets is not None and parallel_weight > 0:
            w = centred_weights if centred_weights is not None else torch.ones(
                centred_targets.shape[:2], device=centred_targets.device
            )
            out["parallel"] = parallel_weight * loss_weight * weighted_heatmap_mse(
                output.parallel_heatmaps, centred_targets, w
            )
            total = total + out["parallel"]
        out["total"] = total
        return out

    # ------------------------------------------------------------------ inference

    @torch.no_grad()
    def predict(
        self,
        images: Union[torch.Tensor, Sequence[np.ndarray]],
        image_index,
        boxes,
        flip: bool = False,
        decoder: Optional[str] = None,
        amp: Union[bool, torch.dtype] = False,
        batch: Optional[int] = None,
        features: bool = False,
    ) -> Tuple[torch.Tensor, ...]:
        """Keypoints in image pixels for person boxes (the inference path).

        Per chunk of ``batch`` people: crop boxes (``aspect_ratio``, ``box_scale``) ->
        crop matrices ``M`` -> crops, then :meth:`predict_crops` with the full images (so
        crop' is sampled once from them with ``gamma @ M``).
        Call ``model.eval()`` first (BN statistics); works on CPU and CUDA.

        Args:
            images: (B,3,H,W) RGB tensor (float in [0, 1] or uint8), or a list of B OpenCV
                BGR uint8 frames (moved to the model's device by
                :func:`rmpe.crop.frames_to_tensor`).
            image_index: (N,) ints, the image of each box.
            boxes: (N,4) xyxy person boxes in image pixels.
            flip: flip test (average with the mirrored crop's heatmaps).
            decoder: ``"argmax"`` / ``"dark"``; default the codec's.
            amp: SPPE autocast, as in :meth:`predict_crops` (True: fp16 on CUDA; or a dtype,
                ``torch.bfloat16`` also on the CPU); sampling and geometry stay float32/float64.
            batch: crops per SPPE call (default ``self.batch``).
            features: also return the (N,C) appearance features (see :meth:`predict_crops`).

        Returns:
            keypoints (N,K,2) float32 in image pixels and scores (N,K) float32, on the
            images' device; with ``features`` a third item, (N,C) float32 or None.
        """
        device = self._device()
        if not isinstance(images, torch.Tensor):
            images, _ = frames_to_tensor(list(images), device=device, dtype=torch.uint8)
        device = images.device
        idx = torch.as_tensor(np.asarray(image_index) if not isinstance(image_index, torch.Tensor) else image_index)
        idx = idx.to(device=device, dtype=torch.long).reshape(-1)
        box = as_tensor(boxes, device=device).to(torch.float32).reshape(-1, 4)
        if box.shape[0] != idx.shape[0]:
            raise RMPEError(f"predict: {box.shape[0]} boxes but {idx.shape[0]} image indices")
        n = box.shape[0]
        k = self.num_keypoints
        if n == 0:
            empty = (torch.zeros((0, k, 2), device=device), torch.zeros((0, k), device=device))
            return empty + (None,) if features else empty
        chunk = int(batch or self.batch)
        keypoints, scores, feats = [], [], []
        for start in range(0, n, chunk):  # loop over batches of crops
            sl = slice(start, start + chunk)
            m = crop_matrices(crop_boxes(box[sl], self.aspect_ratio, self.box_scale), self.input_size)
            crops = crop_images(images, idx[sl], m, self.input_size)
            out = self.predict_crops(
                crops, m, flip=flip, decoder=decoder, amp=amp, images=images, image_index=idx[sl], features=features
            )
            keypoints.append(out[0])
            scores.append(out[1])
            if features:
                feats.append(out[2])
        if not features:
            return torch.cat(keypoints), torch.cat(scores)
        return torch.cat(keypoints), torch.cat(scores), (None if any(f is None for f in feats) else torch.cat(feats))

    @torch.no_grad()
    def predict_crops(
        self,
        crops: torch.Tensor,
        matrices: torch.Tensor,
        *,
        flip: bool = False,
        decoder: Optional[str] = None,
        amp: Union[bool, torch.dtype] = False,
        images: Optional[torch.Tensor] = None,
        image_index: Optional[torch.Tensor] = None,
        features: bool = False,
    ) -> Tuple[torch.Tensor, ...]:
        """Keypoints in image pixels for crops taken with known matrices.

        The one crops-to-keypoints path (:meth:`predict` and training validation use it):
        with the STN, theta from the crops and crop' = the crops resampled with theta, or,
        when ``images`` are given, crop' cut once from them with ``gamma @ M``; SPPE on crop'
        (plus the mirrored crop when ``flip``); decode; heatmap' px -> image px through
        ``M^-1 @ theta @ S``. Without the STN the crops go to the SPPE as they are. Call
        ``model.eval()`` first.

        Args:
            crops: (N,3,H,W) raw RGB crops, float in [0, 1], in the crop frame (before the
                STN), (H, W) = ``input_size``.
            matrices: (N,3,3) image px -> crop px of each crop.
            flip: flip test (average with the mirrored crop's heatmaps).
            decoder: ``"argmax"`` / ``"dark"``; default the codec's.
            amp: autocast for the SPPE: True (fp16, on CUDA only; ignored elsewhere) or a
                dtype (``torch.bfloat16`` also on the CPU; :mod:`rmpe.precision` chooses); the
                STN and the geometry stay float32/float64.
            images: optional (B,3,H_img,W_img) RGB images (float in [0, 1] or uint8) the
                crops were cut from, on the crops' device. With the STN, crop' is then
                sampled from them (one interpolation instead of two, and image content
                instead of the crop's zero border where theta looks past the crop).
            image_index: (N,) long, the image of each crop; required with ``images``.
            features: also return the SPPE's appearance features (see
                ``sppe.FastPose.forward_features``), for the pose tracker.

        Returns:
            keypoints (N,K,2) float32 in image pixels and scores (N,K) float32, on the
            crops' device; with ``features`` a third item, (N,C) float32 features of crop'
            (None when the SPPE gives none).

        Raises:
            RMPEError: crops of another size than ``input_size``, matrices that are not
                (N,3,3), or ``images`` without ``image_index``.
        """
        device = crops.device
        n = crops.shape[0]
        if crops.dim() != 4 or tuple(crops.shape[-2:]) != self.input_size:
            raise RMPEError(
                f"predict_crops: crops must be (N, 3, {self.input_size[0]}, {self.input_size[1]}), "
                f"got {tuple(crops.shape)}"
            )
        matrices = as_tensor(matrices, device=device)
        if tuple(matrices.shape) != (n, 3, 3):
            raise RMPEError(f"predict_crops: matrices must be ({n}, 3, 3) for {n} crops, got {tuple(matrices.shape)}")
        if images is not None and image_index is None:
            raise RMPEError("predict_crops: images given without image_index; pass the image of each crop")
        theta = None
        if self.stn is not None:
            theta = self.predict_theta(crops)  # small net, kept in float32 for exact geometry
            if images is None:
                crops = sample_affine(crops, theta)
            else:
                crops = crop_images(images, image_index, compose_crop_matrices(matrices, theta), self.input_size)
        amp_dtype = amp if isinstance(amp, torch.dtype) else (torch.float16 if amp else None)
        # fp16 autocast on CUDA only; bf16 autocast also on the CPU (rmpe.precision decides when)
        use_amp = amp_dtype is not None and (device.type == "cuda" or amp_dtype == torch.bfloat16)
        with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float16, enabled=use_amp):
            heatmaps, feats = self._sppe_heatmaps(crops, flip, features)
        coords, scores = self.codec.decode(heatmaps, decoder)
        back = heatmap_to_image_matrices(matrices, theta, self.input_size, tuple(heatmaps.shape[-2:]))
        keypoints = transform_points(back, coords).float()
        if features:
            return keypoints, scores.float(), feats
        return keypoints, scores.float()

    def _sppe_heatmaps(
        self, crops: torch.Tensor, flip: bool, features: bool = False
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(N,3,H,W) raw crops -> (N,K,h,w) float32 heatmaps, flip-test averaged if asked, and
        with ``features`` the SPPE's (N,C) float32 appearance features of the unmirrored crops
        (None when not asked for or when the SPPE has no ``forward_features``)."""
        x = self.normalize(crops)
        n = x.shape[0]
        if flip:
            x = torch.cat([x, x.flip(-1)], dim=0)
        feats = None
        if features and hasattr(self.sppe, "forward_features"):
            hm, feats = self.sppe.forward_features(x)
            feats = feats[:n].float()
        else:
            hm = self.sppe(x)
        hm = hm.float()
        if flip:
            hm = 0.5 * (hm[:n] + flip_heatmaps(hm[n:], self.flip_pairs, shift=True))
        return hm, feats

    def _device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")
