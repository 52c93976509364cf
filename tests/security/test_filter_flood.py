"""Strangers posting large bodies to a trigger with an expensive filter stall nobody.

A real server (``paw up``, no workers): a few bounded clients post ~800 KiB
bodies to a trigger whose filter walks every item of the body, while another
client posts small webhooks to a plain trigger. The plain webhook (another project's)
keeps being answered at about its unloaded speed while the flood is matched;
the flooded events end up not matched, their details saying which budget they
exceeded.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.conftest import Platform
from tests.helpers import wait_for

FLOOD_FILTER = "data.body.json.items.exists(x, x == -1)"
FLOODED = f"""\
version: 1
project:
  name: flooded
  triggers:
    - name: flood
      webhook: {{}}
      filter: {json.dumps(FLOOD_FILTER)}
      call: program.py:handler
"""
BYSTANDER = """\
version: 1
project:
  name: bystander
  triggers:
    - name: plain
      webhook: {}
      call: program.py:handler
"""
# About 826 KiB of JSON: seconds of CPU for the filter, well over its 1 s budget.
BIG_BODY = json.dumps({"items": list(range(100_000, 218_000))}, separators=(",", ":")).encode()
FLOOD_CLIENTS = 3
FLOOD_PER_CLIENT = 3
# The plain webhook under the flood may take this many times its unloaded median
# (filters evaluated on the server's event loop made it thousands of times).
GENEROUS = 25
PACE = 0.05  # between plain webhooks: a steady client, not a second flood
_JSON = {"Content-Type": "application/json"}


def _deploy(platform: Platform, root: Path, manifest: str) -> dict[str, str]:
    root.mkdir()
    (root / "pawflow.yaml").write_text(manifest)
    (root / "program.py").write_text("def handler(event):\n    return None\n")
    hooks: dict[str, str] = platform.deploy(root)["webhooks"]
    return hooks


async def _post(http: aiohttp.ClientSession, url: str, body: bytes) -> tuple[str, float]:
    started = time.perf_counter()
    async with http.post(url, data=body, headers=_JSON) as resp:
        answer = await resp.json()
        assert resp.status == 202, answer
    return answer["event_id"], time.perf_counter() - started


async def _event(http: aiohttp.ClientSession, base: str, event_id: str) -> dict[str, Any]:
    async with http.get(f"{base}/api/v1/events/{event_id}") as resp:
        assert resp.status == 200
        event: dict[str, Any] = await resp.json()
        return event


async def test_a_filter_flood_stalls_no_other_webhook(platform: Platform, tmp_path: Path) -> None:
    hooks = _deploy(platform, tmp_path / "flooded", FLOODED)
    hooks |= _deploy(platform, tmp_path / "bystander", BYSTANDER)
    api = aiohttp.ClientSession(headers={"Authorization": f"Bearer {platform.up.token}"})
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=FLOOD_CLIENTS + 1))
    try:
        unloaded = [(await _post(http, hooks["plain"], b"{}"))[1] for _ in range(20)]

        flood_ids: list[str] = []

        async def flood_client() -> None:
            for _ in range(FLOOD_PER_CLIENT):
                event_id, _ = await _post(http, hooks["flood"], BIG_BODY)
                flood_ids.append(event_id)

        async def flood_matched() -> bool:
            if len(flood_ids) < FLOOD_CLIENTS * FLOOD_PER_CLIENT:
                return False
            # The listing, not each event's details: they hold the big bodies.
            url = f"{platform.url}/api/v1/events"
            async with api.get(url, params={"project": "flooded", "limit": "1000"}) as resp:
                states = {e["id"]: e["state"] for e in (await resp.json())["events"]}
            return all(states[i] != "pending" for i in flood_ids)

        flooding = asyncio.gather(*(flood_client() for _ in range(FLOOD_CLIENTS)))
        # Polled now and then, not per plain post: the listing reads every
        # flooded event's data, which would load the server more than the flood.
        matching = asyncio.ensure_future(
            wait_for(flood_matched, timeout=90, interval=0.5, message="the flood matched")
        )
        # The plain client posts from the flood's start until every flooded event
        # is matched; its answers while the filters grind (all big bodies in,
        # none matched yet) are the ones compared. Those during the posting
        # also measure reading big bodies, which is no filter's doing.
        grinding: list[float] = []
        while not matching.done():
            posting = not flooding.done()
            latency = (await _post(http, hooks["plain"], b"{}"))[1]
            if not posting and not matching.done():
                grinding.append(latency)
            await asyncio.sleep(PACE)
        await flooding
        await matching

        assert len(grinding) >= 3, grinding
        assert statistics.median(grinding) <= GENEROUS * statistics.median(unloaded), (
            unloaded,
            grinding,
        )

        # Every flooded event: not matched, and its details say why.
        for event_id in flood_ids:
            event = await _event(api, platform.url, event_id)
            assert event["state"] == "unmatched"
            assert event["matches"] == [
                {"trigger": "flood", "matched": False, "reason": "filter took longer than 1 s"}
            ], event["matches"]
        listed = platform.paw_json("event", "list", "--project", "flooded")
        (shown,) = [e for e in listed if e["id"] == flood_ids[0]]
        assert shown["matches"][0]["reason"] == "filter took longer than 1 s"
        # The plain webhooks matched their trigger meanwhile.
        listed = platform.paw_json("event", "list", "--project", "bystander")
        assert listed and all(e["state"] == "dispatched" for e in listed)
        assert listed[0]["matches"] == [{"trigger": "plain", "matched": True, "reason": None}]
    finally:
        await http.close()
        await api.close()
