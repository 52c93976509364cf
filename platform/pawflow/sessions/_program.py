"""The user program of one session, run in-process in a greenlet.

The handler runs in its own greenlet on the workflow thread. When it makes an
external call (or sleeps), the greenlet switches back to the workflow coroutine
with a request; the workflow awaits a recorded activity or a durable timer and
switches back in with the result. On replay Temporal hands back the recorded
results, so the handler re-runs to where it was without repeating any call.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import greenlet

from ..sdk import Event
from ..sdk._scope import Scope, ScopedGreenlet
from ._calls import CallKind, classify, describe
from ._code import DeploymentCode
from ._protocol import CallRequest, CallResult, Failed, Finished, Request, SleepRequest
from ._render import clip, loggable, short_repr, user_traceback

__all__ = ["CallTable", "InProcessProgram", "PendingCall", "call_hook", "scoped_env"]


@dataclass(frozen=True)
class PendingCall:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    variables: Mapping[str, str]


class CallTable:
    """External calls waiting for their activity, keyed by (run id, call number).

    The callable of an external call is often not serialisable (a bound method
    of a client object), so it stays here, in the worker process, and the
    activity that runs it finds it by key; only its result goes into history.
    """

    def __init__(self) -> None:
        self._calls: dict[tuple[str, int], PendingCall] = {}
        self._lock = threading.Lock()

    def put(self, key: tuple[str, int], call: PendingCall) -> None:
        with self._lock:
            self._calls[key] = call

    def get(self, key: tuple[str, int]) -> PendingCall | None:
        with self._lock:
            return self._calls.get(key)

    def discard(self, key: tuple[str, int]) -> None:
        with self._lock:
            self._calls.pop(key, None)

    def discard_run(self, run_id: str) -> None:
        with self._lock:
            for key in [k for k in self._calls if k[0] == run_id]:
                del self._calls[key]


@contextmanager
def scoped_env(variables: Mapping[str, str]) -> Iterator[None]:
    """Expose ``variables`` as environment variables while the block runs.

    Sessions of different projects share the worker process, so their vars are
    put into ``os.environ`` only while their own code runs on the workflow thread.
    """
    if not variables:
        yield
        return
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


class _SessionScope(Scope):
    durable = True

    def __init__(self, program: InProcessProgram) -> None:
        super().__init__(program.variables)
        self.program = program


def call_hook(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """``__pawflow_call__``: every call in a user function body goes through here."""
    scope = getattr(greenlet.getcurrent(), "pawflow_scope", None)
    if scope is None or not scope.durable:
        return fn(*args, **kwargs)
    return scope.program.dispatch(fn, args, kwargs)


class InProcessProgram:
    """Runs ``handler(event)`` in a greenlet and turns its external calls into requests."""

    def __init__(
        self,
        *,
        run_id: str,
        code: DeploymentCode,
        handler: Callable[[Event], Any],
        event: Event,
        variables: Mapping[str, str],
        calls: CallTable,
        on_print: Callable[[str], None],
    ) -> None:
        self.run_id = run_id
        self.variables = variables
        self._code = code
        self._handler = handler
        self._event = event
        self._calls = calls
        self._on_print = on_print
        self._number = 0
        self._closing = False
        self._greenlet = ScopedGreenlet(self._main, _SessionScope(self))

    # -- driven by the workflow ----------------------------------------------------
    def start(self) -> Request:
        return self.resume(None)

    def resume(self, answer: CallResult | None) -> Request:
        self._greenlet.parent = greenlet.getcurrent()
        with scoped_env(self.variables):
            request: Request = self._greenlet.switch(answer)
        return request

    def close(self) -> None:
        """Abandon the program (the workflow is being evicted or ended)."""
        self._closing = True
        self._calls.discard_run(self.run_id)
        if self._greenlet and not self._greenlet.dead:
            # On another thread it cannot be thrown into; it is collected instead.
            with contextlib.suppress(greenlet.error):
                self._greenlet.throw(greenlet.GreenletExit)

    # -- inside the greenlet -----------------------------------------------------------
    def _main(self, _: object) -> Request:
        try:
            result = self._handler(self._event)
        except greenlet.GreenletExit:
            raise
        except BaseException as exc:  # the user's code failed, however it failed
            text = user_traceback(exc, self._code.root)
            return Failed(error=text, message=text.rsplit("\n", 1)[-1])
        return Finished(loggable(result))

    def _request(self, request: Request) -> Any:
        parent = self._greenlet.parent
        answer = parent.switch(request)
        if self._closing:
            raise greenlet.GreenletExit
        return answer

    def dispatch(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if self._closing:
            raise greenlet.GreenletExit
        kind = classify(fn, self._code.prefix)
        if kind is CallKind.INLINE:
            return fn(*args, **kwargs)
        if kind is CallKind.PRINT:
            return self._print(fn, args, kwargs)
        if kind is CallKind.SLEEP:
            (seconds,) = args
            if seconds < 0:
                raise ValueError("sleep length must be non-negative")
            return self._request(SleepRequest(float(seconds)))
        self._number += 1
        key = (self.run_id, self._number)
        self._calls.put(key, PendingCall(fn, args, kwargs, self.variables))
        try:
            result: CallResult = self._request(
                CallRequest(
                    number=self._number,
                    function=describe(fn, self._code.prefix),
                    args=[short_repr(a) for a in args],
                    kwargs={k: short_repr(v) for k, v in kwargs.items()},
                )
            )
        finally:
            self._calls.discard(key)
        if result.exception is not None:
            raise result.exception
        return result.value

    def _print(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        target = kwargs.get("file")
        if target is not None and target is not sys.stdout and target is not sys.stderr:
            fn(*args, **kwargs)  # printing into the user's own file object
            return
        buffer = io.StringIO()
        fn(*args, **{**kwargs, "file": buffer, "flush": False})
        self._on_print(clip(buffer.getvalue().removesuffix("\n")))
