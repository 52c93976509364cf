"""The call journal: outcomes of completed external calls, written by workers.

A worker writes each call's outcome here before the session goes on, and a
worker that takes over a crashed session looks calls up here before running
them, so a completed call never runs twice (see ``sessions/_host.py``).
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from ._body import parse_json
from ._http import ApiError, read_body
from ._state import STORE

__all__ = ["get_call", "put_call"]

_MAX_OUTCOME_POST_BYTES = 8 * 1024 * 1024  # more than Temporal takes in a payload


def _key(request: web.Request) -> tuple[str, int]:
    try:
        number = int(request.match_info["number"])
    except ValueError:
        raise ApiError(400, "call number must be an integer") from None
    return request.match_info["id"], number


async def put_call(request: web.Request) -> web.Response:
    session_id, number = _key(request)
    body = await read_body(request, _MAX_OUTCOME_POST_BYTES)
    try:
        payload = parse_json(body)
        outcome = base64.b64decode(payload["outcome"], validate=True)
        shown = payload.get("shown") or {}
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise ApiError(400, 'request body must be {"outcome": BASE64, "shown": {...}}') from None
    if not isinstance(shown, dict):
        raise ApiError(400, "shown must be an object")
    await request.app[STORE].journal_call(session_id, number, outcome, shown)
    return web.json_response({"ok": True})


async def get_call(request: web.Request) -> web.Response:
    session_id, number = _key(request)
    entry = await request.app[STORE].journaled_call(session_id, number)
    if entry is None:
        raise ApiError(404, f"no journaled call #{number} of session {session_id!r}")
    outcome, shown = entry
    return web.json_response({"outcome": base64.b64encode(outcome).decode(), "shown": shown})
