"""webhook_ack_p99_under_filter_flood: other webhooks' 202 while filters grind.

On a server of its own (no workers, like the ingest measures), a few clients
post ~800 KiB JSON bodies to a trigger whose filter walks every item of the
body (seconds of CPU each: over its 1 s budget, so each such event ends
unmatched), while one client posts small webhooks to a plain trigger. The
figure is the p99 of the plain webhook's 202 during the flood; the baseline is
the same client's p99 just before, without the flood, on the same server.
Bounded in time (a few seconds before, ``flood_seconds`` during) and in bodies.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from ._context import CpuWatch, Plan
from ._load import LoadResult, percentile, post_load
from ._procs import TreeUsage, tree_usage
from ._report import Result, Target
from ._stack import PawServer, Stack

__all__ = ["FloodSide", "filter_flood", "flood_results"]

# About 826 KiB of JSON: 118,000 numbers for the filter to walk.
FLOOD_BODY = json.dumps({"items": list(range(100_000, 218_000))}, separators=(",", ":")).encode()
FLOOD_CLIENTS = 3
_QUIET_SECONDS = 3.0
_MAX_PLAIN = 20_000  # plain requests per phase, whichever bound comes first


@dataclass
class FloodSide:
    stack: Stack
    server: PawServer
    hooks: dict[str, str]  # "flood" and "plain"

    def usage(self) -> dict[str, TreeUsage]:
        # The server's tree holds its filter processes.
        return {"server": tree_usage(self.server.proc.pid)}


def _latencies(load: LoadResult) -> list[float]:
    return [s.seconds * 1000 for s in load.with_status(202)]


async def filter_flood(side: FloodSide, plan: Plan) -> dict[str, Any]:
    """The plain webhook's 202 latency without, then with, the flood."""
    plain = side.hooks["plain"]
    quiet = await post_load(plain, clients=1, count=_MAX_PLAIN, duration=_QUIET_SECONDS)
    watch = CpuWatch(side)
    watch.start()
    flood = asyncio.create_task(
        post_load(
            side.hooks["flood"],
            clients=FLOOD_CLIENTS,
            count=plan.flood_bodies,
            duration=plan.flood_seconds,
            body=lambda i: FLOOD_BODY,
        )
    )
    try:
        loaded = await post_load(plain, clients=1, count=_MAX_PLAIN, duration=plan.flood_seconds)
    finally:
        flooded = await flood
    cpu = watch.shares(loaded.run.elapsed)
    during, before = _latencies(loaded), _latencies(quiet)
    events = (await side.server.api.get("events", project="flood", limit=1000))["events"]
    by_state: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for event in events:
        by_state[event["state"]] = by_state.get(event["state"], 0) + 1
        for line in event.get("matches") or ():
            reason = str(line.get("reason"))
            reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "p99": percentile(during, 99),
        "quiet_p99": percentile(before, 99),
        "detail": {
            "flood_clients": FLOOD_CLIENTS,
            "flood_body_bytes": len(FLOOD_BODY),
            "flood_accepted_202": len(flooded.with_status(202)),
            "flood_other_status": len(flooded.sent) - len(flooded.with_status(202)),
            "flood_errors": flooded.errors,
            "flood_events_by_state_at_end": by_state,
            "flood_match_reasons": reasons,
            "plain_requests": len(during),
            "plain_other_status": len(loaded.sent) - len(during) + loaded.errors,
            "plain_p50_ms": percentile(during, 50),
            "plain_max_ms": max(during, default=None),
            "quiet_requests": len(before),
            "quiet_p50_ms": percentile(before, 50),
            "seconds": round(loaded.run.elapsed, 2),
            "cpu_share_of_one_core": cpu,
        },
    }


def flood_results(measured: dict[str, Any] | None) -> list[Result]:
    how = (
        f"{FLOOD_CLIENTS} clients post ~{len(FLOOD_BODY) >> 10} KiB bodies to a trigger with "
        "an expensive CEL filter; one client posts small webhooks to a plain trigger: p99 of "
        "their 202 (baseline: the same client just before, without the flood)"
    )
    return [
        Result(
            "webhook_ack_p99_under_filter_flood",
            None if measured is None else measured["p99"],
            None if measured is None else measured["quiet_p99"],
            "ms",
            Target("<=", 5, on_ratio=True, note="lower is better"),
            {"how": how, **((measured or {}).get("detail") or {})},
        )
    ]
