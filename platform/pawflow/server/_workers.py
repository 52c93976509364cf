"""Workers' heartbeats: who runs sessions, where, and how far behind they are.

Each worker posts a heartbeat every few seconds; a server keeps the last one
of each worker in memory. Servers are stateless, so behind a load balancer
each one knows the workers whose heartbeats reached it lately; a worker's
beats spread over all of them, so each sees every live worker within a few
intervals.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass

from aiohttp import web

from ._body import read_json_object
from ._http import ApiError

__all__ = [
    "HEARTBEAT_FIELDS",
    "WORKERS",
    "Heartbeat",
    "WorkerRegistry",
    "add_worker_routes",
]

HEARTBEAT_FIELDS = frozenset(
    {
        "id",
        "host",
        "pid",
        "task_queue",
        "started_at",
        "sessions_running",
        "log_backlog",
    }
)
_ALIVE_SECONDS = 60.0  # several missed beats (workers beat every 10 s)
_MAX_WORKERS = 10_000
_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,200}$")
_MAX_TEXT = 255
_MAX_BODY = 16 * 1024


@dataclass(frozen=True)
class Heartbeat:
    """A worker's last report, and when this server received it."""

    id: str
    host: str
    pid: int
    task_queue: str
    started_at: float
    sessions_running: int
    log_backlog: int
    last_seen: float


class WorkerRegistry:
    """The last heartbeat of each worker (bounded: the stalest are forgotten)."""

    def __init__(self, alive_seconds: float = _ALIVE_SECONDS) -> None:
        self._beats: dict[str, Heartbeat] = {}
        self._alive_seconds = alive_seconds

    def record(self, beat: Heartbeat) -> None:
        self._beats.pop(beat.id, None)  # re-inserted last: the dict stays oldest first
        self._beats[beat.id] = beat
        while len(self._beats) > _MAX_WORKERS:
            del self._beats[next(iter(self._beats))]

    def all(self) -> list[Heartbeat]:
        return sorted(self._beats.values(), key=lambda b: b.id)

    def alive(self, now: float | None = None) -> list[Heartbeat]:
        """Workers heard from within the last minute."""
        at = time.time() if now is None else now
        return [b for b in self.all() if at - b.last_seen <= self._alive_seconds]


WORKERS = web.AppKey("workers", WorkerRegistry)


def add_worker_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/workers/heartbeat", heartbeat)
    app.router.add_get("/api/v1/workers", list_workers)


async def heartbeat(request: web.Request) -> web.Response:
    payload = await read_json_object(request, _MAX_BODY, allowed=HEARTBEAT_FIELDS)
    worker_id = payload.get("id")
    if not isinstance(worker_id, str) or not _ID.match(worker_id):
        raise ApiError(400, "id must be 1 to 200 letters, digits or _.:@-")
    beat = Heartbeat(
        id=worker_id,
        host=_text(payload, "host"),
        pid=_count(payload, "pid"),
        task_queue=_text(payload, "task_queue"),
        started_at=_seconds(payload, "started_at"),
        sessions_running=_count(payload, "sessions_running"),
        log_backlog=_count(payload, "log_backlog"),
        last_seen=time.time(),
    )
    request.app[WORKERS].record(beat)
    return web.json_response({"ok": True})


async def list_workers(request: web.Request) -> web.Response:
    registry = request.app[WORKERS]
    alive = {b.id for b in registry.alive()}
    return web.json_response(
        {"workers": [{**asdict(b), "alive": b.id in alive} for b in registry.all()]}
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
