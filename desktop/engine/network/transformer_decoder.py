"""Mask2Former's masked-attention transformer decoder (post-norm, as M2FP is trained).

Attention is computed with ``F.scaled_dot_product_attention`` on (B, heads, L, d)
tensors; parameter names follow ``nn.MultiheadAttention`` (``in_proj_weight``,
``in_proj_bias``, ``out_proj``) so the hub weights load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import DecoderConfig
from .layers import MLP, sine_position_embedding


class Attention(nn.Module):
    """Multi-head attention, batch first, with an optional boolean "may attend" mask."""

    def __init__(self, d_model: int, nhead: int):
        super().__init__()
        self.nhead = nhead
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, q, k, v, allowed: torch.Tensor | None = None) -> torch.Tensor:
        d = q.shape[-1]
        w_q, w_k, w_v = self.in_proj_weight.split(d)
        b_q, b_k, b_v = self.in_proj_bias.split(d)
        b, h = q.shape[0], self.nhead

        def heads(x, w, bias):
            return F.linear(x, w, bias).view(b, -1, h, d // h).transpose(1, 2)

        out = F.scaled_dot_product_attention(heads(q, w_q, b_q), heads(k, w_k, b_k), heads(v, w_v, b_v), attn_mask=allowed)
        return self.out_proj(out.transpose(1, 2).reshape(b, -1, d))


class SelfAttentionLayer(nn.Module):
    def __init__(self, d_model: int, nhead: int):
        super().__init__()
        self.self_attn = Attention(d_model, nhead)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tgt, query_pos):
        q = tgt + query_pos
        return self.norm(tgt + self.self_attn(q, q, tgt))


class CrossAttentionLayer(nn.Module):
    def __init__(self, d_model: int, nhead: int):
        super().__init__()
        self.multihead_attn = Attention(d_model, nhead)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tgt, memory, allowed, pos, query_pos):
        return self.norm(tgt + self.multihead_attn(tgt + query_pos, memory + pos, memory, allowed))


class FFNLayer(nn.Module):
    def __init__(self, d_model: int, dim_feedforward: int):
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tgt):
        return self.norm(tgt + self.linear2(F.relu(self.linear1(tgt))))


class MultiScaleMaskedTransformerDecoder(nn.Module):
    num_feature_levels = 3

    def __init__(self, cfg: DecoderConfig, in_channels: int):
        super().__init__()
        if cfg.pre_norm:
            raise ValueError("pre-norm decoders are not used by M2FP")
        d = cfg.hidden_dim
        self.num_heads = cfg.nheads
        self.num_pos_feats = d // 2
        self.transformer_self_attention_layers = nn.ModuleList(SelfAttentionLayer(d, cfg.nheads) for _ in range(cfg.dec_layers))
        self.transformer_cross_attention_layers = nn.ModuleList(CrossAttentionLayer(d, cfg.nheads) for _ in range(cfg.dec_layers))
        self.transformer_ffn_layers = nn.ModuleList(FFNLayer(d, cfg.dim_feedforward) for _ in range(cfg.dec_layers))
        self.decoder_norm = nn.LayerNorm(d)
        self.query_feat = nn.Embedding(cfg.num_queries, d)
        self.query_embed = nn.Embedding(cfg.num_queries, d)
        self.level_embed = nn.Embedding(self.num_feature_levels, d)
        self.input_proj = nn.ModuleList(
            nn.Conv2d(in_channels, d, kernel_size=1) if (in_channels != d or cfg.enforce_input_project) else nn.Identity()
            for _ in range(self.num_feature_levels)
        )
        self.class_embed = nn.Linear(d, cfg.num_classes + 1)
        self.mask_embed = MLP(d, d, cfg.mask_dim, 3)

    def forward(self, x: list[torch.Tensor], mask_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the last layer's (class logits (B, Q, C+1), mask logits (B, Q, H/4, W/4))."""
        srcs, pos, sizes, query_pos, output = self.prepare_inputs(x)
        # The attention masks need mask logits only at each level's size. The reference
        # computes them at stride 4 and resizes; resizing is linear per channel and the mask
        # logits are a per-pixel dot product over channels, so resizing the mask features once
        # per level and taking the dot product there is the same sum (to float rounding) on
        # 4x to 64x fewer pixels: 9 of the 10 stride-4 products are skipped.
        level_features = [
            F.interpolate(mask_features, size=size, mode="bilinear", align_corners=False) for size in sizes
        ]

        allowed = self._attention_mask(output, level_features[0])
        n_layers = len(self.transformer_ffn_layers)
        for i in range(n_layers):
            level = i % self.num_feature_levels
            output = self.transformer_cross_attention_layers[i](output, srcs[level], allowed, pos[level], query_pos)
            output = self.transformer_self_attention_layers[i](output, query_pos)
            output = self.transformer_ffn_layers[i](output)
            if i < n_layers - 1:
                allowed = self._attention_mask(output, level_features[(i + 1) % self.num_feature_levels])
        decoder_output = self.decoder_norm(output)
        outputs_mask = torch.einsum("bqc,bchw->bqhw", self.mask_embed(decoder_output), mask_features)
        return self.class_embed(decoder_output), outputs_mask

    def prepare_inputs(self, x: list[torch.Tensor]):
        """(memory per level, its position embedding, level sizes, query positions, queries)."""
        srcs, pos, sizes = [], [], []
        for i in range(self.num_feature_levels):
            sizes.append(x[i].shape[-2:])
            pos.append(sine_position_embedding(x[i], self.num_pos_feats).flatten(2).transpose(1, 2))
            srcs.append((self.input_proj[i](x[i]).flatten(2) + self.level_embed.weight[i][None, :, None]).transpose(1, 2))
        b = srcs[0].shape[0]
        query_pos = self.query_embed.weight.unsqueeze(0).expand(b, -1, -1)
        output = self.query_feat.weight.unsqueeze(0).expand(b, -1, -1)
        return srcs, pos, sizes, query_pos, output

    def _attention_mask(self, output: torch.Tensor, level_features: torch.Tensor) -> torch.Tensor:
        mask_embed = self.mask_embed(self.decoder_norm(output))
        return may_attend(torch.einsum("bqc,bchw->bqhw", mask_embed, level_features))


def may_attend(mask_logits: torch.Tensor) -> torch.Tensor:
    """Masked attention from (B, Q, h, w) mask logits at a level's size: a query may attend where
    its predicted mask has probability >= 0.5, i.e. logit >= 0; a query whose mask is empty
    everywhere attends everywhere (the reference's fix for all-masked rows). (B, 1, Q, h*w)."""
    allowed = mask_logits.flatten(2) >= 0
    allowed = allowed | ~allowed.any(-1, keepdim=True)
    return allowed.unsqueeze(1)
