"""Subscriptions of running sessions to events (``pawflow.subscribe``).

The server only keeps them; the dispatcher fans new events out to them and
signals them to the sessions (``dispatch/_subscriptions.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from ..filters import FilterError, compile_filter
from ..manifest import Manifest
from ..storage import (
    TERMINAL_SESSION_STATES,
    LogRecord,
    Store,
    SubscriptionRecord,
    TooManySubscriptions,
)
from ._body import read_json_object
from ._http import ApiError, find_session, live_session
from ._json import iso_time
from ._state import STORE

__all__ = [
    "add_subscription_routes",
    "end_subscriptions",
    "subscription_json",
]

log = logging.getLogger(__name__)

_MAX_BODY = 64 * 1024
_MAX_SOURCE = 255
# Checked before anything is looked up; the filter compiler has a bound of its own.
_MAX_FILTER = 4096


def add_subscription_routes(app: web.Application) -> None:
    """Register the subscription routes on ``app``."""
    app.router.add_post("/api/v1/sessions/{id}/subscriptions", create_subscription)
    app.router.add_get("/api/v1/sessions/{id}/subscriptions", list_subscriptions)
    app.router.add_delete("/api/v1/subscriptions/{id}", delete_subscription)


def subscription_json(s: SubscriptionRecord) -> dict[str, Any]:
    return {
        "id": s.id,
        "session_id": s.session_id,
        "project": s.project,
        "source": s.source,
        "filter": s.filter,
        "created_at": iso_time(s.created_at),
    }


async def create_subscription(request: web.Request) -> web.Response:
    """``{"source": NAME, "filter": CEL or null, "idempotency_key": optional}``
    → 201 ``{"subscription_id"}`` (the same one again for a repeated key)."""
    store = request.app[STORE]
    session_id = request.match_info["id"]
    payload = await read_json_object(
        request, _MAX_BODY, allowed=frozenset({"source", "filter", "idempotency_key"})
    )
    source = payload.get("source")
    if not isinstance(source, str) or not source or len(source) > _MAX_SOURCE:
        raise ApiError(400, f"source must be a trigger or connection name (1-{_MAX_SOURCE} chars)")
    expression = payload.get("filter")
    if expression is not None and not isinstance(expression, str):
        raise ApiError(400, "filter must be a CEL expression (a string) or null")
    if expression is not None and len(expression) > _MAX_FILTER:
        raise ApiError(400, f"filter is longer than {_MAX_FILTER} characters")
    key = payload.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 256):
        raise ApiError(400, "idempotency_key must be a string of 1-256 characters")

    session = await live_session(store, session_id)
    deployment = await store.get_deployment(session.deployment_id)
    project = Manifest.from_dict(deployment.manifest).project if deployment else None
    if project is None or (project.trigger(source) is None and project.connection(source) is None):
        raise ApiError(
            400,
            f"source {source!r} is neither a trigger nor a connection of the session's "
            f"deployment of {session.project!r}",
        )
    if expression is not None:
        try:
            compile_filter(expression)
        except FilterError as err:
            raise ApiError(400, f"filter: {err}") from None
    try:
        record = await store.add_subscription(session_id, source, expression, key)
    except TooManySubscriptions as err:
        raise ApiError(409, str(err)) from None
    log.debug("session %s subscribed to %s as %s", session_id, source, record.id)
    return web.json_response({"subscription_id": record.id}, status=201)


async def list_subscriptions(request: web.Request) -> web.Response:
    store = request.app[STORE]
    session_id = request.match_info["id"]
    await find_session(store, session_id)
    records = await store.list_subscriptions(session_id)
    return web.json_response({"subscriptions": [subscription_json(s) for s in records]})


async def delete_subscription(request: web.Request) -> web.Response:
    """204 whether or not it still existed: a retried unsubscribe must succeed."""
    await request.app[STORE].delete_subscription(request.match_info["id"])
    return web.Response(status=204)


async def end_subscriptions(store: Store, inserted: Iterable[LogRecord]) -> None:
    """Delete the subscriptions of sessions whose final ``state`` record is among
    ``inserted`` (called after log records are stored)."""
    ended = {
        r["session_id"]
        for r in inserted
        if r.get("type") == "state" and r.get("state") in TERMINAL_SESSION_STATES
    }
    for session_id in ended:
        try:
            await store.delete_session_subscriptions(session_id)
        except Exception:
            # The records are stored; the dispatcher drops these subscriptions
            # anyway once it finds the session's workflow gone.
            log.exception("cannot delete the subscriptions of ended session %s", session_id)
