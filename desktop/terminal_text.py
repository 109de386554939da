"""Text safe to print on a terminal, whatever the file names in it hold.

A file name may contain any byte but ``/`` and NUL on Linux: escape sequences (``\\x1b[2J``
clears the screen; others retitle the window or, on some terminals, answer back as if
typed), newlines that forge extra report lines, right-to-left overrides that show
``gpj.exe`` as ``exe.jpg``, and bytes that are not UTF-8 at all (Python keeps them as
lone surrogates, which most consoles cannot encode). :func:`printable` shows all of these
as visible escapes and leaves every other character, accents and CJK included, alone.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls, DEL, C1 controls, bidirectional overrides/isolates, lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a name that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``str(text)`` with control characters, bidi overrides and undecodable bytes escaped."""
    return _UNSAFE.sub(_escape, str(text))
