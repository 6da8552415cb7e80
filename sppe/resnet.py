"""One ResNet trunk class for depths 18-152, with squeeze-excitation as an option.

The trunk follows the torchvision layout (stride on the 3x3 convolution of a bottleneck,
a 1x1 convolution + BatchNorm shortcut where the shape changes) without the classifier,
so a trunk built with ``se="none"`` has the state-dict keys and shapes of torchvision's
``resnetXX`` minus ``fc.*``. Squeeze-excitation (Hu et al., CVPR 2018) rescales the
channels of a block's residual branch after its last BatchNorm, before the addition.
Its state-dict entries are ``se.fc.0.*`` and ``se.fc.2.*``, the AlphaPose FastPose layout.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Type, Union

from torch import Tensor, nn

#: Where squeeze-excitation layers go: nowhere, in the first block of every stage, in every block.
SE_PLACEMENTS = ("none", "first", "all")


class SELayer(nn.Module):
    """Squeeze-excitation: channel weights from globally pooled features.

    ``y = x * sigmoid(W2 relu(W1 mean_hw(x) + b1) + b2)`` with W1 (C/r, C) and W2 (C, C/r).

    Args:
        channels: C.
        reduction: r; the hidden width is ``max(1, C // r)``. AlphaPose's FastPose uses r = 1.

    Shapes:
        input (N, C, H, W) -> output (N, C, H, W).
    """

    def __init__(self, channels: int, reduction: int = 1) -> None:
        super().__init__()
        if reduction < 1:
            raise ValueError(f"SE reduction must be >= 1, got {reduction}")
        hidden = max(1, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Rescale every channel of ``x`` (N, C, H, W) by its excitation weight."""
        n, c = x.shape[:2]
        weights = self.fc(self.pool(x).flatten(1)).view(n, c, 1, 1)
        return x * weights


def _shortcut(inplanes: int, outplanes: int, stride: int) -> Optional[nn.Sequential]:
    """The projection shortcut (conv1x1 + BN) where the block changes shape, else ``None``."""
    if stride == 1 and inplanes == outplanes:
        return None
    return nn.Sequential(
        nn.Conv2d(inplanes, outplanes, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(outplanes),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or projection) shortcut; expansion 1.

    Args:
        inplanes: input channels.
        planes: output channels.
        stride: stride of the first 3x3 convolution.
        se_reduction: squeeze-excitation reduction ratio, or ``None`` for no SE layer.

    Shapes:
        input (N, inplanes, H, W) -> output (N, planes, H / stride, W / stride).
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, se_reduction: Optional[int] = None) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, out, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.se = SELayer(out, se_reduction) if se_reduction is not None else None
        self.downsample = _shortcut(inplanes, out, stride)

    def forward(self, x: Tensor) -> Tensor:
        """Residual block on ``x`` (N, C_in, H, W)."""
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.se is not None:
            y = self.se(y)
        return self.relu(y + identity)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride) -> 1x1 expand, expansion 4.

    Args:
        inplanes: input channels.
        planes: width of the 3x3 convolution; the block outputs ``4 * planes`` channels.
        stride: stride of the 3x3 convolution (torchvision / "ResNet v1.5" placement).
        se_reduction: squeeze-excitation reduction ratio, or ``None`` for no SE layer.

    Shapes:
        input (N, inplanes, H, W) -> output (N, 4 planes, H / stride, W / stride).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, se_reduction: Optional[int] = None) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.se = SELayer(out, se_reduction) if se_reduction is not None else None
        self.downsample = _shortcut(inplanes, out, stride)

    def forward(self, x: Tensor) -> Tensor:
        """Residual block on ``x`` (N, C_in, H, W)."""
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        if self.se is not None:
            y = self.se(y)
        return self.relu(y + identity)


Block = Union[Type[BasicBlock], Type[Bottleneck]]

#: depth -> (block type, blocks per stage)
RESNET_DEPTHS: Dict[int, Tuple[Block, Tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNet(nn.Module):
    """ResNet trunk (no pooling head, no classifier) with optional squeeze-excitation.

    Stem: conv7x7/2 (no bias) -> BN -> ReLU -> maxpool3x3/2, then four stages of
    ``layers[i]`` blocks with widths 64, 128, 256, 512 (times the block expansion) and
    strides 1, 2, 2, 2. The output stride is 32.

    Args:
        depth: 18, 34, 50, 101 or 152 (chooses the block type and the stage lengths).
        se: ``"none"``, ``"first"`` (first block of every stage, AlphaPose's choice) or ``"all"``.
        se_reduction: reduction ratio r of every SE layer (hidden width C / r).
        in_channels: channels of the input image.

    Shapes:
        input (N, in_channels, H, W) -> output (N, out_channels, ceil(H / 32), ceil(W / 32))
        (exactly H / 32 and W / 32 when both are multiples of 32).
    """

    def __init__(self, depth: int = 50, *, se: str = "first", se_reduction: int = 1, in_channels: int = 3) -> None:
        super().__init__()
        if depth not in RESNET_DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_DEPTHS)}, got {depth}")
        if se not in SE_PLACEMENTS:
            raise ValueError(f"se must be one of {SE_PLACEMENTS}, got {se!r}")
        if int(se_reduction) < 1:
            raise ValueError(f"se_reduction must be a positive integer, got {se_reduction}")
        block, layers = RESNET_DEPTHS[depth]
        self.depth = depth
        self.se = se
        self.se_reduction = int(se_reduction)
        self.block = block
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.inplanes = 64
        self.layer1 = self._make_stage(block, 64, layers[0], stride=1)
        self.layer2 = self._make_stage(block, 128, layers[1], stride=2)
        self.layer3 = self._make_stage(block, 256, layers[2], stride=2)
        self.layer4 = self._make_stage(block, 512, layers[3], stride=2)
        self.out_channels = 512 * block.expansion

    def _make_stage(self, block: Block, planes: int, count: int, stride: int) -> nn.Sequential:
        blocks: List[nn.Module] = []
        for index in range(count):
            with_se = self.se == "all" or (self.se == "first" and index == 0)
            blocks.append(
                block(
                    self.inplanes,
                    planes,
                    stride=stride if index == 0 else 1,
                    se_reduction=self.se_reduction if with_se else None,
                )
            )
            self.inplanes = planes * block.expansion
        return nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        """Features of ``x`` (N, C, H, W) at stride 32: (N, out_channels, H/32, W/32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)
