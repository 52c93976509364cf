"""Health endpoints for load balancers and orchestrators (no token).

``/healthz``: the process is alive and serving. ``/readyz``: it can do its
work, so the store answers and Temporal is reachable; otherwise a 503 naming
what is not, so a balancer sends traffic elsewhere meanwhile. A server that
is stopping is not ready either.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from aiohttp import web

from ._drain import DRAIN
from ._state import STORE
from ._temporal import TEMPORAL

__all__ = ["add_health_routes", "healthz", "readyz"]

log = logging.getLogger(__name__)

# A probe must answer well within a balancer's own timeout (often 5 s).
_CHECK_SECONDS = 2.0
_PROBE_ID = "readyz-probe"  # a session id that never exists: one indexed lookup


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    if request.app[DRAIN].stopping:
        return _not_ready(["the server is shutting down"])
    problems = [
        problem
        for problem in await asyncio.gather(_store_problem(request), _temporal_problem(request))
        if problem
    ]
    if problems:
        return _not_ready(problems)
    return web.json_response({"ok": True})


def _not_ready(problems: list[str]) -> web.Response:
    return web.json_response(
        {"ok": False, "error": "; ".join(problems)}, status=503, headers={"Retry-After": "5"}
    )


async def _store_problem(request: web.Request) -> str | None:
    try:
        await asyncio.wait_for(request.app[STORE].get_session(_PROBE_ID), _CHECK_SECONDS)
    except TimeoutError:
        return f"the store did not answer within {_CHECK_SECONDS:.0f} s"
    except Exception as err:
        log.warning("readiness: the store failed: %s", err)
        return "the store is unavailable (see the server log)"
    return None


async def _temporal_problem(request: web.Request) -> str | None:
    # Anyone may ask (no token): the answer names no internal address; the
    # server's log does.
    link = request.app[TEMPORAL]
    try:
        async with asyncio.timeout(_CHECK_SECONDS):
            client = await link.client()
            serving = await client.service_client.check_health(
                timeout=timedelta(seconds=_CHECK_SECONDS)
            )
    except TimeoutError:
        log.warning("readiness: Temporal at %s did not answer in time", link.address)
        return f"Temporal did not answer within {_CHECK_SECONDS:.0f} s"
    except Exception as err:
        log.warning("readiness: Temporal at %s: %s", link.address, err)
        return "Temporal is unreachable (see the server log)"
    if not serving:
        log.warning("readiness: Temporal at %s says it is not serving", link.address)
        return "Temporal says it is not serving"
    return None
