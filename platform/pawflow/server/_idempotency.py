"""Identifiers that strangers send in webhook headers: idempotency keys, delivery
ids, event types. They are compared and shown, so one that is not plain text
is refused (400, one line) rather than guessed at.

aiohttp's parser already refuses most C0 controls in header values; a tab, C1
controls, line separators and bytes that are not UTF-8 get through to here.
"""

from __future__ import annotations

import re

from aiohttp import web

from ._http import ApiError, clean_text

__all__ = ["MAX_IDEMPOTENCY_KEY", "check_identifier", "idempotency_header"]

MAX_IDEMPOTENCY_KEY = 255

# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators:
# any of them would split or drive a log line or a terminal showing the key.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_REPLACEMENT = "\ufffd"


def idempotency_header(request: web.Request) -> str | None:
    """The request's ``Idempotency-Key`` (surrounding blanks stripped), None when
    missing or blank; a 400 when it is not UTF-8, holds a control character or is
    longer than :data:`MAX_IDEMPOTENCY_KEY` characters."""
    raw = request.headers.get("Idempotency-Key", "")
    if clean_text(raw) != raw:
        # Replacing the bytes would make different keys equal: refuse, do not guess.
        raise ApiError(400, "Idempotency-Key is not valid UTF-8")
    # Only HTTP's own blanks: str.strip() would also eat U+0085 and U+2028.
    key = raw.strip(" \t")
    if not key:
        return None
    check_identifier(key, "Idempotency-Key")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters")
    return key


def check_identifier(text: str, what: str, *, read_cleaned: bool = False) -> None:
    """A 400 naming ``what`` when ``text`` holds a control character, or, when it
    was ``read_cleaned`` (from headers whose bytes that were not UTF-8 became
    U+FFFD), a U+FFFD: such ids cannot be told apart, refused rather than merged."""
    found = _CONTROL.search(text)
    if found is not None:
        raise ApiError(400, f"{what} holds a control character (U+{ord(found.group()):04X})")
    if read_cleaned and _REPLACEMENT in text:
        raise ApiError(400, f"{what} is not valid UTF-8")
