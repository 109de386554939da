"""The real window under Xvfb with the tiny model: open, parse, review, export, cancel, settings."""

from __future__ import annotations

import gc
import json
import time
import tkinter as tk

import numpy as np
import pytest
from gui_helpers import (  # noqa: F401 - gui_env, xvfb_display: fixtures
    SlowParser,
    close_window,
    gui_env,
    make_image_folder,
    pump,
    screenshot,
    tiny_factory,
    wait_for,
    xvfb_display,  # noqa: F401 - fixture
)
from PIL import Image

from desktop import render
from desktop.app.session import State
from desktop.app.settings import Settings, load_settings, settings_path
from desktop.output_layout import OUTPUT_MARKER

pytestmark = pytest.mark.gui




@pytest.fixture
def make_window(gui_env, tiny_model_dir):  # noqa: F811
    from desktop.app import create_root
    from desktop.app.main_window import MainWindow

    windows = []

    def make(settings=None, warning=None, wrap=None, factory=None, wait_model=True, **kw):
        root, dnd = create_root()
        s = settings if settings is not None else Settings(model_dir=str(tiny_model_dir))
        win = MainWindow(root, s, settings_warning=warning, parser_factory=factory or tiny_factory(wrap), dnd=dnd,
                         **kw)
        root.deiconify()
        windows.append(win)
        pump(root, 0.1)
        if wait_model:
            wait_for(root, lambda: win.model_state == "ready", 60, "the model to load")
        return win

    yield make
    for win in windows:
        close_window(win)
    # Drop every reference and collect here, in the main thread: a Tk interpreter (or a Tk
    # variable) freed by a garbage collection that happens to run in a worker thread
    # aborts the process ("Tcl_AsyncDelete: async handler deleted by the wrong thread").
    windows.clear()
    win = None
    gc.collect()


def finished(win) -> bool:
    return len(win.images) > 0 and all(e.state in (State.DONE, State.FAILED) for e in win.images) and (
        win.worker is None or not win.worker.busy)


def open_and_wait(win, paths, timeout=120):
    win.open_paths([str(p) for p in paths])
    wait_for(win.root, lambda: finished(win), timeout, "every image to be parsed")


def pixel(win, x, y, pane=0):
    """What the canvas shows at image pixel (x, y) (after a synchronous redraw)."""
    cv = win.canvas_view
    cv.redraw()
    cx, cy = cv.image_to_canvas(x, y, pane)
    return cv.last_rendered[int(cy), int(cx)].astype(int)


def pick_pixel(result):
    """A pixel deep inside a non-background class that belongs to a person, and its class/person."""
    labels = result.labels
    pmap = result.person_map()
    best = None
    counts = result.class_pixel_counts()
    for c in np.argsort(-counts):
        if c == 0 or counts[c] == 0:
            continue
        inside = labels == c
        core = inside.copy()
        for dy in range(-3, 4):
            for dx in range(-3, 4):
                core &= np.roll(np.roll(inside, dy, 0), dx, 1)
        core &= pmap > 0
        ys, xs = np.nonzero(core[5:-5, 5:-5])
        if ys.size:
            i = ys.size // 2
            best = (int(xs[i]) + 5, int(ys[i]) + 5, int(c), int(pmap[ys[i] + 5, xs[i] + 5]))
            break
    assert best is not None, "the tiny model produced no usable class region"
    return best


# ---------------------------------------------------------------------------------------
def test_folder_parses_and_corrupt_file_is_marked_failed(make_window, tmp_path, golden_images):
    folder = make_image_folder(tmp_path / "photos", golden_images, corrupt=True)
    win = make_window()
    open_and_wait(win, [folder])

    by_name = {e.display_name: e for e in win.images}
    assert set(by_name) == {"astronaut.png", "astronaut_crop.png", "grace_hopper.jpg", "zz_broken.jpg"}
    broken = by_name["zz_broken.jpg"]
    assert broken.state is State.FAILED
    assert "truncated or corrupt" in broken.error
    assert win.file_list.state_text(broken.key).startswith("failed: truncated")
    for name in ("astronaut.png", "astronaut_crop.png", "grace_hopper.jpg"):
        entry = by_name[name]
        assert entry.state is State.DONE, (name, entry.error)
        assert win.store.get(entry.key) is not None
        assert win.file_list.state_text(entry.key).startswith("done")
    assert "1 failed" in win.status_label.cget("text")

    # The first image is shown, with its parsing drawn over the photo.
    assert win.current_key == by_name["astronaut.png"].key
    cv = win.canvas_view
    assert cv.result is not None
    cv.redraw()
    overlay = cv.last_rendered.copy()
    win.set_view_mode("photo")
    cv.redraw()
    assert not np.array_equal(overlay, cv.last_rendered)
    # Selecting the broken file explains why instead of showing a stale image.
    win.select(broken.key)
    wait_for(win.root, lambda: "could not" in cv.message or "cannot" in cv.message, 10, "the failure message")
    assert cv.rgb is None


def test_canvas_follows_classes_persons_opacity_and_view_modes(make_window, golden_images):
    win = make_window()
    open_and_wait(win, [golden_images["astronaut"]])
    cv = win.canvas_view
    result = win.current_result
    rgb = cv.rgb
    x, y, c, person = pick_pixel(result)
    cv.center_on(x, y, scale=3.0)
    pal = result.palette.astype(int)
    photo = rgb[y, x].astype(int)

    def blended(opacity):
        return render.blend(rgb[y:y + 1, x:x + 1], result.labels[y:y + 1, x:x + 1], result.palette, opacity)[0, 0]

    assert np.array_equal(pixel(win, x, y), blended(win.settings.opacity))

    # One class off, then on again; "none" and "all".
    win.class_panel.toggle(c)
    assert np.array_equal(pixel(win, x, y), photo)
    assert c in win.settings.hidden_classes
    win.class_panel.toggle(c)
    assert np.array_equal(pixel(win, x, y), blended(win.settings.opacity))
    win.class_panel.show_none()
    assert np.array_equal(pixel(win, x, y), photo)
    win.class_panel.show_all()
    assert np.array_equal(pixel(win, x, y), blended(win.settings.opacity))

    # Absent classes are greyed, present ones are not.
    present = set(result.classes_present())
    for k in range(1, len(result.class_names)):
        assert win.class_panel.is_greyed(k) == (k not in present), k

    # Opacity.
    win.set_opacity(1.0)
    assert np.array_equal(pixel(win, x, y), pal[c])
    win.set_opacity(0.0)
    assert np.array_equal(pixel(win, x, y), photo)
    win.set_opacity(0.5)
    assert np.array_equal(pixel(win, x, y), blended(0.5))

    # Persons: hide the owner, solo someone else, solo the owner.
    win.person_panel.set_hidden(person, True)
    assert np.array_equal(pixel(win, x, y), photo)
    win.person_panel.set_hidden(person, False)
    assert np.array_equal(pixel(win, x, y), blended(0.5))
    others = [p.id for p in result.persons if p.id != person]
    if others:
        win.person_panel.set_solo(others[0])
        assert np.array_equal(pixel(win, x, y), photo)
    win.person_panel.set_solo(person)
    assert np.array_equal(pixel(win, x, y), blended(0.5))
    win.person_panel.show_all()

    # View modes.
    win.set_view_mode("labels")
    assert np.array_equal(pixel(win, x, y), pal[c])
    win.set_view_mode("photo")
    assert np.array_equal(pixel(win, x, y), photo)
    win.set_view_mode("side_by_side")
    cv.center_on(x, y, scale=3.0)
    assert np.array_equal(pixel(win, x, y, pane=0), photo)
    assert np.array_equal(pixel(win, x, y, pane=1), blended(0.5))
    win.set_view_mode("overlay")
    cv.center_on(x, y, scale=3.0)

    # Outline mode: the inside of a region shows the photo, its border the class colour.
    win.set_opacity(0.5)
    win.toggle_outline()
    assert np.array_equal(pixel(win, x, y), photo)
    frame = cv.last_rendered
    assert any((frame == pal[k]).all(axis=2).any() for k in present - {0})
    win.toggle_outline()

    # Hover read-out in the status bar.
    cx, cy = cv.image_to_canvas(x, y)
    info = cv.hover_info(cx, cy)
    assert (info.x, info.y, info.label) == (x, y, c)
    assert info.person_id is not None
    cv.canvas.event_generate("<Motion>", x=int(cx), y=int(cy))
    pump(win.root, 0.05)
    text = win.hover_label.cget("text")
    assert f"x {x}, y {y}" in text and result.class_names[c] in text and "person" in text


def test_zoom_pan_fit_and_visible_part_only(make_window, golden_images):
    win = make_window()
    open_and_wait(win, [golden_images["grace_hopper"]])
    cv = win.canvas_view
    root = win.root
    cv.fit()
    cv.redraw()
    h, w = cv.rgb.shape[:2]
    pw, ph = cv._pane_size()
    assert cv.scale == pytest.approx(min(pw / w, ph / h) * 0.98)

    # The wheel zooms around the pointer: the image point under it stays put.
    cx, cy = 300, 250
    before = cv.pane_to_image(cx, cy)
    s0 = cv.scale
    cv.canvas.event_generate("<Button-4>", x=cx, y=cy)
    pump(root, 0.05)
    assert cv.scale == pytest.approx(s0 * 1.25)
    after = cv.pane_to_image(cx, cy)
    assert abs(after[1] - before[1]) <= 1 and abs(after[2] - before[2]) <= 1
    cv.canvas.event_generate("<Button-5>", x=cx, y=cy)
    pump(root, 0.05)
    assert cv.scale == pytest.approx(s0)

    # Dragging pans.
    cv.zoom_100()
    cv.redraw()
    ox, oy = cv.ox, cv.oy
    cv.canvas.event_generate("<ButtonPress-1>", x=200, y=200)
    cv.canvas.event_generate("<B1-Motion>", x=230, y=215)
    cv.canvas.event_generate("<ButtonRelease-1>", x=230, y=215)
    pump(root, 0.05)
    assert cv.scale == 1.0
    assert (cv.ox, cv.oy) == pytest.approx((ox - 30, oy - 15))

    # Only the visible part is resampled: at 8x the sample is at most one screen.
    cv.center_on(w / 2, h / 2, scale=8.0)
    cv.redraw()
    sample = cv._sample_cache[0]
    assert sample.photo.shape[0] <= ph and sample.photo.shape[1] <= pw
    assert sample.xs.max() - sample.xs.min() < pw / 8 + 2
    assert cv.last_rendered.shape[:2] == (cv.canvas.winfo_height(), cv.canvas.winfo_width())
    # Keyboard: F fits again.
    root.focus_force()
    pump(root, 0.05)
    root.event_generate("<KeyPress-f>")
    pump(root, 0.1)
    assert cv.scale == pytest.approx(min(pw / w, ph / h) * 0.98)


def test_keyboard_navigation_and_review_marks(make_window, tmp_path, golden_images):
    folder = make_image_folder(tmp_path / "photos", golden_images, corrupt=True)
    win = make_window()
    open_and_wait(win, [folder])
    root = win.root
    names = [e.display_name for e in win.images]
    assert names == ["astronaut.png", "astronaut_crop.png", "grace_hopper.jpg", "zz_broken.jpg"]

    def current():
        return win.images.get(win.current_key).display_name

    def key(keysym):
        root.focus_force()
        pump(root, 0.02)
        root.event_generate(f"<KeyPress-{keysym}>")
        pump(root, 0.05)

    assert current() == "astronaut.png"
    key("d")
    assert current() == "astronaut_crop.png"
    key("Right")
    assert current() == "grace_hopper.jpg"
    key("a")
    assert current() == "astronaut_crop.png"
    key("Left")
    assert current() == "astronaut.png"
    key("Left")  # stays on the first
    assert current() == "astronaut.png"

    key("space")  # accept, and on to the next image not reviewed
    first = win.images[0]
    assert first.reviewed and first.verdict == "accepted"
    assert win.file_list.state_text(first.key).startswith("accepted")
    assert current() == "astronaut_crop.png"
    key("space")
    assert current() == "grace_hopper.jpg"
    key("n")  # this one and the failed image are left, and the failed one cannot be reviewed
    assert "only image left not reviewed" in win.status_label.cget("text")
    key("space")
    assert "Every image is reviewed" in win.status_label.cget("text")
    assert win.images[2].verdict == "accepted"
    assert "Accepted" in win.canvas_view.badge
    key("space")  # a key never undoes a verdict: accepting again changes nothing
    assert win.images[2].verdict == "accepted"

    # The same keys work while the file list has the focus.
    tree = win.file_list.tree
    tree.focus_force()
    pump(root, 0.02)
    tree.event_generate("<KeyPress-d>")
    pump(root, 0.05)
    assert current() == "zz_broken.jpg"
    # Clicking a row in the list selects that image.
    tree.selection_set((win.images[1].key,))
    pump(root, 0.1)
    assert current() == "astronaut_crop.png"

    # F1 lists the shortcuts.
    key("F1")
    tops = [w for w in root.winfo_children() if isinstance(w, tk.Toplevel) and w.winfo_viewable()]
    assert any(w.title() == "Keyboard shortcuts" for w in tops)
    for w in tops:
        w.destroy()


def test_export_current_and_all_writes_the_cli_files(make_window, tmp_path, golden_images):
    folder = make_image_folder(tmp_path / "photos", golden_images, corrupt=False)
    win = make_window()
    open_and_wait(win, [folder])
    result = win.current_result
    entry = win.images.get(win.current_key)
    x, y, c, _ = pick_pixel(result)

    # Current image, only the visible classes: class c hidden.
    win.class_panel.toggle(c)
    out1 = tmp_path / "out1"
    win.open_export_dialog("current")
    dialog = win.export_dialog
    dialog.folder.set(str(out1))
    dialog.only_visible.set(True)
    dialog.start()
    wait_for(win.root, lambda: win.export_job is None, 60, "the export")
    screenshot(win.root, "gui_export_finished", dialog)
    stem = entry.path.stem
    files = sorted(p.name for p in out1.iterdir() if p.name != OUTPUT_MARKER)
    assert (out1 / OUTPUT_MARKER).is_file()  # a folder the export created is marked as ours
    assert files == sorted([f"{stem}_labels.png", f"{stem}_color.png", f"{stem}_overlay.png", f"{stem}.json"])
    labels = np.array(Image.open(out1 / f"{stem}_labels.png"))
    assert np.array_equal(labels, result.labels)
    color = np.array(Image.open(out1 / f"{stem}_color.png").convert("RGB"))
    assert np.array_equal(color[y, x], [0, 0, 0])  # hidden class: not drawn
    doc = json.loads((out1 / f"{stem}.json").read_text())
    assert isinstance(doc, dict) and doc
    assert entry.exported
    assert "Exported 1 of 1" in dialog.progress_text.cget("text")
    dialog.close()
    # "As shown" lasts for this session (a new session starts from "everything": review issue item 9).
    assert win.exporter.as_shown is True

    # All parsed images, every class.
    win.class_panel.toggle(c)
    out2 = tmp_path / "out2"
    win.open_export_dialog("all")
    dialog = win.export_dialog
    dialog.folder.set(str(out2))
    dialog.only_visible.set(False)
    dialog.start()
    wait_for(win.root, lambda: win.export_job is None, 60, "the export")
    names = sorted(p.name for p in out2.iterdir() if p.name != OUTPUT_MARKER)
    assert len(names) == 4 * 3
    color = np.array(Image.open(out2 / f"{stem}_color.png").convert("RGB"))
    assert np.array_equal(color[y, x], result.palette[c])
    dialog.close()
    assert win.unexported_count() == 0


def test_cancel_stops_after_the_current_image_and_f5_resumes(make_window, tmp_path, golden_images):
    folder = make_image_folder(tmp_path / "photos", golden_images, corrupt=False, copies=2)
    win = make_window(wrap=lambda p: SlowParser(p, repeats=1, delay=0.6))
    root = win.root
    win.open_paths([str(folder)])
    wait_for(root, lambda: any(e.state is State.PARSING for e in win.images), 30, "parsing to start")
    assert win.progress.winfo_ismapped()
    assert "Parsing" in win.progress_text.cget("text")
    root.focus_force()
    pump(root, 0.02)
    root.event_generate("<KeyPress-Escape>")
    wait_for(root, lambda: not win.worker.busy and win._batch_total == 0, 30, "the cancel to take effect")
    counts = win.images.counts()
    assert counts[State.PARSING] == 0
    assert 1 <= counts[State.DONE] <= 2
    assert counts[State.WAITING] == 6 - counts[State.DONE]
    assert "cancelled" in win.status_label.cget("text")
    pump(root, 1.5)
    assert win.images.counts()[State.DONE] == counts[State.DONE], "parsing went on after Cancel"

    root.event_generate("<KeyPress-F5>")
    wait_for(root, lambda: finished(win), 60, "the remaining images")
    assert win.images.counts()[State.DONE] == 6


def test_window_answers_events_while_a_parse_runs(make_window, tmp_path, golden_images):
    """The worker parses (real CPU work, three passes per image) while we time after() callbacks."""
    folder = make_image_folder(tmp_path / "photos", golden_images, corrupt=False)
    slow = {}

    def wrap(parser):
        slow["p"] = SlowParser(parser, repeats=3)
        return slow["p"]

    win = make_window(wrap=wrap)
    root = win.root
    win.open_paths([str(folder)])
    wait_for(root, lambda: win.worker.busy, 30, "parsing to start")
    latencies = []
    busy_samples = 0
    for _ in range(15):
        fired = []
        t0 = time.monotonic()
        root.after(20, lambda f=fired: f.append(time.monotonic()))
        while not fired and time.monotonic() - t0 < 5:
            root.update()
            time.sleep(0.002)
        assert fired, "an after() callback never fired"
        latencies.append(fired[0] - t0 - 0.020)
        busy_samples += int(win.worker.busy)
        win.canvas_view.zoom_by(1.1)  # and redraws happen meanwhile
    assert busy_samples >= 10, "the parse finished too early to measure anything"
    assert max(latencies) < 0.3, f"the window froze for {max(latencies):.2f} s"
    wait_for(root, lambda: finished(win), 120, "the batch")


def test_settings_persist_across_runs(make_window, gui_env):  # noqa: F811
    win = make_window()
    win.set_opacity(0.8)
    win.set_view_mode("labels")
    win.class_panel.toggle(2)  # hide Hair
    win.toggle_outline()
    win.recursive_var.set(True)
    win._recursive_changed()
    win.close(force=True)
    path = settings_path()
    assert path.parent == gui_env / "config"
    data = json.loads(path.read_text())
    assert data["opacity"] == pytest.approx(0.8)
    assert data["view_mode"] == "labels"
    assert 2 in data["hidden_classes"]
    assert data["outline"] is True and data["recursive"] is True
    assert data["geometry"]

    settings, warning = load_settings()
    assert warning is None
    win2 = make_window(settings=settings)
    assert win2.opacity_var.get() == pytest.approx(80)
    assert win2.view_mode.get() == "labels"
    assert win2.canvas_view.mode == "labels"
    assert not win2.class_panel.vars[2].get() and win2.class_panel.vars[5].get()
    assert win2.outline_var.get() and win2.canvas_view.outline
    assert win2.canvas_view.opacity == pytest.approx(0.8)


def test_broken_settings_file_falls_back_to_defaults(make_window, gui_env, tiny_model_dir):  # noqa: F811
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text("{ this is not json", encoding="utf-8")
    settings, warning = load_settings()
    assert settings == Settings()
    assert "default settings" in warning
    assert (path.parent / "settings.broken.json").exists()
    assert not path.exists()

    path.write_text(json.dumps({"opacity": 7, "view_mode": "sideways", "hidden_classes": "x", "recursive": True}))
    settings, warning = load_settings()
    assert settings.opacity == Settings().opacity and settings.view_mode == "overlay"
    assert settings.hidden_classes == [0] and settings.recursive is True
    assert "opacity" in warning and "view_mode" in warning and "hidden_classes" in warning

    settings.model_dir = str(tiny_model_dir)
    win = make_window(settings=settings, warning=warning)
    text = win.status_label.cget("text")
    assert "Model ready" in text and "reset to their defaults" in text


def test_missing_model_dialog_then_choose_folder(make_window, gui_env, tiny_model_dir):  # noqa: F811
    from desktop.engine import ModelNotFoundError

    real = tiny_factory()

    def factory(model_dir, progress):
        if not model_dir:
            raise ModelNotFoundError("No model folder was found.", searched=["/nowhere"], target=str(gui_env / "m"))
        return real(model_dir, progress)

    win = make_window(settings=Settings(), factory=factory, wait_model=False)
    wait_for(win.root, lambda: win.model_dialog is not None, 30, "the model dialog")
    dialog = win.model_dialog
    screenshot(win.root, "gui_model_dialog", dialog)
    assert win.model_state == "missing"
    # A folder without a model is refused with a reason.
    dialog.choose_folder(gui_env)
    assert dialog.winfo_exists() and dialog.progress_text.cget("text")
    dialog.choose_folder(tiny_model_dir)
    wait_for(win.root, lambda: win.model_state == "ready", 60, "the chosen model to load")
    assert json.loads(settings_path().read_text())["model_dir"] == str(tiny_model_dir)


def test_model_dialog_download_progress_and_cancel(gui_env, tmp_path):  # noqa: F811
    from desktop.app import create_root
    from desktop.app.model_dialog import ModelDialog
    from desktop.engine import CancelledError

    root, _ = create_root()
    root.deiconify()
    chosen = []

    def fake_download(target, progress=None, cancel=None):
        for i in range(200):
            if cancel is not None and cancel.is_set():
                raise CancelledError("Download cancelled.")
            progress("Downloading pytorch_model.pt", i / 200)
            time.sleep(0.01)
        return tmp_path / "model"

    try:
        dialog = ModelDialog(root, on_done=chosen.append, target=str(tmp_path / "model"), download=fake_download)
        dialog.start_download()
        wait_for(root, lambda: "%" in dialog.progress_text.cget("text"), 10, "download progress")
        assert float(dialog.progress.cget("value")) > 0
        dialog.cancel_download()
        wait_for(root, lambda: "cancelled" in dialog.progress_text.cget("text"), 10, "the cancellation")
        assert chosen == []
        dialog.start_download()
        wait_for(root, lambda: chosen, 20, "the download to finish")
        assert chosen == [tmp_path / "model"]
    finally:
        root.destroy()
        dialog = root = None
        gc.collect()


def test_callback_errors_are_reported_and_the_window_survives(make_window, caplog):
    win = make_window()
    root = win.root
    root.after(0, lambda: 1 / 0)
    pump(root, 0.2)
    assert root.winfo_exists()
    assert "Error" in win.status_label.cget("text")
    assert "ZeroDivisionError" in caplog.text


def test_without_tkdnd_the_app_still_works(make_window, monkeypatch, caplog, golden_images):
    from tkinterdnd2 import TkinterDnD

    def broken(_root):
        raise RuntimeError("Unable to load tkdnd library.")

    monkeypatch.setattr(TkinterDnD, "require", broken)
    win = make_window()
    assert not win.dnd_enabled
    assert "Drag and drop is not available" in caplog.text
    open_and_wait(win, [golden_images["astronaut"]])
    assert win.images[0].state is State.DONE


def test_subfolders_only_when_asked(make_window, tmp_path, golden_images):
    top = make_image_folder(tmp_path / "top", {"astronaut": golden_images["astronaut"]}, corrupt=False)
    make_image_folder(top / "sub", {"grace_hopper": golden_images["grace_hopper"]}, corrupt=False)
    win = make_window()
    assert win.recursive_var.get() is False
    open_and_wait(win, [top])
    assert [e.display_name for e in win.images] == ["astronaut.png"]
    assert "subfolders not included" in win.file_list.summary.cget("text")
    win.recursive_var.set(True)
    win._recursive_changed()
    win.open_paths([str(top)])
    wait_for(win.root, lambda: len(win.images) == 2 and finished(win), 60, "the subfolder image")
    assert sorted(e.display_name for e in win.images) == ["astronaut.png", "sub/grace_hopper.jpg"]
    assert "subfolders" not in win.file_list.summary.cget("text")


def test_dropped_files_and_folders_are_opened(make_window, tmp_path, golden_images):
    spaced = tmp_path / "with space"
    make_image_folder(spaced, {"astronaut": golden_images["astronaut"]}, corrupt=False)
    other = tmp_path / "other"
    make_image_folder(other, {"grace_hopper": golden_images["grace_hopper"]}, corrupt=False)
    win = make_window()
    assert win.dnd_enabled  # tkinterdnd2's Tk extension loads here
    win.handle_drop_data(f"{{{spaced}}} {other / 'grace_hopper.jpg'}")
    wait_for(win.root, lambda: finished(win) and len(win.images) == 2, 60, "the dropped images")
    # Both join the workspace of the dropped folder; with two root folders, names say which.
    assert sorted(e.display_name for e in win.images) == ["other/grace_hopper.jpg", "with space/astronaut.png"]
    assert win.review.workspace is not None and len(win.review.workspace.roots()) == 2


def test_about_box_names_model_licence_and_versions(make_window):
    win = make_window()
    win.show_about()
    pump(win.root, 0.2)
    about = [w for w in win.root.winfo_children() if isinstance(w, tk.Toplevel)][-1]
    texts = []

    def collect(w):
        try:
            texts.append(str(w.cget("text")))
        except tk.TclError:
            pass
        for child in w.winfo_children():
            collect(child)

    collect(about)
    joined = "\n".join(texts)
    assert "CC BY-NC 4.0" in joined and "non-commercial" in joined
    assert "PyTorch" in joined and "Python" in joined
    assert "torch" in joined  # the runtime
    about.destroy()
