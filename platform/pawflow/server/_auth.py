"""Who is calling, and what they may reach, for everything under ``/api/``.

Three principals (see :mod:`pawflow.credentials`): the admin token reaches
everything; the worker token only the routes workers use; a session
credential only its own session's routes and its own project's store, events
and sessions, and only while the session runs. The checks sit here, in one
table, so a route cannot be reachable by a runner by accident: a route that
is not listed is admin-only.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Handler

from ..credentials import SESSION_CREDENTIAL_PREFIX, session_of_credential
from ..storage import TERMINAL_SESSION_STATES, Store
from ._http import ApiError
from ._state import CONFIG, STORE

__all__ = ["PRINCIPAL", "Principal", "auth_middleware", "principal_of"]

_PROTECTED_PREFIX = "/api/"
# Outside /api/ but admin-only all the same (a separate loopback port serves
# the metrics without a token).
_ADMIN_PATHS = frozenset({"/metrics"})
_MAX_CREDENTIAL = 512  # longer than any credential we issue


@dataclass(frozen=True)
class Principal:
    kind: Literal["admin", "worker", "session"]
    session_id: str | None = None  # sessions: the one the credential names
    project: str | None = None  # sessions: that session's project


PRINCIPAL = web.RequestKey("principal", Principal)

# What a worker does for the sessions it runs (and nothing of the management API).
_WORKER_ROUTES = frozenset(
    {
        ("GET", "/api/v1/info"),
        ("GET", "/api/v1/deployments/{id}/code"),
        ("POST", "/api/v1/sessions/log"),
        ("GET", "/api/v1/sessions/{id}"),
        ("GET", "/api/v1/sessions/{id}/vars"),
        ("GET", "/api/v1/sessions/{id}/calls/{number}"),
        ("POST", "/api/v1/sessions/{id}/calls/{number}"),
        ("GET", "/api/v1/sessions/{id}/transcript"),
        ("POST", "/api/v1/sessions/{id}/transcript"),
        ("POST", "/api/v1/schedules/ticks"),
        ("POST", "/api/v1/workers/heartbeat"),
    }
)

# A session's runner: each route with the check that it stays within its own session
# (``own``) or its own project (``project``: the named session, event,
# subscription or store belongs to it). ``child``: the handler checks the body.
_Scope = Literal["own", "project", "subscription", "event", "store", "child"]
_SESSION_ROUTES: dict[tuple[str, str], _Scope] = {
    ("GET", "/api/v1/sessions/{id}"): "project",
    ("POST", "/api/v1/sessions/{id}/signals"): "project",
    ("GET", "/api/v1/sessions/{id}/connections/{name}"): "own",
    ("POST", "/api/v1/sessions/{id}/subscriptions"): "own",
    ("GET", "/api/v1/sessions/{id}/subscriptions"): "own",
    ("POST", "/api/v1/sessions/{id}/http_outcome"): "own",
    ("GET", "/api/v1/sessions/{id}/webhooks/{trigger}"): "own",
    ("DELETE", "/api/v1/subscriptions/{id}"): "subscription",
    ("GET", "/api/v1/events/{id}"): "event",
    ("POST", "/api/v1/sessions"): "child",
    ("GET", "/api/v1/projects/{project}/store"): "store",
    ("GET", "/api/v1/projects/{project}/store/{key}"): "store",
    ("PUT", "/api/v1/projects/{project}/store/{key}"): "store",
    ("POST", "/api/v1/projects/{project}/store/{key}"): "store",
    ("DELETE", "/api/v1/projects/{project}/store/{key}"): "store",
}


def _refused(what: str) -> ApiError:
    return ApiError(403, f"this credential cannot {what}")


def _bearer(request: web.Request) -> str:
    raw = request.headers.get("Authorization", "")
    # aiohttp decodes bytes that are not UTF-8 to lone surrogates; such a header
    # (or an absurdly long one) is simply not a credential.
    if len(raw) > _MAX_CREDENTIAL + 16 or not raw.isascii() or not raw.isprintable():
        return ""
    scheme, _, given = raw.partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def _same(given: str, expected: str) -> bool:
    # compare_digest keeps the time independent of how much of the token matched.
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


async def _identify(request: web.Request) -> Principal:
    config = request.app[CONFIG]
    given = _bearer(request)
    if given and _same(given, config.token):
        return Principal("admin")
    if given and _same(given, config.worker_token):
        return Principal("worker")
    if given.startswith(SESSION_CREDENTIAL_PREFIX):
        session_id = session_of_credential(config.worker_token, given)
        if session_id is not None:
            session = await request.app[STORE].get_session(session_id)
            if session is not None and session.state not in TERMINAL_SESSION_STATES:
                return Principal("session", session_id, session.project)
            raise ApiError(
                401,
                "this session credential has expired: its session has ended",
                headers={"WWW-Authenticate": "Bearer"},
            )
    raise ApiError(401, "missing or wrong API token", headers={"WWW-Authenticate": "Bearer"})


def _route(request: web.Request) -> tuple[str, str]:
    info = request.match_info
    resource = info.route.resource
    canonical = resource.canonical if resource is not None else request.path
    return request.method, canonical


async def _project_of_session(store: Store, session_id: str) -> str | None:
    session = await store.get_session(session_id)
    return session.project if session is not None else None


async def _project_of_subscription(store: Store, subscription_id: str) -> str | None:
    found = await store.get_subscription(subscription_id)
    return found.project if found is not None else None


async def _project_of_event(store: Store, event_id: str) -> str | None:
    event = await store.get_event(event_id)
    return event.project if event is not None else None


_OWNER_LOOKUPS: dict[str, Callable[[Store, str], Awaitable[str | None]]] = {
    "project": _project_of_session,
    "subscription": _project_of_subscription,
    "event": _project_of_event,
}


async def _check_session_access(
    request: web.Request, principal: Principal, method: str, route: str
) -> None:
    scope = _SESSION_ROUTES.get((method, route))
    if scope is None:
        raise _refused(f"{method} {route} (a session reaches only its own session)")
    info = request.match_info
    if scope == "own":
        if info["id"] != principal.session_id:
            raise _refused("reach another session (a session reaches only its own session)")
    elif scope == "store":
        if info["project"] != principal.project:
            raise _refused("reach another project's store")
    elif scope in _OWNER_LOOKUPS:
        owner = await _OWNER_LOOKUPS[scope](request.app[STORE], info["id"])
        if owner != principal.project:
            # The same answer as for an id that does not exist: a credential
            # learns nothing about other projects.
            raise ApiError(404, f"no {'session' if scope == 'project' else scope} {info['id']!r}")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(_PROTECTED_PREFIX) or request.path in _ADMIN_PATHS:
        principal = await _identify(request)
        method, route = _route(request)
        if principal.kind == "worker" and (method, route) not in _WORKER_ROUTES:
            raise _refused(f"{method} {route} (it is a worker credential)")
        if principal.kind == "session":
            await _check_session_access(request, principal, method, route)
        request[PRINCIPAL] = principal
    return await handler(request)


def principal_of(request: web.Request) -> Principal:
    """Who made ``request`` (a route under ``/api/``)."""
    return request[PRINCIPAL]
