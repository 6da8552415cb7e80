"""FastPose: an SE-ResNet trunk and a DUC head that predict one heatmap per keypoint.

Layout (DESIGN.md section 5): ``preact`` (the ResNet trunk, stride 32) -> PixelShuffle(2)
-> ``duc1`` -> ``duc2`` -> ``conv_out`` (3x3, with bias). Every pixel shuffle doubles the
resolution, so the heatmaps have stride 4: a 256x192 crop gives 64x48 heatmaps.

With ``depth=50, se="first", se_reduction=1, duc_channels=(1024, 512)`` and 17 keypoints
the state dict is exactly that of AlphaPose's ``fast_res50_256x192.pth``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .duc import DUC
from .errors import SPPEError
from .resnet import SE_PLACEMENTS, RESNET_DEPTHS, BasicBlock, Bottleneck, ResNet

#: AlphaPose's input normalisation: RGB pixels in [0, 1] minus this mean, divided by no std.
ALPHAPOSE_PIXEL_MEAN: Tuple[float, float, float] = (0.406, 0.457, 0.480)
ALPHAPOSE_PIXEL_STD: Tuple[float, float, float] = (1.0, 1.0, 1.0)

#: Total stride of trunk + head (32 / 2 / 2 / 2).
OUTPUT_STRIDE = 4
#: Crop sides must be multiples of this for heatmaps of exactly input / 4.
INPUT_MULTIPLE = 32

#: Keypoint groups whose heatmaps weight the appearance feature's pooling, for COCO's 17
#: keypoints: head (nose, eyes, ears), upper body (shoulders, elbows, wrists), lower body (hips,
#: knees, ankles). Other keypoint counts split their keypoints into three consecutive groups.
COCO_FEATURE_PARTS: Tuple[Tuple[int, ...], ...] = ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9, 10), (11, 12, 13, 14, 15, 16))


def feature_parts(num_keypoints: int) -> Tuple[Tuple[int, ...], ...]:
    """The keypoint groups of :meth:`FastPose.forward_features` (:data:`COCO_FEATURE_PARTS` for K = 17,
    else K split into three consecutive groups as even as possible; one group per keypoint when K < 3)."""
    if num_keypoints == 17:
        return COCO_FEATURE_PARTS
    if num_keypoints < 3:
        return tuple((k,) for k in range(num_keypoints))
    bounds = [round(i * num_keypoints / 3) for i in range(4)]
    return tuple(tuple(range(bounds[i], bounds[i + 1])) for i in range(3))


def default_duc_channels(depth: int) -> Tuple[int, int]:
    """DUC widths used when none are given.

    Bottleneck trunks (50/101/152, 2048 channels) use AlphaPose's (1024, 512): 512 -> 1024
    -> shuffle -> 256 -> 512 -> shuffle -> 128 channels into ``conv_out``. BasicBlock trunks
    (18/34, 512 channels) get a head of half that width relative to their input, (512, 256):
    128 -> 512 -> shuffle -> 128 -> 256 -> shuffle -> 64 channels into ``conv_out``, which
    keeps the head cheap next to a small trunk (about 20 % of ResNet-18's multiply-adds).
    """
    block, _ = RESNET_DEPTHS[depth]
    return (1024, 512) if block is Bottleneck else (512, 256)


def rgb_triple(value: Sequence[float], what: str) -> Tuple[float, float, float]:
    """``value`` as three floats (R, G, B); ``what`` names it in the SPPEError otherwise."""
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise SPPEError(f"{what} must be three numbers (R, G, B), got {value!r}") from None
    if len(values) != 3:
        raise SPPEError(f"{what} must be three numbers (R, G, B), got {len(values)}: {value!r}")
    return values  # type: ignore[return-value]


def check_input_size(input_size: Sequence[int]) -> Tuple[int, int]:
    """``input_size`` as (height, width) ints, both positive multiples of ``INPUT_MULTIPLE``."""
    try:
        height, width = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise SPPEError(f"input_size must be (height, width), got {input_size!r}") from None
    if height <= 0 or width <= 0 or height % INPUT_MULTIPLE or width % INPUT_MULTIPLE:
        raise SPPEError(
            f"input_size {height}x{width} must be positive multiples of {INPUT_MULTIPLE} "
            f"(e.g. 256x192 or 128x96)"
        )
    return height, width


class FastPose(nn.Module):
    """SE-ResNet + DUC heatmap network.

    The model carries its input normalisation (``pixel_mean``, ``pixel_std``) and the crop
    size it was trained for (``input_size``) as plain attributes, not buffers, so its state
    dict stays identical to AlphaPose's; :func:`sppe.save_checkpoint` stores them next to
    the weights and :func:`sppe.load_checkpoint` restores them.

    Args:
        num_keypoints: K, the number of heatmaps.
        depth: ResNet depth, 18, 34, 50, 101 or 152.
        se: squeeze-excitation placement, ``"none"``, ``"first"`` or ``"all"``.
        se_reduction: squeeze-excitation reduction ratio.
        duc_channels: convolution widths of ``duc1`` and ``duc2`` (each a multiple of 4);
            ``None`` picks :func:`default_duc_channels`.
        pixel_mean: per-channel RGB mean subtracted from [0, 1] pixels by :meth:`normalize`.
        pixel_std: per-channel RGB std the result is divided by.
        input_size: crop (H, W) in pixels the model expects, multiples of 32.
        name: registry name, written into checkpoints.

    Shapes:
        forward: (N, 3, H, W) normalised RGB -> (N, K, H / 4, W / 4) heatmaps in heatmap
        pixels (heatmap pixel (u, v) covers crop pixels 4u..4u+3, 4v..4v+3).
    """

    output_stride: int = OUTPUT_STRIDE

    def __init__(
        self,
        *,
        num_keypoints: int = 17,
        depth: int = 50,
        se: str = "first",
        se_reduction: int = 1,
        duc_channels: Optional[Sequence[int]] = None,
        pixel_mean: Sequence[float] = ALPHAPOSE_PIXEL_MEAN,
        pixel_std: Sequence[float] = ALPHAPOSE_PIXEL_STD,
        input_size: Sequence[int] = (256, 192),
        name: str = "fastpose",
    ) -> None:
        super().__init__()
        if isinstance(num_keypoints, bool) or not isinstance(num_keypoints, int) or num_keypoints < 1:
            raise SPPEError(f"num_keypoints must be a positive integer, got {num_keypoints!r}")
        if depth not in RESNET_DEPTHS:
            raise SPPEError(f"depth must be one of {sorted(RESNET_DEPTHS)}, got {depth!r}")
        if se not in SE_PLACEMENTS:
            raise SPPEError(f"se must be one of {', '.join(SE_PLACEMENTS)}, got {se!r}")
        if isinstance(se_reduction, bool) or not isinstance(se_reduction, int) or se_reduction < 1:
            raise SPPEError(f"se_reduction must be a positive integer, got {se_reduction!r}")
        duc = default_duc_channels(depth) if duc_channels is None else tuple(int(c) for c in duc_channels)
        if len(duc) != 2 or any(c <= 0 or c % 4 for c in duc):
            raise SPPEError(f"duc_channels must be two positive multiples of 4, got {duc_channels!r}")
        self.name = str(name)
        self.num_keypoints = int(num_keypoints)
        self.depth = int(depth)
        self.se = se
        self.se_reduction = int(se_reduction)
        self.duc_channels: Tuple[int, int] = (duc[0], duc[1])
        self.pixel_mean = rgb_triple(pixel_mean, "pixel_mean")
        self.pixel_std = rgb_triple(pixel_std, "pixel_std")
        if any(s <= 0 for s in self.pixel_std):
            raise SPPEError(f"pixel_std must be positive, got {self.pixel_std}")
        self.input_size = check_input_size(input_size)

        self.preact = ResNet(depth, se=se, se_reduction=se_reduction)
        self.shuffle = nn.PixelShuffle(2)  # 2048 x h x w -> 512 x 2h x 2w (no parameters)
        self.duc1 = DUC(self.preact.out_channels // 4, duc[0], upscale=2)
        self.duc2 = DUC(self.duc1.output_channels, duc[1], upscale=2)
        self.conv_out = nn.Conv2d(self.duc2.output_channels, self.num_keypoints, kernel_size=3, padding=1)
        self.reset_parameters()

    # ------------------------------------------------------------------ construction
    def reset_parameters(self) -> None:
        """Kaiming-normal convolutions (fan-out, ReLU), BN weight 1 / bias 0, SE linears
        with PyTorch's default, ``conv_out`` weights N(0, 0.001) and bias 0; the last
        BatchNorm of every residual branch starts at weight 0, so each block begins as the
        identity (Goyal et al. 2017), which trains faster from random weights. Loaded
        checkpoints replace all of this."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.conv_out.weight, std=0.001)
        nn.init.zeros_(self.conv_out.bias)
        for block in self.preact.modules():
            if isinstance(block, Bottleneck):
                nn.init.zeros_(block.bn3.weight)
            elif isinstance(block, BasicBlock):
                nn.init.zeros_(block.bn2.weight)

    def arch_config(self) -> Dict[str, Any]:
        """The constructor arguments that shape the network (JSON-friendly)."""
        return {
            "depth": self.depth,
            "se": self.se,
            "se_reduction": self.se_reduction,
            "duc_channels": list(self.duc_channels),
        }

    def metadata(self) -> Dict[str, Any]:
        """Everything a checkpoint needs besides the weights to rebuild and use this model.

        Returns:
            dict with ``name``, ``num_keypoints``, ``pixel_mean``, ``pixel_std`` (lists of 3
            floats), ``input_size`` ([H, W]), ``output_stride`` and ``arch`` (:meth:`arch_config`).
        """
        return {
            "name": self.name,
            "num_keypoints": self.num_keypoints,
            "pixel_mean": list(self.pixel_mean),
            "pixel_std": list(self.pixel_std),
            "input_size": list(self.input_size),
            "output_stride": self.output_stride,
            "arch": self.arch_config(),
        }

    @property
    def heatmap_size(self) -> Tuple[int, int]:
        """(h, w) of the heatmaps for a crop of ``input_size``."""
        return self.input_size[0] // OUTPUT_STRIDE, self.input_size[1] // OUTPUT_STRIDE

    # ------------------------------------------------------------------ inference
    def normalize(self, images: Tensor) -> Tensor:
        """Turn RGB crops into network input: ``(images - pixel_mean) / pixel_std``.

        Args:
            images: (N, 3, H, W) RGB, float in [0, 1] (any float dtype, kept), or uint8 in
                [0, 255] (divided by 255 into float32).

        Returns:
            (N, 3, H, W) normalised input on the same device.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise SPPEError(f"normalize expects (N, 3, H, W) RGB images, got shape {tuple(images.shape)}")
        if not images.is_floating_point():
            images = images.float().div_(255.0)
        mean = torch.tensor(self.pixel_mean, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        out = images - mean
        if any(s != 1.0 for s in self.pixel_std):
            std = torch.tensor(self.pixel_std, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
            out = out / std
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Heatmaps for normalised crops.

        Args:
            x: (N, 3, H, W) output of :meth:`normalize`; H and W multiples of 32.

        Returns:
            (N, K, H / 4, W / 4) heatmaps (raw scores, trained against Gaussians with peak 1).
        """
        return self._heads(x)[1]

    def _heads(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """(N, 3, H, W) -> the trunk's first-stage map (N, C1, H / 4, W / 4) and the heatmaps."""
        height, width = x.shape[-2], x.shape[-1]
        if height % INPUT_MULTIPLE or width % INPUT_MULTIPLE:
            raise SPPEError(
                f"{self.name}: input {height}x{width} is not a multiple of {INPUT_MULTIPLE} on both sides; "
                f"crop to e.g. {self.input_size[0]}x{self.input_size[1]}"
            )
        t = self.preact
        stage1 = t.layer1(t.maxpool(t.relu(t.bn1(t.conv1(x)))))  # the steps of ResNet.forward, stage 1 kept
        y = self.shuffle(t.layer4(t.layer3(t.layer2(stage1))))
        y = self.duc1(y)
        y = self.duc2(y)
        return stage1, self.conv_out(y)

    def forward_features(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Heatmaps and an appearance feature per crop, from one pass.

        The feature is the trunk's first stage (``preact.layer1``, stride 4: the same grid as the
        heatmaps, and early enough to keep the clothes' colours) pooled three times, each time
        weighted by one body part's heatmaps (:func:`feature_parts`: head, upper body, lower body
        for COCO): weights = the part's heatmaps clamped at 0 and summed over its keypoints,
        normalised to sum 1 over the map. So it describes the person the pose is about, not the
        crop's background or a neighbour, and each part separately (shirt and trousers). Each
        part's (C1,) vector is L2-normalised and the three are concatenated.
        benchmarks/bench_appearance.py measured this against pooling whole stages
        (docs/tracking.md#appearance-features). Its cost is three weighted sums over a
        (C1, H / 4, W / 4) map, nothing next to the network.

        Args:
            x: (N, 3, H, W) output of :meth:`normalize`; H and W multiples of 32.

        Returns:
            heatmaps (N, K, H / 4, W / 4) as :meth:`forward` gives them, and features
            (N, :attr:`feature_channels`): 3 x C1 (C1 = 64 for ResNet-18/34, 256 for ResNet-50
            and deeper), each third of unit length (or zero where a part's heatmaps are all
            <= 0). They are all non-negative (ReLU maps); the pose tracker centres them by the
            video's running mean before comparing them by cosine distance.
        """
        stage1, heatmaps = self._heads(x)
        weights = heatmaps.detach().float().clamp(min=0)  # stride 4 like stage 1: the same (H / 4, W / 4) grid
        flat = stage1.float().flatten(2)  # (N, C1, h*w)
        parts = []
        for group in feature_parts(self.num_keypoints):
            w = weights[:, list(group)].sum(dim=1).flatten(1)  # (N, h*w)
            w = w / w.sum(dim=1, keepdim=True).clamp(min=1e-12)
            pooled = (flat * w.unsqueeze(1)).sum(dim=2)  # (N, C1)
            parts.append(pooled / pooled.norm(dim=1, keepdim=True).clamp(min=1e-12))
        return heatmaps, torch.cat(parts, dim=1).to(heatmaps.dtype)

    @property
    def feature_channels(self) -> int:
        """Length of :meth:`forward_features`' feature: C1 (the first stage's width) per keypoint group."""
        return len(feature_parts(self.num_keypoints)) * 64 * self.preact.block.expansion
