"""Helpers for the GUI tests: a private Xvfb display, event pumping, screenshots, slow parsing.

The tests drive the real Tk window with the real (tiny) model. Tk is single-threaded, so a
test "waits" by pumping Tk events (``root.update()``) in a loop until a condition holds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
SCREEN = "1600x1000x24"


@pytest.fixture(scope="session")
def xvfb_display():
    """Start ``Xvfb`` on a free display number for the whole session; skip if unavailable."""
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb): the GUI tests need a virtual display")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [exe, "-displayfd", str(write_fd), "-screen", "0", SCREEN, "-nolisten", "tcp", "-dpi", "96"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline and not number.endswith(b"\n"):
            chunk = os.read(read_fd, 16)
            if not chunk:
                break
            number += chunk
    finally:
        os.close(read_fd)
    if not number.strip():
        proc.kill()
        pytest.skip("Xvfb did not start (no display number reported)")
    display = f":{number.decode().strip()}"
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    try:
        import tkinter

        probe = tkinter.Tk()
        probe.destroy()
    except Exception as exc:  # noqa: BLE001
        proc.kill()
        pytest.skip(f"Tk cannot open the virtual display {display}: {exc}")
    yield display
    if old is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = old
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def gui_env(xvfb_display, tmp_path, monkeypatch):
    """A window test's own settings, logs and review workspaces (so no test sees another's
    verdicts), and errors logged instead of shown in dialogs."""
    monkeypatch.setenv("M2FP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("M2FP_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("M2FP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("M2FP_NO_ERROR_DIALOGS", "1")
    return tmp_path


def close_window(win) -> None:
    """Close a test's main window for good: its export dialog, the window, its threads."""
    import gc
    import tkinter as tk

    try:
        if win.export_dialog is not None and win.export_dialog.winfo_exists():
            win.export_dialog.destroy()
        win.close(force=True)
    except tk.TclError:
        pass
    for thread in (win.worker, win.export_job, win.scan_job, win.photo_loader):
        if thread is not None:
            thread.join(10)
    gc.collect()


def pump(root, seconds: float = 0.0) -> None:
    """Process Tk events for ``seconds`` (at least once)."""
    end = time.monotonic() + seconds
    while True:
        root.update()
        if time.monotonic() >= end:
            return
        time.sleep(0.005)


def wait_for(root, condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Pump events until ``condition()`` is true; fail the test after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        root.update()
        if condition():
            root.update()
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def screenshot(root, name: str, widget=None) -> Path:
    """Save the window (or ``widget``'s toplevel) as ``artifacts/screenshots/NAME.png``."""
    from PIL import ImageGrab

    pump(root, 0.3)
    target = widget or root
    target.update_idletasks()
    x, y = target.winfo_rootx(), target.winfo_rooty()
    w, h = target.winfo_width(), target.winfo_height()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    ImageGrab.grab(xdisplay=os.environ["DISPLAY"]).crop((x, y, x + w, y + h)).save(path)
    return path


class SlowParser:
    """The real parser, made slower by parsing each image ``repeats`` times (real CPU work,
    not a sleep, so it competes with the window exactly as a big photo would)."""

    def __init__(self, inner, repeats: int = 1, delay: float = 0.0):
        self.inner = inner
        self.repeats = repeats
        self.delay = delay
        self.calls = 0

    @property
    def info(self):
        return self.inner.info

    def parse(self, rgb, *, notes=None):
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        result = None
        for _ in range(self.repeats):
            result = self.inner.parse(rgb, notes=notes)
        return result


def tiny_factory(wrap: Callable | None = None):
    """A parser factory for :class:`MainWindow` that loads the tiny model with torch."""

    def factory(model_dir, progress):
        from desktop.engine import HumanParser

        parser = HumanParser.load(model_dir, runtime="torch", num_threads=1, progress=progress)
        return wrap(parser) if wrap is not None else parser

    return factory


def make_image_folder(dest: Path, images: dict[str, Path], corrupt: bool = True, copies: int = 1) -> Path:
    """Copy the golden photos into ``dest`` (``copies`` times each) plus a truncated JPEG."""
    dest.mkdir(parents=True, exist_ok=True)
    for stem, src in images.items():
        for i in range(copies):
            suffix = "" if i == 0 else f"_{i}"
            shutil.copy(src, dest / f"{stem}{suffix}{src.suffix}")
    if corrupt:
        jpg = next(p for p in images.values() if p.suffix.lower() in (".jpg", ".jpeg"))
        (dest / "zz_broken.jpg").write_bytes(jpg.read_bytes()[:3000])
    return dest
