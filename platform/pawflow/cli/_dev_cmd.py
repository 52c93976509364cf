"""``paw dev [DIR]``: deploy on every save and stream the sessions it starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["add_dev_command"]


def add_dev_command(commands: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw dev``."""
