#!/usr/bin/env python3
"""One command to set up and start the app, or to set up and run the tests.

    python3 dev.py start [APP ARGS]   # creates .venv, installs requirements.txt, opens the app
    python3 dev.py test [PYTEST ARGS] # creates .venv, installs requirements-dev.txt, runs the tests
    python3 dev.py cli INPUT... --out DIR   # the batch command line, in the same environment

Works the same on Linux, macOS and Windows (standard library only). Requirements are
reinstalled only when a requirements file changes (a stamp file in .venv remembers them).
The translation catalogs (desktop/locale/*/LC_MESSAGES/m2fp.po) are compiled to the .mo
files the app reads whenever a .po is newer than its .mo (packaging/catalogs.py, with Babel
from the environment).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("M2FP_VENV", ROOT / ".venv"))


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_env(requirements: str) -> Path:
    py = venv_python()
    if not py.exists():
        print(f"Creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    req = ROOT / requirements
    text = req.read_text() + ("" if requirements == "requirements.txt" else (ROOT / "requirements.txt").read_text())
    digest = hashlib.sha256(text.encode()).hexdigest()
    stamp = VENV / f".installed-{requirements}"
    if not stamp.exists() or stamp.read_text() != digest:
        print(f"Installing {requirements} (first run only; torch takes a few minutes) ...", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(req)], check=True)
        stamp.write_text(digest)
    return py


def compile_catalogs(py: Path) -> None:
    """Compile each translation catalog whose .po is newer than its .mo (the .mo files are not in git).

    A failure is reported but does not stop the start: the app then speaks English.
    """
    stale = [po for po in (ROOT / "desktop" / "locale").glob("*/LC_MESSAGES/*.po")
             if not po.with_suffix(".mo").exists() or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime]
    if stale and subprocess.call([str(py), str(ROOT / "packaging" / "catalogs.py"), "compile"], cwd=ROOT) != 0:
        print("warning: the translation catalogs could not be compiled; the app will speak English", file=sys.stderr)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"start", "test", "cli"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "test":
        py = ensure_env("requirements-dev.txt")
        if (ROOT / "requirements-cluster.txt").is_file():  # the optional Ray extra, for its tests
            ensure_env("requirements-cluster.txt")
        compile_catalogs(py)
        return subprocess.call([str(py), "-m", "pytest", *rest], cwd=ROOT)
    py = ensure_env("requirements.txt")
    compile_catalogs(py)
    module = "desktop" if command == "start" else "desktop.cli"
    return subprocess.call([str(py), "-m", module, *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
