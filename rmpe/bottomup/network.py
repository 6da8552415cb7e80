"""The bottom-up network: a ResNet trunk from ``sppe`` and OpenPose 2018's multi-stage heads.

Architecture (Cao et al., TPAMI 2019, "OpenPose"), at output stride 4:

* features F: ``sppe.ResNet`` (no SE) up to its second stage (stride 8); the stride-8 map is
  upsampled and added to the stride-4 map of the first stage (both through 1x1 convolutions
  to ``width`` channels), then a 3x3 convolution: F (B,width,H/4,W/4);
* ``paf_stages`` affinity-field stages: the first sees F, each later one F and the previous
  stage's fields (channel concatenation), each outputs 2C fields;
* ``cpm_stages`` confidence-map stages: each sees F and the final fields (and from the second
  on also the previous maps), each outputs K+1 maps (the last one the background);
* a stage is ``stage_layers`` 3x3 convolutions with ReLU, a 1x1 convolution with ReLU, and a
  1x1 output convolution;
* every stage's output is supervised (:func:`bottomup_losses`: masked L2, intermediate
  supervision), inference reads the last fields and the last maps.

Variants are registered by name (:func:`build_bottomup`): ``openpose_lite`` (ResNet-18 trunk,
narrow and shallow stages: trains on a CPU), ``openpose_res18`` and ``openpose_res50``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .limbs import LIMBS

_REGISTRY: Dict[str, Dict[str, Any]] = {}


def register_bottomup(**arch: Any) -> Callable[[Callable[..., "BottomUpNet"]], Callable[..., "BottomUpNet"]]:
    """Decorator registering a variant function under its own name with its architecture defaults."""

    def decorator(fn: Callable[..., "BottomUpNet"]) -> Callable[..., "BottomUpNet"]:
        if fn.__name__ in _REGISTRY:
            raise ValueError(f"bottom-up model {fn.__name__!r} is registered twice")
        _REGISTRY[fn.__name__] = dict(arch)
        return fn

    return decorator


def list_bottomup() -> List[str]:
    """Names of the registered bottom-up models, sorted."""
    return sorted(_REGISTRY)


def is_bottomup(name: str) -> bool:
    """Whether ``name`` (``model.name``) is a registered bottom-up model."""
    return name in _REGISTRY


def _conv_relu(cin: int, cout: int, k: int) -> List[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(inplace=True)]


def _stage(cin: int, width: int, cout: int, layers: int) -> nn.Sequential:
    blocks: List[nn.Module] = []
    for i in range(layers):
        blocks += _conv_relu(cin if i == 0 else width, width, 3)
    blocks += _conv_relu(width, width, 1)
    blocks.append(nn.Conv2d(width, cout, 1))
    return nn.Sequential(*blocks)


@dataclass
class BottomUpOutput:
    """Every stage's predictions (B batch, C limbs, K keypoints, h/w the map size = input / 4).

    Attributes:
        fields: per affinity-field stage, (B,2C,h,w).
        maps: per confidence-map stage, (B,K+1,h,w) (last channel the background).
    """

    fields: List[torch.Tensor]
    maps: List[torch.Tensor]


class BottomUpNet(nn.Module):
    """Multi-stage confidence-map + part-affinity-field network (module docstring).

    Args:
        name: registry name (kept in checkpoints).
        num_keypoints: K.
        limbs: the C joint pairs of the fields (default :data:`rmpe.bottomup.LIMBS`).
        depth: ResNet depth of the trunk (18, 34, 50, ...).
        width: channels of the features F.
        stage_width: channels inside a stage.
        stage_layers: 3x3 convolutions per stage.
        paf_stages / cpm_stages: number of affinity-field and confidence-map stages (>= 1).
        pixel_mean / pixel_std: RGB normalisation of [0, 1] pixels, applied in :meth:`forward`.

    Shapes:
        input (B,3,H,W) RGB in [0, 1], H and W multiples of 8 -> fields (B,2C,H/4,W/4),
        maps (B,K+1,H/4,W/4) per stage.
    """

    stride = 4
    #: what the trainer asks every model (an RMPE model has these): no parallel SPPE, no heatmap codec
    parallel_sppe = None
    codec = None

    def __init__(
        self,
        *,
        name: str = "openpose_lite",
        num_keypoints: int = 17,
        limbs: Sequence[Tuple[int, int]] = LIMBS,
        depth: int = 18,
        width: int = 64,
        stage_width: int = 64,
        stage_layers: int = 3,
        paf_stages: int = 2,
        cpm_stages: int = 1,
        pixel_mean: Sequence[float] = (0.406, 0.457, 0.480),
        pixel_std: Sequence[float] = (1.0, 1.0, 1.0),
    ) -> None:
        super().__init__()
        from sppe import ResNet

        if paf_stages < 1 or cpm_stages < 1:
            raise ValueError("a bottom-up network needs at least one affinity-field and one confidence-map stage")
        self.name = name
        self.num_keypoints = int(num_keypoints)
        self.limbs = tuple(tuple(int(i) for i in p) for p in limbs)
        for a, b in self.limbs:
            if not (0 <= a < num_keypoints and 0 <= b < num_keypoints):
                raise ValueError(f"limb ({a}, {b}) is outside 0..{num_keypoints - 1}")
        trunk = ResNet(depth, se="none")
        self.stem = nn.Sequential(trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool)
        self.layer1, self.layer2 = trunk.layer1, trunk.layer2
        c4 = 64 * trunk.block.expansion
        c8 = 128 * trunk.block.expansion
        self.lateral4 = nn.Conv2d(c4, width, 1)
        self.lateral8 = nn.Conv2d(c8, width, 1)
        self.fuse = nn.Sequential(*_conv_relu(width, width, 3))
        n_f, n_m = 2 * len(self.limbs), self.num_keypoints + 1
        self.paf = nn.ModuleList(
            _stage(width + (n_f if i else 0), stage_width, n_f, stage_layers) for i in range(paf_stages)
        )
        self.cpm = nn.ModuleList(
            _stage(width + n_f + (n_m if i else 0), stage_width, n_m, stage_layers) for i in range(cpm_stages)
        )
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """F (B,width,ceil(H/4),ceil(W/4)) of RGB images (B,3,H,W) in [0, 1]."""
        x = (images - self.pixel_mean.to(images.dtype)) / self.pixel_std.to(images.dtype)
        x4 = self.layer1(self.stem(x))
        x8 = self.layer2(x4)
        up = F.interpolate(self.lateral8(x8), size=x4.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(self.lateral4(x4) + up)

    def forward(self, images: torch.Tensor) -> BottomUpOutput:
        """All stages' fields and maps of RGB images (B,3,H,W) in [0, 1]."""
        feats = self.features(images)
        fields: List[torch.Tensor] = []
        for i, stage in enumerate(self.paf):
            fields.append(stage(feats if i == 0 else torch.cat([feats, fields[-1]], 1)))
        maps: List[torch.Tensor] = []
        for i, stage in enumerate(self.cpm):
            inputs = [feats, fields[-1]] + ([maps[-1]] if i else [])
            maps.append(stage(torch.cat(inputs, 1)))
        return BottomUpOutput(fields=fields, maps=maps)

    @classmethod
    def from_config(cls, config: Any) -> "BottomUpNet":
        """The config's ``model.name`` variant with its ``num_keypoints`` and pixel normalisation.

        COCO-17 uses :data:`LIMBS`; another keypoint set uses its ``data.skeleton``.

        Raises:
            RMPEError: ``model.input_size`` not a multiple of 8, or a custom keypoint set
                without ``data.skeleton``.
        """
        from ..errors import RMPEError
        from .limbs import config_limbs

        if any(int(v) % 8 for v in config.model.input_size):
            raise RMPEError(f"model.input_size {list(config.model.input_size)}: a bottom-up network needs H and W "
                            "that are multiples of 8")
        k, limbs = int(config.model.num_keypoints), config_limbs(config)
        return build_bottomup(config.model.name, num_keypoints=k, limbs=limbs,
                              pixel_mean=tuple(config.model.pixel_mean), pixel_std=tuple(config.model.pixel_std))


def masked_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """0.5 x mean over (B,C,h,w) of ``mask * (pred - target)^2``; mask (B,h,w) is broadcast over C."""
    return 0.5 * ((pred.float() - target.float()) ** 2 * mask.float()[:, None]).mean()


def bottomup_losses(out: BottomUpOutput, maps: torch.Tensor, fields: torch.Tensor, mask: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Intermediate supervision: the masked L2 of every stage against the same targets.

    Args:
        out: the network's output.
        maps: (B,K+1,h,w) target confidence maps; fields (B,2C,h,w) target fields; mask (B,h,w).

    Returns:
        ``paf`` (sum over field stages), ``heatmap`` (sum over map stages), ``total`` (their sum).
    """
    paf = sum(masked_l2(p, fields, mask) for p in out.fields)
    cpm = sum(masked_l2(p, maps, mask) for p in out.maps)
    return {"total": paf + cpm, "paf": paf, "heatmap": cpm}


def build_bottomup(name: str, **overrides: Any) -> BottomUpNet:
    """Build a registered bottom-up network with fresh weights (overrides: any constructor argument)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown bottom-up model {name!r}; known: {', '.join(list_bottomup())}")
    kwargs = dict(_REGISTRY[name])
    kwargs.update(overrides)
    return BottomUpNet(name=name, **kwargs)


@register_bottomup(depth=18, width=64, stage_width=64, stage_layers=3, paf_stages=2, cpm_stages=1)
def openpose_lite(**overrides: Any) -> BottomUpNet:
    """ResNet-18 trunk, 2 field stages + 1 map stage of three 3x3 convolutions, 64 channels: for the CPU."""
    return build_bottomup("openpose_lite", **overrides)


@register_bottomup(depth=18, width=128, stage_width=128, stage_layers=5, paf_stages=3, cpm_stages=1)
def openpose_res18(**overrides: Any) -> BottomUpNet:
    """ResNet-18 trunk, 3 field stages + 1 map stage of five 3x3 convolutions, 128 channels."""
    return build_bottomup("openpose_res18", **overrides)


@register_bottomup(depth=50, width=128, stage_width=128, stage_layers=5, paf_stages=4, cpm_stages=2)
def openpose_res50(**overrides: Any) -> BottomUpNet:
    """ResNet-50 trunk, 4 field stages + 2 map stages (OpenPose 2018's 4 + 2 split), 128 channels."""
    return build_bottomup("openpose_res50", **overrides)
