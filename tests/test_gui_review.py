"""The review workspace in the window (issue 14): verdict keys, icons and counts, notes saved
while typing, reopening without parsing, files changed on disk, other models, read-only,
sort/filter, reports, attaching earlier outputs, "export is what you see".

The real window under Xvfb with the tiny model; what the window saved is read back from the
workspace file itself (read-only, as the command line's report does), never from the window.
"""

# ruff: noqa: F811 - the fixtures imported from test_gui_window are test arguments here
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import SlowParser, make_image_folder, pump, screenshot, wait_for, xvfb_display  # noqa: F401
from PIL import Image
from test_gui_window import finished, gui_env, make_window, open_and_wait  # noqa: F401 - fixtures

from desktop.app.session import State
from desktop.app.settings import Settings
from desktop.review.model_key import ModelIdentity
from desktop.review.workspace import Workspace, find_workspace

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parent.parent


class Counting(SlowParser):
    """The tiny parser, counting its parse calls (reopening must make none)."""


def counting(store: dict):
    def wrap(parser):
        store["p"] = Counting(parser)
        return store["p"]

    return wrap


def key(win, keysym: str, widget=None) -> None:
    target = widget or win.root
    target.focus_force()
    pump(win.root, 0.02)
    target.event_generate(f"<KeyPress-{keysym}>")
    pump(win.root, 0.05)


def names(win) -> list[str]:
    return [win.images.get(k).display_name for k in win.file_list.visible_keys()]


def current(win) -> str:
    return win.images.get(win.current_key).display_name


def stored(path) -> dict:
    """What the workspace file holds, by image name (opened read-only: the window has it)."""
    with Workspace.open(path, read_only=True) as ws:
        return {r.name: (r.status.value, ws.note(r.id), r.changed_since_review, r.has_result) for r in ws.records()}


def row_icon(win, entry) -> str:
    return str(win.file_list.tree.item(entry.key, "image")[0])


@pytest.fixture
def photos(tmp_path, golden_images):
    return make_image_folder(tmp_path / "photos", golden_images, corrupt=True)


# ---------------------------------------------------------------------------------------
def test_verdict_keys_icons_counts_and_notes(make_window, photos):
    win = make_window()
    open_and_wait(win, [photos])
    ws_path = win.review.workspace.path
    assert ws_path == find_workspace(photos)
    by_name = {e.display_name: e for e in win.images}
    a, crop, grace, broken = (by_name[n] for n in ("astronaut.png", "astronaut_crop.png", "grace_hopper.jpg",
                                                    "zz_broken.jpg"))
    icons = win.review.icons
    assert row_icon(win, a) == str(icons.get("not_reviewed"))
    assert current(win) == "astronaut.png"

    key(win, "space")  # accept and go to the next image not reviewed
    assert a.verdict == "accepted" and current(win) == "astronaut_crop.png"
    assert row_icon(win, a) == str(icons.get("accepted"))
    assert "accepted" in win.file_list.tree.item(a.key, "tags")
    key(win, "x")  # needs fix: stays on the image
    assert crop.verdict == "needs_fix" and current(win) == "astronaut_crop.png"
    assert row_icon(win, crop) == str(icons.get("needs_fix"))
    assert "Needs fix" in win.canvas_view.badge
    key(win, "space")  # never silently undoes "needs fix"
    assert crop.verdict == "needs_fix" and current(win) == "astronaut_crop.png"
    assert "Space does not change that" in win.status_label.cget("text")
    key(win, "x")  # the same verdict again: nothing changes
    assert "already" in win.status_label.cget("text")
    key(win, "y")  # changing a verdict is explicit
    assert crop.verdict == "accepted"
    assert "changed from" in win.status_label.cget("text")
    key(win, "Right")
    key(win, "r")
    assert grace.verdict == "rejected"
    key(win, "Right")
    key(win, "y")  # a failed image cannot be accepted...
    assert broken.verdict == "not_reviewed" and "cannot be accepted" in win.status_label.cget("text")
    key(win, "r")  # ...but it can be rejected
    assert broken.verdict == "rejected"
    key(win, "u")
    assert broken.verdict == "not_reviewed"
    pump(win.root, 0.1)
    assert win.review.counts.text() == "2 accepted, 0 marked “needs fix”, 1 rejected, 1 not reviewed yet"

    # Shift+N: the next image needing attention (the failed one is the only one).
    key(win, "Left")
    win.root.focus_force()
    win.root.event_generate("<Shift-KeyPress-N>")
    pump(win.root, 0.05)
    assert current(win) == "zz_broken.jpg"

    # The note: saved a moment after typing stops, without any Save button...
    win.select(grace.key)
    note = win.review.panel.note
    note.focus_force()
    note.insert("end", "Left arm labelled as right arm")
    pump(win.root, 0.6)
    assert stored(ws_path)["grace_hopper.jpg"][:2] == ("rejected", "Left arm labelled as right arm")
    assert win.review.panel.note_status.cget("text") == "Saved"
    # ...and at once when the image changes, even before that moment.
    note.insert("end", "; hair ok")
    win.select(a.key)
    assert stored(ws_path)["grace_hopper.jpg"][1] == "Left arm labelled as right arm; hair ok"
    assert win.review.panel.note_text() == ""
    win.select(grace.key)
    assert win.review.panel.note_text() == "Left arm labelled as right arm; hair ok"
    # Keys typed in the note are text, not verdicts.
    note.focus_force()
    note.event_generate("<KeyPress-y>")
    pump(win.root, 0.05)
    assert grace.verdict == "rejected"
    screenshot(win.root, "review_verdicts_list_panel")
    data = stored(ws_path)
    assert {n: v[0] for n, v in data.items()} == {"astronaut.png": "accepted", "astronaut_crop.png": "accepted",
                                                  "grace_hopper.jpg": "rejected", "zz_broken.jpg": "not_reviewed"}


def test_reopening_restores_everything_without_parsing_and_flags_changed_files(make_window, photos,
                                                                                golden_images):
    from desktop.app.settings import load_settings

    first: dict = {}
    win = make_window(wrap=counting(first))
    open_and_wait(win, [photos])
    assert first["p"].calls == 3  # the broken file fails before parsing
    by_name = {e.display_name: e for e in win.images}
    win.select(by_name["astronaut.png"].key)
    key(win, "space")  # accepted, on to astronaut_crop.png
    key(win, "x")
    win.review.panel.note.insert("end", "Hat missing")
    win.select(by_name["grace_hopper.jpg"].key)
    wait_for(win.root, lambda: win.canvas_view.rgb is not None, 10, "the photo")
    win.set_view_mode("labels")
    win.canvas_view.zoom_by(2.0)
    scale = win.canvas_view.scale
    win.body.sashpos(0, 330)
    controls = win.review.controls
    controls.sort.set("Status")
    controls._changed()
    pump(win.root, 0.1)
    assert names(win)[:2] == ["grace_hopper.jpg", "zz_broken.jpg"]  # not reviewed first
    ws_path = win.review.workspace.path
    win.close(force=True)
    assert not win.review.workspace  # closed cleanly: no lock left, log folded into the file
    assert not ws_path.with_name(ws_path.name + ".lock").exists()
    assert not ws_path.with_name(ws_path.name + "-wal").exists()

    # The accepted photo changes on disk while the app is closed.
    shutil.copy(golden_images["astronaut_crop"], photos / "astronaut.png")

    settings, _ = load_settings()
    assert settings.last_workspace == str(ws_path)
    second: dict = {}
    win2 = make_window(settings=settings, wrap=counting(second))
    win2.review.reopen_last()
    wait_for(win2.root, lambda: finished(win2) and win2.canvas_view.rgb is not None, 60, "the reopened workspace")
    pump(win2.root, 0.5)
    entries = {e.display_name: e for e in win2.images}
    assert second["p"].calls == 1, "only the photo changed on disk is parsed again"
    assert win2.store.loads >= 1  # the image shown came from the workspace
    assert {n: e.verdict for n, e in entries.items()} == {
        "astronaut.png": "accepted", "astronaut_crop.png": "needs_fix", "grace_hopper.jpg": "not_reviewed",
        "zz_broken.jpg": "not_reviewed"}
    assert [n for n, e in entries.items() if e.state is State.DONE] == [
        "astronaut.png", "astronaut_crop.png", "grace_hopper.jpg"]
    assert entries["zz_broken.jpg"].state is State.FAILED and "truncated" in entries["zz_broken.jpg"].error
    # The changed photo: parsed again, its verdict kept but flagged until confirmed.
    changed = entries["astronaut.png"]
    assert changed.changed and changed.verdict == "accepted"
    assert row_icon(win2, changed) == str(win2.review.icons.get("accepted", "changed"))
    assert "changed on disk" in win2.review.notices.text("changed")
    # Where the user was: the image, the view, the zoom, the list's width and order.
    assert current(win2) == "grace_hopper.jpg"
    assert win2.view_mode.get() == "labels"
    assert win2.canvas_view.scale == pytest.approx(scale, rel=0.01)
    assert abs(int(win2.body.sashpos(0)) - 330) <= 2
    assert win2.review.controls.view.sort == "status"
    assert win2.settings.last_workspace == str(ws_path)
    win2.select(entries["astronaut_crop.png"].key)
    assert win2.review.panel.note_text() == "Hat missing"
    win2.select(changed.key)
    assert "changed on disk since this verdict" in win2.review.panel.changed_label.cget("text")
    screenshot(win2.root, "review_reopened_changed_on_disk")
    key(win2, "y")  # confirming the verdict clears the flag
    assert not changed.changed and changed.verdict == "accepted"
    assert stored(ws_path)["astronaut.png"][2] is False


def test_results_of_another_model_are_flagged_and_parsed_again_on_request(make_window, photos):
    from desktop.resources import default_class_names, palette

    other = ModelIdentity("b" * 64, "openvino", "fast", "older model")
    with Workspace.open(find_workspace(photos)) as ws:
        ids, _failed = ws.add_paths([photos])
        from desktop.engine.result import ParsingResult

        for rec in ws.records():
            if rec.name == "zz_broken.jpg":
                continue
            with Image.open(rec.path) as im:
                w, h = im.size
            result = ParsingResult(np.zeros((h, w), np.uint8), [], [], default_class_names(), palette())
            from desktop.imageio import sha256_file

            ws.store_result(rec.id, result, other, sha256=sha256_file(rec.path))
    calls: dict = {}
    win = make_window(wrap=counting(calls))
    win.open_paths([str(photos)])
    wait_for(win.root, lambda: win.review.notices.text("other-model") is not None, 60, "the other-model notice")
    flagged = [e.display_name for e in win.images if e.other_model]
    assert flagged == ["astronaut.png", "astronaut_crop.png", "grace_hopper.jpg"]
    assert "older model (openvino, fast)" in win.review.notices.text("other-model")
    assert calls["p"].calls == 0  # nothing mixed in silently, nothing parsed without asking
    assert "other model" in win.file_list.state_text(win.images[0].key)
    screenshot(win.root, "review_other_model_notice")
    win.review.parse_other_models()
    wait_for(win.root, lambda: finished(win) and calls["p"].calls == 3, 120, "parsing them again")
    pump(win.root, 0.3)
    assert not any(e.other_model for e in win.images)


def test_a_second_window_opens_read_only_and_says_who_holds_it(make_window, photos):
    holder = Workspace.open(find_workspace(photos))  # another window, as far as the app can tell
    try:
        holder.add_paths([photos])
        win = make_window()
        open_and_wait(win, [photos])
        ws = win.review.workspace
        assert ws.read_only and win.review.read_only
        notice = win.review.notices.text("read-only")
        assert notice and "open in another window" in notice
        assert f"process {os.getpid()}" in notice  # who holds it: user, computer, process
        assert "(read-only)" in win.root.title()
        key(win, "y")
        assert win.images[0].verdict == "not_reviewed"
        assert "read-only" in win.status_label.cget("text")
        assert str(win.review.panel.note.cget("state")) == "disabled"
        screenshot(win.root, "review_read_only_notice")
        # Parsed results cannot be kept: quitting says so (and only then).
        assert win.review.unsaved_count() == 3
    finally:
        holder.close()


# --------------------------------------------------------------------------- a real process, killed
def test_sigkill_loses_at_most_the_last_second(xvfb_display, tmp_path, tiny_model_dir, tiny_parser, photos):
    """The app in its own process reopens its workspace; verdicts by keys (xdotool) and a note
    typed into its field; SIGKILL; everything older than a second is in a sound file."""
    import signal
    import subprocess
    import sys
    import time

    from desktop.app.settings import save_settings
    from desktop.imageio import load_image, sha256_file

    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    env = dict(os.environ, M2FP_CONFIG_DIR=str(tmp_path / "config"), M2FP_DATA_DIR=str(tmp_path / "data"),
               M2FP_LOG_DIR=str(tmp_path / "logs"), M2FP_NO_ERROR_DIALOGS="1",
               M2FP_TEST_COMMANDS=str(tmp_path / "commands.jsonl"), DISPLAY=xvfb_display)
    (tmp_path / "commands.jsonl").write_text("")
    os.environ["M2FP_DATA_DIR"], old = env["M2FP_DATA_DIR"], os.environ.get("M2FP_DATA_DIR")
    try:
        ws_path = find_workspace(photos)
    finally:
        os.environ["M2FP_DATA_DIR"] = old or ""
    model = ModelIdentity.of_parser(tiny_parser)
    with Workspace.open(ws_path) as ws:  # parsed overnight, as the command line does
        ws.add_paths([photos])
        for rec in ws.records():
            if rec.name != "zz_broken.jpg":
                ws.store_result(rec.id, tiny_parser.parse(load_image(rec.path).rgb), model,
                                sha256=sha256_file(rec.path))
    save_settings(Settings(model_dir=str(tiny_model_dir), last_workspace=str(ws_path), geometry="1200x800+0+0"),
                  tmp_path / "config" / "settings.json")
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "review_app_process.py")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        ready = proc.stdout.readline().split()
        assert ready[:1] == ["ready"], proc.stderr.read() if proc.poll() is not None else ready
        window = ready[1]

        def xkeys(*keys: str) -> None:
            subprocess.run(["xdotool", "windowfocus", "--sync", window], env=env, check=True, timeout=10)
            for k in keys:
                subprocess.run(["xdotool", "key", "--delay", "60", k], env=env, check=True, timeout=10)

        commands = []

        def command(**cmd) -> dict:
            commands.append(cmd)
            with open(tmp_path / "commands.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(cmd) + "\n")
            word, n, verdicts = proc.stdout.readline().split(" ", 2)
            assert (word, int(n)) == ("done", len(commands))
            return json.loads(verdicts)

        def until(name: str, verdict: str) -> None:  # keys go through the X server: wait for them
            deadline = time.monotonic() + 10
            while command(do="report")[name] != verdict:
                assert time.monotonic() < deadline, f"{name} never became {verdict}"
                time.sleep(0.05)

        xkeys("space", "x")  # astronaut.png accepted; astronaut_crop.png needs fix
        until("astronaut_crop.png", "needs_fix")
        xkeys("Right", "r")  # grace_hopper.jpg rejected
        until("grace_hopper.jpg", "rejected")
        command(do="select", name="astronaut_crop.png")
        command(do="type_note", text="Left glove missing")  # and the cursor stays in the note:
        time.sleep(1.2)  # only its autosave can have saved it; one second later it must be in the file
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    with Workspace.open(ws_path) as ws:  # the lock died with the process
        assert ws.integrity_check() == []
        got = {r.name: (r.status.value, ws.note(r.id)) for r in ws.records()}
    assert got == {"astronaut.png": ("accepted", ""), "astronaut_crop.png": ("needs_fix", "Left glove missing"),
                   "grace_hopper.jpg": ("rejected", ""), "zz_broken.jpg": ("not_reviewed", "")}


def test_list_sorts_filters_and_searches(make_window, tmp_path, golden_images):
    photos = make_image_folder(tmp_path / "photos", golden_images, corrupt=True, copies=2)
    win = make_window()
    open_and_wait(win, [photos])
    assert names(win) == ["astronaut.png", "astronaut_1.png", "astronaut_crop.png", "astronaut_crop_1.png",
                          "grace_hopper.jpg", "grace_hopper_1.jpg", "zz_broken.jpg"]
    by_name = {e.display_name: e for e in win.images}
    for name, k in (("astronaut_1.png", "x"), ("grace_hopper.jpg", "r"), ("astronaut.png", "y")):
        win.select(by_name[name].key)
        key(win, k)
    c = win.review.controls
    c.filter.set("Needs fix")
    c._changed()
    win.select(by_name["astronaut_1.png"].key)
    c._changed()
    assert names(win) == ["astronaut_1.png"]
    assert c.shown.cget("text") == "Showing 1 of 7 images"
    c.filter.set("Needing attention")
    c._changed()
    assert names(win) == ["astronaut_1.png", "astronaut_crop.png", "astronaut_crop_1.png", "grace_hopper_1.jpg",
                          "zz_broken.jpg"]
    # D and A follow the list as shown.
    key(win, "d")
    assert current(win) == "astronaut_crop.png"
    c.filter.set("All images")
    c.sort.set("Status")
    c._changed()
    assert names(win)[-3:] == ["astronaut_1.png", "grace_hopper.jpg", "astronaut.png"]  # needs fix, rejected, ok
    c.sort.set("Persons")
    c._changed()
    assert names(win)[-1] == "zz_broken.jpg"  # no value: last
    c.sort.set("Name")
    c._changed()
    c._flip()
    assert names(win)[0] == "zz_broken.jpg"
    c._flip()
    # The search box: by name, ignoring case, after a short pause.
    c.search_entry.focus_force()
    pump(win.root, 0.05)
    c.search.set("HOPPER")
    pump(win.root, 0.4)
    assert names(win) == ["astronaut_crop.png", "grace_hopper.jpg", "grace_hopper_1.jpg"]  # + the image shown
    key(win, "Escape", c.search_entry)
    assert len(names(win)) == 7
    screenshot(win.root, "review_list_sorted_filtered")


def test_report_export_and_the_visible_export_rule(make_window, photos, tmp_path):
    from desktop.review.report import format_report, report_rows

    win = make_window()
    open_and_wait(win, [photos])
    win.select(win.images[0].key)
    key(win, "x")
    win.review.panel.note.insert("end", "Face, not hair")
    win.review.panel.flush()
    # File ▸ Export review report: the same rows as `python -m desktop.cli report`.
    out = tmp_path / "report.csv"
    win.review.actions.export_report(out)
    wait_for(win.root, lambda: out.exists(), 20, "the report")
    with Workspace.open(win.review.workspace.path, read_only=True) as ws:
        expected = format_report(report_rows(ws), "csv")
    assert out.read_text(encoding="utf-8-sig") == expected
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert (rows[0]["path"], rows[0]["status"], rows[0]["note"]) == ("astronaut.png", "needs_fix", "Face, not hair")
    win.review.actions.export_report(tmp_path / "report.json")
    wait_for(win.root, lambda: (tmp_path / "report.json").exists(), 20, "the JSON report")
    assert json.loads((tmp_path / "report.json").read_text())["images"][0]["status"] == "needs_fix"

    # The export dialog states its rule; "everything" by default, even after "as shown" in an earlier session.
    from desktop.review.maps import person_map_of

    result = win.current_result
    labels, persons = result.labels.copy(), person_map_of(result)
    ids, counts = np.unique(persons[persons > 0], return_counts=True)
    solo = int(ids[np.argmax(counts)])
    hidden_class = int(np.unique(labels[persons == solo])[0])
    win.class_panel.toggle(hidden_class)
    win.person_panel.set_solo(solo)
    pump(win.root, 0.1)
    win.open_export_dialog("current")
    dialog = win.export_dialog
    assert dialog.only_visible.get() is False and dialog.rule_text() == "Everything"
    assert dialog.as_shown_button.cget("text") == f"As shown: 18 of 19 classes, person {solo} only"
    dialog.scope.set("all")
    assert "18 of 19 classes, every person" in dialog.as_shown_button.cget("text")
    dialog.scope.set("current")
    dialog.only_visible.set(True)
    screenshot(win.root, "review_export_rule", dialog)
    # Exports write what the workspace holds: here an edited label map, and the review in the JSON.
    ws = win.review.workspace
    iid = win.images[0].image_id
    labels[persons == 0] = 0
    labels[:10, :10], persons[:10, :10] = 0, 0
    ws.save_edits(iid, labels, persons)
    dest = tmp_path / "out"
    dialog.folder.set(str(dest))
    dialog.start()
    wait_for(win.root, lambda: win.export_job is None, 60, "the export")
    dialog.close()
    stem = win.images[0].path.stem
    assert np.array_equal(np.array(Image.open(dest / f"{stem}_labels.png")), labels)
    doc = json.loads((dest / f"{stem}.json").read_text())
    assert doc["review"]["status"] == "needs_fix" and doc["review"]["note"] == "Face, not hair"
    assert doc["review"]["edited"]["pixels_changed"] > 0
    colour = np.array(Image.open(dest / f"{stem}_color.png").convert("RGB"))
    assert not colour[(persons != solo) & (labels != 0)].any()  # that person only
    assert colour[(persons == solo) & (labels != 0) & (labels != hidden_class)].any()
    assert not colour[labels == hidden_class].any()  # that class hidden


def test_a_workspace_made_by_the_command_line_opens_with_every_result_ready(make_window, photos, tmp_path,
                                                                           tiny_model_dir):
    from desktop import cli

    ws_path = tmp_path / "overnight.m2fpws"
    code = cli.main([str(photos), "--workspace", str(ws_path), "--model", str(tiny_model_dir), "--runtime", "torch",
                     "--quiet"])
    assert code == 1  # the broken photo failed; the others are in the workspace
    calls: dict = {}
    win = make_window(wrap=counting(calls))
    assert win.review.open_workspace(ws_path)
    wait_for(win.root, lambda: win.canvas_view.result is not None, 30, "the first result")
    pump(win.root, 0.5)
    assert calls["p"].calls == 0
    assert [e.state for e in win.images] == [State.DONE] * 3 + [State.FAILED]
    assert not any(e.other_model for e in win.images)
    assert win.root.title().endswith("overnight.m2fpws — " + win.root.title().split(" — ")[-1])
    key(win, "space")
    assert stored(ws_path)["astronaut.png"][0] == "accepted"


def test_attaching_a_folder_of_earlier_outputs_needs_no_parsing(make_window, photos, tmp_path, tiny_model_dir):
    from desktop import cli

    out = tmp_path / "results"
    assert cli.main([str(photos), "--out", str(out), "--model", str(tiny_model_dir), "--runtime", "torch",
                     "--quiet"]) == 1
    win = make_window(autostart_model=False, wait_model=False)  # no model at all: nothing can be parsed
    win.open_paths([str(photos)])
    wait_for(win.root, lambda: len(win.images) == 4, 20, "the images")
    assert all(e.state is State.WAITING for e in win.images if e.display_name != "zz_broken.jpg")
    win.review.actions.attach(out)
    wait_for(win.root, lambda: sum(e.state is State.DONE for e in win.images) == 3, 60, "the attached results")
    assert "3 results attached" in win.status_label.cget("text")
    for e in win.images:
        if e.state is State.DONE:
            win.select(e.key)
            wait_for(win.root, lambda: win.canvas_view.result is not None, 20, "the result")
            png = np.array(Image.open(out / f"{e.path.stem}_labels.png"))
            assert np.array_equal(win.current_result.labels, png)
            doc = json.loads((out / f"{e.path.stem}.json").read_text())
            assert len(win.current_result.persons) == len(doc["persons"])


def test_save_as_continues_in_the_copy_and_the_folder_finds_it(make_window, photos):
    win = make_window()
    open_and_wait(win, [photos])
    first = win.review.workspace.path
    key(win, "x")
    dest = photos / "handover"
    win.review.actions.save_as(dest)
    wait_for(win.root, lambda: win.review.workspace is not None and win.review.workspace.path != first, 30,
             "the copy to open")
    copy = photos / "handover.m2fpws"
    assert win.review.workspace.path == copy and "handover.m2fpws" in win.root.title()
    assert win.settings.recent_workspaces[:2] == [str(copy), str(first)]
    assert [e.verdict for e in win.images][0] == "needs_fix"
    key(win, "y")  # goes on in the copy
    assert stored(copy)["astronaut.png"][0] == "accepted"
    assert stored(first)["astronaut.png"][0] == "needs_fix"
    win.review.close_workspace()
    assert len(win.images) == 0 and win.settings.last_workspace == ""
    win.open_paths([str(photos)])  # the folder now carries its workspace: that one opens
    wait_for(win.root, lambda: win.review.workspace is not None and len(win.images) == 4, 30, "the folder")
    assert win.review.workspace.path == copy


def test_a_damaged_workspace_is_set_aside_once_and_the_window_goes_on(make_window, photos):
    ws_path = find_workspace(photos)
    ws_path.parent.mkdir(parents=True, exist_ok=True)
    ws_path.write_bytes(b"this is not a database" * 100)
    win = make_window()
    open_and_wait(win, [photos])
    notices = [win.review.notices.text(k) for k in win.review.notices.keys()]
    assert any("could not be used" in n and "set aside" in n for n in notices), notices
    assert list(ws_path.parent.glob(ws_path.name + ".damaged-*"))
    screenshot(win.root, "review_damaged_notice")
    key(win, "y")
    assert stored(ws_path)["astronaut.png"][0] == "accepted"  # the new workspace works
    win.review.close_workspace()
    win.open_paths([str(photos)])
    wait_for(win.root, lambda: win.review.workspace is not None and len(win.images) == 4, 30, "the folder")
    assert not any("set aside" in (win.review.notices.text(k) or "") for k in win.review.notices.keys())
