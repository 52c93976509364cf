"""The whole platform, for end-to-end tests: ``paw up`` (no workers) + worker processes.

Every test gets its own data dir and task queue on the run's shared Temporal
server, so tests never see each other's sessions.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.bank import FakeBank
from tests.helpers import PawUp, http_json, paw_env, run_paw, wait_for

PROJECTS = Path(__file__).resolve().parents[2] / "projects"


class Platform:
    def __init__(
        self, up: PawUp, temporal_address: str = "", task_queue: str = "pawflow-sessions"
    ) -> None:
        # temporal_address and task_queue only matter to start_worker().
        self.up = up
        self.url = up.url
        self.temporal_address = temporal_address
        self.task_queue = task_queue
        self.workers: list[subprocess.Popen[bytes]] = []

    @property
    def env(self) -> dict[str, str]:
        return paw_env(PAWFLOW_SERVER=self.url, PAWFLOW_HOME=str(self.up.data_dir))

    def paw(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return run_paw(*args, env=self.env, timeout=timeout)

    def paw_json(self, *args: str) -> Any:
        result = self.paw(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def start_worker(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.up.data_dir / f"worker-test-{len(self.workers)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "pawflow.cli", "worker", "--temporal", self.temporal_address,
             "--task-queue", self.task_queue, *args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env,
        )  # fmt: skip
        log.close()
        self.workers.append(proc)
        return proc

    def deploy(self, directory: Path) -> dict[str, Any]:
        result: dict[str, Any] = self.paw_json("deploy", str(directory))
        return result

    def post(
        self, url: str, body: object, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        return http_json(url, method="POST", body=body, headers=headers)

    def sessions(self, *filters: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.paw_json("session", "list", *filters)
        return result

    def session_for(self, event_id: str, timeout: float = 20.0) -> dict[str, Any]:
        found: list[dict[str, Any]] = wait_for(
            lambda: self.sessions("--event", event_id), timeout, 0.05, f"a session of {event_id}"
        )
        assert len(found) == 1, found
        return found[0]

    def wait_ended(self, session_id: str, timeout: float = 30.0) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            (session,) = [s for s in self.sessions() if s["id"] == session_id]
            return session if session["state"] in ("completed", "error", "stopped") else None

        result: dict[str, Any] = wait_for(ended, timeout, 0.1, f"session {session_id} to end")
        return result

    def log(self, session_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.paw_json("session", "log", session_id)
        return result

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def platform(temporal_address: str, tmp_path: Path) -> Iterator[Platform]:
    task_queue = f"test-{uuid.uuid4().hex[:12]}"
    up = PawUp(
        tmp_path / "data",
        args=["--workers", "0", "--temporal", temporal_address, "--task-queue", task_queue],
    )
    up.start()
    platform = Platform(up, temporal_address, task_queue)
    try:
        yield platform
    finally:
        platform.stop_workers()
        up.stop()


@pytest.fixture
def bank() -> Iterator[FakeBank]:
    with FakeBank().running() as fake:
        yield fake


def make_project(root: Path, name: str, program: str, *, vars: dict[str, str] | None = None,
                 methods: str = "[POST]") -> Path:  # fmt: skip
    """A project directory with one webhook trigger ``run`` calling ``program.py:handler``."""
    root.mkdir(parents=True, exist_ok=True)
    var_lines = "".join(
        f"    - name: {k}\n      value: {json.dumps(v)}\n" for k, v in (vars or {}).items()
    )
    (root / "pawflow.yaml").write_text(
        "version: 1\nproject:\n"
        f"  name: {name}\n"
        + (f"  vars:\n{var_lines}" if var_lines else "")
        + f"  triggers:\n    - name: run\n      webhook:\n        methods: {methods}\n"
        "      call: program.py:handler\n"
    )
    (root / "program.py").write_text(textwrap.dedent(program))
    return root


def copy_project(name: str, dest: Path) -> Path:
    return Path(shutil.copytree(PROJECTS / name, dest / name))
