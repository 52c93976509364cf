"""``paw up`` as a user runs it: a subprocess that starts everything and stops it all."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.helpers import PawUp, child_pids, http_json, pid_alive, run_paw, wait_for


def is_worker(cmdline: list[str]) -> bool:
    return cmdline[1:4] == ["-m", "pawflow.cli", "worker"]


def is_temporal(cmdline: list[str]) -> bool:
    return Path(cmdline[0]).name == "temporal" and cmdline[1:3] == ["server", "start-dev"]


def test_up_runs_everything_and_sigint_stops_it_all(tmp_path: Path) -> None:
    up = PawUp(tmp_path / "data", args=["--workers", "1"]).start()
    try:
        assert up.proc is not None
        assert http_json(up.url + "/healthz") == (200, {"ok": True})
        children = wait_for(
            lambda: (
                (c := child_pids(up.proc.pid))  # type: ignore[union-attr]
                and any(map(is_worker, c.values()))
                and any(map(is_temporal, c.values()))
                and c
            ),
            timeout=30,
            message="a temporal and a worker child process",
        )
        banner = up.stdout_path.read_text()
        assert up.url in banner and "paw deploy projects/hello" in banner
        status, info = http_json(up.url + "/api/v1/info", token=up.token)
        assert status == 200
        assert info["temporal_address"] in banner
        # The embedded Temporal persists in the data dir and logs there.
        assert (up.data_dir / "temporal.db").exists()
        assert (up.data_dir / "logs" / "temporal.log").exists()
        assert (up.data_dir / "logs" / "worker-1.log").exists()
        # The data dir is its users' alone; workers hold their own credential.
        assert up.data_dir.stat().st_mode & 0o777 == 0o700
        worker_token = (up.data_dir / "worker-token").read_text().strip()
        for name in ("token", "worker-token", "pawflow.db"):
            assert (up.data_dir / name).stat().st_mode & 0o077 == 0, name
        assert worker_token != up.token
        assert http_json(up.url + "/api/v1/info", token=worker_token)[0] == 200
        assert http_json(up.url + "/api/v1/projects", token=worker_token)[0] == 403
        (worker_pid,) = [pid for pid, c in children.items() if is_worker(c)]
        environ = Path(f"/proc/{worker_pid}/environ").read_bytes()
        assert up.token.encode() not in environ and b"PAWFLOW_WORKER_TOKEN=" in environ
    finally:
        code = up.stop()
    assert code == 0, up.stderr()
    wait_for(
        lambda: not any(pid_alive(pid) for pid in children),
        message="every child of paw up to be gone",
    )
    assert "Traceback" not in up.stderr()
    # Not a terminal: no progress line, no carriage returns in the log.
    assert "waiting for Temporal" not in up.stderr() and "\r" not in up.stderr()


def test_a_killed_worker_is_restarted(tmp_path: Path, temporal_address: str) -> None:
    args = ["--workers", "1", "--temporal", temporal_address, "--task-queue", "up-restart"]
    with PawUp(tmp_path / "data", args=args) as up:
        assert up.proc is not None
        parent = up.proc.pid

        def worker() -> int | None:
            return next((p for p, c in child_pids(parent).items() if is_worker(c)), None)

        first = wait_for(worker, timeout=30, message="the worker process")
        os.kill(first, signal.SIGKILL)
        second = wait_for(
            lambda: (w := worker()) is not None and w != first and w,
            timeout=30,
            message="a new worker process",
        )
        assert not pid_alive(first)
        wait_for(lambda: "worker 1 restarted" in up.stderr(), message="the restart in the log")
    assert not pid_alive(second)


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path, temporal_address: str) -> None:
    args = ["--workers", "0", "--temporal", temporal_address]
    with PawUp(tmp_path / "a", args=args) as first:
        result = run_paw("up", "--port", str(first.port), "--data-dir", str(tmp_path / "b"), *args)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(first.port) in last
    assert "Traceback" not in result.stderr
