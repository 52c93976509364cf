"""``paw session replay``: a recorded session run again locally, from its record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["add_replay_command"]


def add_replay_command(session: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw session replay`` in the ``paw session`` group."""
