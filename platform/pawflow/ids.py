"""Identifiers: a prefix naming the kind, then a time-ordered random part.

The random part is 26 Crockford base32 characters (48-bit millisecond time +
80 random bits, like a ULID), so ids sort by creation time and are safe in URLs,
file names and Temporal workflow ids.
"""

from __future__ import annotations

import os
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str) -> str:
    """Return a new id such as ``evt_01hx...``; ``prefix`` names the kind."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"
