"""What workers keep of a session's progress on the server.

The call journal: a worker writes each call's outcome here before the session
goes on, and a worker that takes over a crashed session looks calls up here
before running them, so a completed call never runs twice (see
``sessions/_driver.py``). Transcripts: a long-lived session's answered requests,
saved when its workflow continues as new, read back to replay it.
"""

from __future__ import annotations

import base64
import binascii
import json

from aiohttp import web

from ._body import parse_json, read_json_object
from ._http import ApiError, int_param, read_body
from ._state import STORE

__all__ = ["get_call", "get_transcript", "put_call", "put_transcript"]

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


_MAX_TRANSCRIPT_POST_BYTES = 16 * 1024 * 1024
_TRANSCRIPT_PAGE = 500


async def put_transcript(request: web.Request) -> web.Response:
    session_id = request.match_info["id"]
    payload = await read_json_object(
        request, _MAX_TRANSCRIPT_POST_BYTES, allowed=frozenset({"start", "exchanges"})
    )
    start, exchanges = payload.get("start"), payload.get("exchanges")
    if type(start) is not int or start < 0 or not isinstance(exchanges, list):
        raise ApiError(400, 'request body must be {"start": N, "exchanges": [...]}')
    if not all(isinstance(e, dict) for e in exchanges):
        raise ApiError(400, "each exchange must be an object")
    texts = [json.dumps(e, separators=(",", ":")) for e in exchanges]
    await request.app[STORE].save_transcript(session_id, start, texts)
    return web.json_response({"ok": True})


async def get_transcript(request: web.Request) -> web.Response:
    session_id = request.match_info["id"]
    start = int_param(request, "start", 0, lo=0, hi=1 << 53)
    texts = await request.app[STORE].load_transcript(session_id, start, _TRANSCRIPT_PAGE + 1)
    more = len(texts) > _TRANSCRIPT_PAGE
    exchanges = [json.loads(t) for t in texts[:_TRANSCRIPT_PAGE]]
    return web.json_response({"exchanges": exchanges, "more": more})
