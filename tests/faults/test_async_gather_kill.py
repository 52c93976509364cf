"""SIGKILL of the worker in the middle of an async session's ``asyncio.gather``.

Each session gathers three async ``@pawflow.activity`` calls to a fake service
(through aiohttp). The fake answers the first call only once the other two
have arrived -- run one after another, the first would never end -- and holds
the other two for seconds, so the kill lands after the first call completed
(it is in the call journal) and while the other two run. After a new worker
takes over, every session completes; the first call never reaches the fake
again, the other two may (they were interrupted: at-least-once).
"""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.faults._load import TERMINAL, EffectService, LoadRig
from tests.faults._repeats import Receipt, call_numbers, recorded_calls, tally_effects
from tests.helpers import http_json, wait_for

SESSIONS = 3
HOLD = 6.0  # seconds the fake holds the second and third call of each session

PROGRAM = """
import asyncio

import aiohttp

import pawflow


async def handler(event):
    sid = pawflow.session_id()
    answers = await asyncio.gather(*(effect(sid, n) for n in range(3)))
    return sorted(a["n"] for a in answers)


@pawflow.activity(timeout=30)
async def effect(session, n):
    url = pawflow.vars["EFFECT_URL"] + "/effect"
    async with aiohttp.ClientSession() as client:
        async with client.post(url, json={"session": session, "n": n}) as response:
            response.raise_for_status()
            return await response.json()
"""


class GatheringEffects(EffectService):
    """``POST /effect``: call 0 of a session is answered once calls 1 and 2 of the
    same session have arrived; calls 1 and 2 are answered after :data:`HOLD` s."""

    async def _effect(self, request: web.Request) -> web.Response:
        payload = await request.json()
        session, n = str(payload["session"]), int(payload["n"])
        with self._lock:
            receipt = Receipt(len(self._receipts), session, n, time.time())
            self._receipts.append(receipt)
        if n == 0:
            deadline = time.monotonic() + 20
            while not {1, 2} <= self.arrived(session):
                if time.monotonic() > deadline:
                    return web.json_response({"error": "never ran at once"}, status=500)
                await asyncio.sleep(0.01)
        else:
            await asyncio.sleep(HOLD)
        return web.json_response({"n": n, "seq": receipt.seq})

    def arrived(self, session: str) -> set[int]:
        with self._lock:
            return {r.n for r in self._receipts if r.session == session}


def _project(root: Path, effect_url: str) -> Path:
    root.mkdir(parents=True)
    (root / "pawflow.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            project:
              name: gather
              vars:
                - name: EFFECT_URL
                  value: {json.dumps(effect_url)}
              triggers:
                - name: run
                  webhook: {{}}
                  call: program.py:handler
            """
        )
    )
    (root / "program.py").write_text(PROGRAM)
    return root


@pytest.mark.timeout(150)
def test_worker_killed_mid_gather(rig: LoadRig, tmp_path: Path) -> None:
    with GatheringEffects().running() as effects:
        rig.start_server()
        url = rig.deploy(_project(tmp_path / "project", effects.url))
        worker = rig.start_worker()
        for i in range(SESSIONS):
            status, reply = http_json(url, method="POST", body={"i": i})
            assert status == 202, reply

        def first_calls_journaled() -> bool:
            journaled = {r.session for r in recorded_calls(rig.db_path) if r.source == "journal"}
            held = {r.session for r in effects.receipts() if r.n == 2}
            return len(journaled) == SESSIONS and len(held) == SESSIONS

        # Each session's first call is in the journal, its other two still held.
        wait_for(first_calls_journaled, 60, 0.02, "every session's first call journaled")
        rig.kill_worker(worker)
        in_flight_at_kill = Counter(r.n for r in effects.receipts())
        rig.start_worker()

        def ended() -> list[dict[str, Any]] | None:
            found = rig.sessions("gather")
            done = len(found) == SESSIONS and all(s["state"] in TERMINAL for s in found)
            return found if done else None

        sessions = wait_for(ended, 120, 0.2, "every session to end")
        receipts = effects.receipts()

    assert [s["state"] for s in sessions] == ["completed"] * SESSIONS, sessions
    logs = rig.logs([s["id"] for s in sessions])
    for session in sessions:
        ends = [r for r in logs[session["id"]] if r["type"] == "state"]
        assert ends[-1]["result"] == [0, 1, 2]
        # The three calls started before any ended (their records say so too).
        kinds = [r["type"] for r in logs[session["id"]] if r["type"].startswith("call_")]
        assert kinds == ["call_start"] * 3 + ["call_end"] * 3, kinds
    assert in_flight_at_kill == {0: SESSIONS, 1: SESSIONS, 2: SESSIONS}

    per_call = Counter((r.session, r.n) for r in receipts)
    # The completed first call of each session ran once; the interrupted ones ran again.
    assert all(per_call[(s["id"], 0)] == 1 for s in sessions), per_call
    assert all(per_call[(s["id"], n)] == 2 for s in sessions for n in (1, 2)), per_call
    tally = tally_effects(
        receipts, recorded_calls(rig.db_path), call_numbers(logs), rig.worker_kills
    )
    assert tally.completed_repeats == 0, tally.repeated_calls
    assert tally.unexplained_reruns == (), tally
