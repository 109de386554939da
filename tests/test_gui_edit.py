"""Edit mode in the real window under Xvfb: tools driven by pointer events, undo, views, autosave.

The window parses a drawn photo of four people (bench/edit_scene.py) with the tiny model, whose
answer :class:`SceneParser` replaces with the people's own maps (a plausible parsing: arms,
legs, clothes). Every edit is made the way a reviewer makes it (pointer events on the canvas,
keys), then the maps saved in the workspace are read back after closing the window and
compared pixel by pixel with the same operations applied by the Tk-free functions.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from gui_helpers import pump, screenshot, wait_for, xvfb_display  # noqa: F401 - fixture
from PIL import Image
from test_gui_window import finished, gui_env, make_window  # noqa: F401 - fixtures

from bench.edit_scene import draw_people, people_photo
from desktop.app.edit_saving import AUTOSAVE_MS
from desktop.review import edits, person_edits
from desktop.review.edit_history import EditHistory
from desktop.review.maps import consistency_problems, person_map_of, result_from_maps
from desktop.review.workspace import Workspace

pytestmark = pytest.mark.gui

H, W = 600, 900
UPPER, PANTS, FACE, L_ARM, R_ARM = 5, 9, 13, 14, 15


def scene():
    return draw_people(H, W, count=4, seed=3)


class SceneParser:
    """The tiny model's real work, answered with the drawn people's maps."""

    def __init__(self, inner):
        self.inner = inner

    @property
    def info(self):
        return self.inner.info

    def parse(self, rgb, *, notes=None):
        base = self.inner.parse(rgb, notes=notes)
        labels, persons = draw_people(rgb.shape[0], rgb.shape[1], count=4, seed=3)
        return result_from_maps(labels, persons, base)


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    labels, persons = scene()
    Image.fromarray(people_photo(labels, persons, seed=3)).save(folder / "group.png")
    return folder


@pytest.fixture
def edit_window(make_window, tmp_path, photos, monkeypatch):  # noqa: F811
    """A window with the photo parsed, in the folder's review workspace (``workspace=False``:
    none can be created, so edits can only live in memory), at a known size."""

    def make(workspace=True, show=True):
        if workspace:
            monkeypatch.setenv("M2FP_DATA_DIR", str(tmp_path / "data"))
        else:  # the user data folder is a file: no workspace can be made there
            (tmp_path / "not-a-folder").write_text("")
            monkeypatch.setenv("M2FP_DATA_DIR", str(tmp_path / "not-a-folder"))
        win = make_window(wrap=SceneParser)
        win.root.geometry("1500x950+0+0")
        win.open_paths([str(photos)])
        if show:
            wait_for(win.root, lambda: finished(win) and win.canvas_view.result is not None, 120, "the parsing")
            if workspace:  # its reasons' panel appears above the photo: the layout settles first
                wait_for(win.root, lambda: win.doubt.score is not None, 60, "the doubt score")
            pump(win.root, 0.2)
        ws = win.review.workspace
        assert (ws is not None) == workspace
        win.workspace_path = ws.path if ws is not None else None
        return win

    return make


# -- driving the canvas as a reviewer does ------------------------------------------------------

def canvas_point(win, x, y):
    cx, cy = win.canvas_view.image_to_canvas(x, y)
    return int(round(cx)), int(round(cy))


def image_pos(win, cx, cy):
    """Where the canvas puts canvas pixel (cx, cy) in the image (what the tools receive)."""
    _pane, x, y = win.canvas_view.canvas_to_image(cx, cy)
    return x, y


def press_key(win, keysym, state=0):
    c = win.canvas_view.canvas
    c.focus_force()
    if len(keysym) == 1 and keysym.isupper():
        state |= 0x1  # Shift, as a real key press of an upper-case letter has
    c.event_generate("<KeyPress>", keysym=keysym, state=state)
    pump(win.root)


def drag(win, points):
    """A left-button drag through image points; returns the image positions the tools saw."""
    c = win.canvas_view.canvas
    screen = [canvas_point(win, x, y) for x, y in points]
    c.event_generate("<ButtonPress-1>", x=screen[0][0], y=screen[0][1])
    for cx, cy in screen[1:]:
        c.event_generate("<Motion>", x=cx, y=cy, state=0x100)
    c.event_generate("<ButtonRelease-1>", x=screen[-1][0], y=screen[-1][1], state=0x100)
    pump(win.root)
    return [image_pos(win, cx, cy) for cx, cy in screen]


def click(win, x, y, shift=False):
    c = win.canvas_view.canvas
    cx, cy = canvas_point(win, x, y)
    c.event_generate("<ButtonPress-1>", x=cx, y=cy, state=0x1 if shift else 0)
    c.event_generate("<ButtonRelease-1>", x=cx, y=cy, state=0x101 if shift else 0x100)
    pump(win.root)
    return image_pos(win, cx, cy)


def invoke_menu(menu, label):
    for i in range(menu.index("end") + 1):
        if menu.type(i) == "command" and menu.entrycget(i, "label") == label:
            menu.invoke(i)
            menu.unpost()
            return
    raise AssertionError(f"no menu entry {label!r}")


def stroke_replica(history, labels, persons, positions, radius, label, person, erase=False):
    """The brush as the window applies it: the press, then one segment per motion event."""
    with history.stroke():
        for i in range(len(positions)):
            pts = positions[: 1] if i == 0 else positions[i - 1 : i + 1]
            if erase:
                history.record(edits.erase(labels, persons, pts, radius))
            else:
                history.record(edits.brush(labels, persons, pts, radius, label, person))


def a_pixel(labels, persons, label, person=None, margin=4):
    """A pixel of ``label`` (of ``person``) well inside its region."""
    inside = labels == label
    if person is not None:
        inside &= persons == person
    core = inside.copy()
    for dy in range(-margin, margin + 1):
        for dx in range(-margin, margin + 1):
            core &= np.roll(np.roll(inside, dy, 0), dx, 1)
    ys, xs = np.nonzero(core)
    assert ys.size, f"no pixel of class {label}"
    i = ys.size // 2
    return int(xs[i]), int(ys[i])


def saved_maps(win):
    """Close the window (which saves), reopen the workspace and read the image's edited maps."""
    path = win.workspace_path
    key = win.images[0].key
    win.close(force=True)
    with Workspace.open(path) as ws:
        image_id = ws.find_image(key)
        assert image_id is not None
        stored = ws.edited_maps(image_id)
        record = ws.record(image_id)
    return stored, record


# -- the tests ---------------------------------------------------------------------------------

def test_strokes_fill_relabel_swap_polygon_undo_are_saved_pixel_for_pixel(edit_window):
    win = edit_window()
    cv, ed = win.canvas_view, win.edit
    model = cv.result
    labels, persons = model.labels.copy(), person_map_of(model)
    history = EditHistory(labels, persons)
    cv.zoom_to(1.5)
    cv.redraw()

    press_key(win, "e")
    assert ed.active and ed.session is not None and ed.button.instate(["selected"])
    assert ed.panel.winfo_ismapped()

    # Brush: UpperClothes of person 3 painted across its pants, radius 7 (size 15).
    ed.set_label(UPPER)
    ed.set_person(3)
    x, y = a_pixel(labels, persons, PANTS, 3, margin=12)
    seen = drag(win, [(x - 20, y - 10), (x - 5, y), (x + 10, y + 5), (x + 25, y + 15)])
    stroke_replica(history, labels, persons, seen, 7, UPPER, 3)

    # Eraser (Shift+E) with a larger size (. twice): 15 -> 19 -> 25.
    press_key(win, "E")
    press_key(win, "period")
    press_key(win, "period")
    assert ed.tool == "eraser" and ed.size == 25
    x, y = a_pixel(labels, persons, FACE, 1, margin=3)
    seen = drag(win, [(x, y), (x + 6, y + 2)])
    stroke_replica(history, labels, persons, seen, 12, 0, 0, erase=True)

    # Fill (G): person 4's upper clothes become a coat of person 4.
    press_key(win, "g")
    ed.set_label(7)
    ed.set_person(4)
    x, y = a_pixel(labels, persons, UPPER, 4)
    pos = click(win, x, y)
    history.record(edits.fill(labels, persons, *pos, 7, 4))

    # Relabel (L): person 1's pants become a skirt, chosen in the short menu.
    press_key(win, "l")
    x, y = a_pixel(labels, persons, PANTS, 1)
    pos = click(win, x, y)
    menu = ed.relabel_popup
    assert menu is not None and menu.entrycget(0, "label") == "Relabel this Pants region as:"
    invoke_menu(menu, "Skirt")
    history.record(edits.relabel_region(labels, persons, *pos, 12))

    # Swap left/right (W) in one arm of person 1, then for the whole of person 2 (Shift+click).
    press_key(win, "w")
    x, y = a_pixel(labels, persons, L_ARM, 1)
    pos = click(win, x, y)
    history.record(person_edits.swap_left_right_region(labels, persons, *pos))
    x, y = a_pixel(labels, persons, R_ARM, 2)
    click(win, x, y, shift=True)
    history.record(person_edits.swap_left_right(labels, persons, 2))

    # Polygon (P): four corners, Enter fills them with Hat for person 1.
    press_key(win, "p")
    ed.set_label(1)
    ed.set_person(1)
    corners = [click(win, px, py) for px, py in ((60, 40), (140, 50), (150, 110), (70, 100))]
    press_key(win, "Return")
    history.record(edits.polygon_fill(labels, persons, corners, 1, 1))

    # Undo twice (Ctrl+Z), redo once (Ctrl+Y), undo, redo with Ctrl+Shift+Z.
    for seq in ("z", "z", "y", "z"):
        press_key(win, seq, state=0x4)
    press_key(win, "Z", state=0x4)
    history.undo()
    history.undo()
    history.redo()
    history.undo()
    history.redo()

    session = ed.session
    assert np.array_equal(session.labels, labels) and np.array_equal(session.persons, persons)
    assert consistency_problems(session.labels, session.persons) == []
    assert np.array_equal(cv.maps[0], labels)  # the view draws the edited maps

    stored, record = saved_maps(win)
    assert stored is not None and record.edited
    assert np.array_equal(stored.labels, labels)
    assert np.array_equal(stored.persons, persons)
    changed = int(np.count_nonzero((labels != model.labels) | (persons != person_map_of(model))))
    assert stored.pixels_changed == changed > 0
    classes = {c["id"] for c in stored.changes["classes"]}
    assert classes >= {UPPER, PANTS, 7, 12, L_ARM, R_ARM} and 1 not in classes  # the polygon was undone


def test_person_actions_move_new_merge_delete(edit_window):
    win = edit_window()
    ed = win.edit
    model = win.canvas_view.result
    labels, persons = model.labels.copy(), person_map_of(model)
    history = EditHistory(labels, persons)
    ed.set_active(True)

    # Move to person (M): person 1's face region goes to person 2; Shift+click: its whole pants part.
    press_key(win, "m")
    ed.set_person(2)
    pos = click(win, *a_pixel(labels, persons, FACE, 1))
    history.record(person_edits.move_region_to_person(labels, persons, *pos, 2))
    pos = click(win, *a_pixel(labels, persons, PANTS, 1), shift=True)
    history.record(person_edits.move_part_to_person(labels, persons, 1, PANTS, 2))

    # New person (K) from person 3's upper clothes: the new person becomes the chosen one.
    press_key(win, "k")
    pos = click(win, *a_pixel(labels, persons, UPPER, 3))
    edit, pid = person_edits.new_person_from_region(labels, persons, *pos)
    history.record(edit)
    assert ed.person == pid == 5 and 5 in ed.person_ids()

    # Merge person 5 into person 3, then delete person 4 (the edit bar's Person menu).
    ed.merge_into(3)
    history.record(person_edits.merge_persons(labels, persons, 3, 5))
    assert ed.person == 3
    ed.set_person(4)
    ed.delete_person()
    history.record(person_edits.delete_person(labels, persons, 4))

    # "New person" then painting with it: a person made from nothing (the free id 4).
    ed.new_person()
    assert ed.person == 4
    press_key(win, "b")
    seen = drag(win, [(40, 500), (80, 520)])
    stroke_replica(history, labels, persons, seen, 7, ed.label, 4)

    assert np.array_equal(ed.session.labels, labels) and np.array_equal(ed.session.persons, persons)
    wait_for(win.root, lambda: not ed.pending(), 10, "the autosave")
    assert ed.person_ids() == [1, 2, 3, 4]
    assert [pid for pid in win.person_panel.visible_vars] == ed.person_ids()  # the persons list follows
    stored, _ = saved_maps(win)
    assert np.array_equal(stored.labels, labels) and np.array_equal(stored.persons, persons)


def test_undo_keeps_at_least_100_steps_and_revert_asks_and_is_undoable(edit_window, monkeypatch):
    win = edit_window()
    ed = win.edit
    model = win.canvas_view.result
    ed.set_active(True)
    ed.set_tool("fill")
    x, y = a_pixel(model.labels, person_map_of(model), UPPER, 1)
    ed.set_person(1)
    for i in range(110):
        ed.set_label((7, 6)[i % 2])
        click(win, x, y)
    final = ed.session.labels.copy()
    assert len(ed.session.history) >= 100
    for _ in range(110):
        press_key(win, "z", state=0x4)
    assert np.array_equal(ed.session.labels, model.labels)
    assert win.status_label.cget("text") == "Undone: fill."
    for _ in range(110):
        press_key(win, "y", state=0x4)
    assert np.array_equal(ed.session.labels, final)

    asked = []
    monkeypatch.setattr("desktop.app.edit_controller.messagebox.askyesno", lambda *a, **k: asked.append(a) or False)
    ed.revert()
    assert asked and np.array_equal(ed.session.labels, final)  # "No": nothing changes
    monkeypatch.setattr("desktop.app.edit_controller.messagebox.askyesno", lambda *a, **k: True)
    ed.revert()
    assert np.array_equal(ed.session.labels, model.labels)
    wait_for(win.root, lambda: not ed.pending(), 10, "the autosave")
    assert not win.images[0].edited and "edited" not in win.file_list.state_text(win.images[0].key)
    press_key(win, "z", state=0x4)
    assert np.array_equal(ed.session.labels, final)
    wait_for(win.root, lambda: not ed.pending(), 10, "the autosave")
    assert win.images[0].edited and "edited" in win.file_list.state_text(win.images[0].key)


def test_autosave_reaches_the_workspace_within_a_second_without_closing(edit_window):
    win = edit_window()
    ed = win.edit
    ed.set_active(True)
    ed.set_tool("brush")
    ed.set_label(UPPER)
    ed.set_person(1)
    drag(win, [(100, 300), (160, 330), (220, 340)])
    done = time.monotonic()
    ws = win.review.workspace
    image_id = win.review.image_id_for(win.images[0].path)

    def saved():
        maps = ws.edited_maps(image_id)
        return maps is not None and np.array_equal(maps.labels, ed.session.labels)

    wait_for(win.root, saved, 5, "the edit in the workspace")
    assert time.monotonic() - done < 1.0 + AUTOSAVE_MS / 1000
    wait_for(win.root, lambda: win.images[0].edited, 1, "the list to mark the image edited")
    assert "edited" in win.file_list.state_text(win.images[0].key)


def test_views_model_edited_differences_and_partial_redraw_equals_full(edit_window):
    win = edit_window()
    cv, ed = win.canvas_view, win.edit
    model = cv.result
    ed.set_active(True)
    pump(win.root, 0.3)  # the edit bar takes its place above the photo
    settled = time.monotonic()
    while time.monotonic() - settled < 10:  # and the photo keeps its size for half a second
        size = cv.resize_count
        pump(win.root, 0.5)
        if cv.resize_count == size:
            break
    cv.zoom_to(2.5)
    cv.center_on(450, 350)
    cv.redraw()
    ed.set_tool("brush")
    ed.set_label(FACE)
    ed.set_person(1)
    cases = (("overlay", False, "edited", None), ("overlay", True, "edited", None),
             ("side_by_side", False, "edited", None), ("labels", False, "edited", None),
             ("overlay", False, "differences", None), ("overlay", True, "differences", 1),
             ("overlay", False, "edited", 1))
    def full_redraws() -> int:
        """Full redraws, but for those of the canvas changing size (a late layout change of the
        window under a loaded machine: not what is tested here)."""
        return cv.render_count - cv.resize_count

    for mode, outline, view, solo in cases:
        win.set_view_mode(mode)
        if win.outline_var.get() != outline:
            win.toggle_outline()
        ed.set_view(view)
        win.person_panel.set_solo(solo)
        cv.redraw()
        before = full_redraws()
        drag(win, [(400, 330), (430, 345), (470, 350)])
        assert full_redraws() == before  # only partial redraws happened
        partial = cv.last_rendered.copy()
        cv.redraw()
        assert np.array_equal(partial, cv.last_rendered), f"partial redraw differs: {mode, outline, view, solo}"
        press_key(win, "z", state=0x4)  # the undo's partial redraw too
        assert full_redraws() == before + 1
        partial = cv.last_rendered.copy()
        cv.redraw()
        assert np.array_equal(partial, cv.last_rendered), f"undo redraw differs: {mode, outline, view, solo}"
        press_key(win, "y", state=0x4)
    ed.set_view("edited")
    win.person_panel.set_solo(None)
    win.set_view_mode("overlay")
    if win.outline_var.get():
        win.toggle_outline()

    x, y = 430, 345
    assert ed.session.labels[y, x] == FACE and model.labels[y, x] != FACE
    cx, cy = canvas_point(win, x, y)
    face = win.palette[FACE]

    def shown():
        cv.redraw()
        return cv.last_rendered[cy, cx].astype(int)

    edited_px = shown()
    press_key(win, "c")
    assert ed.view == "differences"
    diff_px = shown()
    press_key(win, "c")
    assert ed.view == "model"
    model_px = shown()
    press_key(win, "c")
    assert ed.view == "edited" and np.array_equal(shown(), edited_px)
    # The edited view mixes in the face colour, the model's does not; the differences view
    # keeps the changed pixel as edited and greys out an unchanged one.
    assert np.abs(edited_px - model_px).sum() > 30
    assert np.dot(edited_px - model_px, face.astype(int) - model_px) > 0
    assert np.array_equal(diff_px, edited_px) or tuple(diff_px) == (255, 0, 200)
    ed.set_view("differences")
    ux, uy = canvas_point(win, 300, 200)
    cv.redraw()
    grey = cv.last_rendered[uy, ux].astype(int)
    assert grey.max() - grey.min() <= 1  # unchanged pixels are grey
    # Painting in the model's view switches to the edited one first.
    ed.set_view("model")
    drag(win, [(380, 300), (390, 305)])
    assert ed.view == "edited"
    screenshot(win.root, "edit_views")


def test_brush_size_keys_wheel_cursor_and_errors_as_status(edit_window):
    win = edit_window()
    cv, ed = win.canvas_view, win.edit
    press_key(win, "b")  # not in edit mode: nothing happens
    assert not ed.active
    press_key(win, "e")
    size = ed.size
    press_key(win, "comma")
    assert ed.size < size
    c = cv.canvas
    cx, cy = canvas_point(win, 450, 300)
    c.event_generate("<Motion>", x=cx, y=cy)
    c.event_generate("<Control-Button-4>", x=cx, y=cy)
    c.event_generate("<Control-Button-4>", x=cx, y=cy)
    pump(win.root)
    assert ed.size > size
    scale = cv.scale
    x0, y0, x1, y1 = c.coords(ed.tools._ring_dark)
    assert c.itemcget(ed.tools._ring_dark, "state") == "normal"
    assert abs((x1 - x0) - ed.size * scale) <= 2  # the circle is the brush at the current zoom
    assert cv.scale == scale  # Ctrl+wheel did not zoom

    # A fill outside the photo, a relabel of the background... each is a sentence, no traceback.
    press_key(win, "g")
    c.event_generate("<ButtonPress-1>", x=2, y=2)
    c.event_generate("<ButtonRelease-1>", x=2, y=2)
    pump(win.root)
    assert win.status_label.cget("text") == "Click inside the photo."
    press_key(win, "w")
    click(win, 5, 5)
    assert win.status_label.cget("text") == "Click on an arm, a leg or a shoe to swap left and right."
    # Esc cancels a polygon (and does not cancel parsing).
    press_key(win, "p")
    click(win, 10, 10)
    click(win, 50, 10)
    assert len(ed.tools.polygon) == 2
    press_key(win, "Escape")
    assert ed.tools.polygon == [] and win.status_label.cget("text") == "Polygon cancelled."
    # Picker (I) takes class and person, then goes back to the previous tool.
    press_key(win, "i")
    labels, persons = ed.session.labels, ed.session.persons
    x, y = a_pixel(labels, persons, PANTS, 3)
    click(win, x, y)
    assert (ed.label, ed.person, ed.tool) == (PANTS, 3, "polygon")


def test_read_only_workspace_disables_edit_mode_with_the_reason(edit_window):
    first = edit_window()
    path = first.workspace_path
    first.close(force=True)
    with Workspace.open(path):  # another window holds it: this one opens it read-only
        win = edit_window(workspace=False, show=False)
        win.review.open_workspace(path)
        assert win.review.workspace.read_only
        win.select(win.images[0].key)
        wait_for(win.root, lambda: win.canvas_view.result is not None, 30, "the stored result")
        press_key(win, "e")
        assert not win.edit.active
        text = win.status_label.cget("text")
        assert text.startswith("Editing is not possible:") and "read-only" in text
        assert not win.edit.panel.winfo_ismapped()
        assert "read-only" in win.edit._button_tip()
        win.close(force=True)


def test_without_a_workspace_edits_live_in_memory_with_a_note(edit_window):
    win = edit_window(workspace=False)
    ed = win.edit
    ed.set_active(True)
    pump(win.root, 0.1)
    assert ed.panel.note.winfo_ismapped() and "memory only" in ed.panel.note.cget("text")
    ed.set_tool("fill")
    ed.set_label(7)
    click(win, *a_pixel(ed.session.labels, ed.session.persons, UPPER, 2))
    wait_for(win.root, lambda: not ed.pending(), 10, "the edit to be counted")
    assert win.images[0].edited and ed.is_edited(win.images[0].key)
    # Going to no image and back keeps the edit (it is never dropped from memory).
    key = win.current_key
    win.canvas_view.show(None)
    win.canvas_view.show(win._photos[key], win.current_result)
    assert ed.session is not None and (ed.session.labels == 7).any()


def test_undo_is_per_image_and_edits_reach_the_workspace_before_it_closes(edit_window, photos, tmp_path):
    (photos / "other.png").write_bytes((photos / "group.png").read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.png").write_bytes((photos / "group.png").read_bytes())
    win = edit_window()
    ed, cv = win.edit, win.canvas_view
    assert [e.display_name for e in win.images] == ["group.png", "other.png"]
    ed.set_active(True)
    ed.set_tool("fill")
    ed.set_person(1)
    model = cv.result.labels.copy()
    x, y = a_pixel(model, person_map_of(cv.result), UPPER, 1)
    ed.set_label(7)
    click(win, x, y)
    first = ed.session.labels.copy()

    win.go(1)
    wait_for(win.root, lambda: cv.result is not None and ed.session is not None and ed.session.key == win.images[1].key,
             30, "the second image")
    ed.set_label(6)
    click(win, x, y)
    second = ed.session.labels.copy()
    assert (second[y, x], first[y, x]) == (6, 7)

    win.go(-1)
    wait_for(win.root, lambda: ed.session is not None and ed.session.key == win.images[0].key, 30, "the first image")
    assert np.array_equal(ed.session.labels, first) and np.array_equal(cv.maps[0], first)
    press_key(win, "z", state=0x4)
    assert np.array_equal(ed.session.labels, model)  # this image's own undo history
    press_key(win, "y", state=0x4)
    assert np.array_equal(ed.session.labels, first)

    path, keys = win.workspace_path, [e.key for e in win.images]
    win.open_paths([str(elsewhere)])  # another folder: its own workspace; this one is closed
    wait_for(win.root, lambda: win.review.workspace is not None and win.review.workspace.path != path, 30,
             "the other workspace")
    with Workspace.open(path) as ws:
        for key, expected in zip(keys, (first, second), strict=True):
            stored = ws.edited_maps(ws.find_image(key))
            assert stored is not None, key
            assert np.array_equal(stored.labels, expected), key


class CoatPatchParser(SceneParser):
    """The drawn people, with one mistake: a patch of person 4's shirt taken for a coat."""

    def parse(self, rgb, *, notes=None):
        result = super().parse(rgb, notes=notes)
        labels, persons = result.labels.copy(), person_map_of(result)
        shirt = (persons == 4) & (labels == UPPER)
        ys, xs = np.nonzero(shirt)
        yy, xx = np.mgrid[0 : labels.shape[0], 0 : labels.shape[1]]
        labels[shirt & (((yy - ys.mean() - 20) / 70.0) ** 2 + ((xx - xs.mean()) / 45.0) ** 2 <= 1)] = 7
        return result_from_maps(labels, persons, result)


def test_screenshot_of_edit_mode_half_way_through_a_fix(make_window, tmp_path, monkeypatch):  # noqa: F811
    """docs/edit-mode.png is this screenshot (artifacts/screenshots/edit_mode.png)."""
    monkeypatch.setenv("M2FP_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "photos"
    folder.mkdir()
    labels, persons = draw_people(700, 1050, count=4, seed=3)
    Image.fromarray(people_photo(labels, persons, seed=3)).save(folder / "team_photo.jpg", quality=92)
    win = make_window(wrap=CoatPatchParser)
    win.root.geometry("1500x950+0+0")
    win.open_paths([str(folder)])
    wait_for(win.root, lambda: finished(win) and win.canvas_view.result is not None, 120, "the parsing")
    ed, cv = win.edit, win.canvas_view
    press_key(win, "e")
    pump(win.root, 0.3)
    s = ed.session
    ys, xs = np.nonzero((s.persons == 4) & (s.labels == 7))
    patch = ys.size
    cv.center_on(int(xs.mean()) - 40, int(ys.mean()) - 30, scale=1.3)
    cv.redraw()
    press_key(win, "b")
    ed.set_label(UPPER)
    ed.set_person(4)
    ed.set_size(31)
    x0, x1, y0 = int(xs.min()) + 12, int(xs.max()) - 12, int(ys.min())
    pts = []
    for k, yy in enumerate(range(y0 + 8, y0 + 70, 16)):
        pts += [(x0, yy), (x1, yy)] if k % 2 == 0 else [(x1, yy), (x0, yy)]
    drag(win, pts)
    cx, cy = canvas_point(win, x0 + 30, y0 + 92)
    cv.canvas.event_generate("<Motion>", x=cx, y=cy)
    pump(win.root, 0.5)
    left = int(((s.persons == 4) & (s.labels == 7)).sum())
    assert 0 < left < patch / 2  # half-way: most of the patch is a shirt again
    assert ed.tools._pointer is not None and cv.canvas.itemcget(ed.tools._ring_dark, "state") == "normal"
    screenshot(win.root, "edit_mode")


def test_a_correction_made_just_before_exporting_is_in_the_exported_files(edit_window, tmp_path):
    win = edit_window()
    ed = win.edit
    ed.set_active(True)
    ed.set_tool("fill")
    ed.set_label(7)
    ed.set_person(2)
    click(win, *a_pixel(ed.session.labels, ed.session.persons, UPPER, 2))
    expected = ed.session.labels.copy(), ed.session.persons.copy()
    assert ed.pending()  # not saved yet: the export must not miss it
    win.open_export_dialog("current")
    dialog = win.export_dialog
    dialog.folder.set(str(tmp_path / "out"))
    dialog.format_vars["cihp"].set(True)
    dialog.start()
    wait_for(win.root, lambda: win.export_job is None, 60, "the export")
    dialog.close()
    labels = np.asarray(Image.open(tmp_path / "out" / "group_labels.png"))
    assert np.array_equal(labels, expected[0])
    humans = np.asarray(Image.open(tmp_path / "out" / "cihp" / "Human_ids" / "group.png"))
    assert np.array_equal(humans, expected[1])
    doc = json.loads((tmp_path / "out" / "group.json").read_text())
    assert doc["review"]["edited"]["pixels_changed"] == int(np.count_nonzero(expected[0] != win.canvas_view.result.labels))
