"""Which model is loaded, said honestly: the published M2FP, the bundled test model, or another.

The About box used to print the published model's licence whatever was loaded, so the
test model (random weights made for this project, meaningless output) was credited to
DAMO Academy under CC BY-NC. The test model is recognised exactly, by the SHA-256 of its
weights (stored with its self-test result); a folder with the published architecture
(ResNet-101) named like the published model is taken to be the published model, the only
check possible offline (its weights' hash is not known to the application); anything else
is "another model", whose licence is its author's.

No tkinter here: the rules are tested without a display.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from desktop.i18n import N_, _

log = logging.getLogger(__name__)

# Marked for the catalog; identify_model translates them (compare kinds, not these texts).
PUBLISHED_LICENCE = N_(
    "The M2FP model weights are published by ModelScope (Alibaba DAMO Academy) for "
    "non-commercial use only, under the Creative Commons Attribution-NonCommercial 4.0 "
    "licence (CC BY-NC 4.0)."
)
TEST_MODEL_LICENCE = N_(
    "This is the small test model bundled with the application for its self-test. Its weights "
    "are random numbers made for this project, not DAMO Academy's, so its parsing is meaningless "
    "and no model licence applies to it. For real parsing, download the M2FP model (Model ▸ "
    "Download model…); those weights are for non-commercial use only (CC BY-NC 4.0)."
)
OTHER_LICENCE = N_(
    "This model is not the one published by DAMO Academy (its architecture or folder differs), "
    "so it is under whatever licence its author gave it. The published M2FP weights are for "
    "non-commercial use only (CC BY-NC 4.0)."
)
NO_MODEL_LICENCE = N_(
    "No model is loaded. The M2FP model the application downloads (Model ▸ Download model…) is "
    "published by ModelScope (Alibaba DAMO Academy) for non-commercial use only, under the "
    "Creative Commons Attribution-NonCommercial 4.0 licence (CC BY-NC 4.0)."
)
PUBLISHED_DEPTH = 101  # the published model's ResNet depth (the test model is a ResNet-50 at 1/8 width)


@dataclass(frozen=True)
class ModelIdentity:
    """``kind`` is ``published``, ``test``, ``other`` or ``none``; ``title`` names the loaded
    model for a person; ``licence`` is the paragraph the About box shows."""

    kind: str
    title: str
    licence: str
    published_by: str | None = None


def _test_model_fingerprint() -> tuple[int, str] | None:
    """(size, SHA-256) of the bundled test model's weights, from its stored self-test result."""
    try:
        from desktop.selftest import EXPECTED_DIR, EXPECTED_JSON, test_model_dir

        meta = json.loads((test_model_dir() / EXPECTED_DIR / EXPECTED_JSON).read_text(encoding="utf-8"))
        return int(meta["weights_size"]), str(meta["weights_sha256"])
    except (OSError, ValueError, KeyError, TypeError, ImportError) as exc:
        log.warning("The test model's fingerprint cannot be read: %s", exc)
        return None


def is_bundled_test_model(folder: Path) -> bool:
    """True when ``folder`` holds exactly the bundled test model's weights (size checked
    first, so a 250 MB model is never hashed)."""
    fingerprint = _test_model_fingerprint()
    if fingerprint is None:
        return False
    from desktop.selftest import sha256_of

    weights = folder / "pytorch_model.pt"
    try:
        return weights.stat().st_size == fingerprint[0] and sha256_of(weights) == fingerprint[1]
    except OSError:
        return False


def _backbone_depth(folder: Path) -> int | None:
    try:
        cfg = json.loads((folder / "configuration.json").read_text(encoding="utf-8"))
        return int(cfg["model"]["backbone"]["depth"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def identify_model(info: dict[str, str] | None) -> ModelIdentity:
    """What the loaded model is, from the engine's ``info`` (``name``, ``source`` folder)."""
    info = info or {}
    source = info.get("source")
    if not source:
        return ModelIdentity("none", _("No model loaded"), _(NO_MODEL_LICENCE))
    folder = Path(source)
    if is_bundled_test_model(folder):
        return ModelIdentity("test", _("Test model bundled with the application (random weights, not for real use)"),
                             _(TEST_MODEL_LICENCE))
    from desktop.engine.models import MODEL_ID, MODEL_URL

    if info.get("name") == MODEL_ID and _backbone_depth(folder) == PUBLISHED_DEPTH:
        return ModelIdentity("published", f"M2FP, ResNet-101 ({MODEL_ID})", _(PUBLISHED_LICENCE),
                             published_by=_("ModelScope (Alibaba DAMO Academy), {url}").format(url=MODEL_URL))
    depth = _backbone_depth(folder)
    shape = f"ResNet-{depth}" if depth else _("unknown architecture")
    return ModelIdentity("other", _("Another M2FP model: {name} ({architecture})").format(
        name=info.get("name") or folder.name, architecture=shape), _(OTHER_LICENCE))
