"""``GET /api/v1/sessions/{id}/record``: what a session's program was given, to run
it again elsewhere (``paw session replay``, ``paw deploy --check``).

The record is the session's transcript -- every request its program made and
the answer it got -- with the event and vars it started with. The transcript
comes from the session's workflow (a Temporal query: running sessions, and
ended ones while Temporal keeps their history), with the part an earlier run
left on the server when it continued as new; a failed session's whole
transcript is also kept on the server. Outcomes are opened here (the worker
sealed them): whoever holds the management token may read what calls returned,
as the session log shows it; secret vars inside them stay placeholders.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from aiohttp import web
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from ..credentials import purpose_key
from ..dispatch import event_of_session
from ..errors import TemporalUnavailable
from ..manifest import Manifest
from ..sessions import query_transcript
from ..sessions._protocol import Exchange
from ..sessions._seal import OutcomeSeal, TamperedOutcome
from ..sessions._wire import BadMessage, decode_exchange, encode_exchange
from ..storage import SessionRecord, Store
from ..temporal_errors import is_unavailable
from ._http import ApiError, find_session
from ._json import session_json
from ._state import CONFIG, STORE
from ._temporal import TEMPORAL

__all__ = ["MAX_RECORD_EXCHANGES", "add_record_routes"]

MAX_RECORD_EXCHANGES = 20_000  # longer sessions are not replayed through the API
_STORE_PAGE = 1000


def add_record_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/sessions/{id}/record", session_record)


async def session_record(request: web.Request) -> web.Response:
    store = request.app[STORE]
    session = await find_session(store, request.match_info["id"])
    if session.start_pending and session.state == "created":
        raise ApiError(409, f"session {session.id} has not started yet: nothing is recorded")
    raw, complete = await _transcript(request, session)
    seal = OutcomeSeal(purpose_key(request.app[CONFIG].worker_token, "call-outcomes"))
    try:
        exchanges = [encode_exchange(_opened(seal, session.id, e)) for e in raw]
    except (BadMessage, TamperedOutcome, ValueError) as err:
        raise ApiError(500, f"the record of session {session.id} is damaged: {err}") from None
    event = await store.get_event(session.event_id) if session.event_id else None
    plain, secret = await _vars(store, session)
    return web.json_response(
        {
            "session": session_json(session, detail=True),
            "call": session.call,
            "event": event_of_session(session, event),
            "vars": plain,
            "secret_vars": secret,
            "exchanges": exchanges,
            "complete": complete,
        }
    )


async def _transcript(request: web.Request, session: SessionRecord) -> tuple[list[Any], bool]:
    """The session's answered requests (raw JSON, outcomes sealed) and whether
    they are all it will ever have (its program ended)."""
    store = request.app[STORE]
    try:
        queried = await _query_all(request, session.id)
    except _NoWorkflow:
        # Temporal no longer has it: a failed session's transcript is on the server.
        kept = await _stored(store, session.id, 0, MAX_RECORD_EXCHANGES + 1)
        if session.state != "error" or (not kept and session.error is None):
            raise ApiError(
                410,
                f"the record of session {session.id} is gone (Temporal keeps a session's "
                "history as long as retention keeps the session)",
            ) from None
        return _bounded(session.id, kept), True
    saved, rest, ended = queried
    earlier = await _stored(store, session.id, 0, saved) if saved else []
    if len(earlier) < saved:
        raise ApiError(410, f"the first {saved} answers of session {session.id} are gone")
    return _bounded(session.id, [*earlier, *rest]), ended


class _NoWorkflow(Exception):
    pass


async def _query_all(request: web.Request, session_id: str) -> tuple[int, list[Any], bool]:
    try:
        client = await request.app[TEMPORAL].client()
    except TemporalUnavailable as err:
        raise ApiError(503, str(err)) from None
    handle = client.get_workflow_handle(session_id)
    rest: list[Any] = []
    saved, ended = 0, False
    while True:
        try:
            page = await query_transcript(handle, saved + len(rest))
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise _NoWorkflow from None
            if is_unavailable(err):
                raise ApiError(503, f"Temporal is unavailable: {err.message}") from None
            raise ApiError(502, f"Temporal refused the query: {err.message}") from None
        except WorkflowQueryFailedError as err:
            raise ApiError(502, f"the session's workflow could not answer: {err}") from None
        saved, ended = int(page["saved"]), bool(page["ended"])
        rest.extend(page["exchanges"])
        _bounded(session_id, rest)
        if not page["exchanges"] or saved + len(rest) >= int(page["total"]):
            return saved, rest, ended


async def _stored(store: Store, session_id: str, start: int, count: int) -> list[Any]:
    out: list[Any] = []
    while len(out) < count:
        page = await store.load_transcript(session_id, start + len(out), _STORE_PAGE)
        out.extend(json.loads(text) for text in page)
        if len(page) < _STORE_PAGE:
            break
    return out[:count]


def _bounded(session_id: str, exchanges: list[Any]) -> list[Any]:
    if len(exchanges) > MAX_RECORD_EXCHANGES:
        raise ApiError(
            413,
            f"session {session_id} answered more than {MAX_RECORD_EXCHANGES} requests: "
            "too long to replay",
        )
    return exchanges


def _opened(seal: OutcomeSeal, session_id: str, raw: Any) -> Exchange:
    exchange = decode_exchange(raw)
    if exchange.request.kind != "call" or exchange.outcome is None:
        return exchange
    number = exchange.request.number
    opened = seal.open(session_id, number, base64.b64decode(exchange.outcome))
    return dataclasses.replace(exchange, outcome=base64.b64encode(opened).decode())


async def _vars(store: Store, session: SessionRecord) -> tuple[dict[str, str], list[str]]:
    """The session's vars as its program saw them, but secrets: only their names."""
    deployment = await store.get_deployment(session.deployment_id)
    plain: dict[str, str] = {}
    if deployment is not None:
        manifest = Manifest.from_dict(deployment.manifest)
        plain = {v.name: v.value for v in manifest.project.vars}
    secret: list[str] = []
    for var in await store.list_vars(session.project):
        if var.connection is not None:
            continue
        if var.secret:
            plain.pop(var.name, None)
            secret.append(var.name)
        else:
            plain[var.name] = var.value
    return plain, sorted(secret)
