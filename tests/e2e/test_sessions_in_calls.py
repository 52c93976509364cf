"""One worker holds many more sessions inside external calls at once than it used to (200)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.e2e.conftest import Platform, make_project
from tests.fakes._service import FakeService
from tests.helpers import http_json, wait_for

pytestmark = pytest.mark.timeout(300)

SESSIONS = 250  # more than a worker used to run inside calls at once


class Barrier(FakeService):
    """``POST /arrive/<key>`` is answered only once ``parties`` different keys
    are waiting (or after ``patience`` seconds, with 504): a call that can only
    end if that many sessions are inside their calls at the same time."""

    def __init__(self, parties: int, patience: float = 240.0) -> None:
        super().__init__()
        self.parties = parties
        self.patience = patience
        self.arrived: set[str] = set()
        self._open: asyncio.Event | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/arrive/{key}", self._arrive)

    async def _arrive(self, request: web.Request) -> web.Response:
        if self._open is None:
            self._open = asyncio.Event()
        # A key that arrives again (its call was retried) is still one party.
        self.arrived.add(request.match_info["key"])
        if len(self.arrived) >= self.parties:
            self._open.set()
        try:
            await asyncio.wait_for(self._open.wait(), self.patience)
        except TimeoutError:
            return web.json_response({"arrived": len(self.arrived)}, status=504)
        return web.json_response({"arrived": len(self.arrived)})


def test_a_worker_holds_more_than_200_sessions_inside_calls_at_once(
    platform: Platform, tmp_path: Path
) -> None:
    with Barrier(SESSIONS).running() as barrier:
        project = make_project(
            tmp_path / "p",
            "crowd",
            """
            import json
            import urllib.request
            import pawflow

            @pawflow.activity
            def arrive(key):
                request = urllib.request.Request(
                    pawflow.vars["BARRIER"] + "/arrive/" + key, data=b"{}", method="POST"
                )
                with urllib.request.urlopen(request, timeout=280) as response:
                    return json.loads(response.read())["arrived"]

            def handler(event):
                return arrive(str(event.data.body.json["i"]))
            """,
            vars={"BARRIER": barrier.url},
        )
        platform.start_worker("--max-sessions-in-calls", str(SESSIONS + 10))
        url = platform.deploy(project)["webhooks"]["run"]
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda i: platform.post(url, {"i": i})[0], range(SESSIONS)))
        assert statuses == [202] * SESSIONS

        def sessions() -> list[dict[str, Any]]:
            status, page = http_json(
                f"{platform.url}/api/v1/sessions?project=crowd&limit=1000", token=platform.up.token
            )
            assert status == 200 and not page["more"], page
            found: list[dict[str, Any]] = page["sessions"]
            return found

        def all_ended() -> list[dict[str, Any]] | None:
            found = sessions()
            ended = [s for s in found if s["state"] in ("completed", "error", "stopped")]
            return found if len(ended) == SESSIONS else None

        ended = wait_for(all_ended, 240, 1.0, f"{SESSIONS} sessions to end")
        failed = [s for s in ended if s["state"] != "completed"]
        assert not failed, f"{len(failed)} failed, the first: {platform.log(failed[0]['id'])}"
        # Each call was answered only once every session had reached the barrier.
        assert len(barrier.arrived) == SESSIONS
