"""``GET /api/v1/status`` (admin token): the platform at a glance, for ``paw status``.

The server (version, URL), the store (kind, size), Temporal (address, namespace,
whether it answers a health check within a short time), the workers with their
last heartbeat (alive, or gone once it lapsed), sessions by state, events
waiting to be dispatched and the oldest running session.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import time
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from aiohttp import web

from ._http import base_url
from ._json import iso_time
from ._state import CONFIG, STORE
from ._temporal import TEMPORAL
from ._workers import WORKERS

__all__ = ["add_status_routes", "server_version"]

log = logging.getLogger(__name__)

# Short: a status that hangs on an unreachable Temporal is no status.
_TEMPORAL_CHECK_SECONDS = 2.0


def add_status_routes(app: web.Application) -> None:
    """Register ``GET /api/v1/status`` on ``app``."""
    app.router.add_get("/api/v1/status", status)


def server_version() -> str:
    """The installed distribution's version (``0.0.0`` when run from a bare tree)."""
    try:
        return importlib.metadata.version("pawflow")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


async def status(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    registry = request.app[WORKERS]
    store = request.app[STORE]
    now = time.time()
    summary, workers, reachable = await asyncio.gather(
        store.store_status(), registry.all(store, now), _temporal_reachable(request)
    )
    oldest: dict[str, Any] | None = None
    if summary.oldest_running is not None:
        session_id, created_at = summary.oldest_running
        oldest = {
            "id": session_id,
            "created_at": iso_time(created_at),
            "age_seconds": round(max(now - created_at, 0.0), 1),
        }
    return web.json_response(
        {
            "server": {"version": server_version(), "url": base_url(request, config)},
            "store": {"kind": summary.kind, "size_bytes": summary.size_bytes},
            "temporal": {
                "address": config.temporal_address,
                "namespace": config.namespace,
                "reachable": reachable,
            },
            "workers": [
                {
                    **asdict(w),
                    "last_seen": iso_time(w.last_seen),
                    "started_at": iso_time(w.started_at) if w.started_at else None,
                    "seconds_since_heartbeat": round(max(now - w.last_seen, 0.0), 1),
                    "alive": registry.is_alive(w, now),
                }
                for w in workers
            ],
            "sessions": summary.sessions,
            "events_pending": summary.pending_events,
            "oldest_running_session": oldest,
        }
    )


async def _temporal_reachable(request: web.Request) -> bool:
    link = request.app[TEMPORAL]
    try:
        async with asyncio.timeout(_TEMPORAL_CHECK_SECONDS):
            client = await link.client()
            return await client.service_client.check_health(
                timeout=timedelta(seconds=_TEMPORAL_CHECK_SECONDS)
            )
    except Exception as err:  # timeouts included: any failure means "not reachable"
        log.info("status: Temporal at %s did not answer: %s", link.address, err)
        return False
