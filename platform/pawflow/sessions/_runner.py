"""The user program of one session, in a runner process of its own.

A runner imports the deployment's code, calls the handler and runs it like
ordinary Python until it needs something durable: then it sends a
:class:`~._protocol.Request` to the worker and blocks until the answer comes.
For an external call the answer is either "execute" (the call runs here, where
its callable and arguments live, and its pickled outcome goes back) or a
recorded outcome (a replay). Whatever the program does to its process --
loop, exit, crash, eat memory -- stays in this process.

An ``async def`` handler (or ``asyncio.run`` in a sync one) runs on a loop the
runner drives (see ``_aio``): the external calls its tasks await together go
as one "gather" request and run concurrently here, each outcome sent back as
it completes.

Messages on the connection: see ``_wire`` (framed JSON; nothing the runner
sends is unpickled by the worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import io
import math
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NoReturn

from ..errors import PawflowError, SessionStopped
from ..manifest import CallTarget
from ..processes import die_with_parent, name_process
from ..sdk import Event
from ..sdk._activity import ActivityOptions, Retry, activity_options
from ..sdk._saga import Compensation, CompensationFailed
from ..sdk._scope import Scope, ScopedGreenlet, current_scope
from . import _wire as wire
from ._aio import DeferredCall, Driver, asyncio_kind, awaits_external, with_call_key
from ._calls import CallKind, classify, describe
from ._capture import module_output
from ._code import DeploymentCode, handler_arguments
from ._confine import Confinement, ConfinementFailed, confine, packages_seen_at
from ._envs import use_packages
from ._outcome import decode_outcome, encode_outcome
from ._protocol import Request
from ._redact import Redactor
from ._render import clip, error_line, loggable, short_repr, user_traceback
from ._serverlink import ServerLink

__all__ = ["POOLED_NAME", "RUNNER_NAME", "RunnerSpec", "runner_main"]

# Process names (``/proc/<pid>/comm``): a runner waiting for its session, and one in it.
POOLED_NAME = "pawflow-pool"
RUNNER_NAME = "pawflow-runner"


@dataclass(frozen=True)
class RunnerSpec:
    """Everything a runner needs to start its session's program."""

    session_id: str
    project: str
    deployment_id: str
    code_root: str
    call: str
    event: dict[str, Any]
    vars: dict[str, str]
    server_url: str
    credential: str  # valid for this session only, while it runs
    durable: bool = True
    secret_vars: tuple[str, ...] = ()  # names of the vars that are secrets
    retry: Retry = field(default_factory=Retry)
    call_timeout: float = 3600.0  # per attempt, unless the activity says otherwise
    cpu_seconds: float | None = None
    memory_mb: int | None = None
    # The project's own packages (its requirements.txt), first on the import
    # path; or why they could not be installed, which ends the session.
    packages: str = ""
    packages_error: str = ""


class CallTimedOut(TimeoutError):
    """An external call ran past its timeout (an attempt; it may be retried)."""


def runner_main(conn: Connection, confinement: Confinement) -> None:
    """Entry point of a runner process: wait for a session, run its program, then exit.

    A runner may be started before there is a session for it (the worker keeps
    a few ready, see ``_runners``): until its spec arrives on ``conn`` it holds
    nothing of any session, and it is given exactly one.
    """
    # A runner whose worker is gone has nobody to answer it: end with it. Its
    # parent is the fork server, which ends with the worker -- unless runners
    # keep it alive: each inherits the end of the pipe the fork server watches
    # for its worker's death, so a stuck runner would keep both alive. Drop it.
    alive_fd = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
    if alive_fd is not None:
        os.close(alive_fd)
        forkserver._forkserver._forkserver_alive_fd = None  # type: ignore[attr-defined]
    # Named for whoever looks (``ps``, the tests): waiting, then in a session.
    name_process(POOLED_NAME)
    try:
        # The worker's only pickled message to a runner (nothing a runner
        # sends is unpickled, see ``_wire``). EOF: let go before any session.
        spec = conn.recv()
    except (EOFError, OSError):
        return
    if not isinstance(spec, RunnerSpec):
        return
    name_process(RUNNER_NAME)
    parent = os.getppid()
    try:
        # Before anything of the user's runs: their code must find nothing of
        # the platform's (see ``_confine``).
        code_root = confine(confinement, spec.code_root, spec.vars, spec.packages)
    except (ConfinementFailed, OSError) as exc:
        reason = f"the session's process could not be confined, so its program did not run: {exc}"
        wire.send(conn, wire.Asked(Request("failed", error=reason, message=reason)))
        return
    if spec.packages_error:
        reason = spec.packages_error
        wire.send(conn, wire.Asked(Request("failed", error=reason, message=reason)))
        return
    spec = dataclasses.replace(spec, code_root=code_root)
    use_packages(packages_seen_at(confinement, spec.packages))
    # After confining: a change of user clears the parent-death signal.
    bind = die_with_parent(signal.SIGKILL, parent=parent)
    if bind is not None:
        bind()
    _apply_limits(spec)
    link = ServerLink(spec.server_url, spec.credential)
    try:
        _Program(conn, spec, link).run()
    finally:
        link.close()
        conn.close()


def _orphaned() -> NoReturn:
    # The worker is gone (killed, or it let this runner go): nobody is left to
    # answer or to tell. Quietly, and without running the user's cleanup code,
    # which a replay will run where it belongs.
    os._exit(0)


def _apply_limits(spec: RunnerSpec) -> None:
    if spec.memory_mb is not None:
        # The worker holds the program to memory_mb of resident memory; this
        # address-space limit is only a backstop against an allocation too fast
        # for it, generous because threads and malloc arenas reserve much more
        # address space than they use.
        size = max(4 * spec.memory_mb, spec.memory_mb + 2048) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    if spec.cpu_seconds is not None:
        # The soft limit sends SIGXCPU, which ends the process; the hard one backs it up.
        soft = max(1, math.ceil(spec.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))


class _RunnerScope(Scope):
    def __init__(self, program: _Program, link: ServerLink, *, durable: bool) -> None:
        spec = program.spec
        super().__init__(spec.vars, session_id=spec.session_id, project=spec.project, server=link)
        self.durable = durable
        self.program = program

    def wait(self, kind: str, key: Any, timeout: float | None) -> Any:
        return self.program.wait(kind, key, timeout)

    def compensation(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self.program.compensation(fn, args, kwargs)

    def compensation_failed(self, failure: BaseException) -> None:
        # Inside an external call a saga is part of that call: its outcome is
        # recorded, and a replay, which does not run the call, must end alike.
        if not self.program.executing:
            super().compensation_failed(failure)


def _call_hook(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """``__pawflow_call__``: every call in a user function body comes here."""
    scope = current_scope()
    if isinstance(scope, _RunnerScope):
        return scope.program.dispatch(fn, args, kwargs)
    return fn(*args, **kwargs)


class _Program:
    def __init__(self, conn: Connection, spec: RunnerSpec, link: ServerLink) -> None:
        self.conn = conn
        self.spec = spec
        self._link = link
        self._number = 0
        self._executing = False
        self._driver: Driver | None = None  # while an async handler (or asyncio.run) runs
        self._activity = ""  # while executing: the call's name, as the log shows it
        self._stopped: str | None = None
        root = Path(spec.code_root)
        self._code = DeploymentCode(spec.deployment_id, root, _call_hook, self._run_module_code)
        self._scope = _RunnerScope(self, link, durable=spec.durable)
        self._scope.secrets.update({f"var {n}": spec.vars[n] for n in spec.secret_vars})
        self._redactor = Redactor(self._scope.secrets)

    def _run_module_code(self, execute: Callable[[], None]) -> None:
        # Module-level code runs when a module loads: its calls run directly,
        # what it prints goes to the session log.
        scope = Scope(
            self.spec.vars,
            session_id=self.spec.session_id,
            project=self.spec.project,
            server=self._link,
        )
        # What is registered or loaded at load time holds for the session: its
        # secrets are cut from what the module prints, as the handler's are.
        scope.no_activity = self._scope.no_activity
        scope.secrets = self._scope.secrets
        with module_output(lambda text: self._send(wire.Print(clip(text)))):
            ScopedGreenlet(lambda: execute(), scope).switch()

    @property
    def executing(self) -> bool:
        """Whether an external call runs now (its calls run directly)."""
        return self._executing

    # -- the program -----------------------------------------------------------------
    def run(self) -> None:
        end = ScopedGreenlet(self._main, self._scope).switch()
        self._send(wire.Asked(end))

    def _main(self) -> Request:
        end = self._end()
        failure = self._scope.failed_compensation
        # An undo that failed for good leaves the services half done: the
        # session ends in error however the program went on.
        return end if failure is None else self._compensation_failed(failure)

    def _compensation_failed(self, failure: BaseException) -> Request:
        assert isinstance(failure, CompensationFailed)
        text = user_traceback(failure, self._code.root)
        summary = {
            "undone": [self._described(c) for c in failure.undone],
            "failed": self._described(failure.failed),
            "error": error_line(failure.error),
            "not_undone": [self._described(c) for c in failure.not_undone],
        }
        return Request(
            "failed",
            error=text,
            message=text.rsplit("\n", 1)[-1],
            result=summary,
            compensation=True,
        )

    def _described(self, undo: Compensation) -> str:
        arguments = [short_repr(a) for a in undo.args]
        arguments += [f"{k}={short_repr(v)}" for k, v in undo.kwargs.items()]
        return f"{describe(undo.fn, self._code.prefix)}({', '.join(arguments)})"

    def _end(self) -> Request:
        try:
            event = self._event()
            handler = self._code.handler(CallTarget.parse(self.spec.call))
            args, kwargs = handler_arguments(handler, event, self.spec.session_id)
            # Called as any call is, so a decorator such as @pawflow.activity counts.
            result = (
                self.dispatch(handler, args, kwargs)
                if self.spec.durable
                else self._run_whole(lambda: handler(*args, **kwargs))
            )
            if inspect.iscoroutine(result):
                result = self._run_async(result)
        except SessionStopped as exc:
            return Request("failed", error=f"stopped: {exc}", message=f"stopped: {exc}")
        except SystemExit as exc:
            reason = f"the program called sys.exit({exc.code!r})"
            text = user_traceback(exc, self._code.root) + f"\n{reason}"
            return Request("failed", error=text, message=reason)
        except BaseException as exc:  # the user's code failed, however it failed
            text = user_traceback(exc, self._code.root)
            return Request("failed", error=text, message=text.rsplit("\n", 1)[-1])
        return Request("finished", result=loggable(result))

    def _run_whole(self, handler: Callable[[], Any]) -> Any:
        """``durable: false``: nothing is recorded, so a transient failure
        retries the whole handler."""
        policy = self.spec.retry
        attempt = 1
        while True:
            try:
                result = handler()
                # Nothing is recorded, so a plain event loop will do.
                return asyncio.run(result) if inspect.iscoroutine(result) else result
            except Exception as exc:
                if not policy.tries_again(attempt, exc):
                    raise
            time.sleep(policy.delay(attempt))
            attempt += 1

    def _event(self) -> Event:
        raw = self.spec.event
        if raw.get("data_by_ref"):
            # Too big for the workflow input; events never change, so every
            # replay reads the same data.
            stored = self._link.get_json(f"/api/v1/events/{raw['id']}")
            raw = {**raw, "data": stored["data"]}
        return Event.from_dict(raw)

    # -- talking to the worker ---------------------------------------------------------
    def _send(self, message: wire.FromRunner) -> None:
        try:
            # Every text leaving the runner, not the outcome: that one is sealed.
            wire.send(self.conn, message, redact=self._redactor.data)
        except OSError:
            _orphaned()

    def _receive(self) -> wire.ToRunner:
        try:
            return wire.receive_from_worker(self.conn)
        except (OSError, EOFError, wire.BadMessage):
            _orphaned()

    def _ask(self, request: Request) -> wire.Execute | wire.Result | wire.Resume:
        # An undo of a saga is asked for after a stop too: a stopped session
        # undoes its half-done work (the workflow answers calls after a stop).
        if self._stopped is not None and not request.compensation:
            raise SessionStopped(self._stopped)
        while True:
            self._send(wire.Asked(request))
            answer = self._receive()
            if not isinstance(answer, wire.Stop):
                return answer
            first = self._stopped is None
            self._stopped = answer.reason
            # A stop that comes instead of an undo's answer is recorded as its
            # answer; the undo is asked for again, and runs. A second stop
            # (only a replay sends one) ends it.
            if not (request.compensation and first):
                raise SessionStopped(answer.reason)

    def wait(self, kind: str, key: Any, timeout: float | None) -> Any:
        if self._executing:
            raise PawflowError(
                f"pawflow.{kind} cannot wait inside an activity ({self._activity}): an "
                "activity runs as one call; wait in the code that calls it"
            )
        if not self._scope.durable:
            raise PawflowError(f"pawflow.{kind} needs a durable session (not durable: false)")
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be non-negative")
        answer = self._ask(Request(kind, key=key, timeout=timeout))  # type: ignore[arg-type]
        assert isinstance(answer, wire.Resume), answer  # the worker answers a wait so
        return answer.value

    # -- calls from user code ------------------------------------------------------------
    def dispatch(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        kind = classify(fn, self._code.prefix, self._scope.no_activity)
        if kind is CallKind.PRINT:
            return self._print(fn, args, kwargs)
        if (
            kind is CallKind.INLINE
            or self._executing
            or not self._scope.durable
            or self._scope.inhibited
        ):
            return fn(*args, **kwargs)
        if kind is CallKind.SLEEP:
            (seconds,) = args
            if seconds < 0:
                raise ValueError("sleep length must be non-negative")
            self.wait("sleep", float(seconds), float(seconds))
            return None
        machinery = asyncio_kind(fn)
        if machinery == "inline":
            return fn(*args, **kwargs)
        if machinery == "run":
            return self._run_async(*args)
        if awaits_external(fn):
            return self._deferred(fn, args, kwargs)
        return self._call(fn, args, kwargs)

    def compensation(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Run an undo of a failed ``pawflow.saga`` as one external call, even
        if ``fn`` is the project's own function (its calls run inside it)."""
        if self._executing or not self._scope.durable or self._scope.inhibited:
            return fn(*args, **kwargs)
        return self._call(fn, args, kwargs, compensation=True)

    def _call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        compensation: bool = False,
    ) -> Any:
        request = self._call_request(fn, args, kwargs, compensation=compensation)
        answer = self._ask(request)
        executed = isinstance(answer, wire.Execute)
        if executed:
            data, attempts, ms = self._execute(request, fn, args, kwargs)
        else:
            data = _recorded(answer)
        # The program continues with the recorded copy, exactly what a replay gets.
        _, value, exception = decode_outcome(data, self._scope.secrets)
        if executed:
            self._send_outcome(attempts, ms, value, exception, data)
        if exception is not None:
            raise exception
        return value

    def _send_outcome(
        self,
        attempts: int,
        ms: float,
        value: Any,
        exception: BaseException | None,
        data: bytes,
        number: int | None = None,
    ) -> None:
        # Rendered here: the worker cannot unpickle the project's own classes.
        shown = (
            {"result": loggable(value)} if exception is None else {"error": error_line(exception)}
        )
        self._send(wire.Outcome(attempts, ms, shown, data, number))

    def _call_request(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        compensation: bool = False,
    ) -> Request:
        self._number += 1
        policy, per_attempt = self._limits(fn)
        pauses = sum(policy.delay(attempt) for attempt in range(1, policy.max_attempts))
        request = Request(
            "call",
            number=self._number,
            function=describe(fn, self._code.prefix),
            args=[short_repr(a) for a in args],
            kwargs={k: short_repr(v) for k, v in kwargs.items()},
            timeout=_options(fn).timeout,
            budget=per_attempt * policy.max_attempts + pauses,
            compensation=compensation,
        )
        return request

    def _limits(self, fn: Callable[..., Any]) -> tuple[Retry, float]:
        """The retry policy and per-attempt timeout of a call of ``fn``: its own
        (``@pawflow.activity(retry=..., timeout=...)``), else the project's."""
        options = _options(fn)
        return options.retry or self.spec.retry, options.timeout or self.spec.call_timeout

    # -- async code (see ``_aio``) -------------------------------------------------------
    def _run_async(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine of the program to its end on a session loop."""
        if self._driver is not None:
            coro.close()
            raise RuntimeError("asyncio.run() cannot be called from a running event loop")
        self._driver = Driver(self._run_group, self._timer, wire.MAX_GATHER)
        try:
            return self._driver.run(coro)
        finally:
            self._driver = None

    def _timer(self, seconds: float) -> None:
        self.wait("sleep", seconds, seconds)

    async def _deferred(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """What the program awaits for an external coroutine: the call is made
        once every task is idle, together with the other calls they wait on."""
        driver = self._driver
        if driver is None or asyncio.get_running_loop() is not driver.loop:
            raise PawflowError(
                f"{describe(fn, self._code.prefix)} was awaited outside the session's event "
                "loop: run async code in an async def handler or with asyncio.run"
            )
        if self._stopped is not None:
            raise SessionStopped(self._stopped)
        return await driver.call(fn, args, kwargs)

    def _run_group(self, calls: list[DeferredCall]) -> None:
        """Ask for the calls the program's tasks wait on (one request), run the
        ones the worker says to at once, and settle each task's future."""
        requests = [self._call_request(c.fn, c.args, c.kwargs) for c in calls]
        grouped = len(requests) > 1
        request = (
            Request("gather", number=requests[0].number, calls=requests) if grouped else requests[0]
        )
        try:
            answers: list[wire.ToRunner] = [self._ask(request)]
            answers += [self._receive() for _ in requests[1:]]
        except SessionStopped as exc:
            for call in calls:
                call.future.set_exception(SessionStopped(str(exc)))
            return
        jobs = [
            self._execute_async(r, c, grouped)
            for r, c, a in zip(requests, calls, answers, strict=True)
            if isinstance(a, wire.Execute)
        ]
        assert self._driver is not None
        self._executing = True
        try:
            executed = iter(self._driver.run_concurrently(jobs))
        finally:
            self._executing = False
        for call, answer in zip(calls, answers, strict=True):
            if isinstance(answer, wire.Execute):
                value, exception = next(executed)
            else:
                _, value, exception = decode_outcome(_recorded(answer), self._scope.secrets)
            if call.future.done():
                continue
            if exception is not None:
                call.future.set_exception(exception)
            else:
                call.future.set_result(value)

    async def _execute_async(
        self, request: Request, call: DeferredCall, grouped: bool
    ) -> tuple[Any, BaseException | None]:
        """One external call awaited on the loop's real clock, with its retries;
        its outcome goes to the worker as soon as it is known."""
        policy, timeout = self._limits(call.fn)
        key = f"{self.spec.session_id}/{request.number}"
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            value: Any = None
            error: BaseException | None = None
            limit = asyncio.timeout(timeout)
            try:
                async with limit:
                    made = call.fn(*call.args, **call.kwargs)
                    # (Never recorded itself: a failed await leaves no value.)
                    value = (
                        await with_call_key(made, self._scope, key)
                        if inspect.isawaitable(made)
                        else made
                    )
            except TimeoutError as exc:
                error = exc
                if limit.expired():
                    error = CallTimedOut(f"{request.function} did not finish within {timeout:g} s")
            except (Exception, SystemExit, asyncio.CancelledError) as exc:
                error = exc
            if not policy.tries_again(attempt, error):
                break
            await asyncio.sleep(policy.delay(attempt))  # a real pause: the call is in progress
        duration = round((time.monotonic() - started) * 1000, 3)
        data = encode_outcome(request.function, value, error, self._scope.secrets)
        _, value, exception = decode_outcome(data, self._scope.secrets)
        number = request.number if grouped else None
        self._send_outcome(attempt, duration, value, exception, data, number)
        return value, exception

    def _execute(
        self,
        request: Request,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> tuple[bytes, int, float]:
        policy, timeout = self._limits(fn)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            value: Any = None
            error: BaseException | None = None
            self._executing = True
            self._activity = request.function
            self._scope.call_key = f"{self.spec.session_id}/{request.number}"
            try:
                with _deadline(timeout, request.function):
                    value = fn(*args, **kwargs)
            except (Exception, SystemExit) as exc:
                error = exc
            finally:
                self._executing = False
                self._scope.call_key = None
            if not policy.tries_again(attempt, error):
                break
            time.sleep(policy.delay(attempt))  # a real pause: the call is in progress
        duration = round((time.monotonic() - started) * 1000, 3)
        outcome = encode_outcome(request.function, value, error, self._scope.secrets)
        return outcome, attempt, duration

    def _print(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        target = kwargs.get("file")
        if target is not None and target is not sys.stdout and target is not sys.stderr:
            fn(*args, **kwargs)  # printing into the user's own file object
            return
        buffer = io.StringIO()
        fn(*args, **{**kwargs, "file": buffer, "flush": False})
        self._send(wire.Print(clip(buffer.getvalue().removesuffix("\n"))))


def _recorded(answer: wire.ToRunner) -> bytes:
    """The outcome of a call answered with its recorded outcome (not "execute")."""
    assert isinstance(answer, wire.Result), answer  # the worker answers a call so
    return answer.outcome


def _options(fn: Callable[..., Any]) -> ActivityOptions:
    """What ``@pawflow.activity`` says of ``fn`` (of a bound method: of its function)."""
    return activity_options(getattr(fn, "__func__", fn)) or ActivityOptions()


@contextlib.contextmanager
def _deadline(seconds: float, function: str) -> Iterator[None]:
    """Raise :class:`CallTimedOut` in the call if it runs longer than ``seconds``.

    The runner runs user code on its main thread, so a real-time alarm can
    interrupt it; a call stuck in C code is ended by the worker instead.
    """

    def expired(signum: int, frame: object) -> None:
        raise CallTimedOut(f"{function} did not finish within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
