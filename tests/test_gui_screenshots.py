"""Walk through the main states of the window and save a screenshot of each.

The pictures go to ``artifacts/screenshots/`` (ignored by git) so a person can look at
alignment, clipping and colours after a change; the assertions only check that the
states were reached.
"""

from __future__ import annotations

import tkinter as tk

import pytest
from gui_helpers import (
    SCREENSHOTS,
    SlowParser,
    make_image_folder,
    pump,
    screenshot,
    wait_for,
    xvfb_display,  # noqa: F401 - fixture
)
from test_gui_window import finished, gui_env, make_window, pick_pixel  # noqa: F401 - fixtures

from desktop.app.session import State

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def test_screenshots_of_the_main_states(make_window, tmp_path, golden_images):  # noqa: F811
    folder = make_image_folder(tmp_path / "photos", golden_images, corrupt=True)
    win = make_window(wrap=lambda p: SlowParser(p, delay=0.8))
    root = win.root
    pump(root, 0.3)
    screenshot(root, "01_start_empty")

    win.open_paths([str(folder)])
    wait_for(root, lambda: any(e.state is State.PARSING for e in win.images), 30, "parsing")
    wait_for(root, lambda: win.canvas_view.rgb is not None, 30, "the photo")
    screenshot(root, "02_parsing_in_progress")
    wait_for(root, lambda: finished(win), 120, "the batch")

    win.select(win.images[0].key)
    pump(root, 0.2)
    screenshot(root, "03_overlay")
    win.set_view_mode("side_by_side")
    screenshot(root, "04_side_by_side")
    win.set_view_mode("labels")
    screenshot(root, "05_labels_only")
    win.set_view_mode("overlay")
    win.toggle_outline()
    screenshot(root, "06_outline")
    win.toggle_outline()
    win.person_panel.set_solo(win.current_result.persons[0].id)
    screenshot(root, "07_solo_person")
    win.person_panel.show_all()

    x, y, _c, _p = pick_pixel(win.current_result)
    cv = win.canvas_view
    cv.center_on(x, y, scale=4.0)
    cv.redraw()
    cx, cy = cv.image_to_canvas(x, y)
    cv.canvas.event_generate("<Motion>", x=int(cx), y=int(cy))
    win.review.set_verdict("accepted")
    screenshot(root, "08_zoomed_hover_reviewed")

    broken = next(e for e in win.images if e.state is State.FAILED)
    win.select(broken.key)
    wait_for(root, lambda: bool(cv.message) and cv.rgb is None, 10, "the failure message")
    screenshot(root, "09_failed_image")

    win.select(win.images[1].key)
    pump(root, 0.2)
    win.open_export_dialog("all")
    screenshot(root, "10_export_dialog", win.export_dialog)
    win.export_dialog.close()

    win.show_about()
    pump(root, 0.2)
    about = [w for w in root.winfo_children() if isinstance(w, tk.Toplevel)][-1]
    screenshot(root, "11_about", about)
    about.destroy()
    win.show_shortcuts()
    pump(root, 0.2)
    shortcuts = [w for w in root.winfo_children() if isinstance(w, tk.Toplevel)][-1]
    screenshot(root, "12_shortcuts", shortcuts)
    shortcuts.destroy()

    root.geometry("900x600")
    pump(root, 0.3)
    screenshot(root, "13_small_window")
    assert len(list(SCREENSHOTS.glob("*.png"))) >= 13
