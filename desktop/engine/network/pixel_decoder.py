"""Mask2Former's multi-scale deformable-attention pixel decoder.

The reference's CPU path (mmcv's ``multi_scale_deformable_attn_pytorch``) samples every
level with ``F.grid_sample`` (bilinear, zero padding, ``align_corners=False``) into a
(heads x dims x queries x levels x points) tensor, then weights and sums it. We compute the
same sum without that tensor: every sample is four bilinear corners, so the whole
attention is a weighted sum of 48 rows of the value table per (query, head), which is
exactly an embedding-bag sum with per-sample weights. Measured on the full model at a
640x1152 input, one encoder layer: PyTorch 0.53 s -> 0.17 s, OpenVINO f32 187 -> 160 ms;
the results agree with the grid-sample form to float rounding (4e-6).

For OpenVINO the same sampling can instead be one native operation (``m2fp::ms_deform_attn``,
desktop/engine/native/ms_deform_attn.cpp), 3-5x faster again: the conversion traces the
network inside :func:`openvino_form`, and the op's PyTorch body is this module's sum.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from ..config import EncoderConfig
from .layers import Conv2d, sine_position_embedding

# Sample coordinates are clamped to [-2, _FAR] pixels before the integer conversion: a
# sample that far outside a level has all four corners outside it either way (weight 0),
# and the clamp keeps the conversion to int32 defined for any offset the network predicts.
_FAR = 1 << 20


class MSDeformAttn(nn.Module):
    def __init__(self, d_model: int, n_levels: int, n_heads: int, n_points: int):
        super().__init__()
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        # True while the network is traced for OpenVINO with the native kernel: the sampling
        # is then one ``m2fp::ms_deform_attn`` call, which the conversion maps onto
        # desktop/engine/native/ms_deform_attn.cpp (see openvino_form()).
        self.native_sampling = False

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        value_in: torch.Tensor,
        shapes: list[tuple[torch.Tensor, torch.Tensor]],
    ) -> torch.Tensor:
        """query, value_in: (B, N, C), N the tokens of all levels; reference_points: (1, N, 2)
        in [0, 1] as (x, y); shapes: (h, w) of each level as 0-d integer tensors."""
        b, n_q, _ = query.shape
        heads, levels, points = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(value_in).view(b, -1, heads, self.d_model // heads)
        weights = F.softmax(self.attention_weights(query).view(b, n_q, heads, levels * points), -1)
        if self.native_sampling:
            offsets = self.sampling_offsets(query).view(b, n_q, heads, levels * points * 2)
            level_shapes = torch.stack([torch.stack((h, w)) for h, w in shapes])
            out = torch.ops.m2fp.ms_deform_attn(value, offsets, weights, reference_points, level_shapes)
        else:
            # The offsets' x and y come interleaved out of one linear layer; computing them as
            # two (its even and odd rows) keeps each coordinate in a tensor of its own, no slicing.
            lin = self.sampling_offsets
            off_x = F.linear(query, lin.weight[0::2], lin.bias[0::2])
            off_y = F.linear(query, lin.weight[1::2], lin.bias[1::2])
            hs = torch.stack([h for h, _ in shapes])
            ws = torch.stack([w for _, w in shapes])
            out = deformable_sampling(value, off_x, off_y, weights, reference_points, hs, ws)
        return self.output_proj(out)


def deformable_sampling(
    value: torch.Tensor,
    off_x: torch.Tensor,
    off_y: torch.Tensor,
    weights: torch.Tensor,
    reference_points: torch.Tensor,
    hs: torch.Tensor,
    ws: torch.Tensor,
) -> torch.Tensor:
    """The attention's sampled sum, as one embedding-bag sum (see the module docstring).

    value (B, S, H, D); off_x, off_y (B, Q, H*L*P) in pixels; weights (B, Q, H, L*P);
    reference_points (1, Q, 2); hs, ws (L,) the levels' sizes. Returns (B, Q, H*D).
    """
    b, _, heads, head_dim = value.shape
    n_q, levels = off_x.shape[1], hs.shape[0]
    points = weights.shape[-1] // levels
    # Row (batch * N + token) * heads + head of the table is that token's value for that head.
    table = value.reshape(-1, head_dim)
    off_x = off_x.reshape(b, n_q, heads, levels, points)
    off_y = off_y.reshape(b, n_q, heads, levels, points)
    hs, ws = hs.to(torch.int32), ws.to(torch.int32)
    starts = (torch.cumsum(hs * ws, 0) - hs * ws).to(torch.int32)
    ref = reference_points.view(1, n_q, 1, 1, 1, 2)
    xs, wx = _neighbours(ref[..., 0], off_x, ws.to(weights.dtype).view(1, 1, 1, levels, 1))
    ys, wy = _neighbours(ref[..., 1], off_y, hs.to(weights.dtype).view(1, 1, 1, levels, 1))
    head = torch.arange(heads, dtype=torch.int32).view(1, 1, heads, 1, 1, 1)
    batch = (torch.arange(b, dtype=torch.int32) * (n_q * heads)).view(b, 1, 1, 1, 1, 1)
    first_row = starts.view(1, 1, 1, levels, 1, 1) * heads + head + batch
    row_y = ys * (ws.view(1, 1, 1, levels, 1, 1) * heads) + first_row
    bags, samples = b * n_q * heads, levels * points
    rows = row_y.reshape(bags, samples, 2, 1) + (xs * heads).reshape(bags, samples, 1, 2)
    sample_w = (weights.reshape(bags, samples, 1, 1) * wy.reshape(bags, samples, 2, 1)) * wx.reshape(
        bags, samples, 1, 2
    )
    out = F.embedding_bag(
        rows.reshape(bags, -1), table, mode="sum", per_sample_weights=sample_w.reshape(bags, -1).to(table.dtype)
    )
    return out.view(b, n_q, heads * head_dim)


def _native_op(
    value: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor, reference_points: torch.Tensor,
    level_shapes: torch.Tensor,
) -> torch.Tensor:
    """The native kernel's operation, for tracing: value (B, S, H, D), offsets (B, Q, H,
    L*P*2) with x and y interleaved, weights (B, Q, H, L*P), reference_points (1, Q, 2),
    level_shapes (L, 2) as (h, w). Computed here with :func:`deformable_sampling`, so the
    trace runs (and the native kernel is checked against) the same sums."""
    b, n_q, heads, _ = offsets.shape
    pairs = offsets.reshape(b, n_q, -1, 2)
    return deformable_sampling(value, pairs[..., 0], pairs[..., 1], weights, reference_points,
                               level_shapes[:, 0], level_shapes[:, 1])


# Registered with torch.library's low-level API: ``torch.library.custom_op`` runs its body
# through torch._dynamo, which imports the compiler stack (torch._inductor) that the packaged
# app leaves out. "CompositeExplicitAutograd": the tracer records one ``m2fp::ms_deform_attn``
# node instead of tracing into the body.
_LIBRARY = torch.library.Library("m2fp", "DEF")
_LIBRARY.define("ms_deform_attn(Tensor value, Tensor offsets, Tensor weights, Tensor reference_points, "
                "Tensor level_shapes) -> Tensor")
_LIBRARY.impl("ms_deform_attn", _native_op, "CompositeExplicitAutograd")


# The largest float32: clamping to it changes no finite value.
_F32_MAX = float(torch.finfo(torch.float32).max)


@contextlib.contextmanager
def openvino_form(net: nn.Module, *, native_sampling: bool) -> Iterator[None]:
    """Within: ``net`` traces into the form converted for OpenVINO; the plain form afterwards.

    - ``native_sampling``: every deformable attention calls ``m2fp::ms_deform_attn`` (the
      native kernel's operation) instead of the embedding-bag form.
    - Each encoder layer's second feed-forward linear ends in a clamp to the float32 range,
      which is the identity on every finite value. Why: OpenVINO's CPU plugin runs a linear
      layer with nothing fused after it on MLAS, and one with a fused activation on its
      brgemm kernels, which are faster at this shape: 15120 x 1024 -> 256 (1080p) takes
      38 ms instead of 53 ms (measured, f32, 2 threads); 0.09 s per photo over six layers.
    """
    attention = [m for m in net.modules() if isinstance(m, MSDeformAttn)]
    layers = [m for m in net.modules() if isinstance(m, EncoderLayer)]
    for m in attention:
        m.native_sampling = native_sampling
    for m in layers:
        m.clamp_ffn = True
    try:
        yield
    finally:
        for m in attention:
            m.native_sampling = False
        for m in layers:
            m.clamp_ffn = False


def _neighbours(ref: torch.Tensor, offset: torch.Tensor, size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Along one axis: the two pixels around each sample and their bilinear weights.

    ``ref`` in [0, 1] of the level, ``offset`` in pixels, ``size`` the level's size (float);
    the position is grid_sample's unnormalisation (align_corners=False). Returns indices
    (..., 2) int32, clamped into the level, and weights (..., 2), 0 for a pixel outside it
    (zero padding; its clamped row is read with weight 0). Pixel indices along one axis are
    small integers, exact even in a fast mode's bfloat16 (up to 256).
    """
    pos = ref * size + offset - 0.5
    near = torch.floor(pos.clamp(-2.0, float(_FAR)))
    frac = (pos - near)[..., None]
    pair = near[..., None] + torch.tensor([0.0, 1.0], dtype=pos.dtype)
    second = torch.tensor([False, True])
    size = size[..., None]
    weight = torch.where((pair >= 0) & (pair < size), torch.where(second, frac, 1 - frac), 0.0)
    index = torch.minimum(pair.clamp(min=0), size - 1).to(torch.int32)
    return index, weight


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, d_ffn: int, n_levels: int, n_heads: int, n_points: int):
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.clamp_ffn = False  # True while traced for OpenVINO (see openvino_form())

    def forward(self, src, pos, reference_points, shapes):
        src = self.norm1(src + self.self_attn(src + pos, reference_points, src, shapes))
        ffn = self.linear2(F.relu(self.linear1(src)))
        if self.clamp_ffn:
            ffn = ffn.clamp(-_F32_MAX, _F32_MAX)
        return self.norm2(src + ffn)


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
