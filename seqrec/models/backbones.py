"""CNN backbones: (B, 1, H, W) -> feature map (B, C, H', W'). Width is downsampled 4x, so a
140 px strip gives 35 frames for CTC."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchvision.models.resnet import BasicBlock
from torchvision.ops import Conv2dNormActivation


class SmallCNN(nn.Sequential):
    """Fast conv-BN-ReLU stages. Pools (2,2) twice, then height only, so width keeps 1/4
    of its pixels as CTC frames. Channels grow where the map is small: CPU time goes
    to the 7x35 stages, not the full-resolution one."""

    def __init__(
        self, channels: Sequence[int] = (16, 32, 64, 96), in_channels: int = 1, depth: int = 1, dropout: float = 0.1
    ):
        layers, prev = [], in_channels
        pools = [(2, 2), (2, 2)] + [(2, 1)] * (len(channels) - 2)
        for ch, pool in zip(channels, pools):
            for _ in range(depth):
                layers.append(Conv2dNormActivation(prev, ch, 3))
                prev = ch
            layers.append(nn.MaxPool2d(pool, pool, ceil_mode=True))
        layers.append(nn.Dropout2d(dropout))
        super().__init__(*layers)
        self.out_channels = prev


class ResNetBackbone(nn.Sequential):
    """Residual backbone from torchvision's BasicBlock; stride (2,2), (2,2), then (2,1) per stage."""

    def __init__(
        self, channels: Sequence[int] = (32, 64, 128), blocks: Sequence[int] = (1, 2, 2), in_channels: int = 1
    ):
        if len(channels) != len(blocks):
            raise ValueError(f"channels {list(channels)} and blocks {list(blocks)} must have the same length")
        layers = [Conv2dNormActivation(in_channels, channels[0], 3)]
        prev = channels[0]
        strides = [(2, 2), (2, 2)] + [(2, 1)] * (len(channels) - 2)
        for ch, n, stride in zip(channels, blocks, strides):
            down = nn.Sequential(nn.Conv2d(prev, ch, 1, stride=stride, bias=False), nn.BatchNorm2d(ch))
            layers.append(BasicBlock(prev, ch, stride=stride, downsample=down))
            layers += [BasicBlock(ch, ch) for _ in range(n - 1)]
            prev = ch
        super().__init__(*layers)
        self.out_channels = prev
