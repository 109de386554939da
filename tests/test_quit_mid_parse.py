"""Quitting while a photo is being parsed (Ctrl+Q to the real app in its own process).

A benchmark once ended with "terminate called without an active exception" (exit 134): the
interpreter finalized while the parse worker was still inside the inference runtime. Quitting
must instead wait for the parse in flight (and save its result), or, if it takes too long,
end the process cleanly once the workspace is closed; either way exit code 0, nothing on
stderr about an abort, and a sound workspace.
"""

# ruff: noqa: F811 - the fixtures imported from gui_helpers are test arguments here
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gui_helpers import make_image_folder, xvfb_display  # noqa: F401 - fixture

from desktop.app.settings import Settings, save_settings
from desktop.review.workspace import Workspace, find_workspace

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parent.parent


def quit_mid_parse(tmp_path, display, model_dir, golden_images, repeats: int, wait: float):
    """Start the app on a workspace of unparsed photos, press Ctrl+Q once a parse has started.

    Asserts the clean exit (code 0, no abort on stderr, a sound workspace); returns (stdout after
    the quit, seconds from Ctrl+Q to exit, names of the images with a stored result).
    """
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    photos = make_image_folder(tmp_path / "photos", golden_images, corrupt=False)
    env = dict(os.environ, M2FP_CONFIG_DIR=str(tmp_path / "config"), M2FP_DATA_DIR=str(tmp_path / "data"),
               M2FP_LOG_DIR=str(tmp_path / "logs"), M2FP_NO_ERROR_DIALOGS="1",
               M2FP_TEST_COMMANDS=str(tmp_path / "commands.jsonl"), DISPLAY=display,
               M2FP_TEST_PARSE_REPEATS=str(repeats), M2FP_QUIT_WAIT_SECONDS=str(wait))
    (tmp_path / "commands.jsonl").write_text("")
    old = os.environ.get("M2FP_DATA_DIR")
    os.environ["M2FP_DATA_DIR"] = env["M2FP_DATA_DIR"]
    try:
        ws_path = find_workspace(photos)
    finally:
        os.environ["M2FP_DATA_DIR"] = old or ""
    with Workspace.open(ws_path) as ws:  # photos added, none parsed: the app parses them when it starts
        ws.add_paths([photos])
    save_settings(Settings(model_dir=str(model_dir), last_workspace=str(ws_path), geometry="1000x700+0+0"),
                  tmp_path / "config" / "settings.json")
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "review_app_process.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        window, parsing = None, False
        while window is None or not parsing:  # "ready" and "parsing" come in either order
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            words = line.split()
            if words[:1] == ["ready"]:
                window = words[1]
            parsing = parsing or words == ["parsing"]
        subprocess.run(["xdotool", "windowfocus", "--sync", window], env=env, check=True, timeout=10)
        subprocess.run(["xdotool", "key", "ctrl+q"], env=env, check=True, timeout=10)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=60)
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err  # not 134 (abort), not a signal
    assert "terminate called" not in err
    with Workspace.open(ws_path) as ws:  # the lock went with the process
        assert ws.integrity_check() == []
        with_results = [r.name for r in ws.records() if r.has_result]
    return out, seconds, with_results


def test_quitting_mid_parse_waits_for_the_parse_and_saves_its_result(xvfb_display, tmp_path, tiny_model_dir,
                                                                   golden_images):
    out, seconds, with_results = quit_mid_parse(tmp_path, xvfb_display, tiny_model_dir, golden_images,
                                                repeats=5, wait=30)
    assert len(with_results) == 1, with_results  # the photo in flight, finished and saved; no more
    assert "parsing" not in out  # nothing queued was started after Ctrl+Q
    assert seconds < 30


def test_a_parse_too_long_to_wait_for_ends_the_process_cleanly(xvfb_display, tmp_path, tiny_model_dir,
                                                              golden_images):
    _out, seconds, with_results = quit_mid_parse(tmp_path, xvfb_display, tiny_model_dir, golden_images,
                                                 repeats=400, wait=1)
    assert seconds < 20  # not the two minutes the parse would take
    assert with_results == []  # the parse in flight is all that is lost
    log_text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in (tmp_path / "logs").glob("*.log*"))
    assert "Threads still busy when quitting (parse-worker)" in log_text
