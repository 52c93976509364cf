"""Retention through the whole platform: a real server (its passes every few
tenths of a second), a real worker and Temporal. Sessions run for real; their
end is then moved into the past in the store, as if days had gone by."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pawflow.server import ServerConfig, serve
from pawflow.storage import DB_FILE
from tests.helpers import http_json, paw_env, run_paw, wait_for

TOKEN = "retention-admin-token"
WORKER_TOKEN = "retention-worker-token"
DAY = 86_400.0

MANIFEST = """\
version: 1
project:
  name: {name}
{retention}  triggers:
    - name: run
      webhook: {{sync: true, timeout: 60}}
      call: program.py:handler
"""

PROGRAM = """\
def handler(event):
    print("handled", event.data.body.json["n"])
    return {"n": event.data.body.json["n"]}
"""


@dataclass
class Server:
    url: str
    data_dir: Path

    async def api(self, path: str) -> Any:
        status, body = await asyncio.to_thread(http_json, self.url + path, token=TOKEN)
        assert status == 200, body
        return body

    async def deploy(self, root: Path, name: str, retention: str = "") -> dict[str, str]:
        root.mkdir(parents=True)
        (root / "pawflow.yaml").write_text(MANIFEST.format(name=name, retention=retention))
        (root / "program.py").write_text(textwrap.dedent(PROGRAM))
        env = paw_env(PAWFLOW_SERVER=self.url, PAWFLOW_TOKEN=TOKEN, PAWFLOW_HOME=str(self.data_dir))
        result = await asyncio.to_thread(run_paw, "deploy", str(root), "--json", env=env)
        assert result.returncode == 0, result.stderr
        webhooks: dict[str, str] = json.loads(result.stdout)["webhooks"]
        return webhooks

    async def run(self, webhook: str, n: int) -> None:
        status, body = await asyncio.to_thread(http_json, webhook, method="POST", body={"n": n})
        assert (status, body) == (200, {"n": n})

    async def sessions(self, project: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.api(f"/api/v1/sessions?project={project}"))[
            "sessions"
        ]
        return found

    async def events(self, project: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.api(f"/api/v1/events?project={project}"))[
            "events"
        ]
        return found

    async def ended(self, project: str, count: int) -> list[dict[str, Any]]:
        async def all_ended() -> list[dict[str, Any]] | None:
            sessions = await self.sessions(project)
            done = [s for s in sessions if s["state"] == "completed"]
            return sessions if len(done) == len(sessions) == count else None

        result: list[dict[str, Any]] = await wait_for(all_ended, 30, 0.1, "sessions to end")
        return result

    def age(self, session_ids: list[str], days: float) -> None:
        """Move the sessions' end, and their events' arrival, ``days`` back."""
        back = days * DAY
        with sqlite3.connect(self.data_dir / DB_FILE, timeout=10) as conn:
            for session_id in session_ids:
                conn.execute(
                    "UPDATE events SET created_at = created_at - ? WHERE id = "
                    "(SELECT event_id FROM sessions WHERE id = ?)",
                    (back, session_id),
                )
                conn.execute(
                    "UPDATE sessions SET ended_at = ended_at - ? WHERE id = ?", (back, session_id)
                )


@pytest.fixture
async def server(temporal_address: str, tmp_path: Path) -> AsyncIterator[Server]:
    """A server keeping finished sessions 3 days, passing every 0.2 s, and a worker."""
    data_dir = tmp_path / "data"
    queue = f"test-{uuid.uuid4().hex[:12]}"
    config = ServerConfig(
        data_dir=data_dir,
        token=TOKEN,
        worker_token=WORKER_TOKEN,
        temporal_address=temporal_address,
        port=0,
        task_queue=queue,
        retention_days=3,
        retention_interval=0.2,
    )
    async with serve(config) as running:
        log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
        worker = subprocess.Popen(
            [sys.executable, "-m", "pawflow.cli", "worker", "--temporal", temporal_address,
             "--task-queue", queue],
            stdout=log, stderr=subprocess.STDOUT,
            env=paw_env(PAWFLOW_SERVER=running.url, PAWFLOW_HOME=str(data_dir),
                        PAWFLOW_WORKER_TOKEN=WORKER_TOKEN),
        )  # fmt: skip
        log.close()
        try:
            yield Server(running.url, data_dir)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(worker.wait, 15)
            except subprocess.TimeoutExpired:
                worker.kill()
                await asyncio.to_thread(worker.wait)


async def test_the_server_deletes_old_sessions_on_its_own(server: Server, tmp_path: Path) -> None:
    hooks = await server.deploy(tmp_path / "aging", "aging")
    for n in range(3):
        await server.run(hooks["run"], n)
    sessions = await server.ended("aging", 3)
    oldest_first = [s["id"] for s in reversed(sessions)]
    started = time.monotonic()

    server.age(oldest_first[:2], days=4)  # past the server's 3 days
    server.age(oldest_first[2:], days=2)  # not yet

    async def aged_out() -> list[dict[str, Any]] | None:
        left = await server.sessions("aging")
        return left if len(left) == 1 else None

    (left,) = await wait_for(aged_out, 20, 0.1, "old sessions to be deleted")
    assert left["id"] == oldest_first[2]
    assert time.monotonic() - started < 20
    assert [e["id"] for e in await server.events("aging")] == [left["event_id"]]
    # The log of the session kept is whole.
    log = await server.api(f"/api/v1/sessions/{left['id']}/log")
    assert any(r.get("text") == "handled 2" for r in log["records"])


async def test_a_manifest_keeping_two_keeps_the_newest_two(server: Server, tmp_path: Path) -> None:
    hooks = await server.deploy(tmp_path / "few", "few", retention="  retention: {keep: 2}\n")
    for n in range(4):
        await server.run(hooks["run"], n)

    async def two_left() -> list[dict[str, Any]] | None:
        left = await server.sessions("few")
        return left if len(left) == 2 and all(s["state"] == "completed" for s in left) else None

    left = await wait_for(two_left, 30, 0.1, "all but two sessions to be deleted")
    events = await server.events("few")
    assert {e["id"] for e in events} == {s["event_id"] for s in left}
    printed = set()
    for session in left:
        log = await server.api(f"/api/v1/sessions/{session['id']}/log")
        printed |= {r["text"] for r in log["records"] if r["type"] == "print"}
    assert printed == {"handled 2", "handled 3"}
