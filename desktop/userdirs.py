"""The application's per-user folders (cache, config, log), one place for all of them.

Each can be moved by an environment variable (tests point them at temporary folders);
otherwise platformdirs gives the platform's usual location for the app.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import APP_ID


def user_dir(kind: str, override_env: str | None = None) -> Path:
    """``$override_env`` if set, else platformdirs' user ``kind`` folder ("cache", "config", "log", "data")."""
    override = os.environ.get(override_env) if override_env else None
    if override:
        return Path(override).expanduser()
    import platformdirs

    finder = {"cache": platformdirs.user_cache_dir, "config": platformdirs.user_config_dir, "log": platformdirs.user_log_dir,
              "data": platformdirs.user_data_dir}
    return Path(finder[kind](APP_ID, appauthor=False))
