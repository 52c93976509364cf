"""HTTP headers that carry credentials, masked wherever an event is shown.

A webhook's event keeps every header as sent, so its handler can check a
signature itself; what people see of it (``paw event get``, the dashboard) is
not for a terminal, a screen share or a script's log.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "mask_header"]

MASK = "***"
_SECRET_HEADERS = re.compile(
    r"^(authorization|proxy-authorization|cookie|set-cookie)$"
    r"|signature|token|secret|api-?key|password|credential|session",
    re.IGNORECASE,
)


def mask_header(name: str, value: str) -> str:
    """``value``, or ``***`` when the header ``name`` carries a credential."""
    return MASK if _SECRET_HEADERS.search(name) else value
