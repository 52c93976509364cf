"""Day-2 operations on deployments, events and projects: rollback, redispatch, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["add_ops_commands"]


def add_ops_commands(project: Any, deployment: Any, event: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw deployment activate|deactivate``, ``paw event redispatch``
    and ``paw project delete`` in their groups."""
