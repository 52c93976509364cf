"""Pieces shared by the fuzz tests: what an acceptable error message is, and nasty text."""

from __future__ import annotations

import math
from typing import Any, TypeVar

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

__all__ = [
    "NASTY_SNIPPETS",
    "assert_one_line",
    "has_non_finite",
    "mostly",
    "nasty_text",
    "note",
]

T = TypeVar("T")
U = TypeVar("U")

# Snippets that broke parsers somewhere: line and paragraph separators, NUL and other
# controls, a BOM, right-to-left marks, combining marks, astral characters, escapes.
NASTY_SNIPPETS = (
    "",
    " ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\u202e",
    "e\u0301",
    "\U0001f600",
    "\\",
    "\\u",
    "'",
    '"',
    "%",
    "%zz",
    "%ff",
    "&",
    "*",
    "!",
    "#",
    "{",
    "[",
    ":",
    "- ",
    "---",
    "...",
    "?",
    "|",
    ">",
    "@",
    "`",
    "Traceback",
)


def nasty_text(max_size: int = 40, *, printable: bool = False) -> st.SearchStrategy[str]:
    """Any text (never a lone surrogate), biased towards the snippets above.

    ``printable``: only characters YAML accepts unescaped (no C0/C1 controls but
    tab and line breaks), for text spliced raw into a document that should get
    past the YAML reader.
    """
    snippets: tuple[str, ...] = NASTY_SNIPPETS
    alphabet = st.characters(exclude_categories=["Cs"])
    if printable:
        snippets = tuple(s for s in NASTY_SNIPPETS if all(_yaml_printable(c) for c in s))
        # Cc: C0 and C1 controls (the line breaks come from the snippets).
        alphabet = st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="\ufffe\uffff")
    pieces = st.one_of(st.sampled_from(snippets), st.text(alphabet, max_size=8))
    return st.lists(pieces, max_size=max(1, max_size // 4)).map("".join)


def _yaml_printable(char: str) -> bool:
    # The YAML 1.1 printable set, as PyYAML's reader checks it.
    code = ord(char)
    return (
        char in "\t\n\r\x85"
        or 0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or code >= 0x10000
    )


def mostly(
    common: st.SearchStrategy[T], rare: st.SearchStrategy[U], odds: int = 8
) -> st.SearchStrategy[T | U]:
    """``common``, but ``rare`` about once in ``odds`` draws (st.one_of weighs its
    branches equally, and repeating a branch does not weigh it more)."""
    return st.integers(0, odds - 1).flatmap(lambda i: rare if i == odds - 1 else common)


def assert_one_line(message: str) -> None:
    """An error message a user reads: not empty and one line (so no traceback either)."""
    assert message.strip(), "empty error message"
    # splitlines() also breaks at \x85, \u2028 and friends: a terminal may too.
    assert len(message.splitlines()) == 1, f"error message spans several lines: {message!r}"


def has_non_finite(value: Any) -> bool:
    """Whether ``value`` (JSON-like data) holds NaN or an infinity anywhere."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_non_finite(v) for v in value)
    return False


def note(what: str) -> None:
    """Count ``what`` in Hypothesis's statistics (``--hypothesis-show-statistics``);
    a no-op outside a Hypothesis test, so checks can be shared with plain tests."""
    if currently_in_test_context():
        event(what)
