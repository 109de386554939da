#!/usr/bin/env python3
"""The translation catalogs: extract the marked messages, update the ``.po`` files, compile.

    python packaging/catalogs.py update    # after changing user-facing text: m2fp.pot and every .po
    python packaging/catalogs.py compile   # each .po newer than its .mo -> .mo (dev.py and the build)
    python packaging/catalogs.py check     # list messages without a translation; exit 1 if any

The same as Babel's command line, with this project's paths and options::

    pybabel extract -F babel.cfg -c "Translators:" --no-location -o desktop/locale/m2fp.pot desktop
    pybabel update -i desktop/locale/m2fp.pot -d desktop/locale -D m2fp --no-fuzzy-matching
    pybabel compile -d desktop/locale -D m2fp

The ``.po`` files are the source of the translations and are in the repository; the
compiled ``.mo`` files are build output (``.gitignore``), made by ``dev.py`` before it
starts the app or the tests and by ``build_exe.spec`` before bundling them. The app reads
them with the standard library's :mod:`gettext` (``desktop/i18n.py``); Babel is needed only
here. ``--no-location``: line numbers in the catalog would change with every edit of the
code and bury the real changes of a translation in the diff. ``--no-fuzzy-matching``:
Babel's guess for a new message is often wrong in a way a reviewer would not notice;
an untranslated message fails the catalog test instead (tests/test_i18n.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "desktop" / "locale"
DOMAIN = "m2fp"
POT = LOCALE / f"{DOMAIN}.pot"
MAPPING = ROOT / "babel.cfg"
COMMENT_TAG = "Translators:"
#: The languages with a catalog (English is the source language and has none).
LANGUAGES = ("zh_CN",)


def po_files(locale_dir: Path = LOCALE) -> list[Path]:
    """Every language's ``.po`` file."""
    return sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def extract(source: Path = ROOT / "desktop"):
    """Every marked message of the source as a Babel catalog (nothing written)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with open(MAPPING, encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, filename=str(MAPPING))
    catalog = Catalog(project="M2FP Human Parsing", version=_version(), domain=DOMAIN, charset="utf-8",
                      copyright_holder="the M2FP desktop authors", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(source), method_map, options_map, keywords=DEFAULT_KEYWORDS, comment_tags=(COMMENT_TAG,),
        strip_comment_tags=True,
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _version() -> str:
    sys.path.insert(0, str(ROOT))
    from desktop import __version__

    return __version__


def update() -> None:
    """Write ``m2fp.pot`` from the source and merge it into every ``.po`` (new messages empty)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    template = extract()
    POT.parent.mkdir(parents=True, exist_ok=True)
    with open(POT, "wb") as fh:
        write_po(fh, template, no_location=True, width=100)
    for language in LANGUAGES:
        po = LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        if po.exists():
            with open(po, "rb") as fh:
                catalog = read_po(fh)
        else:  # pybabel init
            catalog = Catalog(locale=language, domain=DOMAIN, project=template.project, version=template.version,
                              copyright_holder=template.copyright_holder, fuzzy=False)
        catalog.update(template, no_fuzzy_matching=True)
        po.parent.mkdir(parents=True, exist_ok=True)
        with open(po, "wb") as fh:
            write_po(fh, catalog, no_location=True, width=100, ignore_obsolete=True)
        print(f"updated {po.relative_to(ROOT)}: {len(catalog)} messages")
    print(f"wrote {POT.relative_to(ROOT)}: {len(template)} messages")


def compile_po(po: Path, mo: Path) -> None:
    """``po`` compiled to ``mo`` (written under a temporary name, then renamed). Fuzzy entries are left out."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(po, "rb") as fh:
        catalog = read_po(fh)
    mo.parent.mkdir(parents=True, exist_ok=True)
    tmp = mo.with_name(mo.name + ".tmp")
    with open(tmp, "wb") as fh:
        write_mo(fh, catalog, use_fuzzy=False)
    tmp.replace(mo)


def compile_all(locale_dir: Path = LOCALE, *, force: bool = False) -> list[Path]:
    """Compile every ``.po`` whose ``.mo`` is missing or older; return the ``.mo`` files written."""
    written = []
    for po in po_files(locale_dir):
        mo = po.with_suffix(".mo")
        if force or not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            compile_po(po, mo)
            written.append(mo)
    return written


def untranslated(po: Path) -> list[str]:
    """The message ids of ``po`` with no translation, or a fuzzy one."""
    from babel.messages.pofile import read_po

    with open(po, "rb") as fh:
        catalog = read_po(fh)
    out = []
    for msg in catalog:
        if not msg.id:
            continue
        strings = msg.string if isinstance(msg.string, tuple) else (msg.string,)
        if msg.fuzzy or not all(strings):
            out.append(msg.id if isinstance(msg.id, str) else msg.id[0])
    return out


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "update":
        update()
    elif command == "compile":
        for mo in compile_all(force="--force" in argv):
            print(f"compiled {mo.relative_to(ROOT)}")
    elif command == "check":
        missing = {po: untranslated(po) for po in po_files()}
        for po, ids in missing.items():
            for msgid in ids:
                print(f"{po.relative_to(ROOT)}: no translation: {msgid!r}")
        return 1 if any(missing.values()) else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
