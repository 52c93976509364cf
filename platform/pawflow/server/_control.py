"""Sessions started, restarted and stopped through the API.

- ``POST /api/v1/sessions`` ``{"project", "call", "data", "parent_session_id",
  "idempotency_key"}``: a manual session (its own ``manual`` event) that the
  dispatcher starts like any other.
- ``POST /api/v1/sessions/{id}/restart`` ``{"from_failure"}``: a new session,
  same event, deployment and call; or, from a failure, on the active deployment,
  reusing the failed session's recorded answers up to its first failed call.
- ``POST /api/v1/sessions/{id}/stop`` ``{"reason", "force"}``: graceful (the
  ``pawflow.stop`` signal: the session's code gets ``pawflow.SessionStopped`` at
  its next durable point, may clean up, and the workflow records the end)
  or forced (Temporal terminate; the workflow cannot record anything, so the
  server records the session as ``stopped``).
"""

from __future__ import annotations

import asyncio
import io
import logging
import posixpath
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from aiohttp import web
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from ..errors import TemporalUnavailable
from ..manifest import CallTarget, Manifest
from ..manifest._calls import CallChecker, CallSite, check_call_format
from ..sessions import signal_stop
from ..storage import TERMINAL_SESSION_STATES, DeploymentRecord, LogRecord, Store
from ..temporal_errors import is_unavailable
from ._auth import principal_of
from ._body import read_json_object
from ._children import CHILD_RELAY
from ._http import ApiError, find_session
from ._state import DISPATCHER, STORE
from ._stream import NOTIFIER
from ._temporal import TEMPORAL

__all__ = ["add_session_control_routes", "stop_at_once"]

log = logging.getLogger(__name__)


_MAX_START_BYTES = 4 << 20
_MAX_STOP_BYTES = 64 << 10
_MAX_IDEMPOTENCY_KEY = 255
_MAX_REASON = 1000
_DEFAULT_REASON = "stopped"
_START_FIELDS = frozenset({"project", "call", "data", "parent_session_id", "idempotency_key"})
_STOP_FIELDS = frozenset({"reason", "force"})
_RESTART_FIELDS = frozenset({"from_failure"})


def add_session_control_routes(app: web.Application) -> None:
    """Register start, restart and stop on ``app``."""
    app.router.add_post("/api/v1/sessions", start_session)
    app.router.add_post("/api/v1/sessions/{id}/restart", restart_session)
    app.router.add_post("/api/v1/sessions/{id}/stop", stop_session)


# -- start ---------------------------------------------------------------------------
async def start_session(request: web.Request) -> web.Response:
    payload = await read_json_object(request, _MAX_START_BYTES, allowed=_START_FIELDS)
    project = _text(payload, "project", required=True)
    call = _text(payload, "call", required=True)
    parent_id = _text(payload, "parent_session_id")
    key = _text(payload, "idempotency_key")
    if key is not None and len(key) > _MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, f"idempotency_key is longer than {_MAX_IDEMPOTENCY_KEY} characters")
    data = payload.get("data")
    if data is None:
        data = {}
    assert project is not None and call is not None
    principal = principal_of(request)
    if principal.kind == "session" and (
        project != principal.project or parent_id != principal.session_id
    ):
        # A session starts only its own children, in its own project.
        raise ApiError(403, "a session can start only child sessions of its own project")

    store = request.app[STORE]
    deployment = await _deployment_for(store, project, parent_id)
    code = await store.get_deployment_code(deployment.id)
    if code is None:
        raise ApiError(404, f"the code of deployment {deployment.id} is gone")
    await asyncio.to_thread(_check_call, code, call, deployment.id)

    session, event, created = await store.start_manual_session(
        project=project,
        deployment_id=deployment.id,
        call=call,
        data=data,
        parent_session_id=parent_id,
        idempotency_key=key,
    )
    if session is None:
        raise ApiError(
            409,
            f"idempotency_key {key!r} was already used by event {event.id}, "
            "which is not a manual start",
        )
    if created:
        request.app[DISPATCHER].wake()
        log.debug("manual session %s (%s) of %s", session.id, call, project)
    return web.json_response(
        {"session_id": session.id, "event_id": event.id},
        status=201 if created else 200,
        headers=None if created else {"Pawflow-Duplicate": "true"},
    )


def _text(payload: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{name!r} must be a non-empty string")
    return value


async def _deployment_for(store: Store, project: str, parent_id: str | None) -> DeploymentRecord:
    if parent_id is not None:
        parent = await store.get_session(parent_id)
        if parent is None:
            raise ApiError(404, f"no session {parent_id!r} (parent_session_id)")
        if parent.project != project:
            raise ApiError(
                400,
                f"parent session {parent_id} belongs to project {parent.project!r}, "
                f"not {project!r}",
            )
        # A child runs the code its parent runs, even after a redeploy.
        deployment = await store.get_deployment(parent.deployment_id)
        if deployment is None:
            raise ApiError(404, f"no deployment {parent.deployment_id!r}")
        return deployment
    deployment = await store.active_deployment(project)
    if deployment is not None:
        return deployment
    if not await store.list_deployments(project, limit=1):
        raise ApiError(404, f"no project {project!r}")
    raise ApiError(404, f"project {project!r} has no active deployment")


def _check_call(code: bytes, call: str, deployment_id: str) -> None:
    """Reject (400) a ``call`` that is not ``FILE.py:FUNCTION`` naming a handler
    defined in the deployment's code. Blocking: run it in a thread."""
    try:
        target = CallTarget.parse(call)
    except ValueError:
        raise ApiError(400, f"call must be FILE.py:FUNCTION, got {call!r}") from None
    if not target.file.endswith(".py"):
        raise ApiError(400, f"call must be FILE.py:FUNCTION, got {call!r}")
    site = CallSite(file=f"call {call!r}", line=None, key="")
    check_call_format(target, site)
    try:
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            names = {_normal(n): n for n in archive.namelist()}
            if target.file not in names:
                raise ApiError(
                    400, f"call {call!r}: {target.file!r} is not in deployment {deployment_id}"
                )
            source = archive.read(names[target.file])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as err:
        raise ApiError(
            500, f"the code of deployment {deployment_id} cannot be read: {err}"
        ) from None
    # The checker reads the file from a project directory: give it one holding
    # just this file (a whole project can be large).
    with tempfile.TemporaryDirectory(prefix="pawflow-call-") as tmp:
        path = Path(tmp, *target.file.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source)
        CallChecker(Path(tmp), "").check(target, site)


def _normal(name: str) -> str:
    # As deploy extracts entries: "\\" is a separator, "." parts vanish.
    return posixpath.normpath(name.replace("\\", "/")).lstrip("/")


# -- restart -------------------------------------------------------------------------
async def restart_session(request: web.Request) -> web.Response:
    payload = await read_json_object(
        request, _MAX_STOP_BYTES, allowed=_RESTART_FIELDS, empty_ok=True
    )
    from_failure = payload.get("from_failure", False)
    if not isinstance(from_failure, bool):
        raise ApiError(400, "'from_failure' must be true or false")
    store = request.app[STORE]
    if not from_failure:
        session = await store.restart_session(request.match_info["id"])
        request.app[DISPATCHER].wake()
        return web.json_response(
            {"session_id": session.id, "event_id": session.event_id}, status=201
        )
    failed = await find_session(store, request.match_info["id"])
    if failed.state != "error":
        raise ApiError(
            409,
            f"session {failed.id} did not fail (it is {failed.state}); "
            "only a failed session restarts from its failure",
        )
    deployment = await _deployment_for(store, failed.project, None)
    code = await store.get_deployment_code(deployment.id)
    if code is None:
        raise ApiError(404, f"the code of deployment {deployment.id} is gone")
    # What the trigger calls now (it may have been renamed); a manual start's own call.
    trigger = Manifest.from_dict(deployment.manifest).project.trigger(failed.trigger)
    call = str(trigger.call) if trigger is not None and trigger.call is not None else failed.call
    await asyncio.to_thread(_check_call, code, call, deployment.id)
    reuse = await _reusable(store, failed.id)
    session = await store.restart_from_failure(failed.id, deployment.id, call, reuse)
    request.app[DISPATCHER].wake()
    log.info(
        "session %s restarts %s from its failure on %s, reusing %d answers",
        session.id,
        failed.id,
        deployment.id,
        reuse,
    )
    return web.json_response(
        {
            "session_id": session.id,
            "event_id": session.event_id,
            "deployment_id": deployment.id,
            "reused": reuse,
        },
        status=201,
    )


async def _reusable(store: Store, session_id: str) -> int:
    """How many answers of the failed session's transcript a restart reuses:
    those before its first failed call, as its workflow said when it ended."""
    count = 0
    for record in reversed(await store.get_log(session_id)):
        if record.get("type") == "state" and record.get("state") == "error":
            value = record.get("reusable")
            count = value if isinstance(value, int) and value > 0 else 0
            break
    if count and len(await store.load_transcript(session_id, count - 1, 1)) != 1:
        raise ApiError(409, f"the recorded answers of session {session_id} are gone")
    return count


# -- stop ----------------------------------------------------------------------------
async def stop_session(request: web.Request) -> web.Response:
    session_id = request.match_info["id"]
    payload = await read_json_object(request, _MAX_STOP_BYTES, allowed=_STOP_FIELDS, empty_ok=True)
    reason = payload.get("reason")
    if reason is None or reason == "":
        reason = _DEFAULT_REASON
    if not isinstance(reason, str) or len(reason) > _MAX_REASON:
        raise ApiError(400, f"'reason' must be a string of at most {_MAX_REASON} characters")
    force = payload.get("force", False)
    if not isinstance(force, bool):
        raise ApiError(400, "'force' must be true or false")

    store = request.app[STORE]
    session = await find_session(store, session_id)
    if session.state in TERMINAL_SESSION_STATES:
        raise _already_ended(session_id, session.state)

    if session.start_pending:
        # Its workflow may not exist yet. Recording the end first keeps the
        # dispatcher from starting it; a workflow that did start is terminated.
        await stop_at_once(request, session_id, reason)
        return await _stopped_reply(request, session_id)

    handle = await _handle(request, session_id)
    try:
        if force:
            await handle.terminate(reason=reason)
        else:
            # Not a Temporal cancel: that would end the workflow at once,
            # without giving the session's code its chance to clean up.
            await signal_stop(handle, reason)
    except RPCError as err:
        if is_unavailable(err):
            raise ApiError(503, f"Temporal is unavailable: {err.message}") from None
        if err.status != RPCStatusCode.NOT_FOUND:
            raise ApiError(
                502, f"Temporal refused to stop session {session_id}: {err.message}"
            ) from None
        status = await _workflow_status(handle)
        if status is not None and status != WorkflowExecutionStatus.TERMINATED:
            raise ApiError(
                409,
                f"session {session_id} has already ended; its final state is being recorded",
            ) from None
        # No workflow (any more) that could record the end: record it here.
        force = True
    if force:
        await _record_stop(request, session_id, reason)
        return await _stopped_reply(request, session_id)
    return web.json_response(
        {"session_id": session_id, "state": session.state, "stopping": True}, status=202
    )


def _already_ended(session_id: str, state: str) -> ApiError:
    return ApiError(409, f"session {session_id} has already ended ({state}); nothing to stop")


async def _handle(request: web.Request, session_id: str) -> WorkflowHandle[Any, Any]:
    try:
        client = await request.app[TEMPORAL].client()
    except TemporalUnavailable as err:
        raise ApiError(503, str(err)) from None
    return client.get_workflow_handle(session_id)


async def _workflow_status(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionStatus | None:
    """The workflow's status; None when Temporal has no such workflow."""
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        if is_unavailable(err):
            raise ApiError(503, f"Temporal is unavailable: {err.message}") from None
        raise
    return description.status


async def _terminate_if_any(request: web.Request, session_id: str, reason: str) -> None:
    try:
        handle = await _handle(request, session_id)
        await handle.terminate(reason=reason)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            log.warning("could not terminate the workflow of session %s: %s", session_id, err)
    except ApiError as err:
        # The session never started, so there is nothing to terminate unless a
        # start raced this stop; the store already says 'stopped'.
        log.warning("could not terminate the workflow of session %s: %s", session_id, err)


async def stop_at_once(request: web.Request, session_id: str, reason: str) -> None:
    """Record the session as stopped, then terminate its workflow if it has one
    (recorded first, so the dispatcher never starts it meanwhile)."""
    await _record_stop(request, session_id, reason)
    await _terminate_if_any(request, session_id, reason)


async def _record_stop(request: web.Request, session_id: str, reason: str) -> None:
    store = request.app[STORE]
    record: LogRecord | None = await store.record_stop(session_id, reason)
    # The workflow cannot end its subscriptions itself any more.
    await store.delete_session_subscriptions(session_id)
    if record is not None:
        request.app[NOTIFIER].notify([session_id])
        request.app[CHILD_RELAY].records_stored([record])


async def _stopped_reply(request: web.Request, session_id: str) -> web.Response:
    session = await request.app[STORE].get_session(session_id)
    state = session.state if session is not None else "stopped"
    return web.json_response({"session_id": session_id, "state": state, "stopping": False})
