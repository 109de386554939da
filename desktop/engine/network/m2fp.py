"""The whole M2FP network: backbone, pixel decoder, transformer decoder."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .backbone import ResNetBackbone
from .layers import Conv2d
from .pixel_decoder import MSDeformAttnPixelDecoder
from .transformer_decoder import MultiScaleMaskedTransformerDecoder


class SemSegHead(nn.Module):
    """``sem_seg_head.pixel_decoder`` and ``sem_seg_head.predictor`` in the hub's names."""

    def __init__(self, cfg: ModelConfig, channels: dict[str, int], strides: dict[str, int]):
        super().__init__()
        self.pixel_decoder = MSDeformAttnPixelDecoder(cfg.encoder, channels, strides)
        self.predictor = MultiScaleMaskedTransformerDecoder(cfg.decoder, cfg.encoder.conv_dim)


class M2FPNet(nn.Module):
    """Normalised, padded image batch (B, 3, H, W) -> (class logits, mask logits at stride 4)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = ResNetBackbone(cfg.backbone)
        strides = {"res2": 4, "res3": 8, "res4": 16, "res5": 32}
        self.sem_seg_head = SemSegHead(cfg, self.backbone.channels, strides)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(images)
        mask_features, multi_scale = self.sem_seg_head.pixel_decoder(features)
        return self.sem_seg_head.predictor(multi_scale, mask_features)

    def fold_batchnorm(self) -> None:
        """Merge every BatchNorm into its convolution (inference only; weights change)."""
        for module in self.modules():
            if isinstance(module, Conv2d):
                module.fold_batchnorm()
