"""A pseudo-locale for tests: every message of the catalog wrapped in ⟦ ⟧.

With it installed, any text the user sees that has letters outside the markers never went
through gettext. The catalog is generated at test time from the source (the same extraction
as ``packaging/catalogs.py``), so a message added today is wrapped today, without waiting for
anyone to regenerate ``m2fp.pot``. Placeholders stay intact: ``"⟦Cannot read {name}⟧"``.

    with pseudo_locale():
        dialog = AboutDialog(root, ...)
        assert find_unmarked(dialog, allowed={"Python", str(model_dir)}) == []

:func:`find_unmarked` walks a widget and everything below it (windows' titles, labels,
buttons, check and radio buttons, frames' labels, menus' entries, tree headings, notebook
tabs, combobox values, canvas text, text widgets, and the tooltips attached to them).
Data the app shows as it is (file names, numbers, product names) is passed as ``allowed``.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import gettext
import importlib.util
import io
import tkinter as tk
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from tkinter import ttk

from desktop import i18n

ROOT = Path(__file__).resolve().parent.parent
OPEN, CLOSE = "⟦", "⟧"
LANGUAGE = "pseudo"


def _catalogs_module():
    spec = importlib.util.spec_from_file_location("m2fp_catalogs", ROOT / "packaging" / "catalogs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=1)
def source_catalog():
    """Every message marked in ``desktop/`` (a Babel catalog), extracted now."""
    return _catalogs_module().extract()


def wrap(text: str) -> str:
    return f"{OPEN}{text}{CLOSE}"


@functools.lru_cache(maxsize=1)
def pseudo_mo() -> bytes:
    """The compiled pseudo catalog: each message (and each plural form) wrapped in the markers."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    pseudo = Catalog(locale="en", domain=i18n.DOMAIN)  # English plural rule: one / other
    for msg in source_catalog():
        if not msg.id:
            continue
        string = tuple(wrap(s) for s in msg.id) if isinstance(msg.id, tuple) else wrap(msg.id)
        pseudo.add(msg.id, string, context=msg.context)
    buf = io.BytesIO()
    write_mo(buf, pseudo)
    return buf.getvalue()


def pseudo_translations() -> gettext.GNUTranslations:
    return gettext.GNUTranslations(io.BytesIO(pseudo_mo()))


@contextlib.contextmanager
def pseudo_locale() -> Iterator[gettext.GNUTranslations]:
    """Install the pseudo catalog for the block; the language before it comes back after."""
    i18n.current_language()  # make sure a language was chosen, to restore it
    before = (i18n._translation, i18n._language)
    trans = pseudo_translations()
    i18n.install(trans, LANGUAGE)
    try:
        yield trans
    finally:
        i18n.install(before[0], before[1] or i18n.ENGLISH)


# --------------------------------------------------------------------------- checking text

def unmarked(text: str, allowed: Iterable[str] = ()) -> bool:
    """True when ``text`` has a letter outside the markers (once the ``allowed`` data is removed).

    Markers nest (a translated message formatted into another); text without letters
    (numbers, "–", "12.5 %") needs no translation.
    """
    for value in sorted((a for a in allowed if a), key=len, reverse=True):
        text = text.replace(value, "")
    depth = 0
    for ch in text:
        if ch == OPEN:
            depth += 1
        elif ch == CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0 and ch.isalpha():
            return True
    return False


def _option(widget: tk.Misc, name: str) -> str | None:
    try:
        return str(widget.cget(name))
    except (tk.TclError, AttributeError, ValueError):
        return None


def _shown_text(widget: tk.Misc) -> str | None:
    """The text a widget shows: its text variable's value when it has one, else its text."""
    var = _option(widget, "textvariable")
    if var:
        try:
            return str(widget.getvar(var))
        except tk.TclError:
            pass
    return _option(widget, "text")


def _menu_texts(menu: tk.Menu) -> Iterator[tuple[str, str]]:
    end = menu.index("end")
    if end is None:
        return
    for i in range(int(end) + 1):
        if menu.type(i) in ("command", "checkbutton", "radiobutton", "cascade"):
            yield f"entry {i}", str(menu.entrycget(i, "label"))


def _tree_texts(tree: ttk.Treeview) -> Iterator[tuple[str, str]]:
    if "headings" not in str(tree.cget("show")):
        return
    shown = tree.cget("displaycolumns")
    columns = list(tree.cget("columns")) if shown in ("#all", ("#all",)) else list(shown)
    for col in ["#0", *columns] if "tree" in str(tree.cget("show")) else columns:
        yield f"heading {col}", str(tree.heading(col, "text"))


def _tooltips() -> dict[str, list]:
    """The app's tooltips by the path of their widget (they are objects, not widgets)."""
    from desktop.app.widgets import Tooltip

    out: dict[str, list] = {}
    for obj in gc.get_objects():
        if isinstance(obj, Tooltip):
            with contextlib.suppress(tk.TclError, AttributeError):
                out.setdefault(str(obj.widget), []).append(obj)
    return out


def widget_texts(top: tk.Misc, *, tooltips: bool = True) -> list[tuple[str, str]]:
    """(where, text) for every text shown by ``top`` and the widgets below it."""
    tips = _tooltips() if tooltips else {}
    out: list[tuple[str, str]] = []

    def visit(w: tk.Misc) -> None:
        path = str(w)
        if isinstance(w, (tk.Tk, tk.Toplevel)):
            out.append((f"{path} title", str(w.title())))
        if isinstance(w, tk.Menu):
            out.extend((f"{path} {k}", t) for k, t in _menu_texts(w))
        elif isinstance(w, ttk.Treeview):
            out.extend((f"{path} {k}", t) for k, t in _tree_texts(w))
        elif isinstance(w, ttk.Notebook):
            out.extend((f"{path} tab {t}", str(w.tab(t, "text"))) for t in w.tabs())
        elif isinstance(w, tk.Canvas):
            for item in w.find_all():
                if w.type(item) == "text":
                    out.append((f"{path} item {item}", str(w.itemcget(item, "text"))))
        elif isinstance(w, tk.Text):
            out.append((f"{path} text", w.get("1.0", "end-1c")))
        else:
            text = _shown_text(w)
            if text is not None:
                out.append((f"{path} text", text))
            if isinstance(w, ttk.Combobox):
                out.extend((f"{path} value", str(v)) for v in w.cget("values"))
        for tip in tips.get(path, []):
            with contextlib.suppress(Exception):
                out.append((f"{path} tooltip", str(tip.text_fn() or "")))
        for child in w.winfo_children():
            visit(child)

    visit(top)
    return [(where, text) for where, text in out if text]


def find_unmarked(top: tk.Misc, allowed: Iterable[str] | Callable[[str], bool] = (), *,
                  tooltips: bool = True) -> list[str]:
    """``"where: text"`` for each text below ``top`` that did not go through gettext.

    ``allowed``: data shown as it is (exact strings removed from each text before the check),
    or a predicate that accepts a whole text.
    """
    accept = allowed if callable(allowed) else None
    values = () if callable(allowed) else tuple(allowed)
    return [f"{where}: {text!r}" for where, text in widget_texts(top, tooltips=tooltips)
            if not (accept and accept(text)) and unmarked(text, values)]
