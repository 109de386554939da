"""The command line speaks the app's language: chosen like the window's, argparse's words included.

``python -m desktop.cli`` follows the same choice as the desktop app (``M2FP_LANG``, else the
language chosen in View ▸ Language, else the system's; see :mod:`desktop.i18n`), so a reviewer
with a Chinese system reads ``--help`` and every message in Chinese.

argparse writes its own words ("usage:", "options", "the following arguments are required")
through the standard library's gettext in the ``argparse`` domain, for which Python ships no
catalog. :func:`translate_argparse` points argparse's lookups at the app's catalog instead, and
the messages argparse can show a user of this command line are listed here (marked with ``N_``) so the extractor
puts them in ``m2fp.po`` with the app's own messages. The list is argparse's text as of
Python 3.11-3.13; a message argparse adds later is shown in English until it is listed here.
"""

from __future__ import annotations

import argparse
import logging

from desktop import i18n
from desktop.i18n import N_

log = logging.getLogger(__name__)

#: argparse's user-facing messages (the text of its ``_()`` calls; its two ``ngettext()`` messages
#: are for ``nargs=N`` and for conflicting options in the code, which this command line never shows).
ARGPARSE_MESSAGES = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"),
    N_("one of the arguments %s is required"),
    N_("can't open '%(filename)s': %(error)s"),
)


def _argparse_ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.ngettext(singular, plural, n)


def translate_argparse() -> None:
    """Make argparse look its words up in the app's catalog (in the app's language)."""
    argparse._ = i18n.gettext  # type: ignore[attr-defined]
    argparse.ngettext = _argparse_ngettext  # type: ignore[attr-defined]


def init_cli_language() -> str:
    """Choose the language as the desktop app does and translate argparse; returns it (``en``/``zh_CN``).

    The user's choice is read from the app's settings without changing them (a damaged file
    is left where it is: the app handles it when it starts).
    """
    setting = ""
    try:
        from desktop.app.settings import load_settings

        setting = load_settings(set_aside=False)[0].language
    except Exception:  # noqa: BLE001 - the command line never fails over the window's settings
        log.debug("Cannot read the app's language setting", exc_info=True)
    language = i18n.init_language(setting)
    translate_argparse()
    return language


# --------------------------------------------------------------------------- wrapping Chinese help

def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (Chinese) characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


#: Characters a line must not start with in Chinese typesetting (they stay with the character before).
_NO_LINE_START = set("，。、；：？！）》」』】〕…’”%,.;:?!)]}")


def _units(text: str) -> list[str]:
    """``text`` cut where a line may break: around each wide character, at spaces, never inside a word."""
    import re

    units: list[str] = []
    for token in re.findall(r"\s+|[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]+|.", text):
        if units and token[0] in _NO_LINE_START and not token.isspace():
            units[-1] += token
        else:
            units.append(token)
    return units


def wrap_display(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns (a longer word gets a line of its own).

    textwrap counts characters, so a line of Chinese comes out twice as wide as the
    terminal, and it breaks only at spaces, so a Chinese sentence would be cut inside an
    English word (``M2FP_M`` / ``ODEL_DIR``). Here each Chinese character is a place to
    break and counts two columns.
    """
    width = max(width, 10)
    lines: list[str] = []
    line, used = "", 0
    for unit in _units(text):
        w = display_width(unit)
        if unit.isspace():
            if line:
                line, used = line + " ", used + 1
            continue
        if line and used + w > width:
            lines.append(line.rstrip())
            line, used = "", 0
        line, used = line + unit, used + w
    if line.strip():
        lines.append(line.rstrip())
    return lines


class WideTextHelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, wrapping help text by terminal columns (used for Chinese)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap_display(self._whitespace_matcher.sub(" ", text).strip(), width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        text = self._whitespace_matcher.sub(" ", text).strip()
        return "\n".join(indent + line for line in wrap_display(text, width - len(indent)))

    def _format_usage(self, usage, actions, groups, prefix) -> str:
        """The usage lines, continuation lines under the program's name also after "用法："."""
        text = super()._format_usage(usage, actions, groups, prefix)
        shown = argparse._("usage: ") if prefix is None else prefix  # type: ignore[attr-defined]
        extra = display_width(shown) - len(shown)
        if extra <= 0:
            return text
        first, *rest = text.split("\n")
        return "\n".join([first, *((" " * extra + line) if line.strip() else line for line in rest)])


class WideTextRawDescriptionHelpFormatter(WideTextHelpFormatter):
    """The description and epilog as written (line breaks kept), the options' help wrapped by columns."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "".join(indent + line for line in text.splitlines(keepends=True))
