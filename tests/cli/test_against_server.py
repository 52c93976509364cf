"""``paw`` against a real server: ``paw up --workers 0`` on the shared Temporal."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pawflow.cli import main
from pawflow.ids import new_id
from tests.cli._proxy import CuttingProxy
from tests.helpers import PawUp, http_json, paw_env, wait_for

MANIFEST = """\
version: 1
project:
  name: {name}
  triggers:
    - name: greet
      call: program.py:on_greet
      webhook:
        methods: [POST, PUT]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, temporal_address: str) -> Iterator[PawUp]:
    data_dir = tmp_path_factory.mktemp("paw-up")
    # A task queue of its own: no worker of another test picks up these sessions.
    args = ["--workers", "0", "--temporal", temporal_address, "--task-queue", new_id("q")]
    with PawUp(data_dir, args=args) as up:
        yield up


@pytest.fixture
def env(server: PawUp, monkeypatch: pytest.MonkeyPatch) -> PawUp:
    for name in ("PAWFLOW_HOME", "PAWFLOW_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAWFLOW_SERVER", server.url)
    monkeypatch.setenv("PAWFLOW_HOME", str(server.data_dir))
    return server


def paw_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def write_project(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "pawflow.yaml").write_text(MANIFEST.format(name=name))
    (directory / "program.py").write_text("def on_greet(event):\n    print('hi')\n")
    (directory / "__pycache__").mkdir()
    (directory / "__pycache__" / "program.cpython-311.pyc").write_bytes(b"\0")
    return directory


def unique_name() -> str:
    return "cli-" + new_id("p").split("_")[1][-10:]


def deploy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> dict[str, Any]:
    name = unique_name()
    result: dict[str, Any] = paw_json(capsys, "deploy", str(write_project(tmp_path / name, name)))
    return result


def trigger(url: str) -> str:
    status, body = http_json(url, method="POST", body={"name": "Ada"})
    assert status == 202, body
    event_id: str = body["event_id"]
    return event_id


def session_of(capsys: pytest.CaptureFixture[str], event_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        sessions = paw_json(capsys, "session", "list", "--event", event_id)
        return sessions[0] if sessions else None

    found: dict[str, Any] = wait_for(find, timeout=30, message=f"a session for {event_id}")
    return found


def post_records(server: PawUp, session_id: str, records: list[dict[str, Any]]) -> None:
    """Store records as a worker does: numbered by ``n`` from 0."""
    now = time.time()
    shipped = [
        {"session_id": session_id, "n": n, "time": now + n / 1000, **record}
        for n, record in enumerate(records)
    ]
    status, answer = http_json(
        server.url + "/api/v1/sessions/log",
        token=server.token,
        method="POST",
        body={"records": shipped},
    )
    assert status == 200, answer


LIFE = [
    {"type": "state", "state": "running"},
    {"type": "print", "text": "Hello, Ada!"},
    {"type": "call_start", "seq": 1, "function": "requests.get", "args": ["'http://x'"]},
    {"type": "call_end", "seq": 1, "result": "<Response [200]>"},
    {"type": "state", "state": "completed"},
]


def test_deploy_and_listings_json(
    env: PawUp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed = deploy(capsys, tmp_path)
    assert set(deployed) == {"project", "deployment_id", "webhooks", "connections"}
    assert deployed["connections"] == {}
    assert deployed["deployment_id"].startswith("dep_")
    assert list(deployed["webhooks"]) == ["greet"]
    assert deployed["webhooks"]["greet"].startswith(env.url + "/webhooks/")
    project = deployed["project"]

    projects = paw_json(capsys, "project", "list")
    mine = [p for p in projects if p["name"] == project]
    assert len(mine) == 1
    assert set(mine[0]) == {"name", "created_at", "active_deployment_id"}
    assert mine[0]["active_deployment_id"] == deployed["deployment_id"]

    deployments = paw_json(capsys, "deployment", "list", "--project", project)
    assert [d["id"] for d in deployments] == [deployed["deployment_id"]]
    assert set(deployments[0]) == {"id", "project", "state", "created_at"}
    assert deployments[0]["state"] == "active"

    event_id = trigger(deployed["webhooks"]["greet"])
    events = paw_json(capsys, "event", "list", "--project", project)
    assert [e["id"] for e in events] == [event_id]
    assert set(events[0]) == {
        "id",
        "project",
        "trigger",
        "connection",
        "type",
        "idempotency_key",
        "state",
        "created_at",
        "matches",
    }
    assert (events[0]["trigger"], events[0]["type"]) == ("greet", "post")

    session = session_of(capsys, event_id)
    assert set(session) == {
        "id",
        "project",
        "deployment_id",
        "trigger",
        "event_id",
        "state",
        "created_at",
        "ended_at",
    }
    assert (session["project"], session["deployment_id"], session["trigger"]) == (
        project,
        deployed["deployment_id"],
        "greet",
    )
    assert paw_json(capsys, "session", "list", "--project", project, "--state", "completed") == []
    assert paw_json(capsys, "session", "log", session["id"]) == []


def test_human_output(env: PawUp, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = unique_name()
    assert main(["deploy", str(write_project(tmp_path / name, name))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"Deployed {name} (dep_")
    assert lines[1].startswith("  greet  POST,PUT http://127.0.0.1:")

    assert main(["deployment", "list", "--project", name]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "PROJECT", "STATE", "CREATED"]
    assert table[1].split()[1:3] == [name, "active"]

    assert main(["session", "list", "--project", name]) == 0
    assert capsys.readouterr().out == "No sessions match.\n"
    assert main(["event", "list", "--project", name]) == 0
    assert capsys.readouterr().out == f"No events for project {name}.\n"


def test_log_and_watch_a_session(
    env: PawUp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed = deploy(capsys, tmp_path)
    session = session_of(capsys, trigger(deployed["webhooks"]["greet"]))
    post_records(env, session["id"], LIFE)

    records = paw_json(capsys, "session", "log", session["id"])
    assert [r["type"] for r in records] == [r["type"] for r in LIFE]
    assert records[1]["text"] == "Hello, Ada!"

    assert main(["session", "watch", session["id"]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(None, 1)[1] for line in lines] == [
        "state     running",
        "print     Hello, Ada!",
        "call      #1 requests.get('http://x')",
        "return    #1 <Response [200]>",
        "state     completed",
    ]
    assert main(["session", "log", session["id"]]) == 0
    assert capsys.readouterr().out.splitlines() == lines


def test_log_and_watch_show_control_characters_escaped(
    env: PawUp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed = deploy(capsys, tmp_path)
    session = session_of(capsys, trigger(deployed["webhooks"]["greet"]))
    # Clear the screen, retitle the window, return to the line start, CSI in C1.
    nasty = "\x1b[2J\x1b]0;owned\x07 cleared?\r\x9b31m"
    failed = {"type": "state", "state": "error", "error": "ValueError: \x1b[2Jgone"}
    post_records(env, session["id"], [LIFE[0], {"type": "print", "text": nasty}, failed])

    for command in ("log", "watch"):
        main(["session", command, session["id"]])
        out = capsys.readouterr().out
        assert not any(c in out for c in "\x1b\x07\x9b\r"), (command, out)
        assert "print     \\x1b[2J\\x1b]0;owned\\x07 cleared?\\x0d\\x9b31m\n" in out, out
        assert "    ValueError: \\x1b[2Jgone\n" in out, out
    # The data itself is kept as printed: --json shows it unchanged.
    records = paw_json(capsys, "session", "log", session["id"])
    assert records[1]["text"] == nasty


def test_watch_prints_live_and_reports_an_error(env: PawUp, tmp_path: Path) -> None:
    session_id = deploy_for_subprocess(env, tmp_path)
    command = [sys.executable, "-m", "pawflow.cli", "session", "watch", session_id]
    with subprocess.Popen(
        [*command, "--timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=paw_env(PAWFLOW_SERVER=env.url, PAWFLOW_HOME=str(env.data_dir)),
    ) as watcher:
        try:
            assert watcher.stdout is not None
            post_records(env, session_id, LIFE[:2])
            # Each record is flushed as it arrives, before the session ends.
            assert watcher.stdout.readline().split(None, 1)[1] == "state     running\n"
            assert watcher.stdout.readline().split(None, 1)[1] == "print     Hello, Ada!\n"
            tb = "Traceback (most recent call last):\nValueError: no"
            failed = {"type": "state", "state": "error", "error": tb}
            post_records(env, session_id, [*LIFE[:2], failed])
            out, err = watcher.communicate(timeout=30)
        finally:
            if watcher.poll() is None:
                watcher.kill()
    assert watcher.returncode == 1, err
    assert out.splitlines()[0].split(None, 1)[1] == "state     error"
    assert out.splitlines()[1:] == ["    Traceback (most recent call last):", "    ValueError: no"]
    assert err == ""


def deploy_for_subprocess(env: PawUp, tmp_path: Path) -> str:
    name = unique_name()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pawflow.cli",
            "deploy",
            "--json",
            str(write_project(tmp_path / name, name)),
        ],
        capture_output=True,
        text=True,
        env=paw_env(PAWFLOW_SERVER=env.url, PAWFLOW_HOME=str(env.data_dir)),
        check=True,
    )
    event_id = trigger(json.loads(result.stdout)["webhooks"]["greet"])

    def find() -> str | None:
        status, body = http_json(env.url + f"/api/v1/sessions?event={event_id}", token=env.token)
        return body["sessions"][0]["id"] if status == 200 and body["sessions"] else None

    session_id: str = wait_for(find, timeout=30, message="the session")
    return session_id


def test_watch_times_out_with_exit_code_2(
    env: PawUp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed = deploy(capsys, tmp_path)
    session = session_of(capsys, trigger(deployed["webhooks"]["greet"]))
    post_records(env, session["id"], LIFE[:1])
    started = time.monotonic()
    assert main(["session", "watch", session["id"], "--timeout", "0.5"]) == 124
    assert time.monotonic() - started < 5
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].endswith("state     running")
    assert captured.err.startswith("error: gave up after 0.5 s")


def test_watch_reconnects_without_repeating_records(
    env: PawUp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed = deploy(capsys, tmp_path)
    session = session_of(capsys, trigger(deployed["webhooks"]["greet"]))
    post_records(env, session["id"], LIFE)
    with CuttingProxy(env.port) as proxy:
        code = main(
            ["session", "watch", session["id"], "--server", f"http://127.0.0.1:{proxy.port}"]
        )
        assert proxy.cut.is_set() and proxy.connections == 2
    assert code == 0
    kinds = [line.split(None, 2)[1] for line in capsys.readouterr().out.splitlines()]
    assert kinds == ["state", "print", "call", "return", "state"]


def test_unknown_session_and_bad_token(
    env: PawUp, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["session", "watch", "ses_doesnotexist"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1

    monkeypatch.setenv("PAWFLOW_TOKEN", "wrong-token")
    assert main(["project", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "PAWFLOW_TOKEN" in err
    assert "wrong-token" not in err and env.token not in err
