"""Does ``configuration.json`` describe the network these weights are for? Checked before building.

Building the network allocates what the configuration says; a configuration that says a
million decoder layers or 10^9 channels would take minutes and gigabytes before the shape
check after building could refuse it. So every value that sizes the network is first held
to the weights file's own key names and shapes (read from the memory-mapped checkpoint: no
tensor data is touched). Once they agree, building allocates no more than the weights file
holds, and :func:`desktop.engine.checkpoint.load_into` then checks every key and shape exactly.

The rules mirror how the network is built (``desktop/engine/network``): each names the
configuration key and the checkpoint key whose shape it determines, so the message can
name both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.i18n import _

from .config import CONFIG_FILE, RESNET_BLOCKS, ModelConfig
from .errors import ModelLoadError

if TYPE_CHECKING:  # only shapes are read: any mapping of tensors
    import torch

_ENC_LAYER = "sem_seg_head.pixel_decoder.transformer.encoder.layers"
_DEC_FFN = "sem_seg_head.predictor.transformer_ffn_layers"
_LEVELS = 3  # the deformable encoder's feature levels (the configuration requires exactly 3)


def _sizes(cfg: ModelConfig) -> list[tuple[str, int, str, int]]:
    """(configuration key(s), the size they give, checkpoint key, dimension of its shape)."""
    b, e, d = cfg.backbone, cfg.encoder, cfg.decoder
    return [
        ("backbone.stem_out_channels", b.stem_out_channels, "backbone.stem.conv3.weight", 0),
        ("backbone.res2_out_channels", b.res2_out_channels, "backbone.res2.0.conv3.weight", 0),
        ("backbone.num_groups x backbone.width_per_group", b.num_groups * b.width_per_group,
         "backbone.res2.0.conv1.weight", 0),
        ("backbone.width_per_group", b.width_per_group, "backbone.res2.0.conv2.weight", 1),
        ("encoder.conv_dim", e.conv_dim, "sem_seg_head.pixel_decoder.input_proj.0.0.weight", 0),
        ("encoder.mask_dim", e.mask_dim, "sem_seg_head.pixel_decoder.mask_features.weight", 0),
        ("encoder.transformer_dim_feedforward", e.dim_feedforward, f"{_ENC_LAYER}.0.linear1.weight", 0),
        (f"encoder.transformer_nheads x encoder.n_points x {_LEVELS} levels", e.nheads * e.n_points * _LEVELS,
         f"{_ENC_LAYER}.0.self_attn.attention_weights.weight", 0),
        ("decoder.num_queries", d.num_queries, "sem_seg_head.predictor.query_feat.weight", 0),
        ("decoder.hidden_dim", d.hidden_dim, "sem_seg_head.predictor.query_feat.weight", 1),
        ("decoder.num_classes + 1", d.num_classes + 1, "sem_seg_head.predictor.class_embed.weight", 0),
        ("decoder.dim_feedforward", d.dim_feedforward, f"{_DEC_FFN}.0.linear1.weight", 0),
        ("decoder.mask_dim", d.mask_dim, "sem_seg_head.predictor.mask_embed.layers.2.weight", 0),
    ]


def _indices(keys: list[str], prefix: str) -> set[int]:
    """The N of every ``prefix.N.`` key."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    return {int(m.group(1)) for k in keys if (m := pattern.match(k))}


def check_against_weights(cfg: ModelConfig, state: Mapping[str, torch.Tensor], weights: str | Path) -> None:
    """Raise :class:`ModelLoadError` naming the configuration key whose value the weights contradict.

    ``state`` is the checkpoint's network state (training-only keys removed); only its key
    names and shapes are read.
    """
    weights = Path(weights)
    config = weights.with_name(CONFIG_FILE)
    keys = list(state)

    def refuse(detail: str) -> ModelLoadError:
        return ModelLoadError(_(
            "{config} does not match {weights}: {detail}. The weights and the configuration come from "
            "different models."
        ).format(config=config, weights=weights, detail=detail))

    blocks = tuple(len(_indices(keys, f"backbone.res{n}")) for n in (2, 3, 4, 5))
    if blocks != RESNET_BLOCKS[cfg.backbone.depth]:
        depth = next((f"ResNet-{k}" for k, v in RESNET_BLOCKS.items() if v == blocks), None)
        if depth:
            detail = _("backbone.depth is {depth}, but the weights hold those of a {network}")
        else:
            detail = _("backbone.depth is {depth}, but the weights hold {blocks} blocks in res2 to res5")
        raise refuse(detail.format(depth=cfg.backbone.depth, network=depth, blocks=", ".join(map(str, blocks))))
    for name, wanted, prefix in (
        ("encoder.transformer_enc_layers", cfg.encoder.enc_layers, _ENC_LAYER),
        ("decoder.dec_layers", cfg.decoder.dec_layers, _DEC_FFN),
    ):
        held = len(_indices(keys, prefix))
        if held != wanted:
            raise refuse(_("{key} is {wanted}, but the weights hold {held} such layers ({prefix}.*)").format(
                key=name, wanted=wanted, held=held, prefix=prefix))
    for name, wanted, key, dim in _sizes(cfg):
        if key not in state:
            raise refuse(_("the weights have no {weight}, which {key} sizes").format(weight=key, key=name))
        shape = tuple(state[key].shape)
        if len(shape) <= dim or shape[dim] != wanted:
            raise refuse(_("{key} gives {wanted}, but {weight} has shape {shape} in the weights").format(
                key=name, wanted=wanted, weight=key, shape=shape))
