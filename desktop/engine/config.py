"""A model folder's ``configuration.json`` turned into a typed, validated config.

The hub file carries many keys; we read what sizes the network and the post-processing, and
follow the reference (ModelScope's ``M2FP.__init__`` in
``models/cv/image_human_parsing/m2fp_net.py`` and the constructors it calls) on what may be
left out:

- keys the reference gives a default (``single_human``, ``parsing_ins_score_thr``,
  ``parsing_on``, ``semantic_on``, ``sem_seg_postprocess_before_inference``) take that default
  when missing, and the log says which defaults were taken;
- keys the reference's network constructors take without a default (every size, count and
  switch of the backbone, encoder and decoder), ``classes`` and ``num_parsing`` leave the model
  undefined when missing: the file is refused with a sentence naming them. The only exceptions
  are keys that do not change inference (``norm``, ``transformer_dropout``);
- unknown extra keys are ignored.

Every value is checked for type and for sane bounds before anything is built: a size of 10^9
or a million layers would otherwise allocate gigabytes (or build for minutes) before the
weights' shapes could refuse it. The bounds are far above any M2FP model; within them,
``weights_check`` then holds the configuration to the weights file's own shapes.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.i18n import _, pgettext

from .errors import ModelLoadError

log = logging.getLogger(__name__)

RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
FEATURES = ("res2", "res3", "res4", "res5")
CONFIG_FILE = "configuration.json"
# The hub's configuration.json is about 2 KB; a file this large is not one.
MAX_CONFIG_BYTES = 1 << 20

# The reference's defaults for the model section's keys it does not require (M2FP.__init__).
REFERENCE_DEFAULTS: dict[str, bool | float] = {
    "single_human": True,
    "parsing_ins_score_thr": 0.5,
    "parsing_on": False,
    "semantic_on": True,
    "sem_seg_postprocess_before_inference": True,
}


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
    parsing_ins_score_thr: float = 0.5
    # The reference's output switches. This application always computes the multi-person
    # parsing (the reference's ``parsing_on`` output, masks resized before inference, which
    # ``parsing_on`` forces in the reference too); they are kept to be reported.
    parsing_on: bool = False
    semantic_on: bool = True
    sem_seg_postprocess_before_inference: bool = True
    # Preprocessing, fixed by the reference pipeline.
    min_size: int = 640
    max_size: int = 1333
    size_divisibility: int = 32
    pixel_mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    pixel_std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    # Model-section keys that were missing and took the reference's default.
    defaults_taken: tuple[str, ...] = field(default=(), compare=False)

    @property
    def parsing_class_names(self) -> tuple[str, ...]:
        """Names of the label-map ids 0..num_parsing-1 (the person class excluded)."""
        return self.classes[: self.num_parsing]


# (key in configuration.json, dataclass field, kind, lowest, highest). Kinds: "int" (a whole
# number within the bounds), "bool", "features" (a list of res2..res5 names), "ints" (a list
# of whole numbers within the bounds). Optional keys are in _OPTIONAL; the rest are required.
_Spec = tuple[str, str, str, int, int]
_BACKBONE: tuple[_Spec, ...] = (
    ("depth", "depth", "int", 50, 152),
    ("num_groups", "num_groups", "int", 1, 64),
    ("width_per_group", "width_per_group", "int", 1, 1024),
    ("stem_out_channels", "stem_out_channels", "int", 2, 4096),
    ("res2_out_channels", "res2_out_channels", "int", 1, 4096),
    ("stride_in_1x1", "stride_in_1x1", "bool", 0, 0),
    ("res4_dilation", "res4_dilation", "int", 1, 4),
    ("res5_dilation", "res5_dilation", "int", 1, 4),
    ("res5_multi_grid", "res5_multi_grid", "ints", 1, 4),
    ("out_features", "out_features", "features", 0, 0),
)
_ENCODER: tuple[_Spec, ...] = (
    ("in_features", "in_features", "features", 0, 0),
    ("transformer_in_features", "transformer_in_features", "features", 0, 0),
    ("transformer_nheads", "nheads", "int", 1, 64),
    ("transformer_dim_feedforward", "dim_feedforward", "int", 1, 65536),
    ("transformer_enc_layers", "enc_layers", "int", 1, 64),
    ("conv_dim", "conv_dim", "int", 32, 4096),
    ("mask_dim", "mask_dim", "int", 1, 4096),
    ("common_stride", "common_stride", "int", 4, 4),
    ("n_points", "n_points", "int", 1, 32),  # ours; the reference always samples 4 points
)
_DECODER: tuple[_Spec, ...] = (
    ("num_classes", "num_classes", "int", 2, 1000),
    ("hidden_dim", "hidden_dim", "int", 1, 4096),
    ("num_queries", "num_queries", "int", 1, 1000),
    ("nheads", "nheads", "int", 1, 64),
    ("dim_feedforward", "dim_feedforward", "int", 1, 65536),
    ("dec_layers", "dec_layers", "int", 1, 100),
    ("pre_norm", "pre_norm", "bool", 0, 0),
    ("mask_dim", "mask_dim", "int", 1, 4096),
    ("enforce_input_project", "enforce_input_project", "bool", 0, 0),
)
_OPTIONAL = {"encoder.n_points"}


def _check_value(name: str, value: Any, kind: str, low: int, high: int, problems: list[str]) -> Any:
    """``value`` converted for the dataclass, or None with a sentence added to ``problems``."""
    def whole(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if kind == "int":
        if not whole(value):
            problems.append(_("{key} is {value}, not a whole number").format(key=name, value=_show(value)))
        elif not low <= value <= high:
            problems.append(_("{key} is {value} (an M2FP model has {low} to {high})").format(
                key=name, value=value, low=low, high=high) if low != high
                else _("{key} is {value} (M2FP models use {low})").format(key=name, value=value, low=low))
        else:
            return value
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        problems.append(_("{key} is {value}, not true or false").format(key=name, value=_show(value)))
    elif kind == "ints":
        if isinstance(value, list) and 0 < len(value) <= 8 and all(whole(v) and low <= v <= high for v in value):
            return tuple(value)
        problems.append(_("{key} is {value}, not a short list of whole numbers from {low} to {high}").format(
            key=name, value=_show(value), low=low, high=high))
    elif kind == "features":
        if (isinstance(value, list) and value and all(isinstance(v, str) and v in FEATURES for v in value)
                and len(set(value)) == len(value)):
            return tuple(value)
        problems.append(_("{key} is {value}, not a list of distinct names among {names}").format(
            key=name, value=_show(value), names=", ".join(FEATURES)))
    return None


def _cannot_build(path: Path, problems: list[str]) -> ModelLoadError:
    # Translators: joins the problems of a model configuration ("a; b; c").
    joined = pgettext("list of problems", "; ").join(problems)
    return ModelLoadError(_("{path} is an M2FP configuration this application cannot build: {problems}.").format(
        path=path, problems=joined))


def _show(value: Any, *, quote: bool = True) -> str:
    """A value as it reads in the JSON file (a string without quotes if not ``quote``), shortened."""
    if isinstance(value, str) and not quote:
        text = value
    else:
        text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _section_values(model: dict[str, Any], section: str, specs: tuple[_Spec, ...], path: Path,
                    missing: list[str], problems: list[str]) -> dict[str, Any]:
    values = model.get(section)
    if not isinstance(values, dict):
        raise ModelLoadError(_("{path} has no '{section}' section under 'model': it is not an M2FP configuration.")
                             .format(path=path, section=section))
    out: dict[str, Any] = {}
    for key, name, kind, low, high in specs:
        full = f"{section}.{key}"
        if key not in values:
            if full not in _OPTIONAL:
                missing.append(full)
            continue
        value = _check_value(full, values[key], kind, low, high, problems)
        if value is not None:
            out[name] = value
    return out


def parse_config(data: dict[str, Any], path: Path) -> ModelConfig:
    """Validate a loaded configuration dict (``path`` is only used in messages)."""
    model = data.get("model")
    if not isinstance(model, dict):
        raise ModelLoadError(_("{path} has no 'model' section: it is not a ModelScope model configuration.").format(
            path=path))
    model_type = str(model.get("type", "")).lower()
    pipeline = data.get("pipeline")
    pipeline = str(pipeline.get("type", "")) if isinstance(pipeline, dict) else ""
    if model_type != "m2fp":
        raise ModelLoadError(_(
            "{path} describes a model of type '{type}' (pipeline '{pipeline}'), not M2FP. Choose the folder of "
            "the M2FP human parsing model (damo/cv_resnet101_image-multiple-human-parsing)."
        ).format(path=path, type=_show(model.get("type"), quote=False), pipeline=_show(pipeline, quote=False)))
    missing: list[str] = []
    problems: list[str] = []
    backbone = _section_values(model, "backbone", _BACKBONE, path, missing, problems)
    encoder = _section_values(model, "encoder", _ENCODER, path, missing, problems)
    decoder = _section_values(model, "decoder", _DECODER, path, missing, problems)
    for key in ("classes", "num_parsing"):
        if key not in model:
            missing.append(key)
    if missing:
        raise ModelLoadError(_(
            "{path} leaves the model undefined: it does not set {keys}, which M2FP needs and has no default "
            "for. The file is incomplete or of another model: download the model again."
        ).format(path=path, keys=", ".join(missing)))

    switches: dict[str, Any] = {}
    taken = tuple(key for key in REFERENCE_DEFAULTS if key not in model)
    for key, default in REFERENCE_DEFAULTS.items():
        value = model.get(key, default)
        if key == "parsing_ins_score_thr":
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
                and 0 <= value <= 1
            if not ok:
                problems.append(_("{key} is {value}, not a number from 0 to 1").format(key=key, value=_show(value)))
            switches[key] = float(value) if ok else default
        elif isinstance(value, bool):
            switches[key] = value
        else:
            problems.append(_("{key} is {value}, not true or false").format(key=key, value=_show(value)))
    classes = model["classes"]
    if not (isinstance(classes, list) and all(isinstance(c, str) and 0 < len(c) <= 200 for c in classes)):
        problems.append(_("classes is not a list of class names"))
        classes = []
    num_parsing = _check_value("num_parsing", model["num_parsing"], "int", 1, 999, problems)
    if problems:
        raise _cannot_build(path, problems[:4])

    if switches.pop("single_human"):
        if "single_human" not in taken:
            message = _("{path} is the single-person M2FP model ('single_human': true); this application needs "
                        "the multi-person model (damo/cv_resnet101_image-multiple-human-parsing).")
        else:
            message = _("{path} does not say 'single_human': false, so the reference treats it as the "
                        "single-person M2FP model; this application needs the multi-person model "
                        "(damo/cv_resnet101_image-multiple-human-parsing).")
        raise ModelLoadError(message.format(path=path))
    cfg = ModelConfig(
        backbone=BackboneConfig(**backbone),
        encoder=EncoderConfig(**encoder),
        decoder=DecoderConfig(**decoder),
        classes=tuple(classes),
        num_parsing=num_parsing,
        defaults_taken=taken,
        **switches,
    )
    _check_consistency(cfg, path)
    if taken:
        log.info("%s does not set %s; using the reference's defaults (%s)", path, ", ".join(taken),
                 ", ".join(f"{k} = {json.dumps(REFERENCE_DEFAULTS[k])}" for k in taken))
    return cfg


def _check_consistency(cfg: ModelConfig, path: Path) -> None:
    """Rules between values (each value alone is already within bounds)."""
    backbone, encoder, decoder = cfg.backbone, cfg.encoder, cfg.decoder
    problems = []
    if backbone.depth not in RESNET_BLOCKS:
        problems.append(_("backbone.depth is {depth} (expected one of {allowed})").format(
            depth=backbone.depth, allowed=sorted(RESNET_BLOCKS)))
    if backbone.res4_dilation != 1 or backbone.res5_dilation != 1 or set(backbone.res5_multi_grid) != {1}:
        problems.append(_("dilated backbone stages (not used by M2FP)"))
    if backbone.stem_out_channels % 2:
        problems.append(_("backbone.stem_out_channels is {value} (must be even)").format(
            value=backbone.stem_out_channels))
    if len(cfg.classes) != decoder.num_classes:
        problems.append(_("{count} class names for decoder.num_classes {num_classes}").format(
            count=len(cfg.classes), num_classes=decoder.num_classes))
    if not cfg.num_parsing < decoder.num_classes:
        problems.append(_("num_parsing is {value} (must be less than decoder.num_classes)").format(
            value=cfg.num_parsing))
    if encoder.conv_dim % 32 or decoder.hidden_dim % decoder.nheads or encoder.conv_dim % encoder.nheads:
        problems.append(_("widths not divisible by the number of heads / GroupNorm groups"))
    if decoder.pre_norm:
        problems.append(_("decoder.pre_norm is true (M2FP's decoder is post-norm)"))
    if not set(encoder.in_features) <= set(backbone.out_features):
        problems.append(_("encoder.in_features names features the backbone does not output"))
    if not set(encoder.transformer_in_features) <= set(encoder.in_features):
        problems.append(_("encoder.transformer_in_features names features not in encoder.in_features"))
    if list(encoder.transformer_in_features) != sorted(encoder.transformer_in_features):
        problems.append(_("encoder.transformer_in_features out of order"))
    if len(encoder.transformer_in_features) != 3:
        problems.append(_("the decoder needs exactly 3 encoder.transformer_in_features"))
    if problems:
        raise _cannot_build(path, problems)


def load_config(path: str | Path) -> ModelConfig:
    """Read ``configuration.json`` (a file or the model folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILE
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ModelLoadError(_("{path} is {size} MB, far too large for a model configuration (a few "
                                   "kilobytes): it is not one. Download the model again.").format(
                path=path, size=f"{size / 1e6:.0f}"))
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is tolerated
    except FileNotFoundError:
        raise ModelLoadError(_("{path} is missing: a model folder holds configuration.json and "
                               "pytorch_model.pt.").format(path=path)) from None
    except UnicodeDecodeError:
        raise ModelLoadError(_("{path} is not a text file: the file is damaged.").format(path=path)) from None
    except OSError as exc:
        raise ModelLoadError(_("{path} cannot be read: {reason}.").format(path=path, reason=exc.strerror or exc)) \
            from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(_("{path} is not valid JSON (line {line}): the file is damaged.").format(
            path=path, line=exc.lineno)) from None
    except (ValueError, RecursionError):  # a number of thousands of digits; nesting thousands deep
        raise ModelLoadError(_("{path} is not a model configuration: the file is damaged.").format(path=path)) \
            from None
    if not isinstance(data, dict):
        raise ModelLoadError(_("{path} is not a model configuration (expected a JSON object).").format(path=path))
    return parse_config(data, path)
