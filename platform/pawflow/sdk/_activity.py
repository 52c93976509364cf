"""``@pawflow.activity``: run a whole function as one recorded call."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from ._noactivity import check_target
from ._scope import current_scope

__all__ = [
    "ACTIVITY_MARK",
    "ActivityOptions",
    "Retry",
    "activity",
    "activity_options",
    "inhibit_activities",
    "register_no_activity",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

ACTIVITY_MARK = "__pawflow_activity__"

# Exceptions that usually mean "try again": the network or a service blipped.
# Matched by class name anywhere in the exception's MRO, so the usual
# client-library errors count without importing those libraries.
TRANSIENT_NAMES = frozenset(
    {"ConnectionError", "TimeoutError", "Timeout", "TransportError", "URLError"}
)


@dataclass(frozen=True)
class Retry:
    """How an external call is retried when it fails with a transient error.

    ``on`` lists the exception types that count as transient; by default
    connection errors and timeouts (the builtin ones and those of common HTTP
    clients). Any other exception is recorded at once and raised in the session.
    """

    max_attempts: int = 3
    initial_interval: float = 1.0
    backoff: float = 2.0
    max_interval: float = 60.0
    on: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("Retry.max_attempts must be at least 1")
        if self.initial_interval < 0 or self.max_interval < 0 or self.backoff < 1:
            raise ValueError("Retry intervals must be >= 0 and backoff >= 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (from 1)."""
        return min(self.initial_interval * self.backoff ** (attempt - 1), self.max_interval)

    def tries_again(self, attempt: int, error: BaseException | None) -> bool:
        """Whether a call whose attempt number ``attempt`` ended with ``error``
        (None: it succeeded) is tried once more."""
        return error is not None and attempt < self.max_attempts and self.is_transient(error)

    def is_transient(self, error: BaseException) -> bool:
        if self.on:
            return isinstance(error, self.on)
        return any(cls.__name__ in TRANSIENT_NAMES for cls in type(error).__mro__)


@dataclass(frozen=True)
class ActivityOptions:
    retry: Retry | None = None  # None: the project's retry policy
    timeout: float | None = None  # seconds per attempt; None: the worker's default


@overload
def activity(fn: F, /) -> F: ...
@overload
def activity(*, retry: Retry | None = None, timeout: float | None = None) -> Callable[[F], F]: ...


def activity(
    fn: F | None = None, /, *, retry: Retry | None = None, timeout: float | None = None
) -> F | Callable[[F], F]:
    """Mark a function of your project to run as one durable call.

    Its result is recorded like any external call: after a crash the session
    resumes with the recorded result instead of running it again. Calls made
    inside it run directly. Usable as ``@pawflow.activity`` or
    ``@pawflow.activity(retry=pawflow.Retry(max_attempts=5), timeout=30)``.
    """
    if timeout is not None and timeout <= 0:
        raise ValueError("activity timeout must be positive")
    options = ActivityOptions(retry, timeout)

    def mark(f: F) -> F:
        setattr(f, ACTIVITY_MARK, options)
        return f

    return mark if fn is None else mark(fn)


def activity_options(fn: Any) -> ActivityOptions | None:
    """The options of a function marked with :func:`activity`, else None."""
    options = getattr(fn, ACTIVITY_MARK, None)
    return options if isinstance(options, ActivityOptions) else None


class _Inhibitor:
    """``pawflow.inhibit_activities``: a decorator and a context manager."""

    @contextmanager
    def _inline(self) -> Iterator[None]:
        scope = current_scope()
        if scope is None:
            yield
            return
        scope.inhibited += 1
        try:
            yield
        finally:
            scope.inhibited -= 1

    def __enter__(self) -> None:
        self._stack = getattr(self, "_stack", [])
        cm = self._inline()
        cm.__enter__()
        self._stack.append(cm)

    def __exit__(self, *exc: object) -> None:
        self._stack.pop().__exit__(*exc)

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def inline(*args: Any, **kwargs: Any) -> Any:
            with self._inline():
                return fn(*args, **kwargs)

        return inline  # type: ignore[return-value]


inhibit_activities = _Inhibitor()
"""Run a block or a function with every call inline, nothing recorded.

``with pawflow.inhibit_activities: ...`` or ``@pawflow.inhibit_activities``:
for code that is deterministic although it calls libraries, e.g. parsing
with a third-party parser. Calls inside still run on replay.
"""


def register_no_activity(target: T, /) -> T:
    """Run calls to ``target`` inline, as if it were your own code: nothing is
    recorded and they run again on replay.

    ``target`` is a function (or method) or a module: then every function and
    class defined in it or its submodules, and every function it holds as an
    attribute. The counterpart of :data:`inhibit_activities` for third-party
    code that is deterministic, e.g. ``pawflow.register_no_activity(markdown)``.
    Call it where the module loads or in the handler; it holds for the rest of
    the session. Outside a session it does nothing. Returns ``target``.
    """
    check_target(target)
    scope = current_scope()
    if scope is not None:
        scope.no_activity.add(target)
    return target
