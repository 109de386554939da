"""Editing the reviewer's maps: every tool, person structure, undo/redo, provenance, partial redraw."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.edit_scene import draw_people, scene_photo
from desktop import render
from desktop.resources import palette
from desktop.review import edits, person_edits
from desktop.review.edit_core import Edit, EditError, Rect, Region, assign_region
from desktop.review.edit_history import EditHistory, coalesce_rects
from desktop.review.edit_stats import change_statistics
from desktop.review.maps import consistency_problems

PAL = palette()
L_ARM, R_ARM, L_LEG, R_LEG, L_SHOE, R_SHOE = 14, 15, 16, 17, 18, 19


def blank(h=40, w=60):
    return np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint16)


@pytest.fixture
def people():
    """Four plausible people (bench/edit_scene.py) on a 300x400 map: hair, face, clothes, limbs."""
    return draw_people(300, 400, count=4, seed=2)


def assert_sound(labels, persons):
    assert consistency_problems(labels, persons) == []


def diff_rect(a: np.ndarray, b: np.ndarray) -> Rect:
    rows, cols = np.nonzero(a != b)
    return Rect.from_corners(cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)


def region_reference(labels, persons, x, y, connectivity=4) -> np.ndarray:
    """Full-image connected component under (x, y), by OpenCV on the whole map (slow, exact)."""
    same = ((labels == labels[y, x]) & (persons == persons[y, x])).astype(np.uint8)
    _, cc = cv2.connectedComponents(same, connectivity=connectivity)
    return cc == cc[y, x]


# -- brush and eraser ---------------------------------------------------------------------------

def test_brush_click_paints_a_round_dot_for_the_person():
    labels, persons = blank()
    edit = edits.brush(labels, persons, [(30, 20)], 5, 13, 2)
    painted = labels == 13
    assert (persons[painted] == 2).all() and (persons[~painted] == 0).all()
    assert abs(painted.sum() - np.pi * 25) < 20                     # round, radius 5
    box = painted[15:26, 25:36]
    assert (box == box[::-1]).all() and (box == box[:, ::-1]).all() and (box == box.T).all()  # symmetric
    ys, xs = np.nonzero(painted)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (25, 35, 15, 25)
    assert not painted[15, 25] and not painted[25, 35]            # corners of the box are not round
    assert edit.pixels == painted.sum() and edit.rect == Rect(25, 15, 11, 11)
    assert edit.kind == "brush"


def test_fast_drag_leaves_no_gap():
    labels, persons = blank(100, 200)
    edits.brush(labels, persons, [(10, 10), (190, 90)], 2, 5, 1)  # one motion event, 180 px apart
    # Every pixel on the straight line between the two positions is painted.
    for t in np.linspace(0, 1, 400):
        x, y = 10 + 180 * t, 10 + 80 * t
        assert labels[int(round(y)), int(round(x))] == 5
    _, cc = cv2.connectedComponents((labels == 5).astype(np.uint8), connectivity=4)
    assert cc.max() == 1                                            # one connected stroke


def test_brush_records_only_changed_pixels_and_clips_to_the_image():
    labels, persons = blank()
    first = edits.brush(labels, persons, [(0, 0), (10, 0)], 3, 5, 1)
    again = edits.brush(labels, persons, [(0, 0), (10, 0)], 3, 5, 1)
    assert not first.empty and again.empty and again.rect.empty
    before = labels.copy()
    overlap = edits.brush(labels, persons, [(10, 0), (14, 0)], 3, 5, 1)
    assert overlap.pixels == np.count_nonzero(labels != before)
    assert overlap.rect == diff_rect(labels, before)
    outside = edits.brush(labels, persons, [(-50, -50), (-40, -60)], 3, 5, 1)
    assert outside.empty


def test_brush_refuses_a_part_without_a_person_and_erase_clears_both_maps():
    labels, persons = blank()
    with pytest.raises(EditError, match="Choose a person"):
        edits.brush(labels, persons, [(5, 5)], 2, 5, 0)
    edits.brush(labels, persons, [(20, 20)], 6, 5, 3)
    edit = edits.erase(labels, persons, [(20, 20)], 3)
    assert edit.kind == "erase" and edit.pixels > 0
    assert (labels[17:24, 17:24] == 0).sum() > 0
    assert ((labels == 0) == (persons == 0)).all()
    assert_sound(labels, persons)


def test_brush_over_another_person_takes_the_pixels():
    labels, persons = blank()
    labels[10:30, 10:30], persons[10:30, 10:30] = 5, 1
    edits.brush(labels, persons, [(20, 20)], 4, 5, 2)
    assert persons[20, 20] == 2 and persons[10, 10] == 1
    assert set(np.unique(persons[labels == 5]).tolist()) == {1, 2}   # every part pixel has exactly one person


# -- fill, polygon, picker ---------------------------------------------------------------------

def test_fill_respects_class_person_and_connectivity():
    labels, persons = blank()
    labels[5:15, 5:15], persons[5:15, 5:15] = 5, 1           # block A, person 1
    labels[15:25, 15:25], persons[15:25, 15:25] = 5, 1       # touches A only at a corner
    labels[5:15, 15:25], persons[5:15, 15:25] = 5, 2         # same class, other person, touching A
    original = labels.copy(), persons.copy()
    edit = edits.fill(labels, persons, 7, 7, 7, 1)
    assert (labels[5:15, 5:15] == 7).all()
    assert (labels[15:25, 15:25] == 5).all()                  # diagonal neighbour: not 4-connected
    assert (labels[5:15, 15:25] == 5).all()                   # other person's part untouched
    assert edit.pixels == 100 and edit.rect == Rect(5, 5, 10, 10)
    labels, persons = original
    edit = edits.fill(labels, persons, 7, 7, 9, 1, connectivity=8)
    assert (labels[5:25, 5:25] == 9).sum() == 200 and (labels[15:25, 15:25] == 9).all()
    assert (labels[5:15, 15:25] == 5).all() and edit.rect == Rect(5, 5, 20, 20)


def test_fill_finds_regions_far_larger_than_its_first_window():
    # A comb: long thin teeth joined at the bottom, spanning the whole 700x900 map.
    labels, persons = blank(700, 900)
    labels[:, 0:900:20] = 5
    labels[690:, :] = 5
    persons[labels == 5] = 4
    region = edits.connected_region(labels, persons, 0, 0)
    assert (region.full_mask(labels.shape) == region_reference(labels, persons, 0, 0)).all()
    assert region.label == 5 and region.person == 4
    edit = edits.fill(labels, persons, 0, 0, 12, 4)
    assert edit.pixels == region.area and (labels[persons == 4] == 12).all()


@pytest.mark.parametrize("connectivity", [4, 8])
def test_connected_region_matches_opencv_on_people(people, connectivity):
    labels, persons = people
    rng = np.random.default_rng(3)
    for _ in range(40):
        y, x = int(rng.integers(0, 300)), int(rng.integers(0, 400))
        region = edits.connected_region(labels, persons, x, y, connectivity)
        ref = region_reference(labels, persons, x, y, connectivity)
        assert (region.full_mask(labels.shape) == ref).all()
        rows, cols = np.nonzero(ref)
        assert region.rect == Rect.from_corners(cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)


def test_fill_outside_the_photo_is_a_clear_error():
    labels, persons = blank()
    with pytest.raises(EditError, match="inside the photo"):
        edits.fill(labels, persons, 60, 3, 5, 1)


def test_polygon_fill_matches_opencv_and_clips():
    labels, persons = blank(50, 80)
    pts = [(10, 5), (70, 20), (30, 45)]
    edit = edits.polygon_fill(labels, persons, pts, 6, 2)
    ref = np.zeros((50, 80), np.uint8)
    cv2.fillPoly(ref, [np.array(pts, np.int32)], 1)
    assert ((labels == 6) == ref.astype(bool)).all() and (persons[labels == 6] == 2).all()
    assert edit.pixels == ref.sum() and edit.kind == "polygon"
    # Partly outside the image: the inside part is filled, nothing breaks.
    labels, persons = blank(50, 80)
    edits.polygon_fill(labels, persons, [(-20, -20), (40, -10), (40, 30), (-20, 30)], 2, 1)
    assert (labels[0:31, 0:41] == 2).all() and labels[31:, :].sum() == 0 and labels[:, 41:].sum() == 0
    with pytest.raises(EditError, match="three points"):
        edits.polygon_fill(labels, persons, [(1, 1), (5, 5)], 2, 1)


def test_picker_reads_class_and_person():
    labels, persons = blank()
    labels[3, 4], persons[3, 4] = 13, 7
    assert edits.pick(labels, persons, 4.6, 3.2) == (13, 7)
    assert edits.pick(labels, persons, 0, 0) == (0, 0)
    assert edits.pick(labels, persons, -1, 0) is None and edits.pick(labels, persons, 60, 0) is None


# -- relabel ------------------------------------------------------------------------------------

def test_relabel_keeps_the_person_and_background_needs_one():
    labels, persons = blank()
    labels[5:10, 5:10], persons[5:10, 5:10] = 5, 3
    labels[20:25, 20:25] = 9                                   # a part the model linked to no person
    edits.relabel_region(labels, persons, 6, 6, 7)
    assert (labels[5:10, 5:10] == 7).all() and (persons[5:10, 5:10] == 3).all()
    edits.relabel_region(labels, persons, 21, 21, 12)          # unlinked stays unlinked
    assert (labels[20:25, 20:25] == 12).all() and (persons[20:25, 20:25] == 0).all()
    with pytest.raises(EditError, match="Choose a person"):
        edits.relabel_region(labels, persons, 0, 0, 5)         # background region, no person given
    edits.relabel_region(labels, persons, 6, 6, 0)             # to background: person 0 too
    assert labels[5:10, 5:10].sum() == 0 and persons[5:10, 5:10].sum() == 0
    assert_sound(labels, persons)


def test_relabel_choices_runner_up_first_then_frequency():
    labels, persons = blank()
    labels[0:10, :], persons[0:10, :] = 5, 1                   # 600 px UpperClothes (clicked region)
    labels[10:30, :], persons[10:30, :] = 9, 1                 # 1200 px Pants
    labels[30:35, :], persons[30:35, :] = 13, 1                # 300 px Face
    runner = np.zeros_like(labels)
    runner[0:10, 0:40] = 7                                     # Coat: 400 px of the region
    runner[0:10, 40:60] = 6                                    # Dress: 200 px
    runner[0:10, 59] = 5                                       # the region's own class: never offered
    order = edits.relabel_choices(labels, persons, 3, 3, runner)
    assert order[:4] == [7, 6, 9, 13]
    assert 5 not in order and order[-1] == 0
    assert sorted(order) == [c for c in range(20) if c != 5]
    assert edits.relabel_choices(labels, persons, 3, 3)[:2] == [9, 13]


# -- person structure ---------------------------------------------------------------------------

def test_move_region_and_whole_part_to_another_person():
    labels, persons = blank()
    labels[5:10, 5:10], persons[5:10, 5:10] = 14, 1            # arm piece A
    labels[5:10, 30:35], persons[5:10, 30:35] = 14, 1          # arm piece B (same part, not connected)
    edits_ = person_edits.move_region_to_person(labels, persons, 6, 6, 2)
    assert (persons[5:10, 5:10] == 2).all() and (persons[5:10, 30:35] == 1).all()
    assert edits_.kind == "move" and (labels[5:10, 5:10] == 14).all()
    person_edits.move_part_to_person(labels, persons, 1, 14, 3)
    assert (persons[5:10, 30:35] == 3).all() and (persons[5:10, 5:10] == 2).all()
    with pytest.raises(EditError, match="background"):
        person_edits.move_region_to_person(labels, persons, 0, 0, 2)
    with pytest.raises(EditError, match="Choose a person"):
        person_edits.move_region_to_person(labels, persons, 6, 6, 0)
    assert_sound(labels, persons)


def test_new_person_merge_and_delete(people):
    labels, persons = people
    top = int(persons.max())
    face = np.argwhere((labels == 13) & (persons == 2))[0]
    edit, pid = person_edits.new_person_from_region(labels, persons, face[1], face[0])
    assert pid == top + 1 and edit.kind == "new_person"
    assert (persons[edit.rect.slices][labels[edit.rect.slices] == 13] == pid).any()
    assert ((persons == pid) & (labels != 13)).sum() == 0
    before = persons.copy()
    person_edits.merge_persons(labels, persons, 2, pid)
    assert (persons == pid).sum() == 0 and ((before == pid) <= (persons == 2)).all()
    n3 = (persons == 3).sum()
    edit = person_edits.delete_person(labels, persons, 3)
    assert (persons == 3).sum() == 0 and edit.pixels == n3
    assert (labels[before == 3] == 0).all()
    with pytest.raises(EditError, match="two different persons"):
        person_edits.merge_persons(labels, persons, 1, 1)
    assert_sound(labels, persons)


def test_left_right_pairs_come_from_the_class_list():
    assert person_edits.left_right_pairs() == ((14, 15), (16, 17), (18, 19))
    lut = person_edits.mirror_lut()
    assert lut[14] == 15 and lut[15] == 14 and lut[19] == 18 and lut[5] == 5 and lut[200] == 200


def test_swap_left_right_of_one_person(people):
    labels, persons = people
    before_l, before_p = labels.copy(), persons.copy()
    person_edits.swap_left_right(labels, persons, 2)
    mine = before_p == 2
    expected = before_l.copy()
    for a, b in ((14, 15), (16, 17), (18, 19)):
        expected[mine & (before_l == a)] = b
        expected[mine & (before_l == b)] = a
    assert (labels == expected).all() and (persons == before_p).all()
    assert (labels[~mine] == before_l[~mine]).all()
    person_edits.swap_left_right(labels, persons, 2)           # twice = unchanged
    assert (labels == before_l).all()


def test_swap_left_right_in_an_area_and_in_a_limb():
    labels, persons = blank(40, 80)
    labels[5:30, 5:10], persons[5:30, 5:10] = R_LEG, 1
    labels[30:33, 5:12], persons[30:33, 5:12] = R_SHOE, 1     # shoe touches the leg
    labels[5:30, 40:45], persons[5:30, 40:45] = L_LEG, 1      # the other leg, apart
    labels[5:10, 60:70], persons[5:10, 60:70] = 5, 1          # a shirt: no twin, never changed
    edit = person_edits.swap_left_right_region(labels, persons, 6, 6)
    assert (labels[5:30, 5:10] == L_LEG).all() and (labels[30:33, 5:12] == L_SHOE).all()
    assert (labels[5:30, 40:45] == L_LEG).all()               # not connected: untouched
    assert edit.pixels == 25 * 5 + 3 * 7
    with pytest.raises(EditError, match="arm, a leg or a shoe"):
        person_edits.swap_left_right_region(labels, persons, 61, 6)
    edit = person_edits.swap_left_right(labels, persons, 1, area=Rect(38, 0, 10, 40))
    assert (labels[5:30, 40:45] == R_LEG).all() and (labels[5:30, 5:10] == L_LEG).all()
    mask = np.zeros((25, 5), bool)
    mask[:10] = True
    person_edits.swap_left_right(labels, persons, None, area=Region(Rect(5, 5, 5, 25), mask))
    assert (labels[5:15, 5:10] == R_LEG).all() and (labels[15:30, 5:10] == L_LEG).all()
    assert (labels[5:10, 60:70] == 5).all()


# -- undo / redo / history ----------------------------------------------------------------------

def random_operation(rng, labels, persons) -> Edit:
    """One edit of any kind at a random place of the people scene (EditError = a refused request)."""
    h, w = labels.shape
    x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
    label, person = int(rng.integers(1, 20)), int(rng.integers(1, 6))
    kind = int(rng.integers(0, 12))
    pts = [(x, y), (x + int(rng.integers(-60, 60)), y + int(rng.integers(-60, 60)))]
    ops = [
        lambda: edits.brush(labels, persons, pts, int(rng.integers(0, 12)), label, person),
        lambda: edits.erase(labels, persons, pts, int(rng.integers(0, 12))),
        lambda: edits.fill(labels, persons, x, y, label, person),
        lambda: edits.polygon_fill(labels, persons, [*pts, (x, y + 30)], label, person),
        lambda: edits.relabel_region(labels, persons, x, y, label, person),
        lambda: person_edits.move_region_to_person(labels, persons, x, y, person),
        lambda: person_edits.move_part_to_person(labels, persons, person, label, 1 + person % 5),
        lambda: person_edits.new_person_from_region(labels, persons, x, y)[0],
        lambda: person_edits.merge_persons(labels, persons, person, 1 + person % 5),
        lambda: person_edits.delete_person(labels, persons, person),
        lambda: person_edits.swap_left_right(labels, persons, person),
        lambda: person_edits.swap_left_right_region(labels, persons, x, y),
    ]
    try:
        return ops[kind]()
    except EditError:
        return Edit.nothing("refused", labels.shape)


def test_undo_redo_is_exact_over_every_kind_of_edit(people):
    labels, persons = people
    original = (labels.copy(), persons.copy())
    history = EditHistory(labels, persons)
    rng = np.random.default_rng(11)
    states = [original]
    for _ in range(120):
        before = (labels.copy(), persons.copy())
        edit = random_operation(rng, labels, persons)
        assert_sound(labels, persons)
        if edit.empty:
            assert (labels == before[0]).all() and (persons == before[1]).all()
            continue
        # The record holds exactly the changed pixels and their rectangle.
        changed = (labels != before[0]) | (persons != before[1])
        assert edit.pixels == changed.sum() and edit.rect == diff_rect(changed, np.zeros_like(changed))
        assert history.record(edit)
        # Undo then redo gives identical maps.
        history.undo()
        assert (labels == before[0]).all() and (persons == before[1]).all()
        history.redo()
        states.append((labels.copy(), persons.copy()))
    assert len(history) == len(states) - 1 > 60
    for state in reversed(states[:-1]):
        history.undo()
        assert (labels == state[0]).all() and (persons == state[1]).all()
    assert not history.can_undo and history.undo() == []
    for state in states[1:]:
        history.redo()
        assert (labels == state[0]).all() and (persons == state[1]).all()
    assert not history.can_redo


def test_a_brush_stroke_is_one_undo_step():
    labels, persons = blank(100, 100)
    history = EditHistory(labels, persons)
    history.record(edits.fill(labels, persons, 0, 0, 0, 0))   # changes nothing: not a step
    assert len(history) == 0
    history.record(edits.brush(labels, persons, [(50, 50)], 3, 2, 1))
    after_dot = labels.copy()
    with history.stroke("brush"):
        path = [(10 + 8 * i, 20 + 5 * (i % 3)) for i in range(10)]
        for a, b in zip(path[:-1], path[1:], strict=True):
            history.record(edits.brush(labels, persons, [a, b], 2, 5, 1))
    assert len(history) == 2 and history.undo_kind == "brush"
    rects = history.undo()
    assert (labels == after_dot).all()
    assert len(rects) >= 1 and min(r.x for r in rects) <= 8 and max(r.x1 for r in rects) >= 84
    history.redo()
    # Undo while a stroke is still open closes it and undoes all of it.
    before = labels.copy()
    history.begin_stroke("erase")
    history.record(edits.erase(labels, persons, [(10, 20), (40, 20)], 3))
    history.record(edits.erase(labels, persons, [(40, 20), (80, 25)], 3))
    assert history.in_stroke and history.can_undo and history.undo_kind == "erase"
    history.undo()
    assert not history.in_stroke and (labels == before).all()


def test_undo_of_a_stroke_redraws_near_the_stroke_not_its_whole_box():
    labels, persons = blank(600, 800)
    history = EditHistory(labels, persons)
    path = [(20 + 7 * i, 20 + 5 * i) for i in range(100)]      # a diagonal drag across the map
    with history.stroke():
        for a, b in zip(path[:-1], path[1:], strict=True):
            history.record(edits.brush(labels, persons, [a, b], 10, 5, 1))
    painted = labels.copy()
    rects = history.undo()
    covered = np.zeros(labels.shape, bool)
    for r in rects:
        assert not covered[r.slices].any()                     # disjoint
        covered[r.slices] = True
    assert covered[painted != 0].all()                         # every changed pixel is redrawn
    union = Rect.from_corners(min(r.x for r in rects), min(r.y for r in rects),
                              max(r.x1 for r in rects), max(r.y1 for r in rects))
    assert covered.sum() < 0.3 * union.area                    # far less than the stroke's box
    assert coalesce_rects([Rect(3, 4, 5, 6)], labels.shape) == [Rect(3, 4, 5, 6)]


def test_new_edit_after_undo_drops_redo_and_version_counts_changes():
    labels, persons = blank()
    history = EditHistory(labels, persons)
    v0 = history.version
    history.record(edits.brush(labels, persons, [(5, 5)], 2, 5, 1))
    history.record(edits.brush(labels, persons, [(20, 5)], 2, 6, 1))
    history.undo()
    assert history.can_redo and history.redo_kind == "brush"
    history.record(edits.brush(labels, persons, [(30, 5)], 2, 7, 1))
    assert not history.can_redo and history.redo() == []
    assert history.version == v0 + 4


def test_history_keeps_at_least_100_steps_and_caps_steps_and_bytes():
    labels, persons = blank(60, 200)
    history = EditHistory(labels, persons, max_steps=100)
    for i in range(150):
        history.record(edits.brush(labels, persons, [(i + 20, 30)], 0, 1 + i % 19, 1))
    assert len(history) == 100
    for _ in range(100):
        assert history.undo()
    assert history.undo() == []
    # Byte cap: old steps go first; the latest step always stays, even alone above the cap.
    labels, persons = blank(200, 200)
    history = EditHistory(labels, persons, max_bytes=50_000)
    for i in range(40):
        history.record(edits.brush(labels, persons, [(100, 100)], 30, 1 + i % 2, 1))  # ~2,800 px each
    assert history.nbytes <= 50_000 and 1 < len(history) < 40
    big = edits.fill(labels, persons, 0, 0, 3, 2)               # ~37,000 px: ~150 kB alone
    history.record(big)
    assert len(history) == 1 and history.nbytes == big.nbytes
    history.undo()
    assert labels[0, 0] == 0
    history.trim(0)
    assert history.redo_steps == 1                            # the only step is kept


def test_edits_hold_changed_pixels_only():
    labels, persons = draw_people(600, 800, count=2, seed=1)
    region = edits.connected_region(labels, persons, 5, 5)     # the background: >300,000 px
    edit = edits.fill(labels, persons, 5, 5, 7, 1)
    assert edit.pixels == region.area > 300_000
    assert edit.nbytes < 4.1 * edit.pixels                      # int32 index + single values
    assert edit.index.dtype == np.int32 and edit.old_labels.size == 1 and edit.new_persons.size == 1
    assert edit.classes() == {0, 7} and edit.persons_touched() == {0, 1}


def test_revert_to_the_model_is_an_undoable_step(people):
    labels, persons = people
    model = (labels.copy(), persons.copy())
    history = EditHistory(labels, persons)
    rng = np.random.default_rng(5)
    for _ in range(30):
        history.record(random_operation(rng, labels, persons))
    edited = (labels.copy(), persons.copy())
    assert (labels != model[0]).any()
    rects = history.revert_to_model(*model)
    assert (labels == model[0]).all() and (persons == model[1]).all()
    assert rects == [diff_rect(np.zeros_like(labels), (labels != edited[0]) | (persons != edited[1]))]
    assert history.undo_kind == "revert"
    history.undo()
    assert (labels == edited[0]).all() and (persons == edited[1]).all()
    history.redo()
    assert history.revert_to_model(*model) == []                # nothing left to revert


def test_maps_that_cannot_be_edited_in_place_are_refused():
    labels, persons = blank()
    with pytest.raises(ValueError, match="C-contiguous"):
        edits.brush(labels[:, ::2], persons[:, ::2], [(1, 1)], 1, 5, 1)
    with pytest.raises(TypeError):
        edits.brush(labels.astype(np.int32), persons, [(1, 1)], 1, 5, 1)
    edit = edits.brush(labels, persons, [(1, 1)], 1, 5, 1)
    with pytest.raises(ValueError, match="made on"):
        EditHistory(*blank(10, 10)).record(edit)


def test_assign_region_rejects_masks_outside_the_maps():
    labels, persons = blank(10, 10)
    with pytest.raises(ValueError):
        assign_region(labels, persons, Rect(5, 5, 10, 10), np.ones((10, 10), bool), "x", label=0)


# -- provenance --------------------------------------------------------------------------------

def test_change_statistics_per_class():
    model_l, model_p = blank(10, 10)
    model_l[0:2, :], model_p[0:2, :] = 5, 1                   # 20 px UpperClothes
    model_l[2:4, :], model_p[2:4, :] = 9, 1                   # 20 px Pants
    labels, persons = model_l.copy(), model_p.copy()
    labels[0, :] = 7                                          # 10 px UpperClothes -> Coat
    persons[2, :] = 2                                          # 10 px Pants to another person
    labels[9, 0:3], persons[9, 0:3] = 13, 1                   # 3 px painted Face
    stats = change_statistics(model_l, model_p, labels, persons)
    assert (stats.changed_pixels, stats.relabelled_pixels, stats.reassigned_pixels) == (23, 13, 10)
    assert stats.per_class[5].lost == 10 and stats.per_class[5].gained == 0
    assert stats.per_class[7].gained == 10 and stats.per_class[9].reassigned == 10
    assert stats.per_class[0].lost == 3 and stats.per_class[13].gained == 3
    assert set(stats.per_class) == {0, 5, 7, 9, 13}
    d = stats.as_dict(("Background", "Hat", "Hair", "Gloves", "Sunglasses", "UpperClothes", "Dress", "Coat",
                       "Socks", "Pants", "Torso-skin", "Scarf", "Skirt", "Face"))
    assert d["changed_pixels"] == 23 and d["classes"][1] == {"id": 5, "name": "UpperClothes", "gained": 0,
                                                             "lost": 10, "reassigned": 0}
    assert not change_statistics(model_l, model_p, model_l, model_p).edited


# -- partial redraw ----------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {},
    {"opacity": 0.8, "visible": render.visibility([5, 13, 14, 2], 20)},
    {"hidden_persons": [2]},
    {"solo_person": 3},
    {"outline_only": True, "thickness": 1},
    {"outline_only": True, "thickness": 3, "hidden_persons": [1]},
    {"mode": "labels", "solo_person": 1},
])
def test_partial_render_equals_the_full_render_cropped(people, options):
    labels, persons = people
    rgb = scene_photo(*labels.shape)
    mask = render.person_filter(persons, options.get("hidden_persons", ()), options.get("solo_person"))
    vis = options.get("visible")
    if options.get("mode") == "labels":
        full = render.color_map(labels, PAL, vis)
        if mask is not None:
            full[~mask] = 0
    elif options.get("outline_only"):
        full = render.outline(rgb, labels, PAL, vis, mask, thickness=options["thickness"])
    else:
        full = render.blend(rgb, labels, PAL, options.get("opacity", 0.5), vis, mask)
    rng = np.random.default_rng(0)
    rects = [(0, 0, 400, 300), (0, 0, 1, 1), (399, 299, 5, 5), (-10, -10, 30, 40)]
    rects += [(int(rng.integers(0, 390)), int(rng.integers(0, 290)), int(rng.integers(1, 120)),
               int(rng.integers(1, 120))) for _ in range(25)]
    for x, y, w, h in rects:
        part = render.blend_region(rgb, labels, PAL, (x, y, w, h), persons=persons, **options)
        x0, y0 = max(0, x), max(0, y)
        assert np.array_equal(part, full[y0 : min(300, y + h), x0 : min(400, x + w)]), (x, y, w, h)


def test_partial_render_after_an_edit_updates_a_zoomed_screen_sample(people):
    labels, persons = people
    rgb = scene_photo(*labels.shape)
    for scale in (0.37, 1.0, 3.0):
        xs = np.clip(np.floor(20 + (np.arange(350) + 0.5) / scale), 0, 399).astype(np.int64)
        ys = np.clip(np.floor(10 + (np.arange(250) + 0.5) / scale), 0, 299).astype(np.int64)
        lab, per = labels.copy(), persons.copy()
        s_lab = lab.take(ys, 0).take(xs, 1)
        s_per = per.take(ys, 0).take(xs, 1)
        photo = rgb.take(ys, 0).take(xs, 1)
        frame = render.blend(photo, s_lab, PAL, 0.6, pixel_mask=render.person_filter(s_per, [4]))
        edit = edits.brush(lab, per, [(60, 40), (120, 90)], 9, 13, 2)
        x, y, w, h = render.sampled_rect(edit.rect, xs, ys)
        s_lab[y : y + h, x : x + w] = lab.take(ys[y : y + h], 0).take(xs[x : x + w], 1)
        s_per[y : y + h, x : x + w] = per.take(ys[y : y + h], 0).take(xs[x : x + w], 1)
        frame[y : y + h, x : x + w] = render.blend_region(photo, s_lab, PAL, (x, y, w, h), opacity=0.6,
                                                          persons=s_per, hidden_persons=[4])
        fresh = render.blend(photo, lab.take(ys, 0).take(xs, 1), PAL, 0.6,
                             pixel_mask=render.person_filter(per.take(ys, 0).take(xs, 1), [4]))
        assert np.array_equal(frame, fresh)
        assert w > 0 and h > 0


def test_person_filter_follows_the_review_window_rule():
    persons = np.array([[0, 1, 2, 3]], np.uint16)
    assert render.person_filter(persons) is None
    assert render.person_filter(persons, [2]).tolist() == [[True, True, False, True]]
    assert render.person_filter(persons, solo_person=3).tolist() == [[False, False, False, True]]
    assert render.person_filter(persons, [3], solo_person=3).tolist() == [[False, False, False, False]]
