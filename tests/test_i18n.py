"""The app in Simplified Chinese and English: catalogs, language choice, class names, pseudo-locale.

- The catalog: every message marked in the source has a Chinese translation, none empty or
  fuzzy, with the same placeholders as the English (a missing ``{path}`` would lose the file
  name; an extra one would raise KeyError when the message is made).
- Which language: the environment variables in gettext's order, Windows' and macOS'
  preferred language (readers swapped in), the user's choice, ``M2FP_LANG``.
- The 20 class names shown in Chinese, written in English into every exported file.
- The pseudo-locale (tests/pseudo_locale.py): the converted modules' messages come out
  wrapped, and the dialogs converted so far show no text that skipped gettext.
"""

from __future__ import annotations

import ast
import json
import re
import string
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import pump, xvfb_display  # noqa: F401 - xvfb_display is a fixture
from pseudo_locale import ROOT, find_unmarked, pseudo_locale, source_catalog, unmarked, wrap

from desktop import i18n
from desktop.app.settings import Settings, load_settings, save_settings

PO = ROOT / "desktop" / "locale" / "zh_CN" / "LC_MESSAGES" / "m2fp.po"
CLASS_NAMES_ZH = {
    "Background": "背景", "Hat": "帽子", "Hair": "头发", "Gloves": "手套", "Sunglasses": "太阳镜",
    "UpperClothes": "上衣", "Dress": "连衣裙", "Coat": "外套", "Socks": "袜子", "Pants": "裤子",
    "Torso-skin": "躯干皮肤", "Scarf": "围巾", "Skirt": "裙子", "Face": "脸", "Left-arm": "左臂",
    "Right-arm": "右臂", "Left-leg": "左腿", "Right-leg": "右腿", "Left-shoe": "左鞋", "Right-shoe": "右鞋",
}


def _catalogs():
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        import catalogs
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    return catalogs


@pytest.fixture(scope="module")
def zh_po():
    from babel.messages.pofile import read_po

    with open(PO, "rb") as fh:
        return read_po(fh)


@pytest.fixture(scope="session")
def locale_dir(tmp_path_factory) -> Path:
    """The repository's .po compiled now (the tests never depend on a .mo left by dev.py)."""
    folder = tmp_path_factory.mktemp("locale")
    _catalogs().compile_po(PO, folder / "zh_CN" / "LC_MESSAGES" / "m2fp.mo")
    return folder


@pytest.fixture
def language(locale_dir, monkeypatch):
    """Switch the process' language for one test (``language("zh_CN")``); English again after."""
    monkeypatch.setenv(i18n.ENV_LOCALE_DIR, str(locale_dir))
    monkeypatch.delenv(i18n.ENV_LANG, raising=False)

    def use(lang: str) -> str:
        return i18n.set_language(lang)

    yield use
    i18n.set_language(i18n.ENGLISH)


# --------------------------------------------------------------------------- the catalog

def _fields(text: str) -> Counter:
    """Named placeholders: ``{name}`` (escaped ``{{`` excluded) and ``%d`` / ``%(name)s``."""
    out: Counter = Counter()
    for _literal, name, _spec, _conv in string.Formatter().parse(text):
        if name is not None:
            out["{" + name + "}"] += 1
    for m in re.finditer(r"%(\([^)]+\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]", text):
        out[m.group(0)] += 1
    return out


def _ids(msg) -> tuple[str, ...]:
    return msg.id if isinstance(msg.id, tuple) else (msg.id,)


def _strings(msg) -> tuple[str, ...]:
    return msg.string if isinstance(msg.string, tuple) else (msg.string,)


def test_every_message_of_the_source_has_a_chinese_translation(zh_po):
    source = [m for m in source_catalog() if m.id]
    assert len(source) > 300, "the extraction found too few messages: is babel.cfg right?"
    missing, empty, fuzzy = [], [], []
    for msg in source:
        tr = zh_po.get(msg.id, context=msg.context)
        if tr is None:
            missing.append(_ids(msg)[0])
        elif tr.fuzzy:
            fuzzy.append(_ids(msg)[0])
        elif not all(s.strip() for s in _strings(tr)):
            empty.append(_ids(msg)[0])
    hint = "run: python packaging/catalogs.py update, then translate desktop/locale/zh_CN/LC_MESSAGES/m2fp.po"
    assert not missing, f"{len(missing)} messages are not in the catalog ({hint}): {missing[:10]}"
    assert not empty, f"{len(empty)} messages have no Chinese translation: {empty[:10]}"
    assert not fuzzy, f"{len(fuzzy)} translations are fuzzy (unchecked guesses): {fuzzy[:10]}"


def test_chinese_plural_header_has_one_form(zh_po):
    assert zh_po.num_plurals == 1 and zh_po.plural_expr == "0"
    assert [m for m in zh_po if m.id and isinstance(m.id, tuple)], "plural messages are marked with ngettext"


def test_placeholders_match_between_english_and_chinese(zh_po):
    problems = []
    for msg in zh_po:
        if not msg.id or not msg.string:
            continue
        ids = _ids(msg)
        # Chinese has one form for every n: it must hold what the English plural holds.
        wanted = _fields(ids[-1])
        for tr in _strings(msg):
            if _fields(tr) != wanted:
                problems.append(f"{ids[0]!r}: {sorted(wanted)} vs {tr!r}")
                continue
            names = {n[1:-1]: "x" for n in wanted if n.startswith("{")}
            try:
                tr.format(**names) if names or "{" in tr else None
            except (KeyError, ValueError, IndexError) as exc:
                problems.append(f"{tr!r} cannot be formatted: {exc}")
    assert not problems, "\n".join(problems[:20])


def test_the_singular_english_holds_the_plurals_placeholders():
    """The English singular is used for n = 1: it must take the same values as the plural."""
    for msg in source_catalog():
        if msg.id and isinstance(msg.id, tuple):
            assert _fields(msg.id[0]) == _fields(msg.id[1]), msg.id


def test_compiled_catalog_is_read_by_gettext(language):
    assert language("zh_CN") == "zh_CN" and i18n.current_language() == "zh_CN"
    assert i18n._("Model needed") == "需要模型"
    assert i18n.ngettext("{n} result attached", "{n} results attached", 1).format(n=1) == "已关联 1 个结果"
    assert i18n.ngettext("{n} result attached", "{n} results attached", 7).format(n=7) == "已关联 7 个结果"
    assert i18n.pgettext("review verdict", "Accepted") == "通过"
    assert language("en") == "en" and i18n._("Model needed") == "Model needed"


def test_english_plural_forms(language):
    language("en")
    msg = ("{n} result attached", "{n} results attached")
    assert i18n.ngettext(*msg, 1).format(n=1) == "1 result attached"
    assert i18n.ngettext(*msg, 0).format(n=0) == "0 results attached"
    assert i18n.ngettext(*msg, 2).format(n=2) == "2 results attached"


def test_missing_or_damaged_catalog_means_english(tmp_path, monkeypatch):
    monkeypatch.setenv(i18n.ENV_LOCALE_DIR, str(tmp_path))
    try:
        assert i18n.set_language("zh_CN") == "en"
        bad = tmp_path / "zh_CN" / "LC_MESSAGES" / "m2fp.mo"
        bad.parent.mkdir(parents=True)
        bad.write_bytes(b"not a catalog at all")
        assert i18n.set_language("zh_CN") == "en" and i18n._("Model needed") == "Model needed"
    finally:
        i18n.set_language("en")


def test_a_bundled_app_finds_its_catalogs_under_meipass(tmp_path, monkeypatch, locale_dir):
    bundle = tmp_path / "bundle"
    target = bundle / "desktop" / "locale" / "zh_CN" / "LC_MESSAGES" / "m2fp.mo"
    target.parent.mkdir(parents=True)
    target.write_bytes((locale_dir / "zh_CN" / "LC_MESSAGES" / "m2fp.mo").read_bytes())
    monkeypatch.delenv(i18n.ENV_LOCALE_DIR, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    assert i18n.locale_dir() == bundle / "desktop" / "locale"
    try:
        assert i18n.set_language("zh_CN") == "zh_CN" and i18n._("Close") == "关闭"
    finally:
        i18n.set_language("en")


def test_the_spec_bundles_the_compiled_catalogs_where_the_app_looks(tmp_path):
    """build_exe.spec's locale_datas() (run alone: the full spec is tested in test_packaging)."""
    tree = ast.parse((ROOT / "build_exe.spec").read_text(encoding="utf-8"))
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "locale_datas")
    namespace = {"ROOT": ROOT, "sys": sys, "Path": Path}
    exec(compile(ast.Module([func], []), "build_exe.spec", "exec"), namespace)  # noqa: S102
    datas = namespace["locale_datas"]()
    assert (str(PO.with_suffix(".mo")), str(Path("desktop/locale/zh_CN/LC_MESSAGES"))) in datas
    assert PO.with_suffix(".mo").stat().st_mtime >= PO.stat().st_mtime, "the spec compiles a stale .mo"
    # The bundle's path is what locale_dir() builds from sys._MEIPASS.
    for src, dest in datas:
        assert (Path("desktop") / "locale").as_posix() in Path(dest).as_posix() and Path(src).name == "m2fp.mo"


def test_mo_files_are_not_committed():
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8")
    assert "desktop/locale/*/LC_MESSAGES/*.mo" in ignored


# --------------------------------------------------------------------------- which language

@pytest.mark.parametrize(("tag", "expected"), [
    ("zh_CN.UTF-8", "zh_CN"), ("zh_CN", "zh_CN"), ("zh_SG.GB2312", "zh_CN"), ("zh-Hans-CN", "zh_CN"),
    ("zh_Hans", "zh_CN"), ("zh", "zh_CN"), ("zh-CN", "zh_CN"),
    # Traditional Chinese systems get Simplified Chinese (decided in desktop/i18n.py's docstring).
    ("zh_TW.UTF-8", "zh_CN"), ("zh_HK", "zh_CN"), ("zh-Hant-TW", "zh_CN"),
    ("Chinese (Simplified)_China.936", "zh_CN"),
    ("en_US.UTF-8", "en"), ("en_GB@euro", "en"), ("en", "en"), ("C", "en"), ("POSIX", "en"), ("C.UTF-8", "en"),
    ("English_United States.1252", "en"),
    ("fr_FR.UTF-8", None), ("de", None), ("ja_JP", None), ("", None), (None, None),
])
def test_normalize_language(tag, expected):
    assert i18n.normalize_language(tag) == expected


@pytest.mark.parametrize(("environ", "expected"), [
    ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "en"),  # neither Chinese nor English: English
    ({}, "en"),
    ({"LANG": "C"}, "en"),
    ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),  # LC_ALL before LANG
    ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh_CN"),
    ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh_CN"),
    ({"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, "zh_CN"),  # LANGUAGE first
    ({"LANGUAGE": "fr:zh_CN:en", "LANG": "en_US.UTF-8"}, "zh_CN"),  # the first one we speak
    ({"LANGUAGE": "", "LANG": "zh_TW.UTF-8"}, "zh_CN"),  # empty variables are skipped
])
def test_system_language_from_the_environment(environ, expected):
    assert i18n.system_language(environ, "linux") == expected


def test_windows_uses_the_user_interface_language():
    english_shell = {"LANG": "en_US.UTF-8"}  # Git Bash sets LANG whatever Windows' language
    assert i18n.system_language(english_shell, "win32", windows_ui=lambda: "zh_CN") == "zh_CN"
    assert i18n.system_language({}, "win32", windows_ui=lambda: "en_US") == "en"
    assert i18n.system_language({}, "win32", windows_ui=lambda: "de_DE") == "en"

    def broken():
        raise OSError("no kernel32")

    assert i18n.system_language({"LANG": "zh_CN.UTF-8"}, "win32", windows_ui=broken) == "zh_CN"


def test_macos_uses_the_preferred_languages():
    assert i18n.system_language({"LANG": "en_US.UTF-8"}, "darwin", macos_languages=lambda: ["zh-Hans-CN", "en"]) \
        == "zh_CN"
    assert i18n.system_language({}, "darwin", macos_languages=lambda: ["fr-FR", "en-US", "zh-Hans"]) == "en"
    assert i18n.system_language({"LANG": "zh_CN.UTF-8"}, "darwin", macos_languages=lambda: []) == "zh_CN"


@pytest.mark.skipif(sys.platform not in ("win32", "darwin"), reason="the system reader of Windows or macOS")
def test_the_real_system_reader_answers():
    if sys.platform == "win32":
        found = i18n._windows_ui_language()
        assert found is None or isinstance(found, str)
    else:
        assert all(isinstance(tag, str) and tag for tag in i18n._macos_languages())
    assert i18n.system_language() in i18n.SUPPORTED


def test_choice_order_environment_then_setting_then_system():
    system = {"LANG": "zh_CN.UTF-8"}
    assert i18n.resolve_language("", system, platform="linux") == "zh_CN"
    assert i18n.resolve_language("en", system, platform="linux") == "en"
    assert i18n.resolve_language("zh_CN", {"LANG": "en_US.UTF-8"}, platform="linux") == "zh_CN"
    assert i18n.resolve_language("zh_CN", {**system, "M2FP_LANG": "en"}, platform="linux") == "en"
    assert i18n.resolve_language("", {"M2FP_LANG": "zh_CN"}, platform="linux") == "zh_CN"
    assert i18n.resolve_language("", {"M2FP_LANG": "klingon"}, platform="linux") == "en"


def test_language_setting_is_validated_and_remembered(tmp_path):
    assert Settings().language == ""
    for good in ("", "en", "zh_CN"):
        assert Settings(language=good).validated() == (Settings(language=good), [])
    for bad in ("fr", "zh_TW", 3, None, ["zh_CN"]):
        fixed, problems = Settings(language=bad).validated()
        assert fixed.language == "" and problems == ["language"]
    path = tmp_path / "settings.json"
    assert save_settings(Settings(language="zh_CN"), path)
    assert load_settings(path) == (Settings(language="zh_CN"), None)
    path.write_text(json.dumps({"language": "klingon", "opacity": 0.3}), encoding="utf-8")
    settings, warning = load_settings(path)
    assert settings.language == "" and settings.opacity == 0.3 and "language" in warning


def test_init_language_follows_the_setting_unless_overridden(language, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    monkeypatch.delenv("LANGUAGE", raising=False)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert i18n.init_language("zh_CN") == "zh_CN" and i18n._("Close") == "关闭"
    assert i18n.init_language("") == "en"
    monkeypatch.setenv("M2FP_LANG", "zh_CN")
    assert i18n.init_language("en") == "zh_CN"


def test_gettext_in_another_language(language):
    language("en")
    assert i18n.gettext_in("zh_CN", "Close") == "关闭" and i18n._("Close") == "Close"


# --------------------------------------------------------------------------- class names

def test_the_twenty_class_names_in_chinese(language):
    from desktop.resources import default_class_names

    names = default_class_names()
    assert set(names) == set(CLASS_NAMES_ZH), "resources/classes.json and the display names differ"
    language("zh_CN")
    assert [i18n.class_display_name(n) for n in names] == [CLASS_NAMES_ZH[n] for n in names]
    assert i18n.class_display_names(names) == [CLASS_NAMES_ZH[n] for n in names]
    assert i18n.class_display_name("Tail") == "Tail", "a model's other labels are shown as they are"
    assert default_class_names()[2] == "Hair", "the names the exports use stay English"
    language("en")
    assert [i18n.class_display_name(n) for n in names] == list(names)


def test_exported_files_keep_english_class_names_in_chinese(language, tmp_path):
    from desktop.formats import FormatRun, ImageMaps
    from desktop.resources import default_class_names, palette

    language("zh_CN")
    labels = np.zeros((40, 30), np.uint8)
    persons = np.zeros((40, 30), np.uint16)
    labels[5:20, 5:20], persons[5:20, 5:20] = 2, 1  # Hair of person 1
    labels[20:35, 5:20], persons[20:35, 5:20] = 13, 1  # Face
    run = FormatRun(tmp_path, ["labelme", "cvat", "coco"], default_class_names(), palette())
    run.add(ImageMaps(labels, persons, "photo.jpg", "photo"))
    run.finish()
    text = "".join(p.read_text(encoding="utf-8") for p in tmp_path.rglob("*") if p.suffix in (".json", ".xml"))
    assert "Hair" in text and "Face" in text
    assert not re.search(r"[\u4e00-\u9fff]", text), "an exported file holds Chinese"


def test_doubt_reasons_are_stored_in_english_and_shown_translated(language):
    from desktop.review.doubt import DoubtReason, reason_text

    language("zh_CN")
    from desktop.review import doubt

    message = doubt._sentence("no-person", None, "Hair", {"pixels": 1234}, False)
    reason = DoubtReason("no-person", message, None, "Hair", 0.2, {"pixels": 1234}).as_dict()
    assert reason["message"] == ("1,234 pixels of Hair belong to no person: the model found the Hair but no person "
                                 "under it.")
    assert reason_text(reason) == "有 1,234 个头发像素不属于任何人物：模型找到了头发，但没有找到对应的人。"
    arm = {"code": "arm-side", "person": 2, "class": "Left-arm", "facing_camera": True, "side": "right",
           "reference": "torso", "message": "stored"}
    assert reason_text(arm) == "人物 2：左臂在画面中位于躯干的右侧，但能看到脸，说明此人面向镜头：左右手臂可能标反了。"
    assert reason_text({"code": "from-a-newer-version", "message": "kept as stored"}) == "kept as stored"


# --------------------------------------------------------------------------- pseudo-locale: messages

def test_unmarked_finds_text_outside_the_markers():
    assert not unmarked(wrap("Close"))
    assert not unmarked(wrap("Cannot read " + wrap("photo") + ": x"))  # nested: all inside
    assert not unmarked("12.5 % – 3/4")  # no letters
    assert unmarked("Close")
    assert unmarked(wrap("Person 1") + " score")
    assert not unmarked(wrap("Folder") + " /data/photos", allowed=["/data/photos"])
    assert unmarked("人物")  # Chinese letters are letters too


def test_pseudo_catalog_keeps_placeholders(language):
    with pseudo_locale():
        assert i18n._("Cannot read \"{path}\": {reason}").format(path="a.png", reason="r") == \
            "⟦Cannot read \"a.png\": r⟧"
        assert i18n.ngettext("{n} result attached", "{n} results attached", 2).format(n=2) == "⟦2 results attached⟧"
        assert i18n.pgettext("parsing class", "Face") == "⟦Face⟧"
        assert i18n.class_display_name("Hair") == "⟦Hair⟧"
    assert i18n._("Close") == "Close", "the language before the block comes back"


def test_converted_modules_speak_through_gettext(tmp_path, tiny_model_dir):
    """A message from each converted module, made under the pseudo-locale, is wholly marked."""
    from desktop.app.entry_badges import waiting_badge
    from desktop.app.model_identity import identify_model
    from desktop.engine.config import load_config
    from desktop.engine.errors import M2FPError
    from desktop.engine.models import locate_model
    from desktop.formats import read_labelme
    from desktop.imageio import load_image
    from desktop.review.edit_core import EditError
    from desktop.review.person_edits import merge_persons
    from desktop.review.workspace import Status, Workspace, WorkspaceError
    from desktop.review.workspace_lock import LockHolder

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{", encoding="utf-8")
    broken_settings = tmp_path / "settings.json"
    broken_settings.write_text("{", encoding="utf-8")
    messages = []

    def caught(fn, *args, errors=(M2FPError, WorkspaceError, EditError)):
        try:
            fn(*args)
        except errors as exc:
            messages.append(str(exc))
        else:
            raise AssertionError(f"{fn.__name__}{args} raised nothing")

    with pseudo_locale():
        for state, queued, paused in (("loading", False, False), ("missing", False, False), ("ready", True, False),
                                      ("ready", False, True)):
            messages.append(waiting_badge(state, queued, paused))
        caught(load_config, tmp_path / "nothing")
        caught(locate_model, tmp_path / "no-such-model")
        caught(locate_model, tmp_path)
        caught(load_image, empty)
        caught(load_image, tmp_path)
        caught(read_labelme, bad_json, ["Background", "Hair"])
        caught(Workspace.open, tmp_path)
        labels, persons = np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint16)
        caught(merge_persons, labels, persons, 1, 1)
        messages.append(load_settings(broken_settings, set_aside=False)[1])
        messages += [s.label for s in Status]
        messages.append(identify_model({}).title)
        messages.append(identify_model({"name": "model", "source": str(tiny_model_dir)}).licence)
        messages.append(LockHolder("ann", "pc1", 42, "").describe())
    bad = [m for m in messages if unmarked(m, allowed=[str(tmp_path), "ann", "pc1"])]
    assert not bad, "\n".join(bad)
    assert len(messages) >= 20


# --------------------------------------------------------------------------- pseudo-locale: windows

@pytest.fixture
def tk_root(xvfb_display, monkeypatch, tmp_path):  # noqa: F811
    import tkinter as tk

    from desktop.app import create_root

    monkeypatch.setenv("M2FP_CONFIG_DIR", str(tmp_path / "config"))
    roots = []

    def make():
        root, _dnd = create_root()
        roots.append(root)
        return root

    yield make
    for root in roots:
        try:
            root.destroy()
        except tk.TclError:
            pass



@pytest.mark.gui
def test_the_walker_finds_text_that_skipped_gettext(tk_root):
    from tkinter import ttk

    root = tk_root()
    with pseudo_locale():
        frame = ttk.Frame(root)
        ttk.Label(frame, text=i18n._("Close")).pack()
        ttk.Button(frame, text="Hello").pack()
        found = find_unmarked(frame)
    assert len(found) == 1 and "'Hello'" in found[0]


@pytest.mark.gui
def test_converted_dialogs_and_panels_show_only_translated_text(tk_root, tiny_model_dir, tmp_path):
    import platform

    from desktop import APP_NAME, __version__
    from desktop.app.about import AboutDialog, ShortcutsDialog
    from desktop.app.class_panel import ClassPanel
    from desktop.app.language_menu import LanguageMenu
    from desktop.app.model_dialog import ModelDialog
    from desktop.app.person_panel import PersonPanel
    from desktop.app.status_bar import StatusBar
    from desktop.resources import default_class_names, palette

    with pseudo_locale():
        root = tk_root()
        info = {"name": "model", "source": str(tiny_model_dir), "found_in": "user cache", "runtime": "torch",
                "precision": "exact", "threads": "2", "load_seconds": "1.25", "openvino_kernel": "n/a"}
        about = AboutDialog(root, info, str(tiny_model_dir), str(tmp_path / "m2fp.log"))
        shortcuts = ShortcutsDialog(root)
        model = ModelDialog(root, on_done=lambda path: None, problem="", target=str(tmp_path / "models"),
                            download=lambda *a, **k: None)
        import tkinter as tk

        side = tk.Toplevel(root)
        side.title(i18n._("Classes"))
        classes = ClassPanel(side, default_class_names(), palette())
        classes.pack()
        people = PersonPanel(side)
        people.pack()
        people.set_persons([(1, 0.93), (2, 0.51)])
        empty_people = PersonPanel(side)
        empty_people.set_persons([])
        empty_people.pack()
        bar = StatusBar(side, unit=16, cancel_command=lambda: None)
        bar.pack()
        bar.show_progress(True)
        menubar = tk.Menu(root)
        view = tk.Menu(menubar)
        menubar.add_cascade(label=i18n._("Language"), menu=view)
        LanguageMenu(view, Settings(), save=lambda: None, notify=lambda text: None)
        pump(root, 0.2)
        data = [APP_NAME, __version__, str(tiny_model_dir), str(tmp_path / "m2fp.log"), str(tmp_path), "Python", "Tk", "PyTorch", "NumPy",
                platform.system(), platform.release(), platform.machine(), platform.python_version(), "torch",
                "exact", "n/a", "English", "简体中文",
                # Versions the dialog lists once a test before this one imported the library ("2.13.0+cpu").
                *(getattr(sys.modules.get(m), "__version__", "") for m in ("torch", "openvino", "numpy"))]
        problems = []
        for top in (about, shortcuts, model, side, menubar):
            problems += find_unmarked(top, data)
        assert about.identity.kind == "test"
    assert not problems, "text that did not go through gettext:\n" + "\n".join(problems)


@pytest.mark.gui
def test_language_menu_remembers_the_choice_and_says_restart_in_that_language(tk_root, language):
    import tkinter as tk

    from desktop.app.language_menu import LanguageMenu

    language("en")
    root = tk_root()
    settings, saved, told = Settings(), [], []
    menu = tk.Menu(root)
    lm = LanguageMenu(menu, settings, save=lambda: saved.append(settings.language), notify=told.append)
    labels = [lm.menu.entrycget(i, "label") for i in range(lm.menu.index("end") + 1) if lm.menu.type(i) != "separator"]
    assert labels[1:] == ["English", "简体中文"] and labels[0].startswith("System language (")
    assert lm.choose("zh_CN") == "重新启动软件后将以简体中文显示。"
    assert settings.language == "zh_CN" and saved == ["zh_CN"] and told == ["重新启动软件后将以简体中文显示。"]
    assert lm.var.get() == "zh_CN"
    assert lm.choose("en") == "" and settings.language == "en", "back to the language in use: no restart"
    assert lm.choose("en") == "" and saved == ["zh_CN", "en"], "the same choice again saves nothing"


# --------------------------------------------------------------------------- fonts

@pytest.mark.gui
def test_chinese_gets_a_font_with_chinese_glyphs(tk_root, language):
    import tkinter.font as tkfont

    from desktop.app.cjk_fonts import NAMED_FONTS, apply_language_fonts, chinese_family

    language("en")
    root = tk_root()
    english_family = tkfont.nametofont("TkDefaultFont", root=root).actual("family")
    assert apply_language_fonts(root, "en") is None
    assert tkfont.nametofont("TkDefaultFont", root=root).actual("family") == english_family
    family = chinese_family(root, "linux")
    if family is None:
        pytest.skip("no Chinese font installed (Debian: apt-get install fonts-noto-cjk)")
    assert family == "Noto Sans CJK SC"
    assert apply_language_fonts(root, "zh_CN") == family
    for name in NAMED_FONTS:
        if name in tkfont.names(root):
            assert tkfont.nametofont(name, root=root).cget("family") == family, name

    # The whole window in Chinese: create_root applies it through the theme, before the fonts are copied.
    language("zh_CN")
    root = tk_root()
    assert tkfont.nametofont("TkDefaultFont", root=root).actual("family") == family
    bold = root._m2fp_fonts[0]
    assert bold.actual("family") == family and bold.actual("weight") == "bold"
