"""Issue 12, item 7: no settings file can stop the app from starting or put its window out of sight.

Every field is checked on its own (type, range, size) and falls back to its default alone;
a file that is not JSON, nested too deep, or far too large is set aside, quickly; the window
lands on a screen whatever geometry was saved.
"""

from __future__ import annotations

import json
import time

import pytest
from gui_helpers import xvfb_display  # noqa: F401 - fixture

from desktop.app.settings import MAX_FILE_BYTES, Settings, load_settings
from desktop.app.window_placement import Rect, default_geometry, parse_geometry, place_window

GOOD = {
    "geometry": "1200x800+40+30", "zoomed": True, "last_folder": "/photos", "recursive": True,
    "opacity": 0.3, "view_mode": "photo", "outline": True, "hidden_classes": [0, 4],
    "export_formats": ["json"], "export_only_visible": True, "export_folder": "/out", "model_dir": "/m",
    "reviewer": "Ana", "last_workspace": "/w/a.m2fpws", "recent_workspaces": ["/w/a.m2fpws", "/w/b.m2fpws"],
    "language": "zh_CN",
}

BAD_VALUES = {
    "geometry": ["800x600+10", "0x0+0+0", "x" * 10_000, 800, "800x600+10+20; rm -rf /"],
    "zoomed": ["yes", 1, None],
    "last_folder": [["/a"], "a\x00b", "p" * 5000],
    "recursive": [0, "true"],
    "opacity": [7, -0.1, "0.5", True, float("nan"), 1e400],
    "view_mode": ["sideways", 3, ["photo"]],
    "outline": ["on"],
    "hidden_classes": ["x", [True], [256], [-1], [1.5], list(range(256)) * 2, [[0]]],
    "export_formats": [[], ["pdf"], "json", [1], ["json"] * 100],
    "export_only_visible": [None],
    "export_folder": [42],
    "model_dir": [{"a": 1}],
    "reviewer": [7, "a\nb", "n" * 500],
    "last_workspace": [["/a"]],
    "recent_workspaces": ["/a", [3], ["/a"] * 100],
    "language": ["fr", "zh_TW", 1, None],
}


def _write(path, data, encoding="utf-8"):
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode(encoding))
    return path


def test_good_settings_load_as_saved(tmp_path):
    settings, warning = load_settings(_write(tmp_path / "settings.json", GOOD))
    assert warning is None and settings == Settings(**GOOD)
    assert set(BAD_VALUES) == set(GOOD) == {f for f in Settings.__dataclass_fields__}


@pytest.mark.parametrize("name, bad", [(name, bad) for name, values in BAD_VALUES.items() for bad in values])
def test_each_invalid_field_falls_back_alone(tmp_path, name, bad):
    path = _write(tmp_path / "settings.json", {**GOOD, name: bad})
    settings, warning = load_settings(path)
    assert getattr(settings, name) == getattr(Settings(), name)
    assert warning is not None and name in warning and "reset to their defaults" in warning
    for other, value in GOOD.items():
        if other != name:
            assert getattr(settings, other) == value, other
    assert path.exists()  # one bad field is not a broken file


def test_byte_order_mark_is_accepted(tmp_path):
    path = _write(tmp_path / "settings.json", b"\xef\xbb\xbf" + json.dumps(GOOD).encode())
    settings, warning = load_settings(path)
    assert warning is None and settings.opacity == 0.3 and settings.view_mode == "photo"


@pytest.mark.parametrize("kind", ["deep nesting", "huge list", "not json", "array", "folder"])
def test_hostile_files_are_set_aside_fast(tmp_path, kind):
    path = tmp_path / "settings.json"
    if kind == "deep nesting":
        path.write_text('{"hidden_classes": ' + "[" * 200_000 + "]" * 200_000 + "}")
    elif kind == "huge list":  # 50 MB: cost 40 s and 2.4 GB at every start
        with open(path, "w") as fh:
            fh.write('{"opacity": 0.3, "hidden_classes": [')
            fh.write("1," * 25_000_000)
            fh.write("1]}")
        assert path.stat().st_size > 40 * MAX_FILE_BYTES
    elif kind == "not json":
        path.write_text("{ this is not json")
    elif kind == "array":
        path.write_text("[1, 2]")
    else:
        path.mkdir()
    started = time.perf_counter()
    settings, warning = load_settings(path)
    assert time.perf_counter() - started < 1.0  # a bound against the 40 s of issue 12, not a benchmark
    assert settings == Settings() and "default settings are used" in warning
    assert (tmp_path / "settings.broken.json").exists() and not path.exists()


def test_large_list_within_the_size_cap_is_refused_alone(tmp_path):
    path = _write(tmp_path / "settings.json", {**GOOD, "hidden_classes": list(range(200)) * 800})
    assert path.stat().st_size < MAX_FILE_BYTES
    settings, warning = load_settings(path)
    assert settings.hidden_classes == [0] and settings.opacity == 0.3 and "hidden_classes" in warning


def test_reader_that_never_saves_leaves_a_broken_file_in_place(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("[" * 100_000)
    assert load_settings(path, set_aside=False)[0] == Settings()
    assert path.exists()


# --------------------------------------------------------------------------- window placement

SCREEN = Rect(0, 0, 1920, 1080)


@pytest.mark.parametrize("saved, expected", [
    ("1200x800+40+30", "1200x800+40+30"),          # on screen: kept
    ("", default_geometry(SCREEN)),                 # first start
    ("800x600+10", default_geometry(SCREEN)),       # malformed (was a TclError at every start)
    ("800x600+5000+5000", "800x600+560+160"),       # on a monitor unplugged since: centred
    ("800x600+-790+100", "800x600+560+160"),        # only 10 px of title bar on screen: centred
    ("800x600+100+1070", "800x600+560+160"),        # title bar below the bottom edge: centred
    ("800x600+100+-40", "800x600+560+160"),         # title bar above the top edge: centred
    ("5000x4000+0+0", "1920x1080+0+0"),             # larger than the screen: shrunk to fit
    ("800x600-0-0", "800x600+1120+480"),            # Tk's right/bottom-relative form
    ("800x600+-8+-8", "800x600+560+160"),           # a maximised window's -8 (Windows): y above the screen
    ("100x50+20+20", "400x300+20+20"),              # too small to use
])
def test_window_lands_on_a_visible_screen(saved, expected):
    assert place_window(saved, [SCREEN]) == expected


def test_window_on_a_second_monitor_stays_there():
    screens = [SCREEN, Rect(1920, 0, 1280, 1024)]
    assert place_window("1000x700+2100+50", screens) == "1000x700+2100+50"
    assert place_window("1000x700+2100+50", [SCREEN]) == "1000x700+460+126"  # the monitor is gone
    assert place_window("1600x1000+2000+10", screens) == "1280x1000+2000+10"  # shrunk to its monitor


def test_parse_geometry_refuses_garbage():
    for text in ("", "abc", "1x1", "800x600+1+2+3", "8000000x600+0+0", None):
        assert parse_geometry(text, SCREEN) is None


def test_tk_window_is_placed_on_screen(xvfb_display):  # noqa: F811 - pytest fixture
    """The real thing: a Tk window given a saved geometry far off the (1600x1000) screen."""
    import tkinter as tk

    from desktop.app.window_placement import restore_geometry

    root = tk.Tk()
    try:
        for saved in ("800x600+10", "700x500+9000+9000", "700x500+100+100"):
            used = restore_geometry(root, saved)
            root.update()
            x, y = root.winfo_x(), root.winfo_y()
            assert 0 <= x <= 1600 - 120 and 0 <= y <= 1000 - 32, (saved, used, x, y)
        assert used == "700x500+100+100"
    finally:
        root.destroy()
