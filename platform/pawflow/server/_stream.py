"""Session logs: reading them, appending them, and following them live (SSE).

Live delivery has two paths: records appended through this server wake the
streams of their session at once (:class:`LogNotifier`); records stored by
another server on the same database wake them through the store
(``Store.watch_log``: PostgreSQL's LISTEN/NOTIFY). Every stream also re-reads
the store every second, which is how records of another process reach it on
SQLite, and a safety net otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aiohttp import web

from ..storage import TERMINAL_SESSION_STATES, LogRecord
from ..waiting import wait_until_set
from ._body import parse_json_loosely
from ._children import CHILD_RELAY
from ._http import ApiError, find_session, int_param, read_body
from ._json import record_json
from ._logrecords import MAX_N, accept_records
from ._metrics import METRICS
from ._state import STORE
from ._subscriptions import end_subscriptions

__all__ = [
    "NOTIFIER",
    "STREAM_SETTINGS",
    "LogNotifier",
    "StreamSettings",
    "append_log",
    "get_log",
    "stream_log",
]

log = logging.getLogger(__name__)

_MAX_LOG_POST_BYTES = 32 << 20  # call arguments and results can be large


@dataclass(frozen=True)
class StreamSettings:
    """Timing of log streams."""

    recheck_seconds: float = 1.0
    keepalive_seconds: float = 15.0


class LogNotifier:
    """Wakes this process's log streams when records of their session are stored
    (keyed by session id); also wakes sync webhooks when their event is matched
    (keyed by event id: the two kinds of id never meet)."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Event]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @contextlib.contextmanager
    def listen(self, session_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever records of ``session_id`` are stored (or on close)."""
        event = asyncio.Event()
        if self._closed:
            event.set()
        listeners = self._listeners.setdefault(session_id, set())
        listeners.add(event)
        try:
            yield event
        finally:
            listeners.discard(event)
            if not listeners:
                self._listeners.pop(session_id, None)

    def notify(self, session_ids: Iterable[str]) -> None:
        for session_id in set(session_ids):
            for event in self._listeners.get(session_id, ()):
                event.set()

    def close(self) -> None:
        """End every stream: the server is shutting down."""
        self._closed = True
        for listeners in self._listeners.values():
            for event in listeners:
                event.set()


NOTIFIER = web.AppKey("notifier", LogNotifier)
STREAM_SETTINGS = web.AppKey("stream_settings", StreamSettings)


async def get_log(request: web.Request) -> web.Response:
    store = request.app[STORE]
    session_id = request.match_info["id"]
    after = int_param(request, "after", -1, lo=-1, hi=MAX_N)
    await find_session(store, session_id)
    records = await store.get_log(session_id, after)
    return web.json_response({"records": [record_json(r) for r in records]})


async def append_log(request: web.Request) -> web.Response:
    """Store a worker's batch of log records, each judged alone: a record of the
    wrong shape is refused (the reply names it), text that cannot be stored is
    cleaned or cut; the rest of the batch is stored all the same."""
    store = request.app[STORE]
    body = await read_body(request, _MAX_LOG_POST_BYTES)
    try:
        # Loosely: a lone surrogate or NaN in one print must not sink the batch.
        payload = parse_json_loosely(body)
    except RecursionError:
        raise ApiError(400, "request body is not valid JSON: nested too deeply") from None
    except ValueError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ApiError(400, f"request body is not valid JSON: {first}") from None
    records = payload.get("records") if isinstance(payload, dict) else None
    if not isinstance(records, list):
        raise ApiError(400, 'request body must be {"records": [...]}')
    kept, refused = accept_records(records)
    for refusal in refused:
        log.warning("log record %d of a batch refused: %s", refusal.index, refusal.error)
    # Records of a session this store does not know are kept as well: one stray
    # record must not make a worker drop the rest of its batch.
    try:
        inserted = await store.append_log(kept) if kept else []
    except ValueError as err:  # the store's own record checks
        raise ApiError(400, str(err).splitlines()[0]) from None
    request.app[NOTIFIER].notify(r["session_id"] for r in inserted)
    request.app[METRICS].records_stored(inserted)
    request.app[CHILD_RELAY].records_stored(inserted)
    await end_subscriptions(store, inserted)
    return web.json_response(
        {
            "stored": len(inserted),
            "refused": [{"index": r.index, "error": r.error} for r in refused],
        }
    )


async def stream_log(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every record, live, then ``end`` once the session is over."""
    store = request.app[STORE]
    notifier = request.app[NOTIFIER]
    settings = request.app[STREAM_SETTINGS]
    session_id = request.match_info["id"]
    after = int_param(request, "after", -1, lo=-1, hi=MAX_N)
    await find_session(store, session_id)

    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # reverse proxies must not hold events back
        }
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    last_write = loop.time()
    try:
        with notifier.listen(session_id) as wakeup, store.watch_log(session_id, wakeup.set):
            while not notifier.closed:
                wakeup.clear()
                # Read the state before the log: every record stored before a
                # terminal state record is then certain to be in this read.
                session = await store.get_session(session_id)
                records = await store.get_log(session_id, after)
                if records:
                    await response.write(b"".join(_record_frame(r) for r in records))
                    after = records[-1]["n"]
                    last_write = loop.time()
                if session is None:
                    break  # gone meanwhile; nothing more will come
                if session.state in TERMINAL_SESSION_STATES:
                    await response.write(_end_frame(session.state, session.error))
                    break
                idle = settings.keepalive_seconds - (loop.time() - last_write)
                if idle <= 0:
                    await response.write(b": keepalive\n\n")
                    last_write = loop.time()
                    continue
                await wait_until_set(wakeup, min(settings.recheck_seconds, idle))
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away; nothing to finish
    except Exception:
        # The status line is sent: an error reply is impossible, so end the
        # stream early and let the client reconnect with ?after=.
        log.exception("log stream of session %s failed", session_id)
    return response


def _record_frame(record: LogRecord) -> bytes:
    shown = record_json(record)
    data = json.dumps(shown, separators=(",", ":"))
    return f"id: {shown['n']}\nevent: record\ndata: {data}\n\n".encode()


def _end_frame(state: str, error: str | None) -> bytes:
    data = json.dumps({"state": state, "error": error})
    return f"event: end\ndata: {data}\n\n".encode()
