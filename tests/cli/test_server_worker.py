"""Production mode: ``paw server`` and ``paw worker`` as separate processes,
configured by the environment, on the run's shared Temporal server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pawflow.ids import new_id
from tests.helpers import child_pids, free_port, http_json, paw_env, run_paw, wait_for

ADMIN = "admin-token-for-the-server-test"
WORKER = "worker-token-for-the-server-test"

PROGRAM = """\
import time


def on_hello(event):
    started = time.time()  # an external call: recorded, logged as a call
    print(f"hello {event.data.body.json['name']} at {started > 0}")
"""


class Process:
    """A ``paw`` subprocess whose output goes to a file (read while it runs)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pawflow.cli", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"exited with {self.proc.returncode}: {self.output()[-2000:]}")
        return True

    def terminate(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"did not stop on SIGTERM: {self.output()[-2000:]}") from None
        return self.proc.returncode


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()


def get_text(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.status, reply.read().decode()


def answers(url: str) -> bool:
    try:
        return http_json(url)[0] == 200
    except OSError:
        return False


def sample(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_server_and_worker_run_a_session_configured_by_the_environment(
    temporal_address: str, tmp_path: Path, processes: list[Process]
) -> None:
    port, metrics_port, worker_metrics = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    public = f"http://localhost:{port}/"  # what "the outside" uses: not the listen address
    queue = new_id("q")
    server_env = paw_env(
        PAWFLOW_HOME=str(tmp_path / "server"),
        PAWFLOW_TEMPORAL_ADDRESS=temporal_address,
        PAWFLOW_TOKEN=ADMIN,
        PAWFLOW_WORKER_TOKEN=WORKER,
        PAWFLOW_PUBLIC_URL=public,
    )
    server = Process(
        ["server", "--port", str(port), "--metrics-port", str(metrics_port), "--task-queue", queue],
        server_env,
        tmp_path / "server.log",
    )
    processes.append(server)
    wait_for(lambda: server.alive() and answers(url + "/healthz"), 30, 0.05, "paw server")
    assert http_json(url + "/readyz") == (200, {"ok": True})
    assert f"{public.rstrip('/')}/webhooks/" in server.output()
    # The server runs no worker and no embedded Temporal.
    for command in child_pids(server.proc.pid).values():
        assert "worker" not in command and "start-dev" not in command, command

    # The worker learns Temporal's address and the queue from the server.
    worker_env = paw_env(
        PAWFLOW_HOME=str(tmp_path / "worker"), PAWFLOW_SERVER=url, PAWFLOW_WORKER_TOKEN=WORKER
    )
    worker = Process(
        ["worker", "--metrics-port", str(worker_metrics)], worker_env, tmp_path / "worker.log"
    )
    processes.append(worker)

    project = tmp_path / "hello"
    project.mkdir()
    (project / "pawflow.yaml").write_text(
        textwrap.dedent("""\
        version: 1
        project:
          name: prodhello
          triggers:
            - name: hello
              webhook: {}
              call: program.py:on_hello
        """)
    )
    (project / "program.py").write_text(PROGRAM)
    cli_env = paw_env(PAWFLOW_SERVER=url, PAWFLOW_TOKEN=ADMIN)
    deployed = run_paw("deploy", str(project), "--json", env=cli_env)
    assert deployed.returncode == 0, deployed.stderr
    hook = json.loads(deployed.stdout)["webhooks"]["hello"]
    assert hook.startswith(public.rstrip("/") + "/webhooks/")

    status, body = http_json(hook, method="POST", body={"name": "Ada"})
    assert status == 202, body
    event_id = body["event_id"]

    def session() -> dict[str, Any] | None:
        result = run_paw("session", "list", "--event", event_id, "--json", env=cli_env)
        found = json.loads(result.stdout) if result.returncode == 0 else []
        return found[0] if found else None

    session_id = wait_for(session, 30, 0.1, "a session of the event")["id"]
    watched = run_paw("session", "watch", session_id, "--timeout", "60", env=cli_env, timeout=90)
    assert watched.returncode == 0, watched.stdout + watched.stderr + worker.output()[-3000:]
    assert "hello Ada at True" in watched.stdout

    # The worker's heartbeat reached the server.
    def workers() -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = http_json(url + "/api/v1/workers", token=ADMIN)[1]["workers"]
        return [w for w in listed if w["pid"] == worker.proc.pid and w["alive"]]

    (beat,) = wait_for(workers, 30, 0.1, "the worker's heartbeat")
    assert beat["task_queue"] == queue

    # Metrics: behind the admin token on the main port, without one on loopback.
    assert http_json(url + "/metrics")[0] == 401
    status, text = get_text(f"http://127.0.0.1:{metrics_port}/metrics")
    assert status == 200
    assert sample(text, 'pawflow_webhooks_total{kind="webhook",status="202"}') == 1.0
    assert sample(text, 'pawflow_session_states_total{state="completed"}') == 1.0
    assert sample(text, "pawflow_calls_started_total") >= 1.0
    assert sample(text, "pawflow_workers") == 1.0
    # The worker exports the Temporal SDK's own metrics.
    status, sdk = get_text(f"http://127.0.0.1:{worker_metrics}/metrics")
    assert status == 200 and "temporal_" in sdk

    # SIGTERM: both stop cleanly.
    assert worker.terminate() == 0, worker.output()[-2000:]
    assert "the worker stopped" in worker.output()
    assert server.terminate() == 0, server.output()[-2000:]
    assert "the server stopped" in server.output()
    assert not answers(url + "/healthz")


def test_readyz_is_503_while_temporal_is_unreachable(
    tmp_path: Path, processes: list[Process]
) -> None:
    port, closed = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    env = paw_env(PAWFLOW_HOME=str(tmp_path), PAWFLOW_TEMPORAL_ADDRESS=f"127.0.0.1:{closed}")
    server = Process(["server", "--port", str(port)], env, tmp_path / "server.log")
    processes.append(server)
    wait_for(lambda: server.alive() and answers(url + "/healthz"), 30, 0.05, "paw server")
    status, body = http_json(url + "/readyz")
    assert status == 503
    assert body["error"].startswith("Temporal ") and str(closed) not in body["error"]
    # The server's log says where it looked.
    wait_for(
        lambda: f"127.0.0.1:{closed}" in (tmp_path / "server.log").read_text(),
        10, 0.05, "the address in the log",
    )  # fmt: skip
    # It takes webhooks all the same: the API answers without Temporal.
    token = (tmp_path / "token").read_text().strip()
    assert http_json(url + "/api/v1/projects", token=token)[0] == 200
    assert server.terminate() == 0


def test_a_wildcard_host_prints_a_usable_webhook_address_and_a_hint(
    temporal_address: str, tmp_path: Path, processes: list[Process]
) -> None:
    port = free_port()
    env = paw_env(PAWFLOW_HOME=str(tmp_path), PAWFLOW_TEMPORAL_ADDRESS=temporal_address)
    server = Process(["server", "--host", "0.0.0.0", "--port", str(port)], env, tmp_path / "s.log")
    processes.append(server)
    wait_for(
        lambda: server.alive() and answers(f"http://127.0.0.1:{port}/healthz"), 30, 0.05, "server"
    )
    output = server.output()
    assert "0.0.0.0" not in output.split("listening", 1)[1].split("\n")[1]  # webhooks line
    assert "set PAWFLOW_PUBLIC_URL" in output
    token = (tmp_path / "token").read_text().strip()
    info = http_json(f"http://127.0.0.1:{port}/api/v1/info", token=token)[1]
    assert "0.0.0.0" not in info["url"]
    assert info["url"].endswith(f":{port}")
    assert server.terminate() == 0
