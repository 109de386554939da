"""What a new user hit in the window (issue 14, item 10), each checked on the real window.

Persons panel and classes at 1024x640 with a 12-person group photo, the hover read-out
after D, the status bar's time left beside a long message, "All" classes, the badge while
the model loads, a failed file's tooltip beside its row, the About box naming the model
really loaded, and the parse worker's threads and priority. The command line's model
folder is checked without a display. Screenshots go to ``artifacts/screenshots/fixes_*``.
"""
# ruff: noqa: F811 - the fixtures imported from test_gui_window are test arguments here

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tkinter as tk
from pathlib import Path

import numpy as np
import pytest
from group_photo import GroupParser
from gui_helpers import (
    ROOT,
    SlowParser,
    make_image_folder,
    pump,
    screenshot,
    tiny_factory,
    wait_for,
    xvfb_display,  # noqa: F401 - fixture
)
from test_gui_window import finished, gui_env, make_window, open_and_wait  # noqa: F401 - fixtures

from desktop.app.entry_badges import waiting_badge
from desktop.app.model_identity import identify_model
from desktop.app.session import State
from desktop.app.settings import Settings, save_settings, settings_path
from desktop.app.thread_priority import thread_nice, usable_cores

SMALL = "1024x640+0+0"


def small_window(make_window, tiny_model_dir, **kw):
    """The window at 1024x640 (a laptop's usable screen), placed at the screen's corner."""
    win = make_window(settings=Settings(model_dir=str(tiny_model_dir), geometry=SMALL), **kw)
    win.root.geometry(SMALL)
    pump(win.root, 0.3)
    assert (win.root.winfo_width(), win.root.winfo_height()) == (1024, 640)
    return win


def inside_window(win, widget) -> bool:
    """Whether ``widget`` is drawn wholly inside the window's client area."""
    root = win.root
    top, bottom = root.winfo_rooty(), root.winfo_rooty() + root.winfo_height()
    left, right = root.winfo_rootx(), root.winfo_rootx() + root.winfo_width()
    y, x = widget.winfo_rooty(), widget.winfo_rootx()
    return (widget.winfo_ismapped() and top <= y and y + widget.winfo_height() <= bottom
            and left <= x and x + widget.winfo_width() <= right)


def inside_viewport(scroll, widget) -> bool:
    """Whether ``widget`` is in the visible part of a ScrollableFrame."""
    canvas = scroll._canvas
    y = widget.winfo_rooty()
    return canvas.winfo_rooty() <= y and y + widget.winfo_height() <= canvas.winfo_rooty() + canvas.winfo_height()


def label_texts(widget) -> str:
    texts = []

    def collect(w):
        try:
            texts.append(str(w.cget("text")))
        except tk.TclError:
            pass
        for child in w.winfo_children():
            collect(child)

    collect(widget)
    return "\n".join(texts)


# ------------------------------------------------------------------ persons and classes at 1024x640
def test_persons_and_classes_reachable_at_1024x640_with_12_persons(make_window, tiny_model_dir, golden_images):
    win = small_window(make_window, tiny_model_dir, wrap=lambda p: GroupParser(p, 12))
    root = win.root
    open_and_wait(win, [golden_images["astronaut"]])
    pump(root, 0.3)
    panel = win.person_panel
    assert sorted(panel.visible_vars) == list(range(1, 13))

    # The persons' heading and first rows are on screen without any scrolling...
    assert inside_window(win, panel._all_button)
    first = panel.row_widgets(1)
    assert first and all(inside_window(win, w) and inside_viewport(panel.scroll, w) for w in first)
    # ...the last rows are not, but the list scrolls to them (and stays inside the window).
    last = panel.row_widgets(12)
    assert panel.scroll.yview()[1] < 1.0
    assert not all(inside_viewport(panel.scroll, w) for w in last)
    screenshot(root, "fixes_01_1024x640_12_persons")
    panel.scroll.see(last[0])
    pump(root, 0.1)
    assert all(inside_viewport(panel.scroll, w) and inside_window(win, w) for w in last)
    assert inside_window(win, panel._all_button)  # the heading did not scroll away
    screenshot(root, "fixes_02_1024x640_persons_scrolled")

    # The mouse wheel over the rows scrolls the rows (back up here).
    for _ in range(20):
        first[0].event_generate("<Button-4>")
    pump(root, 0.1)
    assert panel.scroll.yview()[0] == 0.0
    # Solo on the last person works from the scrolled list.
    panel.set_solo(12)
    assert win.canvas_view.solo_person == 12

    # Classes: the heading and the first classes are visible; every class can be scrolled to.
    classes = win.class_panel
    upper = win.side.upper
    assert inside_window(win, classes._checks[0]) and inside_viewport(upper, classes._checks[0])
    for i in (len(classes._checks) - 1, 0):
        upper.see(classes._names[i])
        pump(root, 0.1)
        assert inside_viewport(upper, classes._names[i]) and inside_window(win, classes._names[i]), i
    # Both parts keep a usable height at this size (neither squeezed to nothing).
    assert upper.winfo_height() > 150 and panel.scroll.winfo_height() > 100


def test_twenty_persons_in_a_tall_window_all_scroll_into_view(make_window, tiny_model_dir, golden_images):
    win = make_window(wrap=lambda p: GroupParser(p, 20))
    open_and_wait(win, [golden_images["grace_hopper"]])
    panel = win.person_panel
    for pid in (1, 10, 20):
        panel.scroll.see(panel.row_widgets(pid)[0])
        pump(win.root, 0.05)
        assert all(inside_viewport(panel.scroll, w) and inside_window(win, w) for w in panel.row_widgets(pid))


# ------------------------------------------------------------------ hover after D
def hover_expected(win) -> str:
    cv = win.canvas_view
    info = cv.hover_info(*cv._pointer)
    return "" if info is None else f"x {info.x}, y {info.y}"


def test_hover_readout_follows_the_image_after_next(make_window, tmp_path, golden_images):
    folder = make_image_folder(tmp_path / "photos", golden_images, corrupt=False)
    win = make_window(wrap=lambda p: GroupParser(p, 5))
    open_and_wait(win, [folder])
    root = win.root
    win.select(win.images[0].key)  # astronaut.png, 512x512
    pump(root, 0.2)
    cv = win.canvas_view
    cv.redraw()
    # The pointer rests over the photo's centre, on a person's pants.
    cx, cy = cv.image_to_canvas(256, 400)
    cv.canvas.event_generate("<Motion>", x=int(cx), y=int(cy))
    pump(root, 0.05)
    before = win.hover_label.cget("text")
    assert before.startswith("x 256, y 400") and "Pants" in before

    root.focus_force()
    pump(root, 0.02)
    root.event_generate("<KeyPress-d>")  # astronaut_crop.png, 301x457: other pixel, other class
    wait_for(root, lambda: cv.rgb is not None and cv.rgb.shape[:2] == (457, 301), 20, "the next photo")
    pump(root, 0.1)
    after = win.hover_label.cget("text")
    assert after != before
    assert after.startswith(hover_expected(win)) and hover_expected(win)
    info = cv.hover_info(*cv._pointer)
    assert (info.class_name or "") in after

    # Back with A, the pointer now near the left edge: beyond the narrow photo, so after D
    # there is nothing under it and the old reading must not stay.
    root.event_generate("<KeyPress-a>")
    wait_for(root, lambda: cv.rgb is not None and cv.rgb.shape[:2] == (512, 512), 20, "the first photo")
    cx, cy = cv.image_to_canvas(30, 400)
    cv.canvas.event_generate("<Motion>", x=int(cx), y=int(cy))
    pump(root, 0.05)
    assert win.hover_label.cget("text").startswith("x 30, y 400")
    root.event_generate("<KeyPress-d>")
    wait_for(root, lambda: cv.rgb is not None and cv.rgb.shape[:2] == (457, 301), 20, "the next photo")
    pump(root, 0.1)
    assert hover_expected(win) == "" and win.hover_label.cget("text") == ""

    # Going to an image not shown yet clears the reading until its photo is there.
    cv.show(None)
    cv.redraw()
    assert win.hover_label.cget("text") == ""


# ------------------------------------------------------------------ status bar
def test_time_left_stays_visible_beside_a_long_message(make_window, tiny_model_dir, tmp_path, golden_images):
    folder = make_image_folder(tmp_path / "photos", golden_images, corrupt=False, copies=2)
    win = small_window(make_window, tiny_model_dir, wrap=lambda p: SlowParser(p, delay=0.6))
    root = win.root
    win.open_paths([str(folder)])
    wait_for(root, lambda: "left" in win.progress_text.cget("text"), 60, "the time left")
    long = ("Some settings were invalid and were reset to their defaults: opacity, view_mode, hidden_classes, "
            "export_formats, and the model folder, which no longer exists; choose it again with Model ▸ Choose "
            "model folder… before parsing more images.")
    win.set_status(long, warn=True)
    pump(root, 0.3)
    bar = win.status_bar
    text = win.progress_text
    assert text.winfo_ismapped() and text.winfo_width() >= text.winfo_reqwidth()
    assert text.winfo_rootx() + text.winfo_width() <= bar.winfo_rootx() + bar.winfo_width()
    assert win.progress.winfo_ismapped() and win.progress.winfo_width() >= win.progress.winfo_reqwidth() - 1
    assert win.progress_cancel.winfo_ismapped()
    # The message gives way; hovering over it shows it whole.
    assert bar.message_clipped() and win.status_label.cget("text") == long
    screenshot(root, "fixes_03_status_bar_long_message")
    bar.message.event_generate("<Enter>")
    wait_for(root, lambda: bar.message_tooltip.shown is not None, 5, "the message's tooltip")
    assert label_texts(bar.message_tooltip.shown) == long
    bar.message.event_generate("<Leave>")
    wait_for(root, lambda: finished(win), 120, "the batch")


# ------------------------------------------------------------------ "All" classes
def test_all_ticks_every_box_and_background_has_none(make_window, golden_images):
    """Background is never coloured (render.py), so it has no box: "All" leaves nothing unticked."""
    win = make_window()
    open_and_wait(win, [golden_images["astronaut"]])
    panel = win.class_panel
    boxes = [i for i in range(len(panel.vars)) if panel.has_box(i)]
    assert boxes == list(range(1, 20)) and not panel.has_box(0)
    panel.show_none()
    assert not any(panel.vars[i].get() for i in boxes)
    panel.show_all()
    assert all(panel.vars[i].get() for i in boxes)  # every box there is
    assert win.settings.hidden_classes == [0]  # background: never drawn, said as "hidden"
    assert np.array_equal(win.canvas_view.visible, panel.visible_array())
    panel.toggle(0)  # clicking the Background row changes nothing
    assert win.settings.hidden_classes == [0]
    # Its share is still shown, and the row says why it has no box.
    assert panel._shares[0].cget("text").endswith("%")
    # A background pixel shows the photo itself whatever is ticked.
    result = win.current_result
    ys, xs = np.nonzero(result.labels == 0)
    x, y = int(xs[len(xs) // 2]), int(ys[len(ys) // 2])
    cv = win.canvas_view
    cv.redraw()
    cx, cy = cv.image_to_canvas(x, y)
    with_all = cv.last_rendered[int(cy), int(cx)].astype(int)
    panel.show_none()
    cv.redraw()
    assert np.array_equal(with_all, cv.last_rendered[int(cy), int(cx)].astype(int))


# ------------------------------------------------------------------ the badge while not parsed
def test_waiting_badge_matches_what_will_happen():
    loading = waiting_badge("loading", queued=False, paused=False)
    assert "starts by itself" in loading and "F5" not in loading
    assert waiting_badge("none", queued=False, paused=False) == loading
    assert "F5" not in waiting_badge("ready", queued=True, paused=False)
    assert "F5" in waiting_badge("ready", queued=True, paused=True)
    assert "F5" in waiting_badge("ready", queued=False, paused=False)
    missing = waiting_badge("missing", queued=False, paused=False)
    assert "no model" in missing and "F5" not in missing


def test_badge_while_the_model_loads_says_parsing_starts_by_itself(make_window, golden_images):
    release = threading.Event()
    inner = tiny_factory()

    def slow_factory(model_dir, progress):
        release.wait(30)
        return inner(model_dir, progress)

    win = make_window(factory=slow_factory, wait_model=False)
    root = win.root
    win.open_paths([str(golden_images["astronaut"])])
    cv = win.canvas_view
    wait_for(root, lambda: cv.rgb is not None, 20, "the photo")
    assert win.model_state == "loading"
    assert "starts by itself" in cv.badge and "F5" not in cv.badge
    assert win.buttons["parse"].instate(["disabled"])  # nothing to press: it will start by itself
    screenshot(root, "fixes_04_badge_while_model_loads")
    release.set()
    wait_for(root, lambda: finished(win), 60, "the parse that starts by itself")
    assert win.images[0].state is State.DONE and cv.badge == ""


def test_badge_after_cancel_asks_for_parse(make_window, tmp_path, golden_images):
    folder = make_image_folder(tmp_path / "photos", golden_images, corrupt=False)
    win = make_window(wrap=lambda p: SlowParser(p, delay=0.8))
    root = win.root
    win.open_paths([str(folder)])
    wait_for(root, lambda: win.worker.busy, 30, "parsing")
    win.cancel_parsing()
    wait_for(root, lambda: not win.worker.busy, 30, "the cancel")
    waiting = next(e for e in win.images if e.state is State.WAITING)
    win.select(waiting.key)
    wait_for(root, lambda: win.canvas_view.rgb is not None, 20, "the photo")
    assert "F5" in win.canvas_view.badge


# ------------------------------------------------------------------ failed file tooltip
def test_failed_files_tooltip_appears_beside_its_row(make_window, tmp_path, golden_images):
    folder = make_image_folder(tmp_path / "photos", golden_images, corrupt=True)
    win = make_window()
    open_and_wait(win, [folder])
    root = win.root
    tree = win.file_list.tree
    broken = next(e for e in win.images if e.state is State.FAILED)
    x, y, w, h = tree.bbox(broken.key)
    tree.event_generate("<Enter>", x=x + 20, y=y + h // 2)
    tree.event_generate("<Motion>", x=x + 20, y=y + h // 2)
    tip_of = win.file_list._tooltip
    wait_for(root, lambda: tip_of.shown is not None, 5, "the tooltip")
    tip = tip_of.shown
    tip.update_idletasks()
    row_bottom = tree.winfo_rooty() + y + h
    assert row_bottom <= tip.winfo_rooty() <= row_bottom + 10, (tip.winfo_rooty(), row_bottom)
    assert abs(tip.winfo_rootx() - (tree.winfo_rootx() + x + 20)) <= 20
    # Far from the list's bottom edge, where it used to appear.
    assert tree.winfo_rooty() + tree.winfo_height() - tip.winfo_rooty() > 200
    assert broken.error.split()[0] in label_texts(tip)
    screenshot(root, "fixes_05_failed_file_tooltip")
    # Moving to another row shows that row's tip instead.
    other = win.images[0]
    _x2, y2, _w2, h2 = tree.bbox(other.key)
    tree.event_generate("<Motion>", x=x + 20, y=y2 + h2 // 2)
    pump(root, 0.05)
    assert tip_of.shown is None
    wait_for(root, lambda: tip_of.shown is not None, 5, "the other row's tooltip")
    assert other.display_name in label_texts(tip_of.shown)
    assert abs(tip_of.shown.winfo_rooty() - (tree.winfo_rooty() + y2 + h2)) <= 10
    tree.event_generate("<Leave>")


# ------------------------------------------------------------------ About box
def test_about_box_says_the_test_model_is_not_damos(make_window):
    win = make_window()
    win.show_about()
    pump(win.root, 0.2)
    about = [w for w in win.root.winfo_children() if isinstance(w, tk.Toplevel)][-1]
    text = label_texts(about)
    assert "Test model" in text and "random" in text
    assert "not DAMO Academy's" in text
    assert "Published by" not in text
    assert about.identity.kind == "test"
    screenshot(win.root, "fixes_06_about_test_model", about)
    about.destroy()


def model_folder(folder: Path, depth: int, weights: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "configuration.json").write_text(json.dumps({"model": {"backbone": {"depth": depth}}}))
    (folder / "pytorch_model.pt").write_bytes(weights)
    return folder


def test_identify_model_published_test_other_none(tmp_path, tiny_model_dir):
    from desktop.engine.models import MODEL_ID, MODEL_NAME

    assert identify_model({}).kind == "none"
    test = identify_model({"name": "model", "source": str(tiny_model_dir)})
    assert test.kind == "test" and test.published_by is None and "random" in test.licence
    published = model_folder(tmp_path / MODEL_NAME, 101, b"weights")
    ident = identify_model({"name": MODEL_ID, "source": str(published)})
    assert ident.kind == "published" and "CC BY-NC 4.0" in ident.licence and "DAMO" in ident.published_by
    # Same size as the test weights, other bytes: not the test model.
    size = (tiny_model_dir / "pytorch_model.pt").stat().st_size
    other = model_folder(tmp_path / "mine", 50, b"x" * size)
    ident = identify_model({"name": "mine", "source": str(other)})
    assert ident.kind == "other" and "ResNet-50" in ident.title and "its author" in ident.licence


# ------------------------------------------------------------------ threads and priority
def test_the_app_parses_on_every_core(monkeypatch):
    from desktop.app import main_window
    from desktop.engine import HumanParser

    asked = {}
    monkeypatch.setattr(HumanParser, "load", classmethod(lambda cls, model_dir, **kw: asked.update(kw) or "p"))
    assert main_window.default_parser_factory("/models/x", lambda *a: None) == "p"
    assert asked["num_threads"] == usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_parse_worker_runs_below_the_window_and_its_threads_inherit_it(golden_images):
    import queue

    from desktop.app.worker import ModelReady, ParseWorker

    seen = {}

    class Parser:
        info = {"name": "x"}

    def loader(progress):
        seen["worker"] = thread_nice()
        child = threading.Thread(target=lambda: seen.setdefault("child", thread_nice()))
        child.start()  # like the engine's thread pools, started after the priority was lowered
        child.join()
        return Parser()

    outbox: queue.Queue = queue.Queue()
    main_before = thread_nice()
    worker = ParseWorker(loader, outbox, load_image=lambda p: None, store=lambda k, r: None)
    worker.start()
    msg = outbox.get(timeout=10)
    worker.stop()
    worker.join(5)
    assert isinstance(msg, ModelReady)
    assert seen["worker"] == min(19, main_before + 10) and seen["child"] == seen["worker"]
    assert thread_nice() == main_before  # the window's thread keeps its priority
    assert msg.info["worker_priority"] == f"lowered (nice {seen['worker']})"


# ------------------------------------------------------------------ the command line's model folder
@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("M2FP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("M2FP_CACHE_DIR", str(tmp_path / "cache"))  # nothing in the usual places
    monkeypatch.delenv("M2FP_MODEL_DIR", raising=False)
    from desktop.engine import models

    monkeypatch.setattr(models, "app_dir", lambda: tmp_path / "app")
    return tmp_path


def run_cli(args, capsys):
    import desktop.cli as cli

    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_uses_the_model_folder_chosen_in_the_app(cli_env, tiny_model_dir, golden_images, capsys):
    photo = golden_images["astronaut_crop"]
    out = cli_env / "out"
    args = [photo, "--out", out, "--formats", "json", "--runtime", "torch"]
    # Nothing chosen, nothing in the usual places: "no model".
    code, _o, err = run_cli(args, capsys)
    assert code == 2 and "No M2FP model was found" in err

    save_settings(Settings(model_dir=str(tiny_model_dir)))
    code, out_text, err = run_cli(args, capsys)
    assert code == 0, err
    assert f"source {tiny_model_dir}" in out_text and "found_in chosen in the application" in out_text
    from desktop.selftest import sha256_of

    model = json.loads(next(out.rglob("*.json")).read_text())["model"]
    assert model["weights_sha256"] == sha256_of(tiny_model_dir / "pytorch_model.pt")

    # M2FP_MODEL_DIR still wins over the app's choice, and --model over both.
    os.environ["M2FP_MODEL_DIR"] = str(cli_env / "elsewhere")
    try:
        code, _o, err = run_cli(args, capsys)
        assert code == 2 and "No M2FP model was found" in err
        code, _o, err = run_cli([*args, "--model", tiny_model_dir], capsys)
        assert code == 0, err
    finally:
        del os.environ["M2FP_MODEL_DIR"]

    # A chosen folder that is gone: said, then the usual search.
    save_settings(Settings(model_dir=str(cli_env / "gone")))
    code, _o, err = run_cli(args, capsys)
    assert code == 2 and "chosen in the application" in err and "no longer exists" in err


def test_cli_leaves_a_broken_settings_file_for_the_app(cli_env, tiny_model_dir, golden_images, capsys):
    settings_path().parent.mkdir(parents=True)
    settings_path().write_text("{ not json")
    code, _o, err = run_cli([golden_images["astronaut_crop"], "--out", cli_env / "out", "--model", tiny_model_dir,
                             "--runtime", "torch", "--quiet"], capsys)
    assert code == 0, err
    code, _o, err = run_cli([golden_images["astronaut_crop"], "--out", cli_env / "out2", "--runtime", "torch"],
                            capsys)
    assert code == 2  # no model chosen (unreadable settings), none found
    assert settings_path().read_text() == "{ not json"  # the app will still find it and tell the user


def test_cli_and_settings_do_not_import_tkinter():
    code = ("import sys, desktop.cli, desktop.app.model_choice, desktop.app.settings, desktop.app.worker; "
            "assert 'tkinter' not in sys.modules, 'tkinter imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
