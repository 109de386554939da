"""Commands of ``python -m desktop.cli`` besides parsing: ``report``, ``export``, ``compare``.

The batch command takes its inputs first (``python -m desktop.cli INPUT... --out DIR``), so a
command name is told apart from an input by this rule: a first argument naming a command is
that command, **unless** a file or folder of that name exists in the current folder and the
next argument is not a workspace file (``*.m2fpws``); then it is an input, as it always was.
So ``python -m desktop.cli report --out results`` still parses a folder named ``report``, and
``python -m desktop.cli report review.m2fpws`` prints the report even beside such a folder.

A command is registered as ``name: "module:function"``; the function takes the arguments after
the name and returns the exit code. Modules are imported only when their command runs.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence

__all__ = ["COMMANDS", "command_of", "run_command"]

WORKSPACE_SUFFIX = ".m2fpws"

COMMANDS: dict[str, str] = {
    "report": "desktop.cli_workspace:report_main",
    "export": "desktop.cli_workspace:export_main",
    "compare": "desktop.cli_compare:compare_main",
}


def command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` asks for by the rule above, or None for the batch command."""
    if not argv or argv[0] not in COMMANDS:
        return None
    name = argv[0]
    if os.path.exists(name) and not (len(argv) > 1 and str(argv[1]).lower().endswith(WORKSPACE_SUFFIX)):
        return None
    return name


def run_command(argv: Sequence[str]) -> int | None:
    """Run the command ``argv`` names and return its exit code; None when it names none."""
    argv = [str(a) for a in argv]
    name = command_of(argv)
    if name is None:
        return None
    module, func = COMMANDS[name].split(":")
    return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)
