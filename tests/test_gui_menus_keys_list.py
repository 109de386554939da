"""The window's menus and keys do what their labels say, in English and in Chinese; the image
list shows its state text and its sort choices whole.

Menus: every item of File, Parse, View, Model and Help is found by its (translated) label,
shows the accelerator it always showed, and invoking it calls the window's command. Keys:
each accelerator shown in a menu is bound and calls the same command as its menu item; the
other single keys (arrows, =, [ ]) too; a key typed into a text field does nothing else.
The window's commands are replaced by recorders *before* the window is built (the menus
keep the bound methods they were given), so no file dialog opens and nothing quits.

List: the state column (verdict, persons, doubt...) is at least as wide as its widest text,
measured with the list's own font, and lies inside the visible list at the default window
size and at 1024x640; the sort box is wide enough for its longest choice.
"""

from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
from pathlib import Path

import pytest
from gui_helpers import close_window, gui_env, pump, screenshot, tiny_factory, wait_for, xvfb_display  # noqa: F401 - fixture

from desktop import APP_NAME, i18n
from desktop.app.session import State
from desktop.app.settings import Settings
from desktop.i18n import _, pgettext

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "desktop" / "locale" / "zh_CN" / "LC_MESSAGES" / "m2fp.po"

#: Window methods the menus and keys call, replaced by recorders (close passes through when forced).
COMMANDS = ("ask_open_files", "ask_open_folder", "open_export_dialog", "close", "parse_remaining", "retry_failed",
            "cancel_parsing", "show_model_dialog", "show_shortcuts", "show_about", "go")




@pytest.fixture(params=["en", "zh_CN"])
def language(request, monkeypatch, tmp_path_factory):
    """The app's language for the test (the real Chinese catalog, compiled here)."""
    if request.param == "zh_CN":
        from test_i18n import _catalogs

        folder = tmp_path_factory.mktemp("zh-locale")
        _catalogs().compile_po(PO, folder / "zh_CN" / "LC_MESSAGES" / "m2fp.mo")
        monkeypatch.setenv(i18n.ENV_LOCALE_DIR, str(folder))
    assert i18n.set_language(request.param) == request.param
    yield request.param
    i18n.set_language(i18n.ENGLISH)




def _entries(menu: tk.Menu) -> dict[str, int]:
    end = menu.index("end")
    return {str(menu.entrycget(i, "label")): i for i in range(0 if end is None else end + 1)
            if menu.type(i) not in ("separator", "tearoff")}


def _cascade(menubar: tk.Menu, label: str) -> tk.Menu:
    index = _entries(menubar)[label]
    return menubar.nametowidget(menubar.entrycget(index, "menu"))


# --------------------------------------------------------------------------- menus and keys

@pytest.mark.gui
def test_menus_and_keys_fire_their_commands(gui_env, language, monkeypatch, tiny_model_dir):  # noqa: F811
    from desktop.app import create_root, menu_bar
    from desktop.app.main_window import MainWindow

    calls: list[tuple] = []

    def recorder(name, original):
        def method(self, *args, **kwargs):
            calls.append((name, *args))
            if kwargs.get("force"):  # the test's own close at the end
                return original(self, *args, **kwargs)
            return None
        return method

    for name in COMMANDS:
        monkeypatch.setattr(MainWindow, name, recorder(name, getattr(MainWindow, name)))
    monkeypatch.setattr(menu_bar, "open_folder", lambda path: calls.append(("open_folder", Path(path).name)))

    root, dnd = create_root()
    win = MainWindow(root, Settings(model_dir=str(tiny_model_dir)), parser_factory=tiny_factory(), dnd=dnd,
                     autostart_model=False)
    try:
        root.deiconify()
        pump(root, 0.2)
        cv = win.canvas_view
        monkeypatch.setattr(cv, "fit", lambda: calls.append(("fit",)))
        monkeypatch.setattr(cv, "zoom_100", lambda: calls.append(("zoom_100",)))
        monkeypatch.setattr(cv, "zoom_by", lambda f: calls.append(("zoom_by", f)))

        # (menu, label, accelerator shown, key sequence it stands for, the call both make)
        items = [
            ("File", _("Open images…"), "Ctrl+O", "<Control-o>", ("ask_open_files",)),
            ("File", _("Open folder…"), "Ctrl+Shift+O", "<Control-O>", ("ask_open_folder",)),
            ("File", _("Export current image…"), "Ctrl+E", "<Control-e>", ("open_export_dialog", "current")),
            ("File", _("Export all parsed images…"), "Ctrl+Shift+E", "<Control-E>", ("open_export_dialog", "all")),
            ("File", _("Quit"), "Ctrl+Q", "<Control-q>", ("close",)),
            ("Parse", _("Parse waiting images"), "F5", "<KeyPress-F5>", ("parse_remaining",)),
            ("Parse", _("Retry failed images"), "", None, ("retry_failed",)),
            ("Parse", _("Cancel parsing"), "Esc", "<KeyPress-Escape>", ("cancel_parsing",)),
            ("View", _("Fit to window"), "F", "<KeyPress-f>", ("fit",)),
            ("View", _("Zoom 100 %"), "1", "<KeyPress-1>", ("zoom_100",)),
            ("View", _("Zoom in"), "+", "<KeyPress-plus>", ("zoom_by", 1.25)),
            ("View", _("Zoom out"), "−", "<KeyPress-minus>", ("zoom_by", 0.8)),
            ("View", _("Next image"), "D", "<KeyPress-d>", ("go", 1)),
            ("View", _("Previous image"), "A", "<KeyPress-a>", ("go", -1)),
            ("Model", _("Choose model folder…"), "", None, ("show_model_dialog", "")),
            ("Model", _("Download model…"), "", None, ("show_model_dialog", "")),
            ("Help", _("Keyboard shortcuts"), "F1", "<KeyPress-F1>", ("show_shortcuts",)),
            ("Help", _("Open the log folder"), "", None, ("open_folder", "logs")),
            ("Help", _("About {app}").format(app=APP_NAME), "", None, ("show_about",)),
        ]
        if language == "zh_CN":  # the menus really are in Chinese (else this proves nothing new)
            assert pgettext("menu", "File") != "File" and _("Open images…") != "Open images…"
        bar = win.menubar
        tops = _entries(bar)
        for menu in ("File", "Parse", "View", "Review", "Model", "Help"):
            assert pgettext("menu", menu) in tops, (menu, sorted(tops))
            m = _cascade(bar, pgettext("menu", menu))
            kinds = [m.type(i) for i in range(m.index("end") + 1) if m.type(i) != "tearoff"]
            text = "".join("|" if k == "separator" else "x" for k in kinds)
            assert "||" not in text and not text.startswith("|") and not text.endswith("|"), (menu, text)

        def key(seq: str) -> None:
            root.focus_force()
            pump(root, 0.02)
            root.event_generate(seq)
            pump(root, 0.02)

        for menu, label, accel, seq, expected in items:
            m = _cascade(bar, pgettext("menu", menu))
            entries = _entries(m)
            assert label in entries, (menu, label, sorted(entries))
            assert str(m.entrycget(entries[label], "accelerator")) == accel, label
            calls.clear()
            m.invoke(entries[label])
            pump(root, 0.02)
            assert calls == [expected], (label, calls)
            if seq is not None:
                assert root.bind(seq), f"{accel} is shown in the menu but not bound"
                calls.clear()
                key(seq)
                assert calls == [expected], (accel, seq, calls)

        # The other keys of the same commands; single keys also act from the file list.
        for seq, expected in (("<KeyPress-Right>", ("go", 1)), ("<KeyPress-Left>", ("go", -1)),
                              ("<KeyPress-D>", ("go", 1)), ("<KeyPress-equal>", ("zoom_by", 1.25)),
                              ("<KeyPress-KP_Add>", ("zoom_by", 1.25)), ("<KeyPress-KP_Subtract>", ("zoom_by", 0.8))):
            calls.clear()
            key(seq)
            assert calls == [expected], (seq, calls)
        tree = win.file_list.tree
        for seq in ("<KeyPress-d>", "<KeyPress-a>", "<KeyPress-space>", "<KeyPress-y>", "<KeyPress-x>",
                    "<KeyPress-r>", "<KeyPress-u>", "<KeyPress-n>", "<Shift-KeyPress-N>", "<KeyPress-F5>"):
            assert tree.bind(seq) and root.bind(seq), f"{seq} is not bound in the list and the window"

        # View: the view modes (menu radio items and V), Outline only (menu and O), opacity ([ and ]).
        view = _cascade(bar, pgettext("menu", "View"))
        from desktop.app.canvas_view import MODE_TITLES, MODES

        for mode in reversed(MODES):
            view.invoke(_entries(view)[_(MODE_TITLES[mode])])
            assert win.view_mode.get() == mode and win.settings.view_mode == mode
        key("<KeyPress-v>")
        assert win.view_mode.get() == MODES[1] and win.settings.view_mode == MODES[1]
        outline = win.settings.outline
        assert view.entrycget(_entries(view)[_("Outline only")], "accelerator") == "O"
        view.invoke(_entries(view)[_("Outline only")])
        assert win.settings.outline is (not outline) and win.canvas_view.outline is (not outline)
        key("<KeyPress-o>")
        assert win.settings.outline is outline and win.canvas_view.outline is outline
        opacity = win.settings.opacity
        key("<KeyPress-bracketleft>")
        assert win.settings.opacity == pytest.approx(max(0.0, opacity - 0.1))
        key("<KeyPress-bracketright>")
        assert win.settings.opacity == pytest.approx(min(1.0, max(0.0, opacity - 0.1) + 0.1))
        language_menu = win.language_menu.menu
        assert len(_entries(language_menu)) == 1 + len(i18n.SUPPORTED)
        assert _("Language") in _entries(view)

        # File ▸ Include subfolders is remembered.
        file_menu = _cascade(bar, pgettext("menu", "File"))
        before = win.settings.recursive
        file_menu.invoke(_entries(file_menu)[_("Include subfolders")])
        assert win.settings.recursive is (not before) and win.recursive_var.get() is (not before)

        # A key typed into a text field is text, not a command; Ctrl+O still opens.
        search = win.review.controls.search_entry
        search.focus_force()
        pump(root, 0.05)
        calls.clear()
        search.event_generate("<KeyPress-d>")
        pump(root, 0.02)
        assert calls == []
        search.event_generate("<Control-o>")
        pump(root, 0.02)
        assert calls == [("ask_open_files",)]
    finally:
        close_window(win)


# --------------------------------------------------------------------------- the list's columns

def _photo_folder(tmp_path: Path, golden_images) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for stem, src in golden_images.items():
        (folder / f"{stem}{src.suffix}").write_bytes(src.read_bytes())
    (folder / "zz_broken.jpg").write_bytes(next(iter(golden_images.values())).read_bytes()[:3000])
    return folder


def _menu_screenshots(win, tag: str) -> list[Path]:
    """Each menu of the menu bar posted under its title, saved with the window (to look at)."""
    import os

    from gui_helpers import SCREENSHOTS
    from PIL import ImageGrab

    root, bar = win.root, win.menubar
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    paths = []
    x0, y0 = root.winfo_rootx(), root.winfo_rooty()
    left = x0
    for label, index in _entries(bar).items():
        menu = bar.nametowidget(bar.entrycget(index, "menu"))
        menu.post(left, y0)
        pump(root, 0.3)
        right = max(x0 + root.winfo_width(), menu.winfo_rootx() + menu.winfo_width())
        bottom = max(y0 + root.winfo_height(), menu.winfo_rooty() + menu.winfo_height())
        path = SCREENSHOTS / f"{tag}-{index}.png"
        ImageGrab.grab(xdisplay=os.environ["DISPLAY"]).crop((x0, max(0, y0 - 30), right, bottom)).save(path)
        menu.unpost()
        pump(root, 0.1)
        paths.append(path)
        left += max(60, tkfont.nametofont("TkMenuFont", root=root).measure(label) + 20)
    return paths


def _state_problems(win, whole_failures: bool) -> list[str]:
    """Rows whose state text does not fit its column, or ends past the list's visible edge.

    A failure's reason (already shortened to 48 characters, whole in the row's tooltip and
    the status bar) may be cut in a small window (``whole_failures`` false); the word "failed" may not."""
    tree = win.file_list.tree
    font = tkfont.nametofont("TkDefaultFont", root=tree)
    name_w, state_w, tree_w = int(tree.column("#0", "width")), int(tree.column("state", "width")), tree.winfo_width()
    failed = _("failed: {reason}").split("{reason}")[0]
    out = []
    for key in tree.get_children():
        text = str(tree.set(key, "state"))
        if win.images.get(key).state is State.FAILED:
            assert text.startswith(failed), text
            text = text if whole_failures else failed
        need = font.measure(text) + 8  # the cell's padding
        if need > state_w or name_w + need > tree_w:
            out.append(f"{text!r} needs {need} px: its column is {state_w} px, from {name_w} px in a "
                       f"{tree_w} px list")
    return out


@pytest.mark.gui
@pytest.mark.slow
@pytest.mark.parametrize("size", ["1440x900", "1024x640"])
def test_list_shows_state_and_sort_text_whole(size, gui_env, language, tiny_model_dir, golden_images):  # noqa: F811
    from desktop.app import create_root
    from desktop.app.list_view import SORTS
    from desktop.app.main_window import MainWindow

    folder = _photo_folder(gui_env, golden_images)
    root, dnd = create_root()
    win = MainWindow(root, Settings(model_dir=str(tiny_model_dir)), parser_factory=tiny_factory(), dnd=dnd)
    try:
        root.geometry(size)
        root.deiconify()
        wait_for(root, lambda: win.model_state == "ready", 60, "the model to load")
        win.open_paths([str(folder)])
        wait_for(root, lambda: len(win.images) == 4 and all(e.state in (State.DONE, State.FAILED) for e in win.images)
                 and (win.worker is None or not win.worker.busy), 120, "the images to be parsed")
        done = [e for e in win.images if e.state is State.DONE]
        win.select(done[0].key)
        assert win.review.set_verdict("needs_fix")  # the longest verdict word
        win.select(done[1].key)
        assert win.review.set_verdict("rejected")
        pump(root, 0.5)
        texts = [win.file_list.state_text(e.key) for e in done]
        assert any(t.startswith(_("needs fix")) for t in texts) and any(t.startswith(_("rejected")) for t in texts)
        problems = _state_problems(win, size == "1440x900")
        tag = f"{'zh' if language == 'zh_CN' else 'en'}-list-{size}"
        screenshot(root, tag)

        # The sort box holds its longest choice (the arrow button takes about a line's height).
        controls = win.review.controls
        font = tkfont.nametofont("TkDefaultFont", root=root)
        longest = max((_(label) for label, _get in SORTS.values()), key=font.measure)
        controls.sort.set(longest)
        controls._changed()
        pump(root, 0.3)
        box = controls.sort_box
        if box.winfo_width() < font.measure(longest) + win.u + 8:
            problems.append(f"sort box {box.winfo_width()} px for {longest!r} ({font.measure(longest)} px)")
        filters = controls.filter_box
        widest_filter = max((str(v) for v in filters.cget("values")), key=font.measure)
        if filters.winfo_width() < font.measure(widest_filter) + win.u + 8:
            problems.append(f"filter box {filters.winfo_width()} px for {widest_filter!r}")
        screenshot(root, f"{tag}-sorted")
        if size == "1440x900":
            _menu_screenshots(win, tag.replace("-list-", "-menus-"))
        problems += _state_problems(win, size == "1440x900")  # the order changed, the columns did not
    finally:
        close_window(win)
    assert not problems, "\n".join(problems)



# --------------------------------------------------------------------------- the status texts (no display)

def test_status_texts():
    from desktop.app.session import ImageList
    from desktop.app.status_texts import batch_progress_text, format_duration, list_summary

    assert format_duration(59.6) == "1:00" and format_duration(3725) == "1:02:05" and format_duration(-3) == "0:00"
    assert batch_progress_text(0, 4, [], paused=False) == "Parsing 1 of 4"
    # The time left is from the last 20 parse times (18 of 3 s and 2 of 1 s: 2.8 s each, 6 left).
    assert batch_progress_text(2, 8, [100.0] * 20 + [3.0] * 18 + [1.0] * 2, paused=False) == \
        "Parsing 3 of 8  ·  about 0:17 left"
    assert batch_progress_text(4, 4, [1.0], paused=False).startswith("Parsing 4 of 4")
    assert batch_progress_text(2, 8, [3.0], paused=True) == "Cancelling… (2 of 8 done)"

    images = ImageList()
    assert list_summary(images, subfolders_skipped=True) == ""
    entries = images.add([Path("/p/a.jpg"), Path("/p/b.jpg"), Path("/p/c.jpg")])
    entries[0].state, entries[1].state = State.DONE, State.FAILED
    entries[0].verdict = "accepted"
    assert list_summary(images, subfolders_skipped=False) == "3 images · 1 done · 1 failed · 1 reviewed"
    assert list_summary(images, subfolders_skipped=True).endswith(" · subfolders not included")


def test_short_reason_drops_the_path_in_chinese_too():
    from desktop.app.session import short_reason

    p = Path("/x/y.jpg")
    assert short_reason("“/x/y.jpg”不完整或已损坏（Truncated File Read）。", p) == "不完整或已损坏（Truncated File Read）"
    assert short_reason('"/x/y.jpg" is truncated or corrupt.', p) == "truncated or corrupt"
