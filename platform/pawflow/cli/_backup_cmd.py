"""``paw backup FILE``: a consistent online copy of the SQLite store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["add_backup_command"]


def add_backup_command(commands: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw backup``."""
