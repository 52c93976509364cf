"""Events, signals and synchronous webhooks through the whole platform: real
``paw up``, real workers, real Temporal."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Platform
from tests.helpers import http_json, wait_for

MANIFEST = """\
version: 1
project:
  name: {name}
  triggers:
    - name: start
      webhook: {{}}
      call: program.py:handler
    - name: feed
      webhook: {{}}
    - name: ask
      webhook: {{sync: true, timeout: 30}}
      call: program.py:answer
    - name: ask_result
      webhook: {{sync: true, timeout: 30}}
      call: program.py:compute
"""

PROGRAM = """\
import pawflow


def handler(event):
    kind = event.data.body.json["kind"]
    if kind == "event":
        sub = pawflow.subscribe("feed", filter="data.body.json.n > 1")
        print("subscribed", sub)
        got = pawflow.next_event(sub, timeout=60)
        return None if got is None else got.data.body.json["n"]
    if kind == "signal":
        print("waiting")
        got = pawflow.next_signal("go", timeout=60)
        return None if got is None else got["payload"]
    raise ValueError(kind)


def answer(event):
    pawflow.http_outcome(201, json={"echo": event.data.body.json}, headers={"X-By": "pawflow"})
    return "not this"


def compute(event):
    return {"sum": sum(event.data.body.json["numbers"])}
"""


def _project(root: Path, name: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pawflow.yaml").write_text(MANIFEST.format(name=name))
    (root / "program.py").write_text(textwrap.dedent(PROGRAM))
    return root


def _start(platform: Platform, hooks: dict[str, str], kind: str) -> str:
    status, body = platform.post(hooks["start"], {"kind": kind})
    assert status == 202, body
    session: dict[str, Any] = platform.session_for(body["event_id"])
    return str(session["id"])


def _api(platform: Platform, method: str, path: str, body: object = None) -> tuple[int, Any]:
    return http_json(platform.url + path, token=platform.up.token, method=method, body=body)


def test_a_session_receives_the_events_it_subscribed_to(platform: Platform, tmp_path: Path) -> None:
    platform.start_worker()
    hooks = platform.deploy(_project(tmp_path / "p", "events"))["webhooks"]
    session_id = _start(platform, hooks, "event")
    subscriptions = f"/api/v1/sessions/{session_id}/subscriptions"
    wait_for(
        lambda: _api(platform, "GET", subscriptions)[1]["subscriptions"],
        timeout=30,
        message="the session's subscription",
    )
    assert platform.post(hooks["feed"], {"n": 1})[0] == 202  # filtered out
    assert platform.post(hooks["feed"], {"n": 2})[0] == 202
    session = platform.wait_ended(session_id)
    assert session["state"] == "completed", platform.log(session_id)[-1]
    assert platform.log(session_id)[-1]["result"] == 2
    # Ended: its subscriptions are gone; the feed trigger started no session.
    assert _api(platform, "GET", subscriptions)[1]["subscriptions"] == []
    assert len(platform.sessions()) == 1


def test_a_session_receives_a_signal(platform: Platform, tmp_path: Path) -> None:
    platform.start_worker()
    hooks = platform.deploy(_project(tmp_path / "p", "signals"))["webhooks"]
    session_id = _start(platform, hooks, "signal")
    wait_for(
        lambda: any(r["type"] == "print" for r in platform.log(session_id)),
        timeout=30,
        message="the session waiting",
    )
    status, body = _api(
        platform,
        "POST",
        f"/api/v1/sessions/{session_id}/signals",
        {"name": "go", "payload": {"ok": 1}, "sender": None},
    )
    assert status == 202, body
    assert platform.wait_ended(session_id)["state"] == "completed"
    assert platform.log(session_id)[-1]["result"] == {"ok": 1}


def test_sync_webhooks_answer_with_the_outcome_or_the_result(
    platform: Platform, tmp_path: Path
) -> None:
    platform.start_worker()
    hooks = platform.deploy(_project(tmp_path / "p", "sync"))["webhooks"]
    status, body = platform.post(hooks["ask"], {"q": "hi"})
    assert (status, body) == (201, {"echo": {"q": "hi"}})
    status, body = platform.post(hooks["ask_result"], {"numbers": [1, 2, 3]})
    assert (status, body) == (200, {"sum": 6})
