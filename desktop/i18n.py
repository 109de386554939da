"""The app's language: Simplified Chinese or English, chosen once at start.

How other modules mark text (the only API most of them need)::

    from desktop.i18n import _, ngettext, pgettext, N_, class_display_name

    _("Cannot read {name}: {reason}").format(name=name, reason=reason)
    ngettext("{n} image", "{n} images", n).format(n=n)
    pgettext("menu", "View")                 # when one English word has two meanings
    TITLES = (N_("Open images"), ...)        # marked at import time, translated where shown: _(t)
    class_display_name("Hair")               # a class name for display; exports keep "Hair"

Whole sentences with named placeholders, never fragments glued together: Chinese orders a
sentence differently and the translator must be able to move ``{name}``.

Why the standard library's :mod:`gettext`: it reads the compiled ``.mo`` catalogs Babel
writes, costs nothing at start, and needs no dependency in the packaged app. The catalogs
live in the package (``desktop/locale/<lang>/LC_MESSAGES/m2fp.mo``, built from the ``.po``
files in the repository by ``dev.py`` and by the PyInstaller spec); a missing catalog means
English, never a failure.

Which language:

1. ``M2FP_LANG`` in the environment (tests, support: ``M2FP_LANG=zh_CN``);
2. the user's choice (View ▸ Language, the ``language`` setting; ``""`` = follow the system);
3. the operating system's: Windows' user interface language, macOS' preferred languages,
   elsewhere ``LANGUAGE`` / ``LC_ALL`` / ``LC_MESSAGES`` / ``LANG`` (in gettext's order);
4. English.

Chinese variants: ``zh_CN``, ``zh_SG``, ``zh_Hans`` and a bare ``zh`` are Simplified Chinese.
Traditional Chinese systems (``zh_TW``, ``zh_HK``, ``zh_MO``, ``zh_Hant``) also get Simplified
Chinese: the people who review with this app read Chinese first, and a Chinese sentence in
the other script is understood where an English one may not be (View ▸ Language switches
to English). Any other language gets English.

The language is fixed for the process (Tk widgets keep the text they were built with);
changing it in the menu takes effect at the next start, which the menu says. Functions
here look the translation up at call time, so ``from desktop.i18n import _`` at import time
is right even before the language is chosen; the first call without a choice follows
``M2FP_LANG`` and then the system.
"""

from __future__ import annotations

import gettext as _gettext
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

DOMAIN = "m2fp"
ENGLISH = "en"
SIMPLIFIED_CHINESE = "zh_CN"
#: Languages the app speaks, in the order the menu lists them.
SUPPORTED = (ENGLISH, SIMPLIFIED_CHINESE)
#: Each language's name in itself (a menu entry must be readable by those who need it).
LANGUAGE_NAMES = {ENGLISH: "English", SIMPLIFIED_CHINESE: "简体中文"}
#: Environment override of every other choice (tests, support).
ENV_LANG = "M2FP_LANG"
#: Environment override of the catalog folder (tests that compile the catalog themselves).
ENV_LOCALE_DIR = "M2FP_LOCALE_DIR"

_lock = threading.Lock()
_translation: _gettext.NullTranslations = _gettext.NullTranslations()
_language: str | None = None  # None: not chosen yet (the first lookup chooses)


# --------------------------------------------------------------------------- catalogs

def locale_dir() -> Path:
    """The folder holding ``<lang>/LC_MESSAGES/m2fp.mo``.

    ``M2FP_LOCALE_DIR`` if set; in a PyInstaller build ``sys._MEIPASS/desktop/locale``
    (where ``build_exe.spec`` puts the catalogs); else ``desktop/locale`` beside this file.
    """
    override = os.environ.get(ENV_LOCALE_DIR, "").strip()
    if override:
        return Path(override)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle and (Path(bundle) / "desktop" / "locale").is_dir():
        return Path(bundle) / "desktop" / "locale"
    return Path(__file__).resolve().parent / "locale"


def catalog_path(language: str, folder: Path | None = None) -> Path:
    """Where the compiled catalog of ``language`` is (or would be)."""
    return (folder or locale_dir()) / language / "LC_MESSAGES" / f"{DOMAIN}.mo"


def load_translations(language: str, folder: Path | None = None) -> _gettext.NullTranslations:
    """The catalog of ``language``; English (no translation) for ``en`` or when it is missing."""
    if language == ENGLISH:
        return _gettext.NullTranslations()
    path = catalog_path(language, folder)
    try:
        with open(path, "rb") as fh:
            return _gettext.GNUTranslations(fh)
    except OSError as exc:
        log.warning("No %s catalog at %s (%s): the app speaks English", language, path, exc.strerror or exc)
    except Exception as exc:  # noqa: BLE001 - a damaged catalog must not stop the app
        log.warning("The %s catalog %s is damaged (%s): the app speaks English", language, path, exc)
    return _gettext.NullTranslations()


# --------------------------------------------------------------------------- which language

def normalize_language(tag: str | None) -> str | None:
    """``en`` or ``zh_CN`` for a locale name or language tag, ``None`` for other languages.

    Accepts POSIX names (``zh_CN.UTF-8``, ``en_US@euro``), BCP 47 tags (``zh-Hans-CN``,
    ``zh-TW``), Windows-style names (``Chinese (Simplified)_China.936`` as Python's locale
    module reports it) and ``C``/``POSIX`` (English).
    """
    if not tag:
        return None
    text = tag.strip().split(".")[0].split("@")[0].replace("-", "_")
    low = text.lower()
    if low in ("c", "posix"):
        return ENGLISH
    if low.startswith("chinese"):
        return SIMPLIFIED_CHINESE
    if low.startswith("english"):
        return ENGLISH
    first = low.split("_")[0]
    if first == "zh":
        return SIMPLIFIED_CHINESE  # every variant; see the module's docstring for Traditional
    if first == "en":
        return ENGLISH
    return None


def _from_environment(environ: Mapping[str, str]) -> str | None:
    """The language gettext would use from the environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG).

    Like gettext, the first of these variables that is set decides (set to a language we do
    not speak: English); ``LANGUAGE`` is a colon-separated list of preferences, of which the
    first we speak wins.
    """
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "").strip()
        if value:
            return next((found for entry in value.split(":") if (found := normalize_language(entry))), None)
    return None


def _windows_ui_language() -> str | None:
    """Windows' display language (GetUserDefaultUILanguage), e.g. ``zh_CN``; None if unknown."""
    import ctypes
    import locale

    langid = ctypes.windll.kernel32.GetUserDefaultUILanguage()  # type: ignore[attr-defined]
    name = locale.windows_locale.get(int(langid))
    if name:
        return name
    return "zh" if (int(langid) & 0x3FF) == 0x04 else None  # LANG_CHINESE in any sublanguage


def _macos_languages() -> list[str]:
    """macOS' preferred languages (System Settings ▸ Language), e.g. ``["zh-Hans-CN", "en"]``.

    Read through CoreFoundation (what ``defaults read -g AppleLanguages`` shows, without
    starting a process): an app opened from the Finder has no ``LANG`` to go by.
    """
    import ctypes
    import ctypes.util

    path = ctypes.util.find_library("CoreFoundation")
    if not path:
        return []
    cf = ctypes.cdll.LoadLibrary(path)
    cf.CFLocaleCopyPreferredLanguages.restype = ctypes.c_void_p
    cf.CFArrayGetCount.argtypes = [ctypes.c_void_p]
    cf.CFArrayGetCount.restype = ctypes.c_long
    cf.CFArrayGetValueAtIndex.argtypes = [ctypes.c_void_p, ctypes.c_long]
    cf.CFArrayGetValueAtIndex.restype = ctypes.c_void_p
    cf.CFStringGetCString.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_long, ctypes.c_uint32]
    cf.CFStringGetCString.restype = ctypes.c_bool
    cf.CFRelease.argtypes = [ctypes.c_void_p]
    array = cf.CFLocaleCopyPreferredLanguages()
    if not array:
        return []
    out = []
    try:
        buf = ctypes.create_string_buffer(128)
        for i in range(min(8, cf.CFArrayGetCount(array))):
            if cf.CFStringGetCString(cf.CFArrayGetValueAtIndex(array, i), buf, len(buf), 0x08000100):  # UTF-8
                out.append(buf.value.decode("utf-8", "replace"))
    finally:
        cf.CFRelease(array)
    return out


def system_language(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    *,
    windows_ui: Callable[[], str | None] = _windows_ui_language,
    macos_languages: Callable[[], list[str]] = _macos_languages,
) -> str:
    """The operating system's language as one we speak: ``zh_CN`` or ``en`` (the fallback).

    Windows: the user interface language (environment variables there are usually set by
    Unix-like shells, not by the user's choice). macOS: the first preferred language we
    speak, then the environment. Elsewhere: the environment. The readers are parameters
    so tests can play every system.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        try:
            found = normalize_language(windows_ui())
        except Exception:  # noqa: BLE001 - no ctypes, an old Windows: use what Python knows
            log.debug("GetUserDefaultUILanguage failed", exc_info=True)
            found = None
        if found:
            return found
    elif platform == "darwin":
        try:
            preferred = macos_languages()
        except Exception:  # noqa: BLE001
            log.debug("Cannot read macOS' preferred languages", exc_info=True)
            preferred = []
        for tag in preferred:
            found = normalize_language(tag)
            if found:
                return found
    return _from_environment(environ) or ENGLISH


def resolve_language(setting: str = "", environ: Mapping[str, str] | None = None, **system_kwargs) -> str:
    """The language to use: ``M2FP_LANG``, else ``setting`` (the user's choice), else the system's."""
    environ = os.environ if environ is None else environ
    for choice in (environ.get(ENV_LANG, ""), setting):
        if choice and choice.strip():
            return normalize_language(choice) or ENGLISH
    return system_language(environ, **system_kwargs)


# --------------------------------------------------------------------------- the process' language

def set_language(language: str, folder: Path | None = None) -> str:
    """Use ``language`` (``en``, ``zh_CN`` or any tag :func:`normalize_language` knows) from now on.

    Returns the language in use: ``en`` when the tag is unknown or its catalog is missing.
    """
    lang = normalize_language(language) or ENGLISH
    trans = load_translations(lang, folder)
    if lang != ENGLISH and type(trans) is _gettext.NullTranslations:
        lang = ENGLISH
    install(trans, lang)
    return lang


def install(translations: _gettext.NullTranslations, language: str) -> None:
    """Use a translation object directly (the tests' pseudo-locale; :func:`set_language` otherwise)."""
    global _translation, _language
    with _lock:
        _translation, _language = translations, language


def init_language(setting: str = "") -> str:
    """Choose the language at start (app and command line): see :func:`resolve_language`."""
    lang = set_language(resolve_language(setting))
    log.info("Language: %s", lang)
    return lang


def current_language() -> str:
    """The language the app speaks (chosen on the first call if nothing chose it yet)."""
    _current()
    return _language or ENGLISH


def _current() -> _gettext.NullTranslations:
    if _language is None:
        with _lock:
            pending = _language is None
        if pending:
            set_language(resolve_language())
    return _translation


# --------------------------------------------------------------------------- marking text

def gettext(message: str) -> str:
    """``message`` in the app's language."""
    return _current().gettext(message)


_ = gettext


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for ``n`` (English: one / other; Chinese has one form). Format ``{n}`` yourself."""
    return _current().ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in ``context`` ("menu", "parsing class"...): for words with two meanings."""
    return _current().pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return _current().npgettext(context, singular, plural, n)


def gettext_in(language: str, message: str) -> str:
    """``message`` in ``language`` rather than the app's (what to say about switching to it)."""
    return load_translations(normalize_language(language) or ENGLISH).gettext(message)


def N_(message: str) -> str:
    """Marks ``message`` for the catalog without translating it (translate it where it is shown)."""
    return message


# --------------------------------------------------------------------------- class names

#: The context of the 20 class names in the catalog ("Face" the body part, not a typeface).
CLASS_CONTEXT = "parsing class"


def _class_names() -> dict[str, str]:
    # Written out so the catalog extractor sees each name (resources/classes.json holds the
    # same English names, which the exported files keep).
    return {
        "Background": pgettext("parsing class", "Background"),
        "Hat": pgettext("parsing class", "Hat"),
        "Hair": pgettext("parsing class", "Hair"),
        "Gloves": pgettext("parsing class", "Gloves"),
        "Sunglasses": pgettext("parsing class", "Sunglasses"),
        "UpperClothes": pgettext("parsing class", "UpperClothes"),
        "Dress": pgettext("parsing class", "Dress"),
        "Coat": pgettext("parsing class", "Coat"),
        "Socks": pgettext("parsing class", "Socks"),
        "Pants": pgettext("parsing class", "Pants"),
        "Torso-skin": pgettext("parsing class", "Torso-skin"),
        "Scarf": pgettext("parsing class", "Scarf"),
        "Skirt": pgettext("parsing class", "Skirt"),
        "Face": pgettext("parsing class", "Face"),
        "Left-arm": pgettext("parsing class", "Left-arm"),
        "Right-arm": pgettext("parsing class", "Right-arm"),
        "Left-leg": pgettext("parsing class", "Left-leg"),
        "Right-leg": pgettext("parsing class", "Right-leg"),
        "Left-shoe": pgettext("parsing class", "Left-shoe"),
        "Right-shoe": pgettext("parsing class", "Right-shoe"),
    }


def class_display_name(name: str) -> str:
    """A parsing class's name as the user reads it (``"Hair"`` → ``"头发"`` in Chinese).

    Display only: files the app writes keep the model's English names. A name the app does
    not know (a model with other labels) is shown as it is.
    """
    return _class_names().get(name, name)


def class_display_names(names: tuple[str, ...] | list[str]) -> list[str]:
    """:func:`class_display_name` of each name, in order."""
    table = _class_names()
    return [table.get(n, n) for n in names]


__all__ = [
    "DOMAIN", "ENGLISH", "LANGUAGE_NAMES", "SIMPLIFIED_CHINESE", "SUPPORTED", "N_", "_", "catalog_path",
    "class_display_name", "class_display_names", "current_language", "gettext", "gettext_in", "init_language",
    "install",
    "load_translations", "locale_dir", "ngettext", "normalize_language", "npgettext", "pgettext",
    "resolve_language", "set_language", "system_language",
]
