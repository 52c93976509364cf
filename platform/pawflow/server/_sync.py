"""Synchronous webhooks: the HTTP request waits for its session's answer.

A webhook trigger with ``webhook: {sync: true, timeout: T}`` commits its event
as usual, then holds the request until, whichever comes first:

- the session posts its answer (``pawflow.http_outcome`` →
  ``POST /api/v1/sessions/{id}/http_outcome``): the webhook replies exactly that;
- the session ends: ``completed`` → 200 with its result as JSON, ``error`` or
  ``stopped`` → 500 ``{"error", "session_id"}``;
- T seconds pass: 504 ``{"error", "event_id", "session_id"}`` (the session
  keeps running).

Answers and state changes that arrive through this server wake the waiting
request at once (the log notifier), and so does this server's dispatcher when it
has made the event's session (:func:`wake_sync_webhooks`); the store is re-read
every ``StreamSettings.recheck_seconds`` as well, for what happens through
another server instance.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ..storage import HttpOutcome, SessionRecord, Store
from ..waiting import wait_until_set
from ._body import read_json_object
from ._http import ApiError, live_session
from ._state import DISPATCHER, STORE
from ._stream import NOTIFIER, STREAM_SETTINGS, LogNotifier

__all__ = [
    "add_sync_routes",
    "answer_sync_webhook",
    "outcome_response",
    "post_http_outcome",
    "wake_sync_webhooks",
]

log = logging.getLogger(__name__)

_MAX_BODY = 8 << 20
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Set by the HTTP layer itself; a session cannot meaningfully choose them.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "content-length",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def add_sync_routes(app: web.Application) -> None:
    """Register the HTTP outcome route on ``app``."""
    app.router.add_post("/api/v1/sessions/{id}/http_outcome", post_http_outcome)


async def wake_sync_webhooks(app: web.Application) -> AsyncIterator[None]:
    """While ``app`` runs (a cleanup context): the webhooks waiting for the
    session of an event wake as soon as the dispatcher has matched it (the
    notifier, keyed by event id), instead of polling the store for it."""
    notifier = app[NOTIFIER]
    stop = app[DISPATCHER].watch_matches(lambda event_id: notifier.notify([event_id]))
    try:
        yield
    finally:
        stop()


# -- the session's answer -----------------------------------------------------------
async def post_http_outcome(request: web.Request) -> web.Response:
    """``{"status", "headers", "json"}`` or ``{"status", "headers", "body"}`` → 200
    ``{"accepted": bool}`` (False: an earlier answer of the session counts)."""
    store = request.app[STORE]
    session_id = request.match_info["id"]
    payload = await read_json_object(
        request, _MAX_BODY, allowed=frozenset({"status", "headers", "json", "body"})
    )
    outcome = _parse_outcome(payload)
    await live_session(store, session_id)
    accepted = await store.set_http_outcome(session_id, outcome)
    if accepted:
        request.app[NOTIFIER].notify([session_id])
    else:
        log.debug(
            "session %s answered its webhook more than once; the first answer counts", session_id
        )
    return web.json_response({"accepted": accepted})


def _parse_outcome(payload: dict[str, Any]) -> HttpOutcome:
    status = payload.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        raise ApiError(400, "status must be an HTTP status code from 200 to 599")
    headers = payload.get("headers") or {}
    if not isinstance(headers, dict):
        raise ApiError(400, "headers must be an object of header names to string values")
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise ApiError(400, f"header name {name!r} is not valid")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ApiError(400, f"header {name!r} must be a string without line breaks")
    if "body" in payload and "json" in payload:
        raise ApiError(400, "give either json or body, not both")
    body = payload.get("body")
    if body is not None and not isinstance(body, str):
        raise ApiError(400, "body must be a string (use json for structured data)")
    return HttpOutcome(status=status, headers=dict(headers), json=payload.get("json"), body=body)


def outcome_response(outcome: HttpOutcome) -> web.Response:
    """The HTTP reply a session asked for."""
    headers = {k: v for k, v in outcome.headers.items() if k.lower() not in _HOP_BY_HOP}
    has_type = any(k.lower() == "content-type" for k in headers)
    if outcome.body is not None:
        data = outcome.body.encode()
        default_type = "text/plain; charset=utf-8"
    else:
        data = json.dumps(outcome.json).encode()
        default_type = "application/json"
    if not has_type:
        headers["Content-Type"] = default_type
    return web.Response(status=outcome.status, body=data, headers=headers)


# -- the waiting webhook ------------------------------------------------------------
async def answer_sync_webhook(request: web.Request, event_id: str, timeout: float) -> web.Response:
    """Wait up to ``timeout`` seconds for the answer of the session of ``event_id``
    (a committed event) and turn it into the webhook's reply."""
    store = request.app[STORE]
    notifier = request.app[NOTIFIER]
    recheck = request.app[STREAM_SETTINGS].recheck_seconds
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    session = await _session_of(store, notifier, event_id, deadline, recheck)
    if session is None:
        event = await store.get_event(event_id)
        if event is not None and event.state == "unmatched":
            # No trigger took the event (a filter said no): nothing will answer.
            return _reply(202, {"event_id": event_id, "session_id": None}, event_id)
        if notifier.closed:
            return _shutting_down(event_id, None)
        return _timed_out(event_id, None)

    with notifier.listen(session.id) as wakeup:
        while True:
            wakeup.clear()
            # The end first: an answer given before the session ended is then
            # certain to be seen by the read after it.
            ended = await store.session_result(session.id)
            outcome = await store.get_http_outcome(session.id)
            if outcome is not None:
                return outcome_response(outcome)
            if ended is not None:
                return _ended(event_id, session.id, *ended)
            if notifier.closed:
                return _shutting_down(event_id, session.id)
            left = deadline - loop.time()
            if left <= 0:
                return _timed_out(event_id, session.id)
            await wait_until_set(wakeup, min(recheck, left))


async def _session_of(
    store: Store, notifier: LogNotifier, event_id: str, deadline: float, recheck: float
) -> SessionRecord | None:
    """The event's session once the dispatcher made it; None if it made none (the
    event is unmatched), none appeared before ``deadline``, or the server is
    stopping. Woken by this server's dispatcher (see :func:`wake_sync_webhooks`);
    re-read every ``recheck`` seconds for another server's."""
    loop = asyncio.get_running_loop()
    # Listening before the first read: a match between that read and the wait
    # still wakes it.
    with notifier.listen(event_id) as matched:
        while True:
            matched.clear()
            sessions = await store.list_sessions(event_id=event_id)
            if sessions:
                return sessions[-1]  # newest first: the last is the one the event made
            event = await store.get_event(event_id)
            if event is None or event.state != "pending":
                # Matched with no session (or matched in between: look once more).
                sessions = await store.list_sessions(event_id=event_id)
                return sessions[-1] if sessions else None
            left = deadline - loop.time()
            if left <= 0 or notifier.closed:
                return None
            await wait_until_set(matched, min(recheck, left))


def _ended(
    event_id: str, session_id: str, state: str, result: Any, error: str | None
) -> web.Response:
    if state == "completed":
        return _reply(200, result, event_id, session_id)  # it came as JSON: it is JSON
    message = "session failed" if state == "error" else f"session {state}"
    return _reply(500, {"error": message, "session_id": session_id}, event_id, session_id)


def _shutting_down(event_id: str, session_id: str | None) -> web.Response:
    return _reply(
        503,
        {"error": "the server is shutting down", "event_id": event_id, "session_id": session_id},
        event_id,
        session_id,
    )


def _timed_out(event_id: str, session_id: str | None) -> web.Response:
    return _reply(
        504,
        {
            "error": "the session did not answer in time; it keeps running",
            "event_id": event_id,
            "session_id": session_id,
        },
        event_id,
        session_id,
    )


def _reply(status: int, body: Any, event_id: str, session_id: str | None = None) -> web.Response:
    headers = {"Pawflow-Event-Id": event_id}
    if session_id is not None:
        headers["Pawflow-Session-Id"] = session_id
    return web.json_response(body, status=status, headers=headers)
