"""The session workflow: one Temporal workflow per session, driving its program.

The workflow never runs user code. It asks an activity to advance the
session's program (in a runner process) and gets back what the program wants
next; it answers calls with recorded outcomes, sleeps with durable timers, and
waits for events, signals and child sessions with signals of its own. Its
decisions depend only on recorded activity results and signals, so a replay
is cheap and never diverges at the Temporal level.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from ..credentials import mint_session_credential
from ..errors import ServerError
from ..sdk._activity import Retry
from ._activities import ADVANCE_ACTIVITY, FLUSH_ACTIVITY, SAVE_ACTIVITY
from ._codecache import CodeCache, CodeMismatch
from ._contract import (
    CHILD_DONE_SIGNAL,
    EVENT_SIGNAL,
    STOP_SIGNAL,
    TRANSCRIPT_QUERY,
    USER_SIGNAL,
    WORKFLOW_NAME,
    SessionEvent,
    SessionInput,
    input_mismatch,
    input_problem,
)
from ._driver import CallJournal, RunnerDriver, SessionEnded, SessionHosts
from ._inbox import Inbox
from ._logship import LogShipper
from ._protocol import CallDone, Exchange, Request, Step, StepAction
from ._runner import RunnerSpec
from ._runners import RunnerFactory
from ._seal import OutcomeSeal
from ._serverlink import ServerLink
from ._transcript import Transcript
from ._wire import decode_request, encode_exchange, encode_request

__all__ = [
    "TRANSCRIPT_PAGE",
    "SessionRuntime",
    "call_fields",
    "call_record_types",
    "session_workflow",
]

# Advancing fails only for infrastructure reasons (the user's own failures are
# results): the server unreachable while code, vars or the journal are needed.
# That is waited out, never turned into a failed session.
_ADVANCE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
)
_FLUSH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10)
)
_WAIT_KINDS = frozenset({"sleep", "next_event", "next_signal", "result"})
_KEEP_FAILED_TRANSCRIPT = "pawflow.keep-failed-transcript"
TRANSCRIPT_PAGE = 500  # exchanges per answer: a query's answer has a size limit


@dataclass(frozen=True)
class SessionRuntime:
    """Everything a worker's sessions share."""

    code: CodeCache
    hosts: SessionHosts
    runners: RunnerFactory
    journal: CallJournal
    shipper: LogShipper
    server: ServerLink
    server_url: str
    worker_token: str  # mints each runner's session credential; runners never see it
    seal: OutcomeSeal
    wall_seconds: float = 300.0  # default limit between durable points
    memory_mb: int | None = 2048
    keep_runner_seconds: float = 10.0  # waits longer than this let the runner go
    # History events a session's run may reach before it continues as new.
    max_history_events: int = 10_000


class _SessionLog:
    """Numbers the session's log records deterministically and ships them."""

    def __init__(self, session_id: str, shipper: LogShipper, n: int = 0) -> None:
        self._session_id = session_id
        self._shipper = shipper
        self._n = n  # an earlier run of the session may have numbered some

    @property
    def n(self) -> int:
        """The number the next record gets."""
        return self._n

    def emit(self, type: str, at: float | None = None, **fields: Any) -> None:
        """Ship a record; ``at``: when it happened, if not now (a call run in a batch)."""
        record = {
            "session_id": self._session_id,
            "n": self._n,
            "time": time.time() if at is None else at,
            "type": type,
        }
        record.update(fields)
        self._n += 1
        # Also on replay: records shipped before a crash may not have arrived;
        # the server keeps the first copy of each (session_id, n).
        self._shipper.emit(record)


def session_workflow(runtime: SessionRuntime) -> type:
    """The workflow class for one worker, bound to that worker's runtime.

    Unsandboxed: the workflow only shuffles recorded data, and the runtime it
    reaches (runner processes) lives outside Temporal's determinism anyway. The
    class is made per worker to keep the runtime out of globals; it is built
    with ``type`` because temporalio refuses methods named as local.
    """

    def __init__(self: Any) -> None:
        self.inbox = Inbox()
        self.session = None

    async def run(self: Any, session: SessionInput) -> Any:
        self.session = _Session(runtime, session, self.inbox)
        return await self.session.run()

    def transcript(self: Any, start: int = 0) -> dict[str, Any]:
        # Read only: what the session's program asked and was answered so far
        # (from ``start``; those before ``saved`` are kept by the server).
        kept = None if self.session is None else self.session.transcript
        if kept is None:
            return {"saved": 0, "total": 0, "exchanges": [], "ended": False}
        begin = max(start - kept.saved, 0)
        page = kept.exchanges[begin : begin + TRANSCRIPT_PAGE]
        return {
            "saved": kept.saved,
            "total": kept.total,
            "exchanges": [encode_exchange(e) for e in page],
            "ended": self.session.ended,
        }

    def on_event(self: Any, subscription_id: str, event: SessionEvent) -> None:
        self.inbox.add_event(subscription_id, event)

    def on_signal(self: Any, name: str, payload: Any, sender: str | None = None) -> None:
        self.inbox.add_signal(name, payload, sender)

    def on_child_done(
        self: Any, session_id: str, state: str, result: Any = None, error: str | None = None
    ) -> None:
        self.inbox.children[session_id] = {"state": state, "result": result, "error": error}

    def on_stop(self: Any, reason: str = "") -> None:
        if self.inbox.stop_reason is None:
            self.inbox.stop_reason = reason or "stopped"

    run.__annotations__ = {"session": SessionInput, "return": Any}
    for fn in (__init__, run, transcript, on_event, on_signal, on_child_done, on_stop):
        fn.__qualname__ = f"SessionWorkflow.{fn.__name__}"
    namespace: dict[str, Any] = {"__module__": __name__, "__init__": __init__}
    namespace["run"] = workflow.run(run)
    namespace["transcript"] = workflow.query(name=TRANSCRIPT_QUERY)(transcript)
    for fn, name in (
        (on_event, EVENT_SIGNAL),
        (on_signal, USER_SIGNAL),
        (on_child_done, CHILD_DONE_SIGNAL),
        (on_stop, STOP_SIGNAL),
    ):
        namespace[fn.__name__] = workflow.signal(name=name)(fn)
    cls = type("SessionWorkflow", (), namespace)
    return workflow.defn(name=WORKFLOW_NAME, sandboxed=False)(cls)


class _Session:
    def __init__(self, runtime: SessionRuntime, session: SessionInput, inbox: Inbox) -> None:
        self.runtime = runtime
        self.session = session
        self.inbox = inbox
        self.log = _SessionLog(
            session.session_id, runtime.shipper, int((session.carried or {}).get("log_n", 0))
        )
        options = session.options
        limits = options.get("limits") or {}
        self.durable = bool(options.get("durable", True))
        self.retry = Retry(**(options.get("retry") or {}))
        self.cpu_seconds = limits.get("cpu_seconds")
        self.memory_mb = limits.get("memory_mb") or runtime.memory_mb
        self.transcript = Transcript()
        self.driver = RunnerDriver(
            session.session_id,
            self.transcript,
            self._spec,
            runtime.runners,
            runtime.journal,
            runtime.seal,
            float(limits.get("wall_seconds") or runtime.wall_seconds),
        )
        self.stop_sent = False
        self.ended = False  # the program's end is recorded
        if session.reuse is not None:
            self.driver.reuse = (str(session.reuse["session_id"]), int(session.reuse["count"]))
        # Where in the transcript the first call that failed is (None: none so
        # far): what a restart from this session's failure may reuse ends there.
        self.first_failure: int | None = None

    def _spec(self) -> RunnerSpec:
        # Runs in the activity thread: fetching code and vars may block. Vars
        # set with `paw var set` (secrets among them) override the manifest's;
        # fetched here, they never travel in the workflow's history.
        s = self.session
        problem = input_problem(s)
        if problem:
            raise SessionEnded(_refused(problem))
        try:
            stored = self.runtime.server.get_json(f"/api/v1/sessions/{s.session_id}/vars")
        except ServerError as exc:
            if exc.status == 409:  # the session has ended
                raise SessionEnded(self._ended()) from None
            if exc.status == 404:
                raise SessionEnded(_refused("the server has no such session")) from None
            raise
        mismatch = input_mismatch(s, stored.get("session") or {})
        if mismatch:
            raise SessionEnded(_refused(mismatch))
        try:
            code_root = self.runtime.code.path(s.deployment_id, stored["session"]["code_sha256"])
        except CodeMismatch as exc:
            raise SessionEnded(_refused(str(exc))) from None
        return RunnerSpec(
            session_id=s.session_id,
            project=s.project,
            deployment_id=s.deployment_id,
            code_root=str(code_root),
            call=s.call,
            event=dict(s.event),
            vars={**s.vars, **stored["vars"]},
            secret_vars=tuple(stored.get("secret", ())),
            server_url=self.runtime.server_url,
            credential=mint_session_credential(self.runtime.worker_token, s.session_id),
            durable=self.durable,
            retry=self.retry,
            cpu_seconds=self.cpu_seconds,
            memory_mb=self.memory_mb,
        )

    def _ended(self) -> Request:
        """How the session ended, as the server recorded it."""
        found = self.runtime.server.get_json(f"/api/v1/sessions/{self.session.session_id}")
        if found["state"] == "completed":
            return Request("finished")
        reason = found.get("error") or found["state"]
        return Request("failed", error=reason, message=reason.strip().splitlines()[-1])

    async def run(self) -> Any:
        run_id = workflow.info().run_id
        self.runtime.hosts.open(run_id, self.driver)
        try:
            if self.session.carried is None:
                self.log.emit("state", state="running")
                # Started, task scheduled, task started: anything more means an
                # earlier attempt ran (and may have completed calls before it was lost).
                self.driver.resumed = workflow.info().get_current_history_length() > 3
                request = self._take(None, await self._advance("start"))
            else:
                request = self._carry_on(self.session.carried)
            while not request.ended:
                if self._history_full():
                    await self._continue_as_new(request)
                request = await self._answer(request)
            self.ended = True
            return await self._finish(request)
        except asyncio.CancelledError:
            if workflow.cancellation_reason() is None:
                raise  # evicted from this worker's cache: nothing ends here
            # Cancelled through Temporal: record why the session ended.
            self.inbox.stop_reason = self.inbox.stop_reason or "cancelled in Temporal"
            self.log.emit("stop_request", reason=self.inbox.stop_reason)
            await self._finish(Request("failed", error="stopped", message="stopped"))
            raise
        finally:
            self.runtime.hosts.close(run_id, self.driver)

    # -- continuing as new ----------------------------------------------------------
    def _history_full(self) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() >= self.runtime.max_history_events
            or info.is_continue_as_new_suggested()
        )

    async def _continue_as_new(self, pending: Request) -> None:
        """Go on in a new run of the workflow, with a fresh history: Temporal
        ends a workflow whose history outgrows its limits. The transcript goes
        to the server (it replays the program; history would be too small for
        it), what is still needed goes into the new run's input."""
        saved = await workflow.execute_local_activity(
            SAVE_ACTIVITY,
            result_type=int,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=_ADVANCE_RETRY,
        )
        carried = {
            "saved": saved,
            "log_n": self.log.n,
            "inbox": self.inbox.snapshot(),
            "stop_sent": self.stop_sent,
            "pending": encode_request(pending),
            "first_failure": self.first_failure,
        }
        workflow.continue_as_new(dataclasses.replace(self.session, carried=carried))

    def _carry_on(self, carried: dict[str, Any]) -> Request:
        """Take over from the run that continued as new; returns the request
        that was pending then."""
        self.inbox.restore(carried.get("inbox") or {})
        self.stop_sent = bool(carried.get("stop_sent"))
        self.transcript.saved = int(carried["saved"])
        failure = carried.get("first_failure")
        self.first_failure = None if failure is None else int(failure)
        pending = decode_request(carried["pending"])
        self.transcript.record([], pending)
        return pending

    def _notices(self) -> None:
        """Log what the platform had to tell the session's user meanwhile."""
        while self.inbox.notices:
            self.log.emit("print", text=self.inbox.notices.pop(0))

    async def _answer(self, request: Request) -> Request:
        """Answer the program's request; returns its next one."""
        self._notices()
        if self.inbox.stop_reason is not None and not self.stop_sent:
            return await self._stop(request)
        if request.kind in ("call", "gather"):
            # Before the calls run, so that a long call shows while it runs.
            for call in request.calls or [request]:
                self.log.emit(_start_type(call), **call_fields(call))
            return self._take(None, await self._advance("execute"), announced=True)
        if request.kind in _WAIT_KINDS:
            found, value = await self._wait(request)
            if not found and self.inbox.stop_reason is not None:
                return await self._stop(request)
            return self._take(Exchange(request, value=value), await self._advance("resume", value))
        raise ApplicationError(f"unknown request {request.kind!r} from the program")

    async def _stop(self, request: Request) -> Request:
        reason = self.inbox.stop_reason or "stopped"
        self.stop_sent = True
        self.log.emit("stop_request", reason=reason)
        return self._take(Exchange(request, stop=reason), await self._advance("stop", reason))

    def _emit_prints(self, texts: list[str], times: list[float]) -> None:
        """Log prints at the time they were printed (histories written before
        prints carried their time: at the time they are logged)."""
        for index, text in enumerate(texts):
            self.log.emit("print", at=times[index] if index < len(times) else None, text=text)

    def _take(self, answered: Exchange | None, step: Step, announced: bool = False) -> Request:
        """Log and record what an advance did; returns the program's next request.

        ``announced``: the step's first call (or gather) had its ``call_start``
        logged already. The calls of a gather ran at once: all their
        ``call_start`` records come before their ``call_end`` records.
        """
        self._log_reused(step.reused, step.reused_live)
        self._emit_prints(step.prints, step.printed_at)
        exchanges = [answered] if answered is not None else []
        exchanges.extend(step.reused)
        for index, call in enumerate(step.calls):
            request = call.request
            if index > 0 or not announced:
                for member in _starting(step.calls, index):
                    self.log.emit(
                        _start_type(member.request),
                        at=member.started_at,
                        **call_fields(member.request),
                    )
            end: dict[str, Any] = {
                "seq": request.number,
                "attempt": call.attempts,
                "duration_ms": call.duration_ms,
                **call.shown,
            }
            if call.from_journal:
                end["note"] = "completed before the worker stopped; not run again"
            ended_at = call.started_at + call.duration_ms / 1000
            # What the call printed while it ran shows inside it; what came
            # after it, after it (a history without print times: all after).
            during = sum(1 for at in call.printed_at if at < ended_at)
            self._emit_prints(call.prints[:during], call.printed_at[:during])
            self.log.emit(_end_type(request), at=ended_at, **end)
            self._emit_prints(call.prints[during:], call.printed_at[during:])
            if "error" in call.shown and self.first_failure is None:
                self.first_failure = self.transcript.total + len(exchanges)
            if request.compensation:
                # A saga undid work: a restart from this failure reusing the
                # answers of that work would redo only its second half.
                self.first_failure = 0
            exchanges.append(Exchange(request, outcome=call.outcome))
        self.transcript.record(exchanges, step.request)
        return step.request

    def _log_reused(self, reused: list[Exchange], live: list[CallDone]) -> None:
        """Log the calls whose outcomes a restart from a failure reused (or,
        ``live``, made again)."""
        if not reused:
            return
        assert self.driver.reuse is not None
        origin = self.driver.reuse[0]
        again = {call.request.number: call for call in live}
        for exchange in reused:
            if exchange.request.kind != "call":
                continue
            self.log.emit(_start_type(exchange.request), **call_fields(exchange.request))
            done = again.get(exchange.request.number)
            if done is not None:
                self.log.emit(
                    _end_type(exchange.request),
                    seq=exchange.request.number,
                    attempt=done.attempts,
                    duration_ms=done.duration_ms,
                    **done.shown,
                )
            else:
                self.log.emit(
                    _end_type(exchange.request),
                    seq=exchange.request.number,
                    attempt=0,
                    duration_ms=0.0,
                    reused_from=origin,
                    note=f"reused the outcome recorded by session {origin}; not run again",
                )

    async def _wait(self, request: Request) -> tuple[bool, Any]:
        timeout = request.timeout
        if request.kind == "sleep":
            condition = lambda: self.inbox.stop_reason is not None  # noqa: E731
        else:
            found, value = self.inbox.take(request)
            if found:
                return True, value
            condition = lambda: (  # noqa: E731
                self.inbox.stop_reason is not None or self.inbox.ready(request)
            )
        if timeout is None or timeout > self.runtime.keep_runner_seconds:
            # A long wait costs no memory: a fresh runner replays to here later.
            self.driver.release()
        try:
            await workflow.wait_condition(condition, timeout=timeout)
        except TimeoutError:
            return request.kind == "sleep", None
        if request.kind == "sleep":
            return False, None  # interrupted by a stop
        return self.inbox.take(request)

    async def _advance(self, action: StepAction, value: Any = None) -> Step:
        return await workflow.execute_local_activity(
            ADVANCE_ACTIVITY,
            args=[action, value],
            result_type=Step,
            # Limits inside the activity end a stuck program; this only bounds
            # a worker that stopped answering altogether.
            start_to_close_timeout=timedelta(days=1),
            retry_policy=_ADVANCE_RETRY,
        )

    async def _finish(self, outcome: Request) -> Any:
        self._notices()
        # An undo that failed for good ends a stopped session in error too:
        # what it left half done needs someone's attention.
        undo_failed = outcome.kind == "failed" and outcome.compensation
        stopped = (self.stop_sent or self.inbox.stop_reason is not None) and not undo_failed
        if undo_failed:
            self.log.emit("compensation_failed", **_undo_summary(outcome.result))
        reusable = None
        if outcome.kind == "failed" and not stopped and workflow.patched(_KEEP_FAILED_TRANSCRIPT):
            # Kept for a restart from this failure (`paw session restart
            # --from-failure`), which reuses the answers before the first call
            # that failed.
            saved = await workflow.execute_local_activity(
                SAVE_ACTIVITY,
                result_type=int,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=_FLUSH_RETRY,
            )
            reusable = saved if self.first_failure is None else min(saved, self.first_failure)
        if stopped:
            self.log.emit("state", state="stopped", error=self.inbox.stop_reason or "stopped")
        elif outcome.kind == "finished":
            self.log.emit("state", state="completed", result=outcome.result)
        elif reusable is None:
            self.log.emit("state", state="error", error=outcome.error)
        else:
            self.log.emit("state", state="error", error=outcome.error, reusable=reusable)
        # The session's last records must be stored before it counts as ended.
        await workflow.execute_local_activity(
            FLUSH_ACTIVITY, start_to_close_timeout=timedelta(seconds=30), retry_policy=_FLUSH_RETRY
        )
        if outcome.kind == "failed" and not stopped:
            raise ApplicationError(outcome.message, non_retryable=True)
        return outcome.result


def _refused(reason: str) -> Request:
    message = f"refused to run this session: {reason}"
    return Request("failed", error=message, message=message)


def _starting(calls: list[CallDone], index: int) -> list[CallDone]:
    """The calls whose ``call_start`` is logged just before ``calls[index]``
    ends: that call, or its whole gather if it is the gather's first."""
    group = calls[index].group
    if not group:
        return [calls[index]]
    if index > 0 and calls[index - 1].group == group:
        return []
    return [c for c in calls[index:] if c.group == group]


def call_record_types(request: Request) -> tuple[str, str]:
    """The types of the records that log the call ``request`` starting and
    ending: an undo of a saga shows as one, like a call."""
    if request.compensation:
        return "compensate_start", "compensate_end"
    return "call_start", "call_end"


def _start_type(request: Request) -> str:
    return call_record_types(request)[0]


def _end_type(request: Request) -> str:
    return call_record_types(request)[1]


def _undo_summary(raw: Any) -> dict[str, Any]:
    """The fields of a ``compensation_failed`` record, from what the runner
    sent (checked: the runner runs the user's code)."""
    summary = raw if isinstance(raw, dict) else {}

    def texts(name: str) -> list[str]:
        value = summary.get(name)
        return [str(v) for v in value] if isinstance(value, list) else []

    return {
        "undone": texts("undone"),
        "failed": str(summary.get("failed", "")),
        "error": str(summary.get("error", "")),
        "not_undone": texts("not_undone"),
    }


def call_fields(request: Request) -> dict[str, Any]:
    """How a ``call_start`` log record shows the call ``request``."""
    fields: dict[str, Any] = {
        "seq": request.number,
        "function": request.function,
        "args": request.args,
    }
    if request.kwargs:
        fields["kwargs"] = request.kwargs
    return fields
