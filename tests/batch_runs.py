"""Helpers for the tests that run the batch command line in-process and compare what two runs
wrote (pipelined against sequential, a Ray cluster against one computer)."""

from __future__ import annotations

import json
from pathlib import Path

import desktop.cli as cli


def run_cli(args: list, capsys) -> tuple[int, str, str]:
    """``python -m desktop.cli ARGS`` in this process: (exit code, stdout, stderr); never a traceback."""
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    return code, out, err


def without_timings(doc: dict) -> dict:
    """An output JSON without what differs from run to run (timings, the model's load time)."""
    doc = dict(doc)
    doc.pop("timings", None)
    doc["model"] = {k: v for k, v in doc.get("model", {}).items() if k != "load_seconds"}
    return doc


def assert_same_outputs(a: Path, b: Path) -> None:
    """Label PNGs byte for byte, JSON equal but for timings, the same set of files."""
    def files(folder: Path) -> list[str]:
        return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))

    names = files(a)
    assert names == files(b) and names
    for name in names:
        if name.endswith(".json"):
            assert without_timings(json.loads((a / name).read_text())) == without_timings(
                json.loads((b / name).read_text())), name
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
