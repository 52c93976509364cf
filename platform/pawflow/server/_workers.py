"""Workers' heartbeats: who runs sessions, where, and how far behind they are.

Each worker posts a heartbeat every few seconds to whichever server the load
balancer picks; the server writes it to the store (one row per worker), so
every server on the database lists the same workers and exports the same
worker metrics. A worker is alive while its last beat is recent
(:data:`ALIVE_SECONDS`); rows of workers unseen for a day are deleted.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict

from aiohttp import web

from ..storage import MAX_WORKERS, Store, WorkerRecord
from ._body import read_json_object
from ._http import ApiError
from ._state import STORE

__all__ = [
    "ALIVE_SECONDS",
    "HEARTBEAT_FIELDS",
    "WORKERS",
    "WorkerRegistry",
    "add_worker_routes",
]

HEARTBEAT_FIELDS = frozenset(
    {
        "id",
        "host",
        "pid",
        "task_queue",
        "version",
        "started_at",
        "sessions_running",
        "log_backlog",
    }
)
ALIVE_SECONDS = 30.0
"""A worker is alive while its last beat is this recent: three beats of 10 s."""
_FORGET_SECONDS = 24 * 3600.0
_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,200}$")
_MAX_TEXT = 255
_MAX_BODY = 16 * 1024


class WorkerRegistry:
    """Workers' heartbeats in the store, as one server writes and reads them.

    The store keeps one row per worker id, but the ids are the workers' to
    choose: so that made-up ones cannot grow the table without end, a beat
    from an id this server has not stored lately first prunes the table to
    :data:`~pawflow.storage.MAX_WORKERS` rows seen within a day. Steady beats
    cost one statement each.
    """

    def __init__(
        self, alive_seconds: float = ALIVE_SECONDS, max_workers: int = MAX_WORKERS
    ) -> None:
        if max_workers < 2:
            raise ValueError(f"max_workers must be at least 2, not {max_workers}")
        self._alive_seconds = alive_seconds
        self._max_workers = max_workers
        self._stored: set[str] = set()  # ids this server wrote lately (bounded)

    def is_alive(self, worker: WorkerRecord, now: float) -> bool:
        return now - worker.last_seen <= self._alive_seconds

    async def record(self, store: Store, worker: WorkerRecord) -> None:
        if worker.id not in self._stored:
            # Room for this one: another server may add its own meanwhile,
            # so the bound holds give or take a few rows.
            await store.prune_workers(worker.last_seen - _FORGET_SECONDS, self._max_workers - 1)
            if len(self._stored) >= self._max_workers:
                self._stored.clear()
            self._stored.add(worker.id)
        await store.record_worker(worker)

    async def all(self, store: Store, now: float) -> list[WorkerRecord]:
        """Every worker seen within a day, by id (older rows are deleted)."""
        await store.prune_workers(now - _FORGET_SECONDS, self._max_workers)
        return await store.list_workers(now - _FORGET_SECONDS, self._max_workers)

    async def alive(self, store: Store, now: float) -> list[WorkerRecord]:
        """The live workers, by id; reads only, for metrics scraped often."""
        return await store.list_workers(now - self._alive_seconds, self._max_workers)


WORKERS = web.AppKey("workers", WorkerRegistry)


def add_worker_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/workers/heartbeat", heartbeat)
    app.router.add_get("/api/v1/workers", list_workers)


async def heartbeat(request: web.Request) -> web.Response:
    payload = await read_json_object(request, _MAX_BODY, allowed=HEARTBEAT_FIELDS)
    worker_id = payload.get("id")
    if not isinstance(worker_id, str) or not _ID.match(worker_id):
        raise ApiError(400, "id must be 1 to 200 letters, digits or _.:@-")
    worker = WorkerRecord(
        id=worker_id,
        host=_text(payload, "host"),
        pid=_count(payload, "pid"),
        task_queue=_text(payload, "task_queue"),
        version=_text(payload, "version"),
        started_at=_seconds(payload, "started_at"),
        last_seen=time.time(),
        sessions_running=_count(payload, "sessions_running"),
        log_backlog=_count(payload, "log_backlog"),
    )
    await request.app[WORKERS].record(request.app[STORE], worker)
    return web.json_response({"ok": True})


async def list_workers(request: web.Request) -> web.Response:
    """``GET /api/v1/workers``: the same answer from every server on the database."""
    registry = request.app[WORKERS]
    now = time.time()
    workers = await registry.all(request.app[STORE], now)
    return web.json_response(
        {"workers": [{**asdict(w), "alive": registry.is_alive(w, now)} for w in workers]}
    )


def _text(payload: dict[str, object], name: str) -> str:
    value = payload.get(name, "")
    if not isinstance(value, str) or len(value) > _MAX_TEXT or not value.isprintable():
        raise ApiError(400, f"{name} must be printable text of at most {_MAX_TEXT} characters")
    return value


def _count(payload: dict[str, object], name: str) -> int:
    value = payload.get(name, 0)
    if type(value) is not int or not 0 <= value < 1 << 53:
        raise ApiError(400, f"{name} must be a non-negative integer")
    return value


def _seconds(payload: dict[str, object], name: str) -> float:
    value = payload.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e11:
        raise ApiError(400, f"{name} must be Unix seconds")
    return float(value)
