"""``paw worker`` started before its server (systemd, compose start them
together): it waits for the server, within ``--wait-seconds``, and stops on a
signal while it waits; what waiting cannot fix fails at once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pawflow.ids import new_id
from tests.cli.test_server_worker import Process, answers
from tests.helpers import free_port, http_json, paw_env, run_paw, wait_for

ADMIN = "admin-token-for-the-wait-test"
WORKER = "worker-token-for-the-wait-test"
WAITING = "waiting for the server at"


@pytest.fixture
def started() -> Iterator[list[Process]]:
    processes: list[Process] = []
    yield processes
    for process in reversed(processes):
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()


def start_server(port: int, temporal_address: str, home: Path, processes: list[Process]) -> Process:
    env = paw_env(
        PAWFLOW_HOME=str(home),
        PAWFLOW_TEMPORAL_ADDRESS=temporal_address,
        PAWFLOW_TOKEN=ADMIN,
        PAWFLOW_WORKER_TOKEN=WORKER,
    )
    server = Process(
        ["server", "--port", str(port), "--task-queue", new_id("q")], env, home.with_suffix(".log")
    )
    processes.append(server)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: server.alive() and answers(url + "/healthz"), 30, 0.05, "paw server")
    return server


def worker_env(port: int, home: Path, token: str = WORKER) -> dict[str, str]:
    return paw_env(
        PAWFLOW_HOME=str(home),
        PAWFLOW_SERVER=f"http://127.0.0.1:{port}",
        PAWFLOW_WORKER_TOKEN=token,
    )


@pytest.mark.timeout(120)
def test_a_worker_started_before_its_server_waits_and_comes_up(
    temporal_address: str, tmp_path: Path, started: list[Process]
) -> None:
    port = free_port()
    worker = Process(["worker"], worker_env(port, tmp_path / "worker"), tmp_path / "worker.log")
    started.append(worker)
    wait_for(lambda: worker.alive() and WAITING in worker.output(), 30, 0.05, "the waiting line")
    assert f"{WAITING} http://127.0.0.1:{port} (connection refused); retrying" in worker.output()

    start_server(port, temporal_address, tmp_path / "server", started)

    def reported() -> list[dict[str, Any]]:
        worker.alive()
        listed = http_json(f"http://127.0.0.1:{port}/api/v1/workers", token=ADMIN)[1]["workers"]
        return [w for w in listed if w["pid"] == worker.proc.pid and w["alive"]]

    wait_for(reported, 60, 0.1, "the worker's heartbeat")
    # One line for the whole wait, not one per attempt.
    assert worker.output().count(WAITING) == 1, worker.output()
    assert worker.terminate() == 0, worker.output()[-2000:]


@pytest.mark.timeout(60)
def test_a_worker_gives_up_after_wait_seconds_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    began = time.monotonic()
    result = run_paw("worker", "--wait-seconds", "1", env=worker_env(port, tmp_path), timeout=30)
    took = time.monotonic() - began
    assert result.returncode == 1, result.stderr
    assert 1 <= took < 15, took
    assert WAITING in result.stderr  # it did wait
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"error: cannot reach the Pawflow server at http://127.0.0.1:{port} (is 'paw up' running?)"
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seconds", ["9" * 400, "1000000001", "-1", "nan", "1e3"])
def test_a_wait_the_clock_cannot_hold_is_refused_in_one_line(seconds: str, tmp_path: Path) -> None:
    result = run_paw(
        "worker", "--wait-seconds", seconds, env=worker_env(free_port(), tmp_path), timeout=30
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("paw worker: error: argument --wait-seconds: "), last
    assert len(last) < 150, last


@pytest.mark.timeout(90)
def test_a_bad_token_fails_at_once_without_waiting(
    temporal_address: str, tmp_path: Path, started: list[Process]
) -> None:
    port = free_port()
    start_server(port, temporal_address, tmp_path / "server", started)
    began = time.monotonic()
    result = run_paw(
        "worker",
        "--wait-seconds",
        "60",
        env=worker_env(port, tmp_path / "worker", token="not-the-worker-token"),
        timeout=50,
    )
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - began < 20
    assert "rejected the API token" in result.stderr
    assert WAITING not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_signal_while_waiting_stops_the_worker_at_once(
    signum: signal.Signals, tmp_path: Path, started: list[Process]
) -> None:
    worker = Process(["worker"], worker_env(free_port(), tmp_path), tmp_path / "worker.log")
    started.append(worker)
    wait_for(lambda: worker.alive() and WAITING in worker.output(), 30, 0.05, "the waiting line")
    worker.proc.send_signal(signum)
    assert worker.proc.wait(10) == 0, worker.output()
    assert f"received {signum.name}; stopping the worker" in worker.output()
    assert "Traceback" not in worker.output()


@pytest.mark.timeout(90)
def test_a_worker_waits_for_a_server_that_is_not_ready(
    tmp_path: Path, started: list[Process]
) -> None:
    port = free_port()
    # The server's Temporal is away: it answers, but its /readyz says 503.
    start_server(port, f"127.0.0.1:{free_port()}", tmp_path / "server", started)
    result = run_paw(
        "worker", "--wait-seconds", "2", env=worker_env(port, tmp_path / "worker"), timeout=60
    )
    assert result.returncode == 1, result.stderr
    assert f"{WAITING} http://127.0.0.1:{port} (not ready: Temporal " in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: the server at http://127.0.0.1:{port} is not ready: Temporal ")


@pytest.mark.timeout(90)
def test_a_worker_waits_for_temporal_then_names_it(
    temporal_address: str, tmp_path: Path, started: list[Process]
) -> None:
    port, closed = free_port(), f"127.0.0.1:{free_port()}"
    start_server(port, temporal_address, tmp_path / "server", started)
    result = run_paw(
        "worker",
        "--temporal",
        closed,
        "--wait-seconds",
        "1",
        env=worker_env(port, tmp_path / "worker"),
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert f"waiting for Temporal at {closed} (connection refused); retrying" in result.stderr
    assert result.stderr.count("waiting for Temporal") == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot connect to Temporal at {closed} (is it running?)")
