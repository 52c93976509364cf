"""sync_transfer_e2e: the money transfer behind a synchronous webhook, request to reply.

One client sends requests one after another (keep-alive, as a caller would) to
the bench project's ``transfer`` trigger (``webhook: {sync: true}``): the reply
comes once the session that withdraws, deposits and records (three
``@pawflow.activity`` calls computed in the worker) has ended, carrying its
result. The latency is send to full reply, on the client's clock.

The baseline does the same against a small aiohttp handler in the raw
temporalio process that runs three local activities with ``start_workflow`` +
``result()`` (``execute_workflow``) on the unsandboxed worker of the same client,
so the start is eager: the best a hand-written service on temporalio does.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from ._context import BenchError, CpuWatch, Measured, PawSide, Plan, RawSide
from ._load import percentile
from ._report import Result, Target

__all__ = ["sync_transfer_baseline", "sync_transfer_pawflow", "sync_transfer_results"]

# Not measured: the first sessions of a deployment fetch its code, the first
# workflows warm the worker's caches.
_WARM_UP = 5
_KEYS = frozenset({"withdraw", "deposit", "record"})


def _order(number: int) -> bytes:
    return json.dumps({"from": "alice", "to": "bob", "amount": number % 100 + 1}).encode()


async def _sequential(url: str, requests: int, side: Measured) -> dict[str, Any]:
    latencies: list[float] = []
    eager = 0
    timeout = aiohttp.ClientTimeout(total=60)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(timeout=timeout) as http:
        watch = CpuWatch(side)
        started = 0.0
        for number in range(_WARM_UP + requests):
            if number == _WARM_UP:
                watch.start()
                started = time.perf_counter()
            t0 = time.perf_counter()
            async with http.post(url, data=_order(number), headers=headers) as resp:
                body = await resp.read()
                seconds = time.perf_counter() - t0
                if resp.status != 200:
                    raise BenchError(f"transfer answered {resp.status}: {body[:300]!r}")
                if resp.headers.get("Bench-Eager-Start") == "1" and number >= _WARM_UP:
                    eager += 1
            answer = json.loads(body)
            if not isinstance(answer, dict) or set(answer) != _KEYS:
                raise BenchError(f"transfer replied {body[:300]!r}")
            if number >= _WARM_UP:
                latencies.append(seconds * 1000)
        elapsed = time.perf_counter() - started
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "detail": {
            "samples": len(latencies),
            "min_ms": round(min(latencies), 2),
            "max_ms": round(max(latencies), 2),
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "cpu_share_of_one_core": watch.shares(elapsed),
        },
        "eager": eager,
    }


async def sync_transfer_pawflow(side: PawSide, plan: Plan) -> dict[str, Any]:
    """Requests to the sync ``transfer`` webhook, one after another."""
    out = await _sequential(side.hooks["transfer"], plan.sync_requests, side)
    del out["eager"]
    return out


async def sync_transfer_baseline(side: RawSide, plan: Plan) -> dict[str, Any]:
    """Requests to the raw process's ``POST /transfer`` handler, one after another."""
    out = await _sequential(f"{side.http_url}/transfer", plan.sync_requests, side)
    out["detail"]["eager_starts"] = out.pop("eager")
    return out


def sync_transfer_results(
    plan: Plan, paw: dict[str, Any] | None, raw: dict[str, Any] | None
) -> list[Result]:
    detail = {
        "clients": 1,
        "requests": plan.sync_requests,
        "how": "one client, sequential POSTs (keep-alive) to a webhook with sync: true whose "
        "session makes three @pawflow.activity calls (withdraw, deposit, record) and returns "
        "them; send -> full 200 reply. Baseline: an aiohttp handler running the same three "
        "steps as local activities in a raw workflow (unsandboxed worker on the handler's "
        "client: eager start), started and awaited per request",
        "pawflow": None if paw is None else paw["detail"],
        "baseline": None if raw is None else raw["detail"],
    }
    return [
        Result(
            f"sync_transfer_e2e_p{p}",
            None if paw is None else paw[f"p{p}"],
            None if raw is None else raw[f"p{p}"],
            "ms",
            target,
            detail if p == 50 else {"clients": 1},
        )
        for p, target in ((50, Target("<=", 15)), (99, None))
    ]
