"""SIGKILL of the worker during a saga's compensation, and during a call that
passes ``pawflow.call_key()`` as an idempotency key.

The program does three steps on a fake ledger, registering an undo for each,
then fails: the undos run last first. The ledger holds one chosen request
until the test lets it go, so the kill lands while that request is in flight.
Every request carries ``Idempotency-Key: pawflow.call_key()``; the ledger
applies each key once, as payment APIs do.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.conftest import make_project
from tests.fakes._service import FakeService
from tests.faults._load import TERMINAL, LoadRig
from tests.helpers import http_json, wait_for

PROGRAM = """
import json
import urllib.request

import pawflow


def handler(event):
    sid = pawflow.session_id()
    with pawflow.saga():
        for step in ("a", "b", "c"):
            ledger("do", sid, step)
            pawflow.compensate(ledger, "undo", sid, step)
        raise ValueError("deposit refused")


@pawflow.activity(timeout=60)
def ledger(operation, session, step):
    request = urllib.request.Request(
        pawflow.vars["LEDGER_URL"] + "/" + operation,
        data=json.dumps({"session": session, "step": step}).encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": pawflow.call_key()},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())
"""


class Ledger(FakeService):
    """``POST /do`` and ``POST /undo`` ``{"session", "step"}``: each request is
    kept with its idempotency key; a key seen before changes nothing. The first
    request for ``held`` = (operation, step) waits until :meth:`release`."""

    def __init__(self, held: tuple[str, str]) -> None:
        super().__init__()
        self.held = held
        self._gate = threading.Event()
        self.received: list[tuple[str, str, str]] = []  # (operation, step, key)
        self.applied: Counter[tuple[str, str]] = Counter()
        self._keys: set[str] = set()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/do", self._handle)
        app.router.add_post("/undo", self._handle)

    def release(self) -> None:
        self._gate.set()

    def arrived(self, operation: str, step: str) -> int:
        with self._lock:
            return sum(1 for o, s, _ in self.received if (o, s) == (operation, step))

    async def _handle(self, request: web.Request) -> web.Response:
        operation = request.path.strip("/")
        step = str((await request.json())["step"])
        key = request.headers.get("Idempotency-Key", "")
        with self._lock:
            first = (operation, step) not in {(o, s) for o, s, _ in self.received}
            self.received.append((operation, step, key))
        if first and (operation, step) == self.held:
            for _ in range(3000):  # at most 30 s
                if self._gate.is_set():
                    break
                await asyncio.sleep(0.01)
        with self._lock:
            if key not in self._keys:
                self._keys.add(key)
                self.applied[(operation, step)] += 1
        return web.json_response({"ok": True, "operation": operation, "step": step})


def _killed_while_held(rig: LoadRig, ledger: Ledger, tmp_path: Path) -> dict[str, Any]:
    """Run one session, SIGKILL its worker while ``ledger.held`` is in flight,
    let a new worker finish it; returns the ended session."""
    rig.start_server()
    project = make_project(tmp_path / "project", "saga", PROGRAM, vars={"LEDGER_URL": ledger.url})
    url = rig.deploy(project)
    worker = rig.start_worker()
    status, reply = http_json(url, method="POST", body={})
    assert status == 202, reply
    wait_for(lambda: ledger.arrived(*ledger.held) == 1, 60, 0.02, f"{ledger.held} in flight")
    rig.kill_worker(worker)
    ledger.release()  # the killed attempt's request ends; it may still apply
    rig.start_worker()

    def ended() -> dict[str, Any] | None:
        found = rig.sessions("saga")
        return found[0] if len(found) == 1 and found[0]["state"] in TERMINAL else None

    session: dict[str, Any] = wait_for(ended, 90, 0.2, "the session to end")
    return session


def _keys(ledger: Ledger, operation: str, step: str) -> list[str]:
    return [k for o, s, k in ledger.received if (o, s) == (operation, step)]


@pytest.mark.timeout(150)
def test_worker_killed_during_a_compensation_runs_each_once(rig: LoadRig, tmp_path: Path) -> None:
    # The undos run c, b, a: the kill lands while b's undo is in flight, after c's completed.
    with Ledger(held=("undo", "b")).running() as ledger:
        session = _killed_while_held(rig, ledger, tmp_path)
        received = Counter((o, s) for o, s, _ in ledger.received)

    assert session["state"] == "error", session
    # The completed steps and the completed undos never ran again.
    for step in "abc":
        assert received[("do", step)] == 1, received
    assert received[("undo", "c")] == 1 and received[("undo", "a")] == 1, received
    # The interrupted undo ran again (at-least-once) with the same key, so it
    # took effect once: every undo happened exactly once at the ledger.
    assert received[("undo", "b")] == 2, received
    first, again = _keys(ledger, "undo", "b")
    assert first == again
    assert ledger.applied == {(o, s): 1 for o in ("do", "undo") for s in "abc"}, ledger.applied

    log = rig.log(session["id"])
    assert [r["n"] for r in log] == list(range(len(log))), "records missing or repeated"
    assert log[-1]["error"].endswith("ValueError: deposit refused"), log[-1]
    undos = [r for r in log if r["type"] == "compensate_start"]
    assert [r["args"][2] for r in undos] == ["'c'", "'b'", "'a'"], undos
    assert len([r for r in log if r["type"] == "compensate_end"]) == 3


@pytest.mark.timeout(150)
def test_a_call_retried_after_a_kill_sees_the_same_call_key(rig: LoadRig, tmp_path: Path) -> None:
    with Ledger(held=("do", "b")).running() as ledger:
        session = _killed_while_held(rig, ledger, tmp_path)

    assert session["state"] == "error", session
    first, again = _keys(ledger, "do", "b")
    assert first == again == f"{session['id']}/2"
    # Every other call had a key of its own, and every effect happened once.
    keys = [k for _, _, k in ledger.received]
    assert len(set(keys)) == 6, keys
    assert ledger.applied == {(o, s): 1 for o in ("do", "undo") for s in "abc"}, ledger.applied
