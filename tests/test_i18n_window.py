"""The main window, the export dialog and the command line in the pseudo-locale and in Chinese.

The pseudo-locale walk of tests/test_i18n.py, extended to the whole main window (menus,
toolbar, list, list controls, side panels, verdict panel, status bar, edit bar) with a parsed
image, edit mode on and a verdict set, to the export dialog, and to the command line's
``--help`` and error output: any text shown without the ⟦ ⟧ markers skipped gettext.

Then the window once in Chinese (the real catalog, the Noto CJK font when installed): no
button, check button or radio button is narrower than its text needs (a width that holds
English must hold Chinese), at the smallest supported window size and a larger one.
Screenshots land in artifacts/screenshots/ (zh-*.png, en-window.png) to be looked at.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tkinter as tk
from pathlib import Path
from tkinter import ttk

import pytest
from gui_helpers import close_window, gui_env, pump, screenshot, tiny_factory, wait_for, xvfb_display  # noqa: F401 - fixture
from pseudo_locale import ROOT, find_unmarked, pseudo_locale, pseudo_mo, unmarked

from desktop import APP_NAME, __version__, i18n
from desktop.app.session import State
from desktop.app.settings import Settings

PO = ROOT / "desktop" / "locale" / "zh_CN" / "LC_MESSAGES" / "m2fp.po"






def _open_window(tiny_model_dir, folder: Path, size: str = "1024x640"):
    """The window with ``folder`` parsed, its first image shown, accepted, edit mode on, export dialog open."""
    from desktop.app import create_root
    from desktop.app.main_window import MainWindow

    root, dnd = create_root()
    win = MainWindow(root, Settings(model_dir=str(tiny_model_dir)), parser_factory=tiny_factory(), dnd=dnd)
    root.geometry(size)
    root.deiconify()
    wait_for(root, lambda: win.model_state == "ready", 60, "the model to load")
    win.open_paths([str(folder)])
    wait_for(root, lambda: len(win.images) > 0 and all(e.state in (State.DONE, State.FAILED) for e in win.images)
             and (win.worker is None or not win.worker.busy), 120, "the images to be parsed")
    first = next(e for e in win.images if e.state is State.DONE)
    win.select(first.key)
    pump(root, 0.2)
    assert win.review.set_verdict("needs_fix"), "a verdict is set (the folder has a workspace)"
    win.edit.set_active(True)
    pump(root, 0.3)
    assert win.edit.active
    win.open_export_dialog("current")
    pump(root, 0.3)
    return win


def _photo_folder(tmp_path: Path, golden_images) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for stem, src in golden_images.items():
        (folder / f"{stem}{src.suffix}").write_bytes(src.read_bytes())
    return folder


# --------------------------------------------------------------------------- pseudo-locale: the main window

@pytest.mark.gui
def test_main_window_and_export_dialog_show_only_translated_text(gui_env, tiny_model_dir, golden_images):  # noqa: F811
    folder = _photo_folder(gui_env, golden_images)
    with pseudo_locale():
        win = _open_window(tiny_model_dir, folder)
        try:
            root = win.root
            # Data shown as it is: file and folder names, the app's and model's names, the reviewer.
            data = [APP_NAME, __version__, str(folder), folder.name, win.review.reviewer, "model", "m2fp-tiny",
                    *(p.name for p in folder.iterdir()), *(p.stem for p in folder.iterdir()),
                    *(e.display_name for e in win.images), str(tiny_model_dir), tiny_model_dir.name,
                    "px", "Ctrl", "Shift", "Esc", "F5", "JSON", "PNG", "English", "简体中文",
                    win.export_dialog.folder.get()]
            problems = find_unmarked(root, data)
            problems += find_unmarked(win.export_dialog, data)
            # What the walk must have seen, so a broken walk cannot pass.
            texts = {w for w in (str(win.buttons["parse"].cget("text")),
                                 str(win.file_list.tree.heading("#0", "text")),
                                 str(win.export_dialog.export_button.cget("text")))}
        finally:
            close_window(win)
    assert texts == {"⟦Parse⟧", "⟦File⟧", "⟦Export⟧"}, texts
    assert not problems, "text that did not go through gettext:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- pseudo-locale: the command line

@pytest.fixture(scope="module")
def pseudo_locale_dir(tmp_path_factory) -> Path:
    """The pseudo catalog installed as the Chinese one, for a command line started in a subprocess."""
    folder = tmp_path_factory.mktemp("pseudo-locale")
    mo = folder / "zh_CN" / "LC_MESSAGES" / "m2fp.mo"
    mo.parent.mkdir(parents=True)
    mo.write_bytes(pseudo_mo())
    return folder


def _cli(args: list[str], locale_dir: Path, tmp_path: Path, language: str = "zh_CN") -> subprocess.CompletedProcess:
    env = {**os.environ, "M2FP_LOCALE_DIR": str(locale_dir), "M2FP_CONFIG_DIR": str(tmp_path / "config"),
           "COLUMNS": "100", "PYTHONIOENCODING": "utf-8"}
    env.pop("M2FP_LANG", None)
    env["LANG"] = f"{language}.UTF-8" if language != "en" else "en_US.UTF-8"
    env.pop("LANGUAGE", None)
    env.pop("LC_ALL", None)
    env.pop("LC_MESSAGES", None)
    return subprocess.run([sys.executable, "-m", "desktop.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


def _strip_data(line: str) -> str:
    import re

    line = re.sub(r"python -m desktop\.cli( (report|export|compare))?", "", line)
    line = re.sub(r"(?<![\w⟦])-{1,2}[a-z][a-z-]*", "", line)  # options (not words of a sentence)
    line = re.sub(r"\[[^\]⟦⟧]*\]", "", line)  # usage: [--out DIR] [INPUT ...]
    line = re.sub(r"\{[a-z,]+\}", "", line)  # {auto,torch,openvino}
    line = re.sub(r"\b[A-Z][A-Z_.]*\b(?: \.\.\.)?", "", line)  # metavars INPUT DIR N LIST
    return line


def _unmarked_parts(text: str, data=()) -> list[str]:
    """The stretches of ``text`` with letters outside the markers (data and options removed)."""
    for value in sorted((d for d in data if d), key=len, reverse=True):
        text = text.replace(value, "")
    text = _strip_data(text)
    out, depth, current = [], 0, ""
    for ch in text:
        if ch == "⟦":
            depth += 1
        elif ch == "⟧":
            depth = max(0, depth - 1)
        elif depth == 0:
            current += ch
            continue
        if current.strip() and unmarked(current):
            out.append(current.strip())
        current = ""
    if current.strip() and unmarked(current):
        out.append(current.strip())
    return out


@pytest.mark.parametrize("command", [[], ["report"], ["export"], ["compare"]])
def test_cli_help_is_translated_under_the_pseudo_locale(command, pseudo_locale_dir, tmp_path):
    out = _cli([*command, "--help"], pseudo_locale_dir, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "⟦usage: ⟧" in out.stdout and "⟦options⟧" in out.stdout, out.stdout[:500]
    assert "⟦show this help message and exit⟧" in out.stdout
    bad = _unmarked_parts(out.stdout)
    assert not bad, "help text without the markers:\n" + "\n".join(bad)


@pytest.mark.parametrize(("args", "expected"), [
    (["photo.jpg", "--opacity", "3"], "⟦must be between 0 and 1, got 3.0⟧"),
    ([], "⟦the following arguments are required: INPUT⟧"),
    (["photo.jpg"], "⟦error: say where the results go"),
    (["{empty}", "--out", "{out}"], "⟦No images found in: "),
    (["{empty}/no-such-photo.jpg", "--out", "{out}"], "⟦1 image failed:⟧"),
])
def test_cli_errors_are_translated_under_the_pseudo_locale(args, expected, pseudo_locale_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.replace("{out}", str(tmp_path / "out")).replace("{empty}", str(empty)) for a in args]
    out = _cli(args, pseudo_locale_dir, tmp_path)
    assert out.returncode in (0, 1, 2), out.stderr
    assert expected in out.stderr, out.stderr
    data = [str(tmp_path / "out"), str(empty / "no-such-photo.jpg"), str(empty), "photo.jpg"]
    bad = _unmarked_parts(out.stderr + out.stdout, data)
    assert not bad, "output without the markers:\n" + "\n".join(bad)


def test_cli_follows_the_system_language(tmp_path):
    """No M2FP_LANG, LANG=zh_CN: the real catalog; LANG=en_US: English (as the window)."""
    from test_i18n import _catalogs

    folder = tmp_path / "locale"
    _catalogs().compile_po(PO, folder / "zh_CN" / "LC_MESSAGES" / "m2fp.mo")
    chinese = _cli(["--help"], folder, tmp_path, "zh_CN")
    english = _cli(["--help"], folder, tmp_path, "en")
    assert chinese.stdout.startswith("用法：") and "显示此帮助信息并退出" in chinese.stdout
    assert english.stdout.startswith("usage: ") and "show this help message and exit" in english.stdout
    err = _cli(["photo.jpg", "--opacity", "3"], folder, tmp_path, "zh_CN").stderr
    assert "错误：参数 --opacity：须在 0 到 1 之间" in err, err


def test_chinese_help_is_wrapped_by_terminal_columns():
    from desktop.cli_language import display_width, wrap_display

    text = ("模型文件夹（configuration.json + pytorch_model.pt）；默认：M2FP_MODEL_DIR，其次是桌面程序中选择的"
            "文件夹，再次按常规位置查找（程序旁的 models/、用户缓存）")
    lines = wrap_display(text, 30)
    assert "".join(lines).replace(" ", "") == text.replace(" ", ""), "nothing lost"
    assert all(display_width(line) <= 30 for line in lines), lines
    assert any("M2FP_MODEL_DIR" in line for line in lines), "an English word is never cut"
    assert not any(line[0] in "，。；：）" for line in lines), "no line starts with closing punctuation"
    assert wrap_display("one two three four five", 10) == ["one two", "three four", "five"]


def test_cli_help_in_chinese_fits_the_terminal(tmp_path):
    from test_i18n import _catalogs

    from desktop.cli_language import display_width

    folder = tmp_path / "locale"
    _catalogs().compile_po(PO, folder / "zh_CN" / "LC_MESSAGES" / "m2fp.mo")
    out = _cli(["--help"], folder, tmp_path, "zh_CN").stdout
    # The one allowed exception: a word longer than a line (the list of formats).
    wide = [line for line in out.splitlines() if display_width(line) > 100 and " " in line.strip()]
    assert not wide, "\n".join(wide)


# --------------------------------------------------------------------------- Chinese: nothing clipped

def _clipped(top: tk.Misc) -> list[str]:
    """Buttons, check, radio and menu buttons shown narrower than their text needs, or cut off by
    the frame that holds them (a group of the edit bar wider than the photo's column)."""
    out = []

    def cut_by(w: tk.Misc) -> tk.Misc | None:
        right = w.winfo_rootx() + w.winfo_width()
        parent = w.nametowidget(w.winfo_parent())
        while parent is not None and not isinstance(parent, (tk.Canvas, tk.Tk, tk.Toplevel)):
            if right > parent.winfo_rootx() + parent.winfo_width() + 1:
                return parent
            parent = parent.nametowidget(parent.winfo_parent()) if parent.winfo_parent() else None
        return None

    def visit(w: tk.Misc) -> None:
        if isinstance(w, (ttk.Button, ttk.Checkbutton, ttk.Radiobutton, ttk.Menubutton, tk.Button)) \
                and w.winfo_ismapped():
            text = str(w.cget("text"))
            if text and w.winfo_width() + 1 < w.winfo_reqwidth():
                out.append(f"{w}: {text!r} is {w.winfo_width()} px wide, needs {w.winfo_reqwidth()}")
            elif text and (holder := cut_by(w)) is not None:
                out.append(f"{w}: {text!r} is cut off by {holder}")
        for child in w.winfo_children():
            visit(child)

    visit(top)
    return out


def _headings_clipped(tree: ttk.Treeview) -> list[str]:
    import tkinter.font as tkfont

    font = tkfont.nametofont("TkHeadingFont", root=tree)
    out = []
    for col in ("#0", *tree.cget("columns")):
        text = str(tree.heading(col, "text"))
        if text and tree.column(col, "width") < font.measure(text) + 8:
            out.append(f"{tree} heading {col}: {text!r}")
    return out


@pytest.mark.gui
@pytest.mark.parametrize(("language", "size"), [("zh_CN", "1024x640"), ("zh_CN", "1440x900"), ("en", "1024x640")])
def test_the_window_in_chinese_clips_nothing(language, size, gui_env, tiny_model_dir, golden_images, monkeypatch,  # noqa: F811
                                             tmp_path_factory):
    from test_i18n import _catalogs

    folder_locale = tmp_path_factory.mktemp("zh-locale")
    _catalogs().compile_po(PO, folder_locale / "zh_CN" / "LC_MESSAGES" / "m2fp.mo")
    monkeypatch.setenv(i18n.ENV_LOCALE_DIR, str(folder_locale))
    assert i18n.set_language(language) == language
    folder = _photo_folder(gui_env, golden_images)
    try:
        win = _open_window(tiny_model_dir, folder, size)
        try:
            root = win.root
            name = f"{'zh' if language == 'zh_CN' else 'en'}-window-{size}"
            screenshot(root, f"{name}-export-dialog", widget=win.export_dialog)
            win.export_dialog.withdraw()  # the window itself, then the window under the dialog
            screenshot(root, name)
            problems = _clipped(root)
            win.export_dialog.deiconify()
            pump(root, 0.2)
            if language == "zh_CN":
                assert win.buttons["parse"].cget("text") == "解析"
            problems += _clipped(win.export_dialog) + _headings_clipped(win.file_list.tree)
        finally:
            close_window(win)
    finally:
        i18n.set_language(i18n.ENGLISH)
    assert not problems, "\n".join(problems)
