"""``paw session start|stop|restart`` and ``paw store list|get``.

Against ``paw up --workers 0`` on the shared Temporal: sessions are started as
workflows that no worker runs, which is all these commands need.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pawflow.cli import main
from pawflow.ids import new_id
from tests.helpers import PawUp, http_json

MANIFEST = """\
version: 1
project:
  name: {name}
  triggers:
    - name: greet
      call: program.py:on_greet
      webhook: {{}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, temporal_address: str) -> Iterator[PawUp]:
    data_dir = tmp_path_factory.mktemp("paw-up")
    args = ["--workers", "0", "--temporal", temporal_address, "--task-queue", new_id("q")]
    with PawUp(data_dir, args=args) as up:
        yield up


@pytest.fixture
def env(server: PawUp, monkeypatch: pytest.MonkeyPatch) -> PawUp:
    monkeypatch.delenv("PAWFLOW_TOKEN", raising=False)
    monkeypatch.setenv("PAWFLOW_SERVER", server.url)
    monkeypatch.setenv("PAWFLOW_HOME", str(server.data_dir))
    return server


def paw(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def project(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    name = "ctl-" + new_id("p").split("_")[1][-10:]
    directory = tmp_path / name
    directory.mkdir()
    (directory / "pawflow.yaml").write_text(MANIFEST.format(name=name))
    (directory / "program.py").write_text(
        "def on_greet(event):\n    print('hi')\n\n\ndef job(event):\n    print(event.data)\n"
    )
    code, _, err = paw(capsys, "deploy", str(directory))
    assert code == 0, err
    return name


def api(server: PawUp, method: str, path: str, body: Any = None) -> Any:
    status, answer = http_json(server.url + path, token=server.token, method=method, body=body)
    assert status < 300, answer
    return answer


def test_session_start_stop_restart(
    env: PawUp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = project(capsys, tmp_path)
    code, out, err = paw(
        capsys, "session", "start", "--project", name, "--call", "program.py:job",
        "--data", '{"order": 7}',
    )  # fmt: skip
    assert code == 0, err
    session_id = out.strip()
    assert session_id.startswith("ses_")
    session = api(env, "GET", f"/api/v1/sessions/{session_id}")
    assert session["call"] == "program.py:job"
    assert api(env, "GET", f"/api/v1/events/{session['event_id']}")["data"] == {"order": 7}

    code, out, err = paw(capsys, "session", "restart", session_id)
    assert code == 0, err
    restarted = out.strip()
    assert restarted.startswith("ses_") and restarted != session_id
    assert api(env, "GET", f"/api/v1/sessions/{restarted}")["event_id"] == session["event_id"]

    code, out, err = paw(capsys, "session", "stop", session_id, "--force", "--reason", "enough")
    assert code == 0, err
    assert out.strip() == f"Session {session_id} stopped."
    stopped = api(env, "GET", f"/api/v1/sessions/{session_id}")
    assert stopped["state"] == "stopped" and stopped["error"] == "enough"

    code, out, err = paw(capsys, "session", "stop", session_id)
    assert code == 1 and out == ""
    assert err == f"error: session {session_id} has already ended (stopped); nothing to stop\n"

    code, out, err = paw(capsys, "session", "stop", restarted, "--json")
    assert code == 0, err
    reply = json.loads(out)
    assert reply["session_id"] == restarted
    assert reply["stopping"] is True or reply["state"] == "stopped"


def test_session_start_json_and_errors(
    env: PawUp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = project(capsys, tmp_path)
    code, out, err = paw(
        capsys, "session", "start", "--project", name, "--call", "program.py:job", "--json"
    )
    assert code == 0, err
    reply = json.loads(out)
    assert set(reply) == {"session_id", "event_id"}

    code, out, err = paw(capsys, "session", "start", "--project", name, "--call", "program.py:nope")
    assert code == 1 and out == ""
    assert err.startswith("error: ") and "no function 'nope' in program.py" in err
    assert err.count("\n") == 1
    code, out, err = paw(capsys, "session", "restart", "ses_nope")
    assert code == 1 and "ses_nope" in err


def test_store_list_and_get(env: PawUp, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = project(capsys, tmp_path)
    code, out, err = paw(capsys, "store", "list", "--project", name)
    assert (code, out) == (0, f"No keys in the store of project {name}.\n")

    base = f"/api/v1/projects/{name}/store/"
    api(env, "PUT", base + "count", {"value": 3})
    api(env, "PUT", base + urllib.parse.quote("user/ada", safe=""), {"value": {"name": "Ada"}})
    api(env, "PUT", base + "long", {"value": "x" * 200})

    code, out, err = paw(capsys, "store", "list", "--project", name)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["KEY", "VALUE", "UPDATED"]
    assert [line.split()[0] for line in lines[1:]] == ["count", "long", "user/ada"]
    assert '{"name": "Ada"}' in lines[3]
    assert "…" in lines[2] and len(lines[2]) < 120

    code, out, err = paw(capsys, "store", "list", "--project", name, "--prefix", "user/", "--json")
    assert code == 0, err
    (entry,) = json.loads(out)
    assert entry["key"] == "user/ada" and entry["value"] == {"name": "Ada"}

    code, out, err = paw(capsys, "store", "get", "--project", name, "user/ada")
    assert (code, json.loads(out)) == (0, {"name": "Ada"})
    code, out, err = paw(capsys, "store", "get", "--project", name, "count", "--json")
    assert code == 0 and json.loads(out)["value"] == 3 and "updated_at" in json.loads(out)

    code, out, err = paw(capsys, "store", "get", "--project", name, "missing")
    assert code == 1 and out == ""
    assert err == f"error: no key 'missing' in the store of project '{name}'\n"
    code, out, err = paw(capsys, "store", "list", "--project", "ghost-project")
    assert code == 1 and err == "error: no project 'ghost-project'\n"


class _Counting(http.server.BaseHTTPRequestHandler):
    count = 0

    def do_POST(self) -> None:
        type(self).count += 1
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_bad_data_json_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listener = http.server.HTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("PAWFLOW_SERVER", f"http://127.0.0.1:{listener.server_port}")
        monkeypatch.setenv("PAWFLOW_TOKEN", "t")
        code, out, err = paw(
            capsys, "session", "start", "--project", "p", "--call", "a.py:f", "--data", "{oops"
        )
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join()
    assert code == 1 and out == ""
    assert err.startswith("error: --data is not valid JSON: ") and err.count("\n") == 1
    assert _Counting.count == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["session", "stop"],
        ["session", "restart"],
        ["session", "start", "--project", "p"],
        ["session", "start", "--call", "a.py:f"],
        ["store", "list"],
        ["store", "get", "--project", "p"],
    ],
)
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "required" in capsys.readouterr().err
