"""The app sends and stores no telemetry: converting the model with OpenVINO leaves nothing in
``~/intel`` and opens no connection.

OpenVINO's Python package reports usage by default and writes a client id under ``~/intel``
on import (desktop/engine/no_telemetry.py explains the switch used). Each case runs in a child
process with a temporary home folder and every network connection refused and recorded; the
continuous-integration variables OpenVINO itself checks are removed, so the result is what a
user's machine does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("openvino")

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import json, socket, sys, time

    attempts = []

    def no_connect(self, address):
        attempts.append(f"connect {address!r}")
        raise OSError(101, "Network is unreachable (the test allows no connection)")

    def no_lookup(host, *args, **kwargs):
        attempts.append(f"lookup {host}")
        raise socket.gaierror(socket.EAI_NONAME, "the test allows no name lookup")

    socket.socket.connect = no_connect
    socket.getaddrinfo = no_lookup

    if sys.argv[1] == "app":
        from desktop.engine import HumanParser
        parser = HumanParser.load(sys.argv[2], runtime="openvino")
        converted = parser.runtime.name == "openvino" and not parser.runtime.from_cache
    else:  # what any program importing OpenVINO gets
        import openvino as ov
        import torch
        ov.convert_model(torch.nn.Linear(2, 2), example_input=torch.zeros(1, 2))
        converted = True
    time.sleep(1.0)  # time for a reporting thread to try
    print(json.dumps({"converted": converted, "attempts": attempts,
                      "telemetry_module": repr(sys.modules.get("openvino_telemetry", "absent"))}))
""")


def _run(mode: str, home: Path, tmp_path: Path, *args: str) -> dict:
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env.update(HOME=str(home), LOCALAPPDATA=str(home), PYTHONPATH=str(ROOT),
               M2FP_CACHE_DIR=str(tmp_path / f"cache-{mode}"))
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_model_conversion_stores_and_sends_nothing(tiny_model_dir, tmp_path):
    home = tmp_path / "home"
    report = _run("app", home, tmp_path, str(tiny_model_dir))
    assert report["converted"], "the model was not converted with OpenVINO: the test proves nothing"
    assert report["attempts"] == []
    assert report["telemetry_module"] == "None"  # OpenVINO runs with its own no-telemetry stand-in
    assert sorted(p.name for p in home.iterdir()) == []  # no ~/intel, nothing else either


def test_without_the_switch_openvino_would_write_under_home(tmp_path):
    """The control: OpenVINO imported plainly does write ``~/intel`` (so the test above can fail)."""
    home = tmp_path / "home"
    report = _run("bare", home, tmp_path)
    assert report["converted"]
    assert (home / "intel").is_dir(), "OpenVINO no longer writes ~/intel: the test above would pass regardless"


def test_telemetry_imported_too_early_is_silenced(monkeypatch, caplog):
    """If something imported OpenVINO's telemetry before the engine could block it, its consent is
    withdrawn for the process (and a warning says so)."""
    import types

    from desktop.engine import no_telemetry

    class Telemetry:  # the shape of openvino_telemetry.Telemetry's singleton
        pass

    instance = Telemetry()
    instance.consent = True
    Telemetry._SingletonMetaClass__single_instance = instance
    monkeypatch.setitem(sys.modules, no_telemetry.TELEMETRY_MODULE, types.SimpleNamespace(Telemetry=Telemetry))
    assert no_telemetry.disable_openvino_telemetry() is False
    assert instance.consent is False
    assert "imported before its telemetry could be switched off" in caplog.text
    monkeypatch.setitem(sys.modules, no_telemetry.TELEMETRY_MODULE, None)
    assert no_telemetry.disable_openvino_telemetry() is True
