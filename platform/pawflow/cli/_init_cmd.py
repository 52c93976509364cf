"""``paw init DIR``: a new project, deployable as is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["add_init_command"]


def add_init_command(commands: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw init``."""
