"""Async handlers: a session's coroutines on an event loop the runner drives.

An ``async def`` handler runs on a :class:`SessionLoop` that the runner steps
from outside (never ``run_forever`` on its own): it runs the program's tasks
until none of them can go on, then looks at what they wait for.

- External calls the tasks await (``await client.get(...)``, an
  ``@pawflow.activity async def``) are not run where they are awaited: each
  task parks on a future and the call waits in a list. When the program is
  idle, all waiting calls go to the worker at once, in the order the tasks
  asked (asyncio runs ready tasks first in, first out, so the order is the
  same on every replay); the ones to execute run concurrently, the others get
  their recorded outcomes; then every task is woken, in call order.
- The loop keeps **session time** for the program: ``loop.time()`` moves only
  when a durable timer fires. ``asyncio.sleep``, ``asyncio.timeout`` and
  ``wait_for`` set timers on it; when the program is idle and waits for
  nothing but timers, the earliest one becomes a durable timer of the
  workflow, and the loop's clock jumps to it. So a replay sees exactly the
  same timers fire at the same points, and a sleeping async session holds no
  process, like ``time.sleep``. ``asyncio.sleep(0)`` stays a plain yield.
- While the calls run, the loop switches to the real clock (libraries' own
  timeouts must measure real time) and the program's timers wait aside, so
  nothing of the program runs in the middle of its calls.

Time spent in external calls is not session time: a timeout set around an
external call does not interrupt it (give the call its own ``timeout=``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import inspect
import selectors
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import PawflowError
from ..sdk._scope import Scope

__all__ = [
    "DeferredCall",
    "Driver",
    "SessionLoop",
    "asyncio_kind",
    "awaits_external",
    "with_call_key",
]


class SessionLoop(asyncio.SelectorEventLoop):
    """An event loop with two clocks: session time while the program runs, the
    real clock while external calls run. Each clock's timers wait aside while
    the other one runs.

    The loop reaches into two attributes of asyncio's base loop, ``_ready``
    (callbacks ready to run) and ``_scheduled`` (the timer heap), which CPython
    has kept since asyncio began: no public API tells whether a loop is idle.
    """

    _ready: collections.deque[asyncio.Handle]
    _scheduled: list[asyncio.TimerHandle]
    _selector: selectors.BaseSelector

    def __init__(self) -> None:
        super().__init__()
        self.session_time = 0.0
        self._real_clock = False
        self._aside: list[asyncio.TimerHandle] = []  # the other clock's timers
        self._one_step = False

    def time(self) -> float:
        return super().time() if self._real_clock else self.session_time

    @contextlib.contextmanager
    def real_clock(self) -> Iterator[None]:
        """Run external calls: real time, the program's timers put aside."""
        self._switch(True)
        try:
            yield
        finally:
            self._switch(False)

    def _switch(self, real: bool) -> None:
        self._real_clock = real
        self._scheduled, self._aside = self._aside, self._scheduled

    def busy(self) -> bool:
        """Whether a step would run something: a ready callback or a due timer."""
        if self._ready:
            return True
        when = self.next_timer()
        return when is not None and when <= self.time()

    def next_timer(self) -> float | None:
        """When the earliest live timer of the running clock is due."""
        return min((t.when() for t in self._scheduled if not t.cancelled()), default=None)

    def watches_io(self) -> bool:
        """Whether any file is watched besides the loop's own wake-up pipe."""
        return len(self._selector.get_map()) > 1

    def step(self, *, block: bool = False) -> None:
        """One iteration: ready callbacks and due timers; with ``block``, first
        wait for I/O or a timer when nothing is ready."""
        if block:
            self._one_step = True
        else:
            self.call_soon(self.stop)  # documented: one iteration, I/O polled without waiting
        self.run_forever()

    def _run_once(self) -> None:
        super()._run_once()  # type: ignore[misc]
        if self._one_step:
            self._one_step = False
            self.stop()


@dataclass(eq=False)
class DeferredCall:
    """An external call a task of the program awaits; ``future`` settles it."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: asyncio.Future[Any]


class Driver:
    """Runs one coroutine of the program (an async handler, or ``asyncio.run``).

    ``run_calls`` answers waiting calls: it must settle the future of each
    call it is given (the runner asks the worker, runs what it is told to with
    :meth:`run_concurrently`). ``sleep`` is a durable timer of that many seconds.
    """

    def __init__(
        self,
        run_calls: Callable[[list[DeferredCall]], None],
        sleep: Callable[[float], None],
        max_calls: int,
    ) -> None:
        self.loop = SessionLoop()
        self._run_calls = run_calls
        self._sleep = sleep
        self._max_calls = max_calls
        self._waiting: list[DeferredCall] = []

    async def call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """What ``await external(...)`` awaits in the program."""
        future = self.loop.create_future()
        self._waiting.append(DeferredCall(fn, args, kwargs, future))
        return await future

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        loop = self.loop
        main = loop.create_task(coro)
        try:
            try:
                self._drive(main.done)
            finally:
                # As asyncio.run does: tasks left behind are cancelled, and
                # their cleanup may still make durable calls.
                rest = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in rest:
                    task.cancel()
                with contextlib.suppress(BaseException):
                    self._drive(lambda: all(t.done() for t in rest))
            return main.result()
        finally:
            with contextlib.suppress(BaseException):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _drive(self, done: Callable[[], bool]) -> None:
        loop = self.loop
        while not done():
            while loop.busy():
                loop.step()
            if done():
                return
            waiting = [c for c in self._waiting if not c.future.done()]  # done: cancelled
            if waiting:
                batch, rest = waiting[: self._max_calls], waiting[self._max_calls :]
                self._waiting = rest
                self._run_calls(batch)
                continue
            self._waiting = []
            when = loop.next_timer()
            if when is not None:
                self._sleep(max(0.0, when - loop.session_time))
                loop.session_time = max(loop.session_time, when)
                continue
            if not loop.watches_io():
                raise PawflowError(
                    "the async handler cannot go on: every task waits, and no call, "
                    "timer or I/O is pending that could wake one"
                )
            # Nothing durable to wait for: only I/O (or a thread) can wake a task.
            loop.step(block=True)

    def run_concurrently(self, jobs: list[Coroutine[Any, Any, Any]]) -> list[Any]:
        """Run external calls at once on the loop's real clock; their results in order."""
        loop = self.loop
        with loop.real_clock():
            tasks = [loop.create_task(job) for job in jobs]
            while not all(t.done() for t in tasks):
                loop.step(block=True)
        return [t.result() for t in tasks]


# -- which awaited calls are external ----------------------------------------------

# asyncio's own functions that do I/O or run code elsewhere: each is one
# external call. Everything else of asyncio (gather, create_task, Event, Queue,
# sleep, timeout...) is the program's own machinery and runs inline.
_ASYNCIO_EXTERNAL = frozenset(
    {
        "to_thread", "open_connection", "open_unix_connection", "start_server",
        "start_unix_server", "create_subprocess_exec", "create_subprocess_shell",
        "run_in_executor", "getaddrinfo", "getnameinfo", "create_connection",
        "create_datagram_endpoint", "create_server", "create_unix_connection",
        "create_unix_server", "subprocess_exec", "subprocess_shell", "connect_read_pipe",
        "connect_write_pipe", "sendfile", "start_tls",
    }
)  # fmt: skip


def _module_and_name(fn: Any) -> tuple[str, str]:
    if isinstance(fn, functools.partial):
        return _module_and_name(fn.func)
    target = getattr(fn, "__func__", fn)
    owner = getattr(fn, "__self__", None)
    module = getattr(target, "__module__", None)
    if module is None and owner is not None:
        module = owner.__name__ if isinstance(owner, types.ModuleType) else type(owner).__module__
    name = getattr(target, "__name__", "") or type(fn).__name__
    return module or "", name


def asyncio_kind(fn: Any) -> str | None:
    """For a call the rule finds external: ``"inline"`` for asyncio's own
    machinery, ``"run"`` for ``asyncio.run``, None to judge it as usual."""
    module, name = _module_and_name(fn)
    if module.lstrip("_").split(".")[0] != "asyncio" or name in _ASYNCIO_EXTERNAL:
        return None
    return "run" if fn is asyncio.run else "inline"


def awaits_external(fn: Any) -> bool:
    """Whether calling ``fn`` only makes something to await (a coroutine
    function, or one of asyncio's I/O calls): then the awaiting is the call."""
    if inspect.iscoroutinefunction(fn):
        return True
    module, name = _module_and_name(fn)
    return module.lstrip("_").split(".")[0] == "asyncio" and name in _ASYNCIO_EXTERNAL


class _WithCallKey:
    """Awaits ``awaitable`` with the scope's ``call_key`` set while its code runs:
    calls run concurrently, so each must see its own key (``Scope.call_key``)."""

    def __init__(self, awaitable: Awaitable[Any], scope: Scope, key: str) -> None:
        self._awaitable = awaitable
        self._scope = scope
        self._key = key

    def __await__(self) -> Generator[Any, Any, Any]:
        inner = self._awaitable.__await__()
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            self._scope.call_key = self._key
            try:
                yielded = inner.send(sent) if thrown is None else inner.throw(thrown)
            except StopIteration as stop:
                return stop.value
            finally:
                self._scope.call_key = None
            try:
                sent, thrown = (yield yielded), None
            except BaseException as exc:  # handed to the call, as ``await`` would
                sent, thrown = None, exc


def with_call_key(awaitable: Awaitable[Any], scope: Scope, key: str) -> Awaitable[Any]:
    return _WithCallKey(awaitable, scope, key)
