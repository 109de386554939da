"""The reference's forms of two network pieces our engine computes differently, for the
benchmark's baseline only (so that "baseline" is what the reference does, not our network).

- Deformable attention as mmcv's ``multi_scale_deformable_attn_pytorch``: ``grid_sample``
  per level into a (heads x dims x queries x levels x points) tensor, stacked, weighted and
  summed. Our engine computes the same sum as one embedding-bag sum.
- The decoder's attention masks from stride-4 mask logits of every layer, resized to the
  level. Our engine resizes the mask features once per level instead (the same sum).

``patch()`` swaps these into the engine's classes for the current process.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def msda_forward(self, query, reference_points, value_in, shapes):
    b, n_q, _ = query.shape
    heads, levels, points = self.n_heads, self.n_levels, self.n_points
    head_dim = self.d_model // heads
    value = self.value_proj(value_in)
    offsets = self.sampling_offsets(query).view(b, n_q, heads, levels, points, 2)
    weights = F.softmax(self.attention_weights(query).view(b, n_q, heads, levels * points), -1)
    weights = weights.view(b, n_q, heads, levels, points)
    sampled = []
    start = 0
    for lvl, (h, w) in enumerate(shapes):
        size = int(h) * int(w)
        value_l = value[:, start : start + size].transpose(1, 2).reshape(b * heads, head_dim, int(h), int(w))
        start += size
        normalizer = torch.stack((w, h)).to(query.dtype)
        loc = reference_points[:, :, None, None, :] + offsets[:, :, :, lvl] / normalizer
        grid = (2 * loc - 1).transpose(1, 2).reshape(b * heads, n_q, points, 2)
        sampled.append(F.grid_sample(value_l, grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    stacked = torch.stack(sampled, dim=-2).flatten(-2)  # (B*heads, head_dim, n_q, levels*points)
    w_all = weights.transpose(1, 2).reshape(b * heads, 1, n_q, levels * points)
    out = (stacked * w_all).sum(-1).view(b, heads * head_dim, n_q).transpose(1, 2)
    return self.output_proj(out)


def decoder_forward(self, x, mask_features):
    from desktop.engine.network.transformer_decoder import may_attend

    srcs, pos, sizes, query_pos, output = self.prepare_inputs(x)

    def heads(output, target_size):
        decoder_output = self.decoder_norm(output)
        outputs_mask = torch.einsum("bqc,bchw->bqhw", self.mask_embed(decoder_output), mask_features)
        attn = F.interpolate(outputs_mask, size=target_size, mode="bilinear", align_corners=False)
        return self.class_embed(decoder_output), outputs_mask, may_attend(attn)

    outputs_class, outputs_mask, allowed = heads(output, sizes[0])
    for i in range(len(self.transformer_ffn_layers)):
        level = i % self.num_feature_levels
        output = self.transformer_cross_attention_layers[i](output, srcs[level], allowed, pos[level], query_pos)
        output = self.transformer_self_attention_layers[i](output, query_pos)
        output = self.transformer_ffn_layers[i](output)
        outputs_class, outputs_mask, allowed = heads(output, sizes[(i + 1) % self.num_feature_levels])
    return outputs_class, outputs_mask


def patch() -> None:
    from desktop.engine.network.pixel_decoder import MSDeformAttn
    from desktop.engine.network.transformer_decoder import MultiScaleMaskedTransformerDecoder

    MSDeformAttn.forward = msda_forward
    MultiScaleMaskedTransformerDecoder.forward = decoder_forward
