"""Dense upsampling convolution (DUC): a 3x3 convolution followed by a sub-pixel shuffle."""
from __future__ import annotations

from torch import Tensor, nn


class DUC(nn.Module):
    """Conv3x3 (no bias) -> BatchNorm -> ReLU -> PixelShuffle.

    The convolution widens the features to ``out_channels``; the pixel shuffle then trades
    channels for resolution, so the module returns ``out_channels // upscale**2`` channels
    at ``upscale`` times the input height and width.

    State-dict entries: ``conv.weight`` and ``bn.*`` (the AlphaPose layout).

    Args:
        in_channels: C_in of the input.
        out_channels: channels after the convolution; must be divisible by ``upscale**2``.
        upscale: the pixel-shuffle factor r.

    Shapes:
        input (N, C_in, h, w) -> output (N, out_channels / r^2, r h, r w).
    """

    def __init__(self, in_channels: int, out_channels: int, upscale: int = 2) -> None:
        super().__init__()
        if out_channels % (upscale * upscale):
            raise ValueError(
                f"DUC out_channels={out_channels} is not divisible by upscale^2={upscale * upscale}"
            )
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.upscale = int(upscale)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.pixel_shuffle = nn.PixelShuffle(upscale)

    @property
    def output_channels(self) -> int:
        """Channels of the output map: ``out_channels // upscale**2``."""
        return self.out_channels // (self.upscale * self.upscale)

    def forward(self, x: Tensor) -> Tensor:
        """Upsample ``x`` (N, C_in, h, w) to (N, out_channels / r^2, r h, r w)."""
        return self.pixel_shuffle(self.relu(self.bn(self.conv(x))))
