"""``@pawflow.activity``: run a whole function as one recorded call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

__all__ = ["ACTIVITY_MARK", "activity"]

F = TypeVar("F", bound=Callable[..., Any])

ACTIVITY_MARK = "__pawflow_activity__"


@overload
def activity(fn: F, /) -> F: ...
@overload
def activity() -> Callable[[F], F]: ...


def activity(fn: F | None = None, /) -> F | Callable[[F], F]:
    """Mark a function of your project to run as one durable call.

    Its result is recorded like any external call: after a crash the session
    resumes with the recorded result instead of running it again. Calls made
    inside it run directly. Usable as ``@pawflow.activity`` or
    ``@pawflow.activity()``.
    """

    def mark(f: F) -> F:
        setattr(f, ACTIVITY_MARK, True)
        return f

    return mark if fn is None else mark(fn)
