"""Entry script of the PyInstaller build (``build_exe.spec``): the executable runs this.

PyInstaller needs a script, not ``python -m desktop``; this one only hands over to
:func:`desktop.__main__.main`, which does everything a double-click needs (freeze
support first, the window without arguments, the command line or ``--self-test`` with
them). ``freeze_support`` is also called here, before importing anything of ours: a
frozen Windows child process started by ``multiprocessing`` re-runs this script and must
stop right there instead of importing torch and opening a second window.

``sys.stdout``/``sys.stderr`` may be ``None`` here (windowed build without a console);
:mod:`desktop.__main__` and :mod:`desktop.selftest` deal with that, so this file must
not print.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from desktop.__main__ import main

    sys.exit(main())
