"""The web dashboard under ``/ui/``: server-rendered pages over the API's own handlers.

Every page and button goes through the same handler the API route uses (called
with the page's request, whose path names the same ``{id}``), so the dashboard
shows and does exactly what ``paw`` does; this module only lays it out. Pages
are Jinja2 templates (autoescaped: prints, payloads and headers are a
stranger's text); a small script (``static/app.js``) follows live data.
Who may see it is decided in :mod:`._ui_auth`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ..headers import mask_header
from ..manifest import Manifest
from ._api import get_event, get_session, list_deployments, list_events, list_projects
from ._api import list_sessions as api_list_sessions
from ._connections import list_connections, test_connection
from ._control import restart_session, stop_session
from ._http import ApiError, base_url
from ._operations import activate_deployment, redispatch_event
from ._state import CONFIG, STORE
from ._status import status as api_status
from ._stream import stream_log
from ._ui_auth import (
    COOKIE_NAME,
    UI_SESSION,
    UI_SESSIONS,
    UiSessions,
    add_login_code_route,
    set_session_cookie,
    ui_auth_middleware,
)
from ._vars import var_json

__all__ = ["install_ui", "ui_auth_middleware"]

_HERE = Path(__file__).resolve().parent / "ui"
_PAGE = 100
_SCAN_PAGES = 10  # a trigger filter reads at most this many pages of sessions
_COUNTED = 1000  # sessions by state: counted over a project's latest this many
# No inline script or style at all: a print that smuggles markup past the
# escaping still cannot run anything.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

ApiHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install_ui(app: web.Application) -> None:
    """Register the dashboard's pages, data routes and login on ``app``; its
    middleware (:func:`ui_auth_middleware`) must be among ``app``'s."""
    app[UI_SESSIONS] = UiSessions()
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    add_login_code_route(app)
    r = app.router
    r.add_get("/", _home)
    r.add_get("/ui", _home)
    r.add_get("/ui/", _home)
    r.add_static("/ui/static/", _HERE / "static", append_version=False)
    r.add_get("/ui/login", login_page)
    r.add_post("/ui/logout", logout)
    r.add_get("/ui/sessions", sessions_page)
    r.add_get("/ui/sessions/{id}", session_page)
    r.add_get("/ui/projects", projects_page)
    r.add_get("/ui/events", events_page)
    r.add_get("/ui/events/{id}", event_page)
    r.add_get("/ui/status", status_page)
    # What pages' scripts read and press: the API's handlers, behind the cookie.
    r.add_get("/ui/data/sessions/rows", session_rows)
    r.add_get("/ui/data/sessions/{id}/log/stream", log_stream)
    r.add_post("/ui/data/sessions/{id}/stop", stop_session)
    r.add_post("/ui/data/sessions/{id}/restart", restart_session)
    r.add_post("/ui/data/events/{id}/redispatch", redispatch_event)
    r.add_post("/ui/data/deployments/{id}/activate", activate_deployment)
    r.add_post("/ui/data/projects/{project}/connections/{name}/test", test_connection)
    r.add_get("/ui/{tail:.*}", not_found)  # last: a page, not the API's JSON 404
    app.on_response_prepare.append(_security_headers)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/" or request.path.startswith("/ui"):
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)


async def _home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/ui/sessions")


# -- calling the API's handlers --------------------------------------------------------
async def api_json(
    handler: ApiHandler, request: web.Request, query: Mapping[str, str] | None = None
) -> Any:
    """What the API handler answers to ``request`` (with ``query`` instead of its own)."""
    if query is not None:
        request = request.clone(rel_url=request.rel_url.with_query(dict(query)))
    response = await handler(request)
    assert isinstance(response, web.Response) and response.text is not None
    return json.loads(response.text)


def _render(request: web.Request, template: str, context: dict[str, Any]) -> web.Response:
    session = request.get(UI_SESSION)
    return aiohttp_jinja2.render_template(
        template,
        request,
        {**context, "csrf": session.csrf if session else "", "path": request.path},
    )


def page(
    template: str,
) -> Callable[
    [Callable[[web.Request], Awaitable[dict[str, Any]]]], Callable[[web.Request], Awaitable[Any]]
]:
    """A page handler: the function gives the template's context; an API error
    (a bad filter, an unknown id) becomes a page saying it, with its status."""

    def wrap(
        build: Callable[[web.Request], Awaitable[dict[str, Any]]],
    ) -> Callable[[web.Request], Awaitable[Any]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                context = await build(request)
            except ApiError as err:
                response = _render(request, "error.html", {"message": err.message})
                response.set_status(err.status)
                return response
            return _render(request, template, context)

        return handler

    return wrap


@page("error.html")
async def not_found(request: web.Request) -> dict[str, Any]:
    raise ApiError(404, f"there is no page {request.path}")


# -- login ------------------------------------------------------------------------------
async def login_page(request: web.Request) -> web.StreamResponse:
    code = request.query.get("code", "")
    if code:
        session = request.app[UI_SESSIONS].redeem(code)
        if session is not None:
            # Away from the URL with the code in it (spent, but it stays in history).
            reply = web.HTTPSeeOther(_safe_next(request.query.get("next", "")))
            set_session_cookie(request, reply, session)
            raise reply
    response = _render(request, "login.html", {"failed": bool(code)})
    if code:
        response.set_status(401)
    return response


def _safe_next(target: str) -> str:
    # Only a page of this dashboard: never another site ("//evil", "/\\evil").
    if target.startswith("/ui/") and not target.startswith(("//", "/\\")) and "\\" not in target:
        return target
    return "/ui/sessions"


async def logout(request: web.Request) -> web.Response:
    request.app[UI_SESSIONS].end(request.cookies.get(COOKIE_NAME, ""))
    reply = web.HTTPSeeOther("/ui/login")
    reply.del_cookie(COOKIE_NAME, path="/")
    raise reply


# -- sessions ---------------------------------------------------------------------------
_SESSION_FILTERS = ("project", "trigger", "state", "event")


def _filters(request: web.Request) -> dict[str, str]:
    return {k: v for k in _SESSION_FILTERS if (v := request.query.get(k, "").strip())}


async def _session_list(request: web.Request) -> tuple[list[dict[str, Any]], str | None]:
    """A page of sessions, newest first, as the filters ask, and where the next starts.

    The API filters by project and state; by trigger it is filtered here, over
    at most ``_SCAN_PAGES`` pages of the API's.
    """
    filters = _filters(request)
    trigger = filters.pop("trigger", None)
    query = dict(filters)
    if request.query.get("before"):
        query["before"] = request.query["before"]
    rows: list[dict[str, Any]] = []
    more = False
    for _ in range(_SCAN_PAGES):
        answer = await api_json(api_list_sessions, request, query)
        rows.extend(s for s in answer["sessions"] if trigger is None or s["trigger"] == trigger)
        more = bool(answer["more"])
        if len(rows) > _PAGE or not more:
            break
        query["before"] = answer["next_before"]
    more = more or len(rows) > _PAGE
    shown = rows[:_PAGE]
    if more and trigger is not None and len(rows) <= _PAGE:
        # The scan stopped at its bound: go on from where it stopped.
        return shown, query["before"]
    return shown, (shown[-1]["id"] if more and shown else None)


@page("sessions.html")
async def sessions_page(request: web.Request) -> dict[str, Any]:
    sessions, next_before = await _session_list(request)
    filters = _filters(request)
    projects = await api_json(list_projects, request, {"limit": "1000"})
    return {
        "sessions": sessions,
        "filters": filters,
        "projects": [p["name"] for p in projects["projects"]],
        "states": ("created", "running", "completed", "error", "stopped"),
        "next_url": (
            "/ui/sessions?" + urlencode({**filters, "before": next_before}) if next_before else None
        ),
        "live": not request.query.get("before"),
        "rows_url": "/ui/data/sessions/rows?" + urlencode(filters),
    }


async def session_rows(request: web.Request) -> web.Response:
    """The first page's rows alone, for the list's script to swap in (live)."""
    sessions, _ = await _session_list(request)
    return _render(request, "_session_rows.html", {"sessions": sessions})


@page("session.html")
async def session_page(request: web.Request) -> dict[str, Any]:
    session = await api_json(get_session, request)
    store = request.app[STORE]
    children = [
        {"id": s.id, "state": s.state, "trigger": s.trigger}
        for s in await store.list_sessions(project=session["project"], limit=_COUNTED)
        if s.parent_session_id == session["id"]
    ]
    return {"session": session, "children": children}


async def log_stream(request: web.Request) -> web.StreamResponse:
    """The API's live log (SSE); a browser that reconnects says where it was with
    ``Last-Event-ID`` (the ``n`` of the last record it got)."""
    last = request.headers.get("Last-Event-ID", "")
    if last.isdigit() and "after" not in request.query:
        request = request.clone(rel_url=request.rel_url.update_query(after=last))
    return await stream_log(request)


# -- projects ---------------------------------------------------------------------------
@page("projects.html")
async def projects_page(request: web.Request) -> dict[str, Any]:
    store = request.app[STORE]
    base = base_url(request, request.app[CONFIG])
    answer = await api_json(list_projects, request, {"limit": "1000"})
    projects = []
    for project in answer["projects"]:
        name = project["name"]
        deployments = await api_json(list_deployments, request, {"project": name})
        counts: dict[str, dict[str, int]] = {}
        for s in await store.list_sessions(project=name, limit=_COUNTED):
            by_state = counts.setdefault(s.deployment_id, {})
            by_state[s.state] = by_state.get(s.state, 0) + 1
        triggers = []
        active = await store.active_deployment(name)
        if active is not None:
            for trigger in Manifest.from_dict(active.manifest).project.triggers:
                url = None
                if trigger.webhook is not None:
                    hook = await store.ensure_webhook(name, trigger.name)
                    url = f"{base}/webhooks/{hook.slug}"
                triggers.append(
                    {
                        "name": trigger.name,
                        "call": str(trigger.call) if trigger.call else None,
                        "url": url,
                        "kind": _trigger_kind(trigger.webhook, trigger.schedule),
                        "connection": trigger.connection,
                        "event_type": trigger.event_type,
                        "filter": trigger.filter,
                    }
                )
        projects.append(
            {
                **project,
                "deployments": [
                    {**d, "sessions": counts.get(d["id"], {})} for d in deployments["deployments"]
                ],
                "triggers": triggers,
                "connections": (await api_json(list_connections, request, {"project": name}))[
                    "connections"
                ],
                "vars": [var_json(v) for v in await store.list_vars(name)],
            }
        )
    return {"projects": projects, "counted": _COUNTED}


def _trigger_kind(webhook: object, schedule: object) -> str:
    if webhook is not None:
        return "webhook"
    return "schedule" if schedule is not None else "connection"


# -- events -----------------------------------------------------------------------------
@page("events.html")
async def events_page(request: web.Request) -> dict[str, Any]:
    query = {k: v for k in ("project", "before") if (v := request.query.get(k, ""))}
    answer = await api_json(list_events, request, query)
    project = query.get("project")
    next_query = {**({"project": project} if project else {}), "before": answer["next_before"]}
    return {
        "events": answer["events"],
        "project": project or "",
        "next_url": "/ui/events?" + urlencode(next_query) if answer["more"] else None,
    }


@page("event.html")
async def event_page(request: web.Request) -> dict[str, Any]:
    event = await api_json(get_event, request)
    data = event.get("data")
    headers: dict[str, str] = {}
    body = data
    if isinstance(data, dict) and isinstance(data.get("headers"), dict):
        headers = {str(k): mask_header(str(k), str(v)) for k, v in data["headers"].items()}
        body = {k: v for k, v in data.items() if k != "headers"}
    sessions = await api_json(api_list_sessions, request, {"event": event["id"]})
    return {
        "event": event,
        "headers": headers,
        "payload": json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True),
        "sessions": sessions["sessions"],
        "rows_url": "/ui/data/sessions/rows?" + urlencode({"event": event["id"]}),
    }


# -- status -----------------------------------------------------------------------------
@page("status.html")
async def status_page(request: web.Request) -> dict[str, Any]:
    status = await api_json(api_status, request)
    return {"status": status}
