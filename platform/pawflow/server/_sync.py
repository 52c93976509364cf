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
request at once (the log notifier); the store is re-read every
``StreamSettings.recheck_seconds`` as well, for those that arrive through
another server instance.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from aiohttp import web

from ..storage import HttpOutcome, SessionRecord, Store
from ..waiting import wait_until_set
from ._body import read_json_object
from ._http import ApiError, live_session
from ._state import STORE
from ._stream import NOTIFIER, STREAM_SETTINGS

__all__ = ["add_sync_routes", "answer_sync_webhook", "outcome_response", "post_http_outcome"]

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
_SESSION_POLL_FIRST = 0.005
_SESSION_POLL_MAX = 0.1


def add_sync_routes(app: web.Application) -> None:
    """Register the HTTP outcome route on ``app``."""
    app.router.add_post("/api/v1/sessions/{id}/http_outcome", post_http_outcome)


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

    session = await _session_of(store, event_id, deadline)
    if session is None:
        event = await store.get_event(event_id)
        if event is not None and event.state == "unmatched":
            # No trigger took the event (a filter said no): nothing will answer.
            return _reply(202, {"event_id": event_id, "session_id": None}, event_id)
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
                return _reply(
                    503,
                    {
                        "error": "the server is shutting down",
                        "event_id": event_id,
                        "session_id": session.id,
                    },
                    event_id,
                )
            left = deadline - loop.time()
            if left <= 0:
                return _timed_out(event_id, session.id)
            await wait_until_set(wakeup, min(recheck, left))


async def _session_of(store: Store, event_id: str, deadline: float) -> SessionRecord | None:
    """The event's session once the dispatcher made it; None if it made none (the
    event is unmatched) or none appeared before ``deadline``."""
    loop = asyncio.get_running_loop()
    delay = _SESSION_POLL_FIRST
    while True:
        sessions = await store.list_sessions(event_id=event_id)
        if sessions:
            return sessions[-1]  # newest first: the last is the one the event made
        event = await store.get_event(event_id)
        if event is None or event.state != "pending":
            # Matched with no session (or matched in between: look once more).
            sessions = await store.list_sessions(event_id=event_id)
            return sessions[-1] if sessions else None
        left = deadline - loop.time()
        if left <= 0:
            return None
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, _SESSION_POLL_MAX)


def _ended(
    event_id: str, session_id: str, state: str, result: Any, error: str | None
) -> web.Response:
    if state == "completed":
        return _reply(200, result, event_id, session_id)  # it came as JSON: it is JSON
    message = "session failed" if state == "error" else f"session {state}"
    return _reply(500, {"error": message, "session_id": session_id}, event_id, session_id)


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
