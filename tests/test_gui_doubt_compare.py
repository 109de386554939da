"""Issue 16 in the real window under Xvfb: the doubt score stored with every parse, sorted on
and explained; annotations opened beside the photos, compared, corrected and saved.

The tiny model parses drawn photos of three people (bench/edit_scene.py); :class:`DoubtParser`
answers with the people's maps and a per-photo confidence map whose top rows are uncertain
(more rows, more doubt), so the expected doubt order is known. The annotations are the same
maps with some Upper-clothes pixels annotated as Pants (more in one photo than another), in
a CIHP folder written by the CIHP writer; one photo has no label file and one a label file
of the wrong size.
"""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from gui_helpers import pump, screenshot, wait_for, xvfb_display  # noqa: F401 - fixture
from PIL import Image
from test_gui_window import finished, gui_env, make_window  # noqa: F401 - fixtures

from bench.edit_scene import draw_people, people_photo
from desktop.app.compare_view import DISAGREEMENT_MODE, count_lines
from desktop.app.doubt_panel import HIGHLIGHT
from desktop.formats.cihp import read_cihp
from desktop.formats.common import ImageMaps
from desktop.resources import default_class_names, palette
from desktop.review.annotation_edits import take_model_region
from desktop.review.annotations import _CihpRootWriter
from desktop.review.compare import confusion_matrix, disagreement_counts
from desktop.review.doubt import reason_text, uncertain_mask
from desktop.review.workspace import Workspace

pytestmark = pytest.mark.gui

H, W = 240, 360
UPPER, PANTS = 5, 9
#: Photo -> share of rows (from the top) the model is unsure of.
UNSURE = {"a": 0.0, "b": 0.6, "c": 0.3, "d": 0.2, "e": 0.45}
_BY_HASH: dict[str, float] = {}


def maps():
    return draw_people(H, W, count=3, seed=3)


def photo_of(name: str) -> np.ndarray:
    labels, persons = maps()
    return people_photo(labels, persons, seed=ord(name))


class DoubtParser:
    """The tiny model's real work, answered with the drawn maps and a confidence map."""

    def __init__(self, inner):
        self.inner = inner

    @property
    def info(self):
        return self.inner.info

    def parse(self, rgb, *, notes=None):
        from desktop.review.maps import result_from_maps

        base = self.inner.parse(rgb, notes=notes)
        labels, persons = maps()
        result = result_from_maps(labels, persons, base)
        score = np.full(labels.shape, 250, dtype=np.uint8)
        score[: int(H * _BY_HASH[hashlib.sha1(rgb.tobytes()).hexdigest()])] = 40
        result.score_map = score
        return result


def annotation_of(name: str) -> np.ndarray:
    labels, _persons = maps()
    ann = labels.copy()
    rows = {"b": slice(40, 200), "c": slice(100, 130)}.get(name)
    if rows is not None:
        block = ann[rows]
        block[block == UPPER] = PANTS
    return ann


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, share in UNSURE.items():
        rgb = photo_of(name)
        _BY_HASH[hashlib.sha1(rgb.tobytes()).hexdigest()] = share
        Image.fromarray(rgb).save(folder / f"{name}.png")
    return folder


@pytest.fixture
def cihp_root(tmp_path, photos):
    """A CIHP folder: a, b, c annotated (b the most wrong), d without a label file, e too small."""
    root = tmp_path / "cihp"
    (root / "Images").mkdir(parents=True)
    writer = _CihpRootWriter(root, default_class_names(), palette())
    labels, persons = maps()
    for name in UNSURE:
        shutil.copy(photos / f"{name}.png", root / "Images" / f"{name}.png")
        if name == "d":
            continue
        ann = annotation_of(name)
        if name == "e":
            ann, pers = ann[:100, :100].copy(), persons[:100, :100].copy()
        else:
            pers = persons
        writer.add_image(ImageMaps(ann, np.where(ann == 0, 0, pers).astype(np.uint16), name=f"{name}.png",
                                   stem=name, image_path=root / "Images" / f"{name}.png"))
    return root


@pytest.fixture
def window(make_window, photos):  # noqa: F811
    win = make_window(wrap=DoubtParser)
    win.root.geometry("1500x950+0+0")
    win.open_paths([str(photos)])
    wait_for(win.root, lambda: finished(win) and win.canvas_view.result is not None, 120, "the parsing")
    pump(win.root, 0.3)
    return win


def names(win) -> list[str]:
    return [win.images.get(k).display_name for k in win.file_list.visible_keys()]


def sort_by(win, key: str) -> None:
    from desktop.app.list_view import SORTS

    win.review.controls.sort.set(SORTS[key][0])
    win.review.controls._changed()
    pump(win.root, 0.1)


def select(win, name: str) -> None:
    key = next(e.key for e in win.images if e.display_name == name)
    win.select(key)
    wait_for(win.root, lambda: win.canvas_view.result is not None and win.canvas_view.rgb is not None, 30,
             "the image to show")
    pump(win.root, 0.1)


def entry(win, name: str):
    return next(e for e in win.images if e.display_name == name)


# ---------------------------------------------------------------------------------------
def test_doubt_is_stored_sorted_explained_and_shown(window):
    win = window
    ws_path = win.review.workspace.path
    doubts = {e.display_name: e.doubt for e in win.images}
    assert all(v is not None for v in doubts.values()), doubts
    # The more uncertain rows, the more doubt: the list's "Doubt" sort puts b first.
    sort_by(win, "doubt")
    assert names(win) == ["b.png", "e.png", "c.png", "d.png", "a.png"]
    assert doubts["b.png"] > doubts["e.png"] > doubts["c.png"] > doubts["d.png"] > doubts["a.png"]
    # The list says it.
    assert f"doubt {doubts['b.png']:.0%}" in win.file_list.state_text(entry(win, "b.png").key)

    # The side panel gives the stored reasons in the user's words.
    select(win, "b.png")
    with Workspace.open(ws_path, read_only=True) as ws:
        score, reasons = ws.doubt(entry(win, "b.png").image_id)
    assert score == pytest.approx(doubts["b.png"])
    assert any(r["code"] == "uncertain-pixels" for r in reasons)
    panel = win.doubt.panel
    assert panel.winfo_manager() and panel.score.cget("text") == f"{score:.0%}"
    assert not panel.reasons.winfo_manager()  # folded: the class list keeps its place
    panel.toggle()
    pump(win.root, 0.05)
    assert panel.reasons.winfo_manager()
    text = panel.text
    for r in reasons[:8]:
        assert reason_text(r) in text

    # The doubt view: the uncertain rows (labelled pixels in the top 60 %) are highlighted,
    # the rest of the photo dimmed.
    win.doubt.show_mode()
    cv = win.canvas_view
    cv.redraw()
    labels, _persons = maps()
    hi = np.round(HIGHLIGHT * 0.75).astype(int)
    ys, xs = np.nonzero(labels[: int(H * 0.6) - 2] != 0)
    i = len(ys) // 2
    cx, cy = cv.image_to_canvas(xs[i] + 0.5, ys[i] + 0.5)
    shown = cv.last_rendered[int(cy), int(cx)].astype(int)
    assert (shown >= hi - 2).all(), shown  # highlight over (at least) its own share of the colour
    ys, xs = np.nonzero(labels[int(H * 0.6) + 2 :] != 0)
    cx, cy = cv.image_to_canvas(xs[0] + 0.5, ys[0] + int(H * 0.6) + 2.5)
    rgb = photo_of("b")[ys[0] + int(H * 0.6) + 2, xs[0]].astype(int)
    assert np.abs(cv.last_rendered[int(cy), int(cx)].astype(int) - (rgb * 0.45).astype(int)).max() <= 2
    screenshot(win.root, "doubt_view")

    # A result stored without a doubt score (parsed before scores existed): computed when shown.
    ws = win.review.workspace
    c_id = entry(win, "c.png").image_id
    ws.set_doubt(c_id, None, [])
    win.review._refresh_id(c_id)
    assert entry(win, "c.png").doubt is None
    select(win, "c.png")
    wait_for(win.root, lambda: entry(win, "c.png").doubt is not None, 30, "the doubt to be computed")
    assert entry(win, "c.png").doubt == pytest.approx(doubts["c.png"])
    assert ws.doubt(c_id)[0] == pytest.approx(doubts["c.png"])


def test_annotations_compared_corrected_and_saved(window, cihp_root):
    win = window
    ctl = win.annotations
    assert ctl.open(cihp_root)
    wait_for(win.root, lambda: all(entry(win, n).miou is not None for n in ("a.png", "b.png", "c.png"))
             and "annotation-problems" in win.review.notices.keys()
             and "e.png" in (win.review.notices.text("annotation-problems") or ""), 60, "the comparisons")
    # Messages per file, in a notice: the missing label file and the size mismatch.
    notice = win.review.notices.text("annotation-problems")
    assert "d.png" in notice and "does not exist" in notice
    assert "e.png" in notice and "100 x 100" in notice
    # Worst agreeing first; images without figures last.
    sort_by(win, "agreement")
    assert names(win)[:3] == ["b.png", "c.png", "a.png"]
    assert entry(win, "a.png").miou == 1.0 and entry(win, "b.png").miou < entry(win, "c.png").miou < 1.0
    # Stored in the workspace too.
    with Workspace.open(win.review.workspace.path, read_only=True) as ws:
        comp = ws.comparison(entry(win, "c.png").image_id)
    labels, persons = maps()
    expected_conf = confusion_matrix(annotation_of("c"), labels, 20)
    assert np.array_equal(comp.confusion, expected_conf)
    assert comp.miou == pytest.approx(entry(win, "c.png").miou)

    # The disagreement view and its per-class counts.
    select(win, "c.png")
    ctl.set_mode(DISAGREEMENT_MODE)
    names20 = default_class_names()
    assert np.array_equal(ctl.confusion(), expected_conf)
    counts = disagreement_counts(expected_conf)
    assert counts[PANTS] > 0 and counts.sum() == counts[PANTS]
    assert "\n".join(count_lines(expected_conf, names20)) in ctl.panel.text
    assert f"{counts[PANTS]:,}" in ctl.panel.text
    cv = win.canvas_view
    cv.redraw()
    ann = annotation_of("c")
    ys, xs = np.nonzero(ann != labels)
    y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
    cx, cy = cv.image_to_canvas(x + 0.5, y + 0.5)
    assert cv.last_rendered[int(cy), int(cx)].tolist() == palette()[PANTS].tolist()
    shot = screenshot(win.root, "disagreement_view")
    assert shot.is_file()

    # Take the model's region by clicking it (edit mode's take tool), undo, redo.
    expected = ann.copy()
    expected_persons = np.where(ann == 0, 0, persons).astype(np.uint16)
    take_model_region(expected, expected_persons, labels, np.where(labels == 0, 0, persons).astype(np.uint16),
                      x + 0.5, y + 0.5)
    assert (expected != ann).any()
    ctl.panel.take_var.set(True)
    ctl._take_toggled()
    c = cv.canvas
    c.event_generate("<ButtonPress-1>", x=int(cx), y=int(cy))
    c.event_generate("<ButtonRelease-1>", x=int(cx), y=int(cy), state=0x100)
    pump(win.root, 0.1)
    assert np.array_equal(ctl.current.labels, expected)
    ctl.undo()
    assert np.array_equal(ctl.current.labels, ann)
    ctl.redo()
    assert np.array_equal(ctl.current.labels, expected)
    assert "Corrected, not saved yet." in ctl.panel.text

    # Never over the original without confirmation; by default into a new folder.
    original = (cihp_root / "Category_ids" / "c.png").read_bytes()
    assert ctl.save(dest_root=cihp_root) == []
    assert "annotation-save" in win.review.notices.keys()
    written = ctl.save()
    assert written and all(str(p).startswith(str(cihp_root) + "_corrected") for p in written)
    assert (cihp_root / "Category_ids" / "c.png").read_bytes() == original
    back = read_cihp(cihp_root.with_name("cihp_corrected"), "c", names20)
    assert np.array_equal(back.labels, expected)
    assert np.array_equal(back.persons, np.where(expected == 0, 0, expected_persons))
    assert not ctl.current.dirty


def test_without_confidence_maps_the_doubt_view_shows_the_regions_the_reasons_name():
    from desktop.app.doubt_panel import doubt_highlight, list_figures, reason_mask
    from desktop.app.session import ImageEntry

    labels, persons = maps()
    names20 = default_class_names()
    face = names20.index("Face")
    reasons = [{"code": "two-faces", "person": 2, "class": "Face"},
               {"code": "person-near-threshold", "person": 3, "class": None},
               {"code": "no-person", "person": None, "class": "Pants"}]
    mask = reason_mask(labels, persons, reasons, names20)
    expected = ((labels == face) & (persons == 2)) | ((persons == 3) & (labels != 0)) | (
        (labels == PANTS) & (persons == 0))
    assert np.array_equal(mask, expected) and mask.any()
    photo = np.full((2, 2, 3), 200, dtype=np.uint8)
    out = doubt_highlight(photo, np.array([[True, False], [False, False]]))
    assert out[0, 1].tolist() == [90, 90, 90] and out[0, 0, 0] > out[0, 0, 2]
    e = ImageEntry(path=__import__("pathlib").Path("/x/a.png"), display_name="a.png", doubt=0.42, miou=0.731)
    assert list_figures(e) == " · doubt 42% · agreement 73%"


def test_a_folder_of_label_images_is_compared_and_saved_in_its_own_encoding(window, tmp_path):
    """Photos + a folder of grey label PNGs (no person ids): figures, disagreement, correction
    written as a grey PNG into LABELS_corrected, the original untouched."""
    win = window
    ctl = win.annotations
    labels, _persons = maps()
    folder = tmp_path / "labels"
    folder.mkdir()
    for name in ("b", "c"):
        Image.fromarray(annotation_of(name), "L").save(folder / f"{name}.png")
    photos = tmp_path / "photos"
    assert ctl.open(photos, folder)
    wait_for(win.root, lambda: entry(win, "b.png").miou is not None and entry(win, "c.png").miou is not None, 60,
             "the comparisons")
    assert entry(win, "a.png").miou is None  # no label file: no figures, a line in the notice
    assert "a.png" in win.review.notices.text("annotation-problems")
    select(win, "b.png")
    ann = annotation_of("b")
    assert np.array_equal(ctl.confusion(), confusion_matrix(ann, labels, 20))
    ys, xs = np.nonzero(ann != labels)
    assert ctl.take_at(xs[0] + 0.5, ys[0] + 0.5)
    expected = ann.copy()
    take_model_region(expected, np.zeros(ann.shape, np.uint16), labels, None, xs[0] + 0.5, ys[0] + 0.5)
    written = ctl.save()
    assert written == [tmp_path / "labels_corrected" / "b.png"]
    with Image.open(written[0]) as im:
        assert im.mode == "L"
        assert np.array_equal(np.asarray(im), expected)
    with Image.open(folder / "b.png") as im:
        assert np.array_equal(np.asarray(im), ann)


def test_the_models_own_confidence_in_the_doubt_view_and_the_relabel_menu(make_window, golden_images, tmp_path):  # noqa: F811
    """A real parse (the tiny model, no stand-in maps): the doubt view computes the visible
    sample's uncertain pixels in a thread, and the relabel menu lists the model's second choice
    for the clicked region first."""
    from test_gui_edit import press_key

    from desktop.app.doubt_panel import DOUBT_MODE, doubt_highlight
    from desktop.review import edits
    from desktop.review.maps import person_map_of

    folder = tmp_path / "real"
    folder.mkdir()
    shutil.copy(golden_images["astronaut"], folder / "astronaut.png")
    win = make_window()
    win.open_paths([str(folder)])
    wait_for(win.root, lambda: finished(win) and win.canvas_view.result is not None, 120, "the parsing")
    cv = win.canvas_view
    result = cv.result
    assert result.confidence is not None
    win.doubt.show_mode()
    cv.redraw()

    def current() -> bool:  # the mask of the sample on screen (the list may widen once, resizing the view)
        cv.redraw()
        key = (id(result), cv._sample_cache[0].key)
        return win.doubt._view_mask is not None and win.doubt._view_key == key

    wait_for(win.root, current, 30, "the uncertain pixels")
    sample = cv._sample_cache[0]
    labels = result.labels.take(sample.ys, axis=0).take(sample.xs, axis=1)
    expected = uncertain_mask(labels, result.score_map.take(sample.ys, 0).take(sample.xs, 1),
                              result.runner_up_score.take(sample.ys, 0).take(sample.xs, 1))
    assert expected.any() and np.array_equal(win.doubt._view_mask, expected)
    assert cv.mode == DOUBT_MODE
    assert np.array_equal(win.doubt._compose(sample), doubt_highlight(sample.photo, expected))

    # Relabel: a labelled pixel whose region's runner-up classes are known.
    press_key(win, "e")
    ed = win.edit
    persons = person_map_of(result)
    ys, xs = np.nonzero((result.labels != 0) & (result.runner_up_score > 0) & (result.runner_up != 0)
                        & (result.runner_up != result.labels))
    lab = result.labels.copy()
    for i in range(0, ys.size, max(1, ys.size // 50)):  # a region where the runner-up changes the order
        y, x = int(ys[i]), int(xs[i])
        region = edits.connected_region(lab, persons, x + 0.5, y + 0.5)
        inside = result.runner_up[region.rect.slices][region.mask]
        inside = inside[(inside != 0) & (inside != region.label)]
        first = int(np.bincount(inside).argmax())
        if edits.relabel_choices(lab, persons, x + 0.5, y + 0.5)[0] != first:
            break
    else:
        pytest.fail("no region where the model's second choice changes the menu's order")
    menu = ed.relabel_menu(x + 0.5, y + 0.5)
    assert menu is not None
    assert menu.entrycget(1, "label") == ed._class_title(first)
    menu.destroy()
