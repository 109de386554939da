"""A model folder's ``configuration.json`` turned into a typed, validated config.

The hub file carries many keys; we read only what sizes the network and the
post-processing, and reject files of another model type with a clear message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelLoadError

RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
FEATURES = ("res2", "res3", "res4", "res5")


@dataclass(frozen=True)
class BackboneConfig:
    depth: int = 101
    num_groups: int = 1
    width_per_group: int = 64
    stem_out_channels: int = 128
    res2_out_channels: int = 256
    stride_in_1x1: bool = False
    res4_dilation: int = 1
    res5_dilation: int = 1
    res5_multi_grid: tuple[int, ...] = (1, 1, 1)
    out_features: tuple[str, ...] = FEATURES


@dataclass(frozen=True)
class EncoderConfig:
    """The multi-scale deformable-attention pixel decoder."""

    in_features: tuple[str, ...] = FEATURES
    transformer_in_features: tuple[str, ...] = ("res3", "res4", "res5")
    nheads: int = 8
    dim_feedforward: int = 1024
    enc_layers: int = 6
    conv_dim: int = 256
    mask_dim: int = 256
    common_stride: int = 4
    n_points: int = 4


@dataclass(frozen=True)
class DecoderConfig:
    """The masked-attention transformer decoder."""

    num_classes: int = 21
    hidden_dim: int = 256
    num_queries: int = 100
    nheads: int = 8
    dim_feedforward: int = 2048
    dec_layers: int = 9
    pre_norm: bool = False
    mask_dim: int = 256
    enforce_input_project: bool = False


@dataclass(frozen=True)
class ModelConfig:
    backbone: BackboneConfig
    encoder: EncoderConfig
    decoder: DecoderConfig
    classes: tuple[str, ...]
    num_parsing: int = 20
    parsing_ins_score_thr: float = 0.3
    # Preprocessing, fixed by the reference pipeline.
    min_size: int = 640
    max_size: int = 1333
    size_divisibility: int = 32
    pixel_mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    pixel_std: tuple[float, float, float] = (58.395, 57.12, 57.375)

    @property
    def parsing_class_names(self) -> tuple[str, ...]:
        """Names of the label-map ids 0..num_parsing-1 (the person class excluded)."""
        return self.classes[: self.num_parsing]


def _section(model: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = model.get(name)
    if not isinstance(value, dict):
        raise ModelLoadError(f"{path} has no '{name}' section under 'model': it is not an M2FP configuration.")
    return value


def _pick(section: dict[str, Any], cls: type, rename: dict[str, str] | None = None) -> dict[str, Any]:
    """The keys of ``section`` that ``cls`` knows (after renaming), tuples for lists."""
    rename = rename or {}
    fields = cls.__dataclass_fields__
    out: dict[str, Any] = {}
    for key, value in section.items():
        key = rename.get(key, key)
        if key in fields:
            out[key] = tuple(value) if isinstance(value, list) else value
    return out


def parse_config(data: dict[str, Any], path: Path) -> ModelConfig:
    """Validate a loaded configuration dict (``path`` is only used in messages)."""
    model = data.get("model")
    if not isinstance(model, dict):
        raise ModelLoadError(f"{path} has no 'model' section: it is not a ModelScope model configuration.")
    model_type = str(model.get("type", "")).lower()
    pipeline = str((data.get("pipeline") or {}).get("type", ""))
    if model_type != "m2fp":
        raise ModelLoadError(
            f"{path} describes a model of type '{model.get('type')}' (pipeline '{pipeline}'), "
            "not M2FP. Choose the folder of the M2FP human parsing model "
            "(damo/cv_resnet101_image-multiple-human-parsing)."
        )
    if model.get("single_human"):
        raise ModelLoadError(
            f"{path} is the single-person M2FP model; this application needs the multi-person model "
            "(damo/cv_resnet101_image-multiple-human-parsing)."
        )
    try:
        backbone = BackboneConfig(**_pick(_section(model, "backbone", path), BackboneConfig))
        encoder = EncoderConfig(
            **_pick(
                _section(model, "encoder", path),
                EncoderConfig,
                {
                    "transformer_nheads": "nheads",
                    "transformer_dim_feedforward": "dim_feedforward",
                    "transformer_enc_layers": "enc_layers",
                },
            )
        )
        decoder = DecoderConfig(**_pick(_section(model, "decoder", path), DecoderConfig))
        classes = tuple(str(c) for c in model.get("classes") or ())
        num_parsing = int(model.get("num_parsing", 20))
        thr = float(model.get("parsing_ins_score_thr", 0.3))
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path} has an invalid M2FP configuration: {exc}") from None

    problems = []
    if backbone.depth not in RESNET_BLOCKS:
        problems.append(f"backbone depth {backbone.depth} (expected one of {sorted(RESNET_BLOCKS)})")
    if backbone.res4_dilation != 1 or backbone.res5_dilation != 1 or set(backbone.res5_multi_grid) != {1}:
        problems.append("dilated backbone stages (not used by M2FP)")
    if len(classes) != decoder.num_classes:
        problems.append(f"{len(classes)} class names for {decoder.num_classes} classes")
    if not 0 < num_parsing < decoder.num_classes:
        problems.append(f"num_parsing {num_parsing}")
    if encoder.conv_dim % 32 or decoder.hidden_dim % decoder.nheads or encoder.conv_dim % encoder.nheads:
        problems.append("widths not divisible by the number of heads / GroupNorm groups")
    if list(encoder.transformer_in_features) != sorted(encoder.transformer_in_features):
        problems.append("transformer_in_features out of order")
    if len(encoder.transformer_in_features) != 3:
        problems.append("the decoder needs exactly 3 transformer feature levels")
    if problems:
        raise ModelLoadError(f"{path} is an M2FP configuration this application cannot build: " + "; ".join(problems) + ".")
    return ModelConfig(
        backbone=backbone,
        encoder=encoder,
        decoder=decoder,
        classes=classes,
        num_parsing=num_parsing,
        parsing_ins_score_thr=thr,
    )


def load_config(path: str | Path) -> ModelConfig:
    """Read ``configuration.json`` (a file or the model folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "configuration.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is missing: a model folder holds configuration.json and pytorch_model.pt.") from None
    except OSError as exc:
        raise ModelLoadError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path} is not valid JSON (line {exc.lineno}): the file is damaged.") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} is not a model configuration (expected a JSON object).")
    return parse_config(data, path)
