"""ResNet with the three-convolution "deep stem" (DeepLab variant), BatchNorm throughout.

Built from the configuration's depth (50/101/152) and widths; names match the hub keys
(``backbone.stem.conv1``, ``backbone.res4.22.conv3.norm`` ...).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import RESNET_BLOCKS, BackboneConfig
from .layers import Conv2d


class DeepLabStem(nn.Module):
    """Three 3x3 convolutions (stride 2, 1, 1) and a 3x3 max-pool: stride 4 in all."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        mid = out_channels // 2
        self.conv1 = Conv2d(in_channels, mid, 3, stride=2, padding=1, bias=False, norm=nn.BatchNorm2d(mid), relu=True)
        self.conv2 = Conv2d(mid, mid, 3, stride=1, padding=1, bias=False, norm=nn.BatchNorm2d(mid), relu=True)
        self.conv3 = Conv2d(mid, out_channels, 3, stride=1, padding=1, bias=False, norm=nn.BatchNorm2d(out_channels), relu=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3(self.conv2(self.conv1(x)))
        return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


class BottleneckBlock(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bottleneck_channels: int,
        stride: int,
        num_groups: int,
        stride_in_1x1: bool,
    ):
        super().__init__()
        if in_channels != out_channels:
            self.shortcut = Conv2d(
                in_channels, out_channels, 1, stride=stride, bias=False, norm=nn.BatchNorm2d(out_channels)
            )
        else:
            self.shortcut = None
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        b = bottleneck_channels
        self.conv1 = Conv2d(in_channels, b, 1, stride=s1, bias=False, norm=nn.BatchNorm2d(b), relu=True)
        self.conv2 = Conv2d(b, b, 3, stride=s3, padding=1, bias=False, groups=num_groups, norm=nn.BatchNorm2d(b), relu=True)
        self.conv3 = Conv2d(b, out_channels, 1, bias=False, norm=nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(self.conv2(self.conv1(x)))
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + shortcut)


class ResNetBackbone(nn.Module):
    """Returns the res2..res5 feature maps (strides 4, 8, 16, 32)."""

    def __init__(self, cfg: BackboneConfig, in_channels: int = 3):
        super().__init__()
        self.stem = DeepLabStem(in_channels, cfg.stem_out_channels)
        blocks_per_stage = RESNET_BLOCKS[cfg.depth]
        in_ch = cfg.stem_out_channels
        out_ch = cfg.res2_out_channels
        bottleneck = cfg.num_groups * cfg.width_per_group
        self.stage_names: list[str] = []
        self.channels: dict[str, int] = {}
        for idx, n_blocks in enumerate(blocks_per_stage):
            name = f"res{idx + 2}"
            blocks = []
            for b in range(n_blocks):
                stride = 2 if (b == 0 and idx > 0) else 1
                blocks.append(BottleneckBlock(in_ch, out_ch, bottleneck, stride, cfg.num_groups, cfg.stride_in_1x1))
                in_ch = out_ch
            self.add_module(name, nn.Sequential(*blocks))
            self.stage_names.append(name)
            self.channels[name] = out_ch
            out_ch *= 2
            bottleneck *= 2

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(x)
        out = {}
        for name in self.stage_names:
            x = getattr(self, name)(x)
            out[name] = x
        return out
