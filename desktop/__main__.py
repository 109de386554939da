"""``python -m desktop`` (and the packaged executable): the window, or the command line.

Without arguments the desktop application opens (what a double-click does). With
arguments, the command line of :mod:`desktop.cli` runs, except ``--gui [FILES...]``,
which opens the window with those files or folders, and ``--self-test`` (see
:mod:`desktop.selftest`), which checks the installation without opening a window.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    # Must come first: in a frozen Windows build a child process re-runs this entry point.
    multiprocessing.freeze_support()
    if "--self-test" in (sys.argv[1:] if argv is None else argv):
        # Before any GUI import: the self-test runs headless (CI, no display) and handles
        # a missing console itself (windowed build), writing its report to a file.
        from desktop.selftest import main as self_test_main

        return self_test_main(list(sys.argv[1:] if argv is None else argv))
    from desktop.app.logging_setup import ensure_std_streams

    ensure_std_streams()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] == "--gui":
        from desktop.app import run

        return run(args[1:])
    try:
        from desktop.cli import main as cli_main
    except ImportError as exc:
        from desktop.i18n import _

        print(_("The command line is not available in this build: {reason}").format(reason=exc), file=sys.stderr)
        return 2
    return int(cli_main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
