"""Text that crosses a trust line safely: strings that can always be encoded and
stored, and strings that can be printed on a terminal without driving it.

A user's program can print anything: a lone surrogate from a bad decode cannot be
encoded as UTF-8 (so not sent, stored or shown), and an escape sequence printed
as is would move the cursor, clear the screen or set the window title of whoever
watches the session's log.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_DEPTH", "REPLACEMENT", "clean_json", "clean_text", "terminal_safe"]

REPLACEMENT = "\ufffd"
"""What a lone surrogate becomes (U+FFFD REPLACEMENT CHARACTER)."""

MAX_DEPTH = 64
"""How deeply ``clean_json`` follows nested lists and objects by default."""

# A high surrogate followed by a low one is what UTF-16 text split into code units
# looks like: joined, it is one character, so it is kept as that character.
_SURROGATES = re.compile(r"[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")

# C0 controls but newline and tab, DEL, and C1 controls (0x9b is the one-character
# CSI some terminals obey, 0x9d the OSC that sets titles).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(s: str) -> str:
    """``s`` with each lone surrogate replaced by U+FFFD; everything else unchanged.

    A surrogate pair written as two code points (``"\\ud83d\\ude00"``) is joined
    into the character it stands for. The result can always be encoded as UTF-8.
    """
    if s.isascii():
        return s
    if _SURROGATES.search(s) is None:
        return s
    return _SURROGATES.sub(_replace_surrogates, s)


def _replace_surrogates(found: re.Match[str]) -> str:
    units = found.group()
    if len(units) == 1:
        return REPLACEMENT
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le")


def clean_json(value: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    """JSON-like ``value`` with every string in it (object keys included) passed
    through ``clean_text``; numbers, booleans and None are returned as they are.

    Raises ValueError when lists and objects nest deeper than ``max_depth``: such
    data is not what a log record or API request is, and cleaning it must not
    exhaust the stack.
    """
    return _clean(value, max_depth)


def _clean(value: Any, depth_left: int) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        if depth_left <= 0:
            raise ValueError("nested too deeply")
        return {
            (clean_text(key) if isinstance(key, str) else key): _clean(item, depth_left - 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        if depth_left <= 0:
            raise ValueError("nested too deeply")
        return [_clean(item, depth_left - 1) for item in value]
    return value


def terminal_safe(s: str) -> str:
    """``s`` with terminal control characters shown as escapes (``\\x1b``) instead
    of obeyed: C0 controls except newline and tab, DEL and C1 controls.

    Escaping ESC (and the one-character CSI) disarms every escape sequence, so the
    printed text cannot move the cursor, clear the screen, change colours or set
    the window title; the rest of the sequence shows as the plain text it is.
    """
    if _CONTROL.search(s) is None:
        return s
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", s)
