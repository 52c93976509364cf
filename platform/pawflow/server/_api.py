"""Management routes under ``/api/v1/`` (token required; see ``_auth``)."""

from __future__ import annotations

from typing import get_args

from aiohttp import web

from ..storage import SessionState
from ._control import add_session_control_routes
from ._deploy import deploy
from ._http import ApiError, base_url, find_session
from ._journal import get_call, get_transcript, put_call, put_transcript
from ._json import deployment_json, event_json, project_json, session_json
from ._kv import add_kv_routes
from ._operations import add_operation_routes
from ._paging import before_page, paging
from ._record import add_record_routes
from ._schedules import add_schedule_routes
from ._signals import add_signal_routes
from ._state import CONFIG, STORE
from ._status import add_status_routes, server_version
from ._stream import append_log, get_log, stream_log
from ._subscriptions import add_subscription_routes
from ._sync import add_sync_routes
from ._webhook_urls import add_webhook_url_routes

__all__ = ["add_api_routes"]

_SESSION_STATES = frozenset(get_args(SessionState))


def add_api_routes(app: web.Application) -> None:
    """Register every ``/api/v1/`` route on ``app``."""
    app.router.add_get("/api/v1/info", info)
    app.router.add_get("/api/v1/projects", list_projects)
    app.router.add_post("/api/v1/deployments", deploy)
    app.router.add_get("/api/v1/deployments", list_deployments)
    app.router.add_get("/api/v1/deployments/{id}/code", deployment_code)
    app.router.add_get("/api/v1/events", list_events)
    app.router.add_get("/api/v1/events/{id}", get_event)
    # Before "/sessions/{id}" so "log" is never taken for a session id.
    app.router.add_post("/api/v1/sessions/log", append_log)
    app.router.add_get("/api/v1/sessions", list_sessions)
    app.router.add_get("/api/v1/sessions/{id}", get_session)
    app.router.add_get("/api/v1/sessions/{id}/log", get_log)
    app.router.add_get("/api/v1/sessions/{id}/log/stream", stream_log)
    app.router.add_get("/api/v1/sessions/{id}/calls/{number}", get_call)
    app.router.add_post("/api/v1/sessions/{id}/calls/{number}", put_call)
    app.router.add_get("/api/v1/sessions/{id}/transcript", get_transcript)
    app.router.add_post("/api/v1/sessions/{id}/transcript", put_transcript)
    add_session_control_routes(app)
    add_operation_routes(app)
    add_record_routes(app)
    add_kv_routes(app)
    add_schedule_routes(app)
    add_subscription_routes(app)
    add_signal_routes(app)
    add_sync_routes(app)
    add_webhook_url_routes(app)
    add_status_routes(app)


async def info(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    return web.json_response(
        {
            "version": server_version(),
            "temporal_address": config.temporal_address,
            "namespace": config.namespace,
            "task_queue": config.task_queue,
            "url": base_url(request, config),
        }
    )


async def list_projects(request: web.Request) -> web.Response:
    store = request.app[STORE]
    limit, before = paging(request)
    out = []
    for project in await store.list_projects(limit + 1, before):
        active = await store.active_deployment(project.name)
        out.append(project_json(project, active.id if active else None))
    return before_page("projects", out, limit, "name")


async def list_deployments(request: web.Request) -> web.Response:
    project = request.query.get("project") or None
    limit, before = paging(request)
    deployments = await request.app[STORE].list_deployments(project, limit + 1, before)
    return before_page("deployments", [deployment_json(d) for d in deployments], limit)


async def deployment_code(request: web.Request) -> web.Response:
    deployment_id = request.match_info["id"]
    code = await request.app[STORE].get_deployment_code(deployment_id)
    if code is None:
        if await request.app[STORE].get_deployment(deployment_id) is not None:
            # The row stays; retention deleted the archive of an old deployment.
            raise ApiError(410, f"the code of deployment {deployment_id} was deleted by retention")
        raise ApiError(404, f"no deployment {deployment_id!r}")
    return web.Response(body=code, content_type="application/zip")


async def list_events(request: web.Request) -> web.Response:
    project = request.query.get("project") or None
    limit, before = paging(request)
    events = await request.app[STORE].list_events(project, limit + 1, before)
    return before_page("events", [event_json(e) for e in events], limit)


async def get_event(request: web.Request) -> web.Response:
    event_id = request.match_info["id"]
    event = await request.app[STORE].get_event(event_id)
    if event is None:
        raise ApiError(404, f"no event {event_id!r}")
    return web.json_response(event_json(event, detail=True))


async def list_sessions(request: web.Request) -> web.Response:
    state = request.query.get("state") or None
    if state is not None and state not in _SESSION_STATES:
        raise ApiError(400, f"state must be one of {', '.join(sorted(_SESSION_STATES))}")
    limit, before = paging(request)
    sessions = await request.app[STORE].list_sessions(
        project=request.query.get("project") or None,
        event_id=request.query.get("event") or None,
        state=state,
        limit=limit + 1,
        before=before,
    )
    return before_page("sessions", [session_json(s) for s in sessions], limit)


async def get_session(request: web.Request) -> web.Response:
    session = await find_session(request.app[STORE], request.match_info["id"])
    return web.json_response(session_json(session, detail=True))
