"""Sagas: all or nothing across services, by undoing what was done.

``pawflow.compensate(fn, *args, **kwargs)`` registers the undo of the work just
done on the innermost ``pawflow.saga()``. When the saga's block raises -- any
exception, ``pawflow.SessionStopped`` included -- its undos run in reverse
order, each one an external call of the session (recorded, retried with the
project's policy, never run twice, resumed after a crash), then the block's
exception goes on. A block that succeeds hands its undos to the enclosing saga,
so nested sagas compose; the outermost one drops them.

The sagas a piece of code runs in are kept in a context variable: each session
runs in a greenlet of its own (with its own context), and each asyncio task
starts with a copy of its creator's, so concurrent tasks never push onto each
other's sagas.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import greenlet

from ..errors import PawflowError, SessionStopped
from ._scope import current_scope

__all__ = ["Compensation", "CompensationFailed", "call_key", "compensate", "saga"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Compensation:
    """One registered undo: ``fn(*args, **kwargs)``."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(getattr(self.fn, "__qualname__", None) or repr(self.fn))


class CompensationFailed(PawflowError):
    """An undo of a saga failed for good (after its retries).

    ``original`` is what the saga's block raised; ``error`` what the undo
    raised. ``undone`` lists the undos that ran, ``failed`` is the one that
    failed, ``not_undone`` those that were not run because of it (in the
    order they would have run; enclosing sagas add theirs). Whatever the
    program does with it, the session ends in ``error``.
    """

    __module__ = "pawflow"  # as tracebacks name it: pawflow.CompensationFailed

    def __init__(
        self,
        original: BaseException,
        error: BaseException,
        failed: Compensation,
        undone: list[Compensation],
        not_undone: list[Compensation],
    ) -> None:
        super().__init__(
            f"undoing after {_one_line(original)}: {failed.name} failed: {_one_line(error)}"
        )
        self.original = original
        self.error = error
        self.failed = failed
        self.undone = undone
        self.not_undone = not_undone


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class _Frame:
    """The undos registered in one ``with pawflow.saga()`` block, in order."""

    def __init__(self) -> None:
        self.undos: list[Compensation] = []


_frames: contextvars.ContextVar[tuple[_Frame, ...]] = contextvars.ContextVar(
    "pawflow_sagas", default=()
)


class saga:  # lower case: used as ``with pawflow.saga():``, like contextlib's classes
    """Scope compensations: ``with pawflow.saga(): ...`` or ``@pawflow.saga()``.

    When the block (or the decorated function) raises, the compensations
    registered in it with :func:`compensate` run in reverse order, each as a
    durable external call, and the exception propagates. When it succeeds they
    move to the enclosing saga (dropped at the outermost). A compensation that
    fails for good raises :class:`CompensationFailed` (which names both
    errors) and the ones not yet run are not run.
    """

    def __init__(self) -> None:
        self._active: list[tuple[_Frame, contextvars.Token[tuple[_Frame, ...]]]] = []

    def __enter__(self) -> saga:
        frame = _Frame()
        token = _frames.set((*_frames.get(), frame))
        self._active.append((frame, token))
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        frame, token = self._active.pop()
        _frames.reset(token)
        outer = _frames.get()
        if exc is None:
            if outer:
                outer[-1].undos.extend(frame.undos)
            return
        if isinstance(exc, greenlet.GreenletExit):
            return  # the session's greenlet is thrown away: nothing durable can happen
        if isinstance(exc, CompensationFailed):
            # An inner saga could not undo its work: later undos may depend on
            # it, so none runs; they are listed as not undone.
            exc.not_undone.extend(reversed(frame.undos))
            return
        _undo(frame.undos, exc)

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def in_saga_async(*args: Any, **kwargs: Any) -> Any:
                with saga():
                    return await fn(*args, **kwargs)

            return in_saga_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def in_saga(*args: Any, **kwargs: Any) -> Any:
            with saga():
                return fn(*args, **kwargs)

        return in_saga  # type: ignore[return-value]


def _undo(undos: list[Compensation], original: BaseException) -> None:
    """Run ``undos`` last first; raises :class:`CompensationFailed` (from the
    undo's error) when one fails."""
    scope = current_scope()
    pending = list(reversed(undos))
    done: list[Compensation] = []
    while pending:
        undo = pending.pop(0)
        try:
            if scope is None:
                undo.fn(*undo.args, **undo.kwargs)
            else:
                scope.compensation(undo.fn, undo.args, undo.kwargs)
        except SessionStopped:
            raise  # only a replay being torn down stops an undo: nothing more runs
        except BaseException as error:
            failure = CompensationFailed(original, error, undo, done, pending)
            if scope is not None:
                scope.compensation_failed(failure)
            raise failure from error
        done.append(undo)


def compensate(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Register ``fn(*args, **kwargs)`` as the undo of the work just done, on
    the innermost :class:`saga`. It runs only if the saga's block raises: as
    a durable external call (``fn`` may be your own function: it runs as one
    call, like an ``@pawflow.activity``). Outside a saga it is an error.
    """
    if not callable(fn):
        raise PawflowError(f"pawflow.compensate needs a function to call, not {type(fn).__name__}")
    if inspect.iscoroutinefunction(fn):
        raise PawflowError(
            f"pawflow.compensate({getattr(fn, '__qualname__', fn)}) is an async function: "
            "a compensation is a plain function"
        )
    frames = _frames.get()
    if not frames:
        raise PawflowError(
            "pawflow.compensate() works only inside `with pawflow.saga():` "
            "(or a function decorated with @pawflow.saga())"
        )
    frames[-1].undos.append(Compensation(fn, args, dict(kwargs)))


def call_key() -> str:
    """A key unique to this session and the external call running now, the same
    on every attempt, after a crash and on replay of that call: pass it as an
    ``Idempotency-Key`` so a retried call acts once at the provider."""
    scope = current_scope()
    key = None if scope is None else scope.call_key
    if key is None:
        raise PawflowError(
            "pawflow.call_key() works only inside an external call or an @pawflow.activity function"
        )
    return key
