"""``python -m desktop.cli ARGS`` with time stamps, for bench_batch.py's one-photo figures.

Run as ``python bench/cli_timed.py STAMPS.json ARGS...`` with the tree to measure first on
PYTHONPATH (the benchmark runs the same driver against a copy of an older commit). It runs the
command line as ``-m`` does (``sys.exit(desktop.cli.main())``), and records when the engine's loading starts
and ends, when each photo's outputs are written, and whether torch was imported; the whole
process time and the result's own timings (decode, network, compile, post-processing) come
from the parent and the output JSON. Imports nothing of the project before the command line
does, and no torch.
"""

from __future__ import annotations

import atexit
import json
import sys
import time

stamps: dict[str, object] = {"driver_start": time.time()}
out_file = sys.argv[1]


def _save() -> None:
    stamps["end"] = time.time()
    stamps["torch_imported"] = "torch" in sys.modules
    with open(out_file, "w", encoding="utf-8") as f:
        json.dump(stamps, f)


atexit.register(_save)


def _wrap_load() -> None:
    """Stamp HumanParser.load's start and end (the engine is imported lazily by the command line)."""
    import desktop.engine as engine

    real_getattr = engine.__getattr__

    def getattr_hook(name: str):
        obj = real_getattr(name)
        if name == "HumanParser" and not getattr(obj, "_timed", False):
            real_load = obj.load.__func__

            def load(cls, *args, **kwargs):
                stamps["load_start"] = time.time()
                try:
                    return real_load(cls, *args, **kwargs)
                finally:
                    stamps["load_end"] = time.time()

            obj.load = classmethod(load)
            obj._timed = True
        return obj

    engine.__getattr__ = getattr_hook


def _wrap_write() -> None:
    import desktop.cli as cli

    real = cli.write_outputs

    def write_outputs(*args, **kwargs):
        stamps["write_start"] = time.time()
        try:
            return real(*args, **kwargs)
        finally:
            stamps["write_end"] = time.time()

    cli.write_outputs = write_outputs


_wrap_load()
_wrap_write()
stamps["imports_done"] = time.time()  # desktop.cli and desktop.engine's light part
sys.argv = ["desktop.cli", *sys.argv[2:]]
from desktop.cli import main  # noqa: E402 - after the wrappers

code = main()
stamps["exit_code"] = code
sys.exit(code)
