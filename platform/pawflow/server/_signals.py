"""Signals to sessions: ``POST /api/v1/sessions/{id}/signals`` → ``pawflow.signal``.

A session that was created but whose workflow has not started yet (the
dispatcher starts it within moments) is waited for briefly, so a parent can
signal a child right after starting it.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from temporalio.service import RPCError, RPCStatusCode

from ..errors import TemporalUnavailable
from ..sessions import signal_user
from ..temporal_errors import is_unavailable
from ._body import read_json_object
from ._http import ApiError, live_session
from ._state import DISPATCHER, STORE
from ._temporal import TEMPORAL

__all__ = ["add_signal_routes", "send_signal"]

log = logging.getLogger(__name__)

_MAX_BODY = 1 << 20  # well below Temporal's 2 MB payload limit
_MAX_NAME = 255
_START_WAIT_SECONDS = 10.0


def add_signal_routes(app: web.Application) -> None:
    """Register the signal route on ``app``."""
    app.router.add_post("/api/v1/sessions/{id}/signals", send_signal)


async def send_signal(request: web.Request) -> web.Response:
    """``{"name", "payload", "sender"}`` → 202 ``{"session_id", "name"}``; 404 for
    an unknown session, 409 for one that ended, 503 when Temporal is down."""
    session_id = request.match_info["id"]
    payload = await read_json_object(
        request, _MAX_BODY, allowed=frozenset({"name", "payload", "sender"})
    )
    name = payload.get("name")
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME:
        raise ApiError(400, f"name must be a non-empty string of at most {_MAX_NAME} characters")
    sender = payload.get("sender")
    if sender is not None and (not isinstance(sender, str) or not sender):
        raise ApiError(400, "sender must be a session id or null")
    data = payload.get("payload")

    session = await live_session(request.app[STORE], session_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _START_WAIT_SECONDS
    delay = 0.02
    started_seen = False
    while True:
        try:
            client = await request.app[TEMPORAL].client()
            await signal_user(client.get_workflow_handle(session_id), name, data, sender)
            break
        except TemporalUnavailable as err:
            raise ApiError(503, str(err)) from None
        except RPCError as err:
            if is_unavailable(err):
                raise ApiError(503, f"Temporal is unavailable ({err.message}); try again") from None
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        # No such workflow: it ended, or it has not been started yet.
        session = await live_session(request.app[STORE], session_id)
        if not session.start_pending:
            if started_seen:
                raise ApiError(409, f"session {session_id!r} has ended")
            # It may have been started since the signal missed it: once more.
            started_seen = True
            continue
        if loop.time() >= deadline:
            raise ApiError(503, f"session {session_id!r} has not started yet; try again")
        log.debug("session %s has not started yet; waiting to signal it", session_id)
        request.app[DISPATCHER].wake()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
    log.debug("signal %r sent to session %s by %s", name, session_id, sender)
    return web.json_response({"session_id": session_id, "name": name}, status=202)
