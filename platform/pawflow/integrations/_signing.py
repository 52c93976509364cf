"""HMAC helpers shared by integrations that sign their webhooks."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["hmac_sha256_hex", "signatures_match"]


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    """The hex HMAC-SHA256 of ``message`` keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signatures_match(expected: str, given: str) -> bool:
    """Compare in constant time, so timing does not reveal how much matched."""
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", errors="replace"))
