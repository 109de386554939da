"""Mask2Former's multi-scale deformable-attention pixel decoder.

The deformable attention samples each level with ``F.grid_sample`` (bilinear, zero
padding, ``align_corners=False``), which is exactly what the reference's CPU path
(mmcv's ``multi_scale_deformable_attn_pytorch``) computes. We accumulate the weighted
samples level by level instead of stacking all levels first: the same sum, without a
(heads x dims x queries x levels x points) intermediate on every layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import EncoderConfig
from .layers import Conv2d, sine_position_embedding


class MSDeformAttn(nn.Module):
    def __init__(self, d_model: int, n_levels: int, n_heads: int, n_points: int):
        super().__init__()
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        value_in: torch.Tensor,
        shapes: list[tuple[torch.Tensor, torch.Tensor]],
    ) -> torch.Tensor:
        """query, value_in: (B, N, C); reference_points: (1, N, 2) in [0, 1] as (x, y)."""
        b, n_q, _ = query.shape
        heads, levels, points = self.n_heads, self.n_levels, self.n_points
        head_dim = self.d_model // heads
        value = self.value_proj(value_in)
        offsets = self.sampling_offsets(query).view(b, n_q, heads, levels, points, 2)
        weights = self.attention_weights(query).view(b, n_q, heads, levels * points)
        weights = F.softmax(weights, -1).view(b, n_q, heads, levels, points)

        out = None
        start = 0
        for lvl, (h, w) in enumerate(shapes):
            size = h * w
            value_l = value[:, start : start + size].transpose(1, 2).reshape(b * heads, head_dim, h, w)
            start = start + size
            normalizer = torch.stack((w, h)).to(query.dtype)
            # Grid coordinates in [-1, 1]: 2 * (reference + offset / size) - 1.
            loc = reference_points[:, :, None, None, :] + offsets[:, :, :, lvl] / normalizer
            grid = (2 * loc - 1).transpose(1, 2).reshape(b * heads, n_q, points, 2)
            sampled = F.grid_sample(value_l, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            # sampled: (B*heads, head_dim, n_q, points); weights -> (B*heads, 1, n_q, points)
            w_l = weights[:, :, :, lvl].transpose(1, 2).reshape(b * heads, 1, n_q, points)
            # The same products on (B*heads, head_dim, n_q*points) views: OpenVINO's CPU plugin
            # broadcasts over a 3-D tensor about 3x faster than over the 4-D one when sizes
            # are dynamic (0.4 s of a 4 s forward at 640x1152); PyTorch computes the same.
            term = (sampled.flatten(2) * w_l.flatten(2)).unflatten(2, (-1, points)).sum(-1)
            out = term if out is None else out + term
        out = out.view(b, heads * head_dim, n_q).transpose(1, 2)
        return self.output_proj(out)


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, d_ffn: int, n_levels: int, n_heads: int, n_points: int):
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src, pos, reference_points, shapes):
        src = self.norm1(src + self.self_attn(src + pos, reference_points, src, shapes))
        return self.norm2(src + self.linear2(F.relu(self.linear1(src))))


class Encoder(nn.Module):
    def __init__(self, layer_args: tuple, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(*layer_args) for _ in range(num_layers))


class DeformableTransformer(nn.Module):
    """``transformer.level_embed`` and ``transformer.encoder.layers.N`` in the hub's names."""

    def __init__(self, d_model: int, nhead: int, num_layers: int, d_ffn: int, n_levels: int, n_points: int):
        super().__init__()
        self.level_embed = nn.Parameter(torch.zeros(n_levels, d_model))
        self.encoder = Encoder((d_model, d_ffn, n_levels, nhead, n_points), num_layers)

    @staticmethod
    def reference_points(shapes: list[tuple[torch.Tensor, torch.Tensor]], device) -> torch.Tensor:
        """Pixel centres of every level, normalised to [0, 1]: (1, N, 2) as (x, y)."""
        refs = []
        for h, w in shapes:
            ys = (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h
            xs = (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w
            ref_y = ys[:, None].expand(-1, xs.shape[0])
            ref_x = xs[None, :].expand(ys.shape[0], -1)
            refs.append(torch.stack((ref_x, ref_y), -1).reshape(-1, 2))
        return torch.cat(refs, 0)[None]

    def forward(self, srcs: list[torch.Tensor], pos_embeds: list[torch.Tensor]):
        shapes = []
        flat, pos_flat = [], []
        for lvl, (src, pos) in enumerate(zip(srcs, pos_embeds, strict=True)):
            h, w = src.shape[-2], src.shape[-1]
            shapes.append((torch.as_tensor(h), torch.as_tensor(w)))
            flat.append(src.flatten(2).transpose(1, 2))
            pos_flat.append(pos.flatten(2).transpose(1, 2) + self.level_embed[lvl].view(1, 1, -1))
        x = torch.cat(flat, 1)
        pos = torch.cat(pos_flat, 1)
        ref = self.reference_points(shapes, x.device)
        for layer in self.encoder.layers:
            x = layer(x, pos, ref, shapes)
        return x, shapes


class MSDeformAttnPixelDecoder(nn.Module):
    """Deformable encoder over res3..res5, then an FPN step down to stride 4 for mask features."""

    def __init__(self, cfg: EncoderConfig, channels: dict[str, int], strides: dict[str, int]):
        super().__init__()
        conv_dim = cfg.conv_dim
        self.transformer_in_features = list(cfg.transformer_in_features)  # res3, res4, res5
        self.in_features = sorted(cfg.in_features, key=lambda f: strides[f])
        self.input_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels[f], conv_dim, kernel_size=1), nn.GroupNorm(32, conv_dim))
            for f in self.transformer_in_features[::-1]
        )
        self.transformer = DeformableTransformer(
            conv_dim, cfg.nheads, cfg.enc_layers, cfg.dim_feedforward, len(self.transformer_in_features), cfg.n_points
        )
        self.num_pos_feats = conv_dim // 2
        self.mask_features = Conv2d(conv_dim, cfg.mask_dim, kernel_size=1)
        min_stride = min(strides[f] for f in self.transformer_in_features)
        num_fpn = 0
        while (cfg.common_stride << num_fpn) < min_stride:
            num_fpn += 1
        self.fpn_features = self.in_features[:num_fpn]
        for idx, f in enumerate(self.fpn_features):
            self.add_module(
                f"adapter_{idx + 1}",
                Conv2d(channels[f], conv_dim, kernel_size=1, bias=False, norm=nn.GroupNorm(32, conv_dim)),
            )
            self.add_module(
                f"layer_{idx + 1}",
                Conv2d(conv_dim, conv_dim, kernel_size=3, padding=1, bias=False, norm=nn.GroupNorm(32, conv_dim), relu=True),
            )

    def forward(self, features: dict[str, torch.Tensor]):
        """Returns (mask_features at stride 4, [three multi-scale maps, lowest resolution first])."""
        srcs, pos = [], []
        for idx, f in enumerate(self.transformer_in_features[::-1]):
            x = features[f]
            srcs.append(self.input_proj[idx](x))
            pos.append(sine_position_embedding(x, self.num_pos_feats))
        y, shapes = self.transformer(srcs, pos)
        b = y.shape[0]
        outs = []
        start = 0
        for (h, w) in shapes:
            size = h * w
            outs.append(y[:, start : start + size].transpose(1, 2).reshape(b, -1, h, w))
            start = start + size
        for idx in range(len(self.fpn_features) - 1, -1, -1):
            f = self.fpn_features[idx]
            cur = getattr(self, f"adapter_{idx + 1}")(features[f])
            up = F.interpolate(outs[-1], size=cur.shape[-2:], mode="bilinear", align_corners=False)
            outs.append(getattr(self, f"layer_{idx + 1}")(cur + up))
        return self.mask_features(outs[-1]), outs[:3]
