"""Small building blocks shared by the backbone and the heads."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Conv2d(nn.Conv2d):
    """A convolution with an optional norm and activation, as detectron2 names them.

    The parameter names (``weight``, ``bias``, ``norm.*``) match the hub checkpoint.
    :meth:`fold_batchnorm` merges an eval-mode BatchNorm into the convolution, which
    removes one full pass over every activation map of the backbone.
    """

    def __init__(self, *args, norm: nn.Module | None = None, relu: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.norm is not None:
            x = self.norm(x)
        if self.relu:
            x = F.relu(x)
        return x

    @torch.no_grad()
    def fold_batchnorm(self) -> None:
        """Fold a BatchNorm2d (running statistics) into weight and bias; no-op otherwise."""
        bn = self.norm
        if not isinstance(bn, nn.BatchNorm2d):
            return
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        self.weight.mul_(scale.reshape(-1, 1, 1, 1))
        bias = bn.bias - bn.running_mean * scale
        if self.bias is not None:
            bias = bias + self.bias * scale
        self.bias = nn.Parameter(bias)
        self.norm = None


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (the mask embedding head)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1)
        outs = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, outs, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = F.relu(x)
        return x


def sine_position_embedding(x: torch.Tensor, num_pos_feats: int, temperature: float = 10000.0) -> torch.Tensor:
    """DETR's normalised sine position embedding for a (B, C, H, W) map (no padding mask).

    Equal to the reference ``PositionEmbeddingSine(normalize=True)`` with an all-valid mask,
    computed from the map's size at run time: (1, 2 * num_pos_feats, H, W).
    """
    h, w = x.shape[-2], x.shape[-1]
    eps = 1e-6
    scale = 2 * torch.pi
    y_embed = torch.arange(1, h + 1, dtype=torch.float32, device=x.device)
    x_embed = torch.arange(1, w + 1, dtype=torch.float32, device=x.device)
    y_embed = y_embed / (y_embed[-1:] + eps) * scale
    x_embed = x_embed / (x_embed[-1:] + eps) * scale
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32, device=x.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_pos_feats)
    pos_x = x_embed[:, None] / dim_t  # (W, F)
    pos_y = y_embed[:, None] / dim_t  # (H, F)
    pos_x = torch.stack((pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()), dim=2).flatten(1)
    pos_y = torch.stack((pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()), dim=2).flatten(1)
    pos_y = pos_y[:, None, :].expand(-1, pos_x.shape[0], -1)  # (H, W, F)
    pos_x = pos_x[None, :, :].expand(pos_y.shape[0], -1, -1)  # (H, W, F)
    return torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1).unsqueeze(0)
