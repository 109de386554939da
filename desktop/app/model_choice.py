"""The model folder the command line uses: the same one the user chose in the application.

A reviewer who picked a model folder in the window (Model ▸ Choose model folder…) and then
ran the batch command got "No M2FP model was found": the command line only searched the
usual places. Its order is now: ``--model``; ``M2FP_MODEL_DIR``; the folder chosen in the
application (read from the app's settings file); then the engine's usual search.

The settings are read with the app's own loader (:func:`desktop.app.settings.load_settings`,
Tk-free) in read-only mode: a broken settings file is left where it is, for the app to
report at its next start.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from desktop.app.settings import load_settings, settings_path
from desktop.i18n import _

log = logging.getLogger(__name__)

ENV_VAR = "M2FP_MODEL_DIR"
FROM_APP = "chosen in the application"


def model_dir_for_cli(explicit: Path | None) -> tuple[Path | None, str | None]:
    """``(folder to load or None for the engine's search, warning for the user or None)``."""
    if explicit is not None or os.environ.get(ENV_VAR):
        return explicit, None
    settings, problem = load_settings(set_aside=False)
    if problem:
        log.info("App settings (%s): %s", settings_path(), problem)
    chosen = settings.model_dir.strip()
    if not chosen:
        return None, None
    folder = Path(chosen).expanduser()
    if not folder.exists():
        return None, (_("The model folder chosen in the application ({folder}) no longer exists; "
                        "searching the usual places instead.").format(folder=folder))
    return folder, None
