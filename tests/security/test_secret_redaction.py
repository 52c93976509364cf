"""A secret var reaches the program, and nothing else: not the log, not Temporal's history."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.e2e.conftest import Platform, make_project
from tests.helpers import run_paw

pytestmark = pytest.mark.timeout(120)

SECRET = "sk-live-7f3a9c1e5b"

PROGRAM = """
import pawflow


@pawflow.activity
def send(header, raw):
    return {"echo": header, "raw": raw}


@pawflow.activity
def fail(header):
    raise RuntimeError("the API refused " + header)


def handler(event):
    key = pawflow.vars["API_KEY"]
    print("using Bearer " + key)
    answer = send("Bearer " + key, key.encode())
    print(answer)
    fail("Authorization: Bearer " + key)
"""


async def _history_bytes(address: str, session_id: str) -> bytes:
    """The session's history as Temporal stores it: payloads as raw bytes."""
    client = await Client.connect(address)
    history = await client.get_workflow_handle(session_id).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


def test_a_secret_is_redacted_everywhere_it_could_leave_the_program(
    platform: Platform, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "p", "leaky", PROGRAM)
    url = platform.deploy(project)["webhooks"]["run"]
    stored = run_paw("var", "set", "--project", "leaky", "API_KEY", env=platform.env, input=SECRET)
    assert stored.returncode == 0, stored.stderr
    platform.start_worker()
    session = platform.session_for(platform.post(url, {})[1]["event_id"])
    assert platform.wait_ended(session["id"], timeout=60)["state"] == "error"

    log = platform.log(session["id"])
    text = repr(log)
    assert "Bearer [secret var API_KEY]" in text  # the program did use it
    assert SECRET not in text
    watched = platform.paw("session", "watch", session["id"], "--timeout", "30")
    assert SECRET not in watched.stdout + watched.stderr
    history = asyncio.run(_history_bytes(platform.temporal_address, session["id"]))
    assert b"API_KEY" in history  # the redacted prints and calls are there
    assert SECRET.encode() not in history
