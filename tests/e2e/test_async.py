"""Async sessions on the real platform: a stop while asyncio sleeps, gathers through
continue-as-new, concurrent calls to a real service."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.e2e.conftest import Platform, make_project
from tests.e2e.test_continue_as_new import _runs
from tests.fakes._service import FakeService
from tests.helpers import run_coroutine

pytestmark = pytest.mark.timeout(240)

SLEEPER = """
import asyncio


async def handler(event):
    try:
        await asyncio.sleep(3600)
    finally:
        print("cleaning up")
"""


def test_an_async_session_is_stopped_at_its_durable_timer(
    platform: Platform, tmp_path: Path
) -> None:
    url = platform.deploy(make_project(tmp_path / "p", "asleep", SLEEPER))["webhooks"]["run"]
    platform.start_worker()
    session_id = platform.session_for(platform.post(url, {})[1]["event_id"])["id"]
    stop = platform.paw("session", "stop", session_id, "--reason", "enough")
    assert stop.returncode == 0, stop.stderr
    assert platform.wait_ended(session_id, timeout=60)["state"] == "stopped"
    log = [r for r in platform.log(session_id) if r["type"] == "print"]
    # The stop reached the durable timer: the program's tasks were cancelled,
    # so their cleanup ran, and the session ended as stopped.
    assert [r["text"] for r in log] == ["cleaning up"], log


class _Pings(FakeService):
    """``GET /ping?n=N``: answered after 0.5 s; counts how many are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.peak = 0
        self._count = threading.Lock()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/ping", self._ping)

    async def _ping(self, request: web.Request) -> web.Response:
        with self._count:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.5)
        finally:
            with self._count:
                self.in_flight -= 1
        return web.json_response({"n": int(request.query["n"])})


@pytest.fixture
def pings() -> Iterator[_Pings]:
    with _Pings().running() as fake:
        yield fake


GATHERER = """
import asyncio
import json
import urllib.request

import pawflow


def ping(base, n):
    with urllib.request.urlopen(f"{base}/ping?n={n}", timeout=10) as response:
        return json.loads(response.read())["n"]


async def handler(event):
    total = 0
    base = pawflow.vars["PINGS"]
    for round in range(int(pawflow.vars["ROUNDS"])):
        calls = [asyncio.to_thread(ping, base, round * 4 + i) for i in range(4)]
        got = await asyncio.gather(*calls)
        total += sum(got)
        await asyncio.sleep(0.01)
    return total
"""


def test_gathers_run_at_once_and_survive_continue_as_new(
    platform: Platform, pings: _Pings, tmp_path: Path
) -> None:
    rounds = 25
    project = make_project(
        tmp_path / "p", "gathers", GATHERER, vars={"PINGS": pings.url, "ROUNDS": str(rounds)}
    )
    url = platform.deploy(project)["webhooks"]["run"]
    # A small history allowance and no cache: runs continue as new and replay
    # their gathers from the saved transcript in fresh runners.
    platform.start_worker("--max-history-events", "40", "--max-cached-sessions", "0")
    session_id = platform.session_for(platform.post(url, {})[1]["event_id"])["id"]
    ended = platform.wait_ended(session_id, timeout=180)
    assert ended["state"] == "completed", platform.log(session_id)[-1]["error"]
    assert platform.log(session_id)[-1]["result"] == sum(range(rounds * 4))
    assert run_coroutine(_runs(platform.temporal_address, session_id)) > 1
    # Four pings of a round were at the service at once; and each ran once.
    assert pings.peak == 4
    assert pings.count("GET", "/ping") == rounds * 4
