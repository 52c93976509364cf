"""The session workflow: one Temporal workflow per session, driving its program."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from ..errors import ServerError
from ..manifest import CallTarget
from ..sdk import Event
from ._activities import CALL_ACTIVITY, FLUSH_ACTIVITY, decode_outcome
from ._codecache import CodeCache
from ._input import WORKFLOW_NAME, SessionInput
from ._logship import LogShipper
from ._program import CallTable, InProcessProgram
from ._protocol import CallRequest, CallResult, Failed, Finished, Request, SleepRequest
from ._render import loggable, user_traceback
from ._serverlink import ServerLink

__all__ = ["SessionRuntime", "session_workflow"]

# External calls: the user's exceptions are recorded as results, so a failing
# activity here means infrastructure trouble, worth a few quick retries.
_CALL_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5)
_FLUSH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10)
)


@dataclass(frozen=True)
class SessionRuntime:
    """Everything a worker's sessions share."""

    code: CodeCache
    calls: CallTable
    shipper: LogShipper
    server: ServerLink


class _Diverged(Exception):
    """Replay reached a call that differs from the recorded one."""


class _SessionLog:
    """Numbers the session's log records deterministically and ships them."""

    def __init__(self, session_id: str, shipper: LogShipper) -> None:
        self._session_id = session_id
        self._shipper = shipper
        self._n = 0

    def emit(self, type: str, **fields: Any) -> None:
        record = {"session_id": self._session_id, "n": self._n, "time": time.time(), "type": type}
        record.update(fields)
        self._n += 1
        self._shipper.emit(record)


def session_workflow(runtime: SessionRuntime) -> type:
    """The workflow class for one worker, bound to that worker's runtime.

    Unsandboxed: user code is ordinary Python run in a greenlet, and the worker
    gives workflows a single thread so greenlet switches stay on one thread.
    The class is made per worker to keep the runtime out of globals; it is
    built with ``type`` because temporalio refuses methods named as local.
    """

    async def run(self: Any, session: SessionInput) -> Any:
        return await _run(runtime, session)

    run.__annotations__ = {"session": SessionInput, "return": Any}
    run.__qualname__ = "SessionWorkflow.run"
    cls = type("SessionWorkflow", (), {"run": workflow.run(run), "__module__": __name__})
    return workflow.defn(name=WORKFLOW_NAME, sandboxed=False)(cls)


async def _run(runtime: SessionRuntime, session: SessionInput) -> Any:
    log = _SessionLog(session.session_id, runtime.shipper)
    log.emit("state", state="running")
    try:
        code = runtime.code.get(session.deployment_id)
        event = session.event
        if event.get("data_by_ref"):
            # Too big for the workflow input; events never change, so a replay
            # fetches exactly the same data.
            stored = runtime.server.get_json(f"/api/v1/events/{event['id']}")
            event = {**event, "data": stored["data"]}
    except (ServerError, OSError) as exc:
        # Transient: failing the workflow task makes Temporal retry it later.
        raise RuntimeError(f"cannot load session {session.session_id}: {exc}") from exc
    try:
        handler = code.handler(CallTarget.parse(session.call))
    except BaseException as exc:
        text = user_traceback(exc, code.root)
        return await _finish(runtime, log, Failed(text, text.rsplit("\n", 1)[-1]))
    program = InProcessProgram(
        run_id=workflow.info().run_id,
        code=code,
        handler=handler,
        event=Event.from_dict(event),
        variables=session.vars,
        calls=runtime.calls,
        on_print=lambda text: log.emit("print", text=text),
    )
    try:
        request = program.start()
        while True:
            if isinstance(request, CallRequest):
                request = program.resume(await _external_call(log, request))
            elif isinstance(request, SleepRequest):
                await asyncio.sleep(request.seconds)
                request = program.resume(None)
            else:
                return await _finish(runtime, log, request)
    except _Diverged as exc:
        return await _finish(runtime, log, Failed(str(exc), str(exc)))
    finally:
        program.close()


async def _external_call(log: _SessionLog, request: CallRequest) -> CallResult:
    fields: dict[str, Any] = {
        "seq": request.number,
        "function": request.function,
        "args": request.args,
    }
    if request.kwargs:
        fields["kwargs"] = request.kwargs
    log.emit("call_start", **fields)
    started = time.monotonic()
    data = await workflow.execute_local_activity(
        CALL_ACTIVITY,
        args=[request.number, request.function],
        result_type=bytes,
        start_to_close_timeout=timedelta(hours=1),
        retry_policy=_CALL_RETRY,
    )
    recorded, value, exception = decode_outcome(data)
    if recorded != request.function:
        raise _Diverged(
            f"the session's code no longer matches its history: call #{request.number} "
            f"was {recorded} when the session first ran, but now it is {request.function}"
        )
    duration = round((time.monotonic() - started) * 1000, 3)
    if exception is None:
        log.emit("call_end", seq=request.number, result=loggable(value), duration_ms=duration)
    else:
        error = f"{type(exception).__name__}: {exception}"
        log.emit("call_end", seq=request.number, error=error, duration_ms=duration)
    return CallResult(value=value, exception=exception)


async def _finish(runtime: SessionRuntime, log: _SessionLog, outcome: Request) -> Any:
    if isinstance(outcome, Finished):
        log.emit("state", state="completed", result=outcome.result)
    else:
        assert isinstance(outcome, Failed)
        log.emit("state", state="error", error=outcome.error)
    # The session's last records must be stored before it counts as ended.
    await workflow.execute_local_activity(
        FLUSH_ACTIVITY, start_to_close_timeout=timedelta(seconds=30), retry_policy=_FLUSH_RETRY
    )
    if isinstance(outcome, Failed):
        raise ApplicationError(outcome.message, non_retryable=True)
    return outcome.result
