"""Production topology on one machine: PostgreSQL, servers and workers as processes.

``paw server`` and ``paw worker`` run as separate processes configured by the
environment, as docs/production.md sets them up: every server on the same
database with the same admin token, worker token and secret key; each worker
talks to one server (in production, to the load balancer). Any of them can be
SIGKILLed, and a server started again on its port; :meth:`Cluster.close` stops
whatever still runs, and everything that ran below them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pawflow.secrets import SecretBox
from tests.faults._load import descendants, wait_sessions_ended
from tests.helpers import free_port, http_json, paw_env, pid_alive, run_paw, wait_for

__all__ = ["Cluster", "Proc"]

_PAGE = 1000  # the API's largest page


@dataclass
class Proc:
    """A ``paw`` subprocess; its output goes to ``log`` (read while it runs)."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    killed: bool = False

    def start(self) -> Proc:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pawflow.cli", *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        """True while it runs; an unexpected exit fails the test with its output."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.proc.returncode}: {self.output()[-2000:]}"
            )
        return True


@dataclass
class Server:
    proc: Proc
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    """Servers and workers on one PostgreSQL database and one Temporal task queue."""

    root: Path
    database_url: str
    temporal_address: str
    task_queue: str
    admin_token: str = "cluster-admin-token"
    worker_token: str = "cluster-worker-token"
    secret_key: str = field(default_factory=SecretBox.generate_key)
    servers: dict[str, Server] = field(default_factory=dict)
    workers: dict[str, Proc] = field(default_factory=dict)
    # Every pid started, with what ran below it, so nothing outlives the test.
    _started: set[int] = field(default_factory=set)

    # -- servers ------------------------------------------------------------------
    def start_server(self, name: str, port: int | None = None, *, wait: bool = True) -> Server:
        """``paw server`` on a port of its own (or ``port`` again, after a kill);
        ``wait``: until it is ready (else call :meth:`wait_ready`)."""
        port = port or free_port()
        env = paw_env(
            PAWFLOW_HOME=str(self.root / name),
            PAWFLOW_DATABASE_URL=self.database_url,
            PAWFLOW_TEMPORAL_ADDRESS=self.temporal_address,
            PAWFLOW_TOKEN=self.admin_token,
            PAWFLOW_WORKER_TOKEN=self.worker_token,
            PAWFLOW_SECRET_KEY=self.secret_key,
        )
        args = ["server", "--port", str(port), "--task-queue", self.task_queue]
        proc = Proc(name, args, env, self.root / f"{name}.log").start()
        self._started.add(proc.pid)
        server = Server(proc, port)
        self.servers[name] = server
        if wait:
            self.wait_ready(name)
        return server

    def wait_ready(self, name: str) -> None:
        """Until the server answers ``/readyz`` (store and Temporal reachable)."""
        server = self.servers[name]
        wait_for(
            lambda: server.proc.running() and _answers(server.url + "/readyz"),
            60, 0.05, f"{name} ready",
        )  # fmt: skip

    def url(self, name: str) -> str:
        return self.servers[name].url

    # -- workers ------------------------------------------------------------------
    def start_worker(self, name: str, server: str) -> Proc:
        """``paw worker`` talking to ``server`` (logs, journal, code, heartbeats)."""
        env = paw_env(
            PAWFLOW_HOME=str(self.root / name),
            PAWFLOW_SERVER=self.url(server),
            PAWFLOW_WORKER_TOKEN=self.worker_token,
        )
        args = ["worker", "--temporal", self.temporal_address, "--task-queue", self.task_queue]
        proc = Proc(name, args, env, self.root / f"{name}.log").start()
        self._started.add(proc.pid)
        self.workers[name] = proc
        return proc

    def heartbeating(self, server: str) -> set[int]:
        """Pids of the workers whose heartbeats reached ``server`` lately."""
        status, body = http_json(self.url(server) + "/api/v1/workers", token=self.admin_token)
        assert status == 200, body
        return {w["pid"] for w in body["workers"] if w["alive"]}

    # -- faults -------------------------------------------------------------------
    def kill(self, proc: Proc) -> None:
        """SIGKILL: a crash, no shutdown code runs."""
        assert proc.proc is not None and proc.running()
        self._started |= descendants(proc.pid)
        proc.proc.send_signal(signal.SIGKILL)
        proc.proc.wait(10)
        proc.killed = True

    # -- the API (through server ``via``) ----------------------------------------
    def api(self, path: str, via: str = "one", **kwargs: Any) -> tuple[int, Any]:
        return http_json(f"{self.url(via)}/api/v1/{path}", token=self.admin_token, **kwargs)

    def cli_env(self, via: str) -> dict[str, str]:
        return paw_env(PAWFLOW_SERVER=self.url(via), PAWFLOW_TOKEN=self.admin_token)

    def deploy(self, project: Path, via: str = "one") -> dict[str, str]:
        """``paw deploy`` through ``via``; each trigger's webhook path (no host)."""
        result = run_paw("deploy", str(project), "--json", env=self.cli_env(via))
        assert result.returncode == 0, result.stderr
        hooks: dict[str, str] = json.loads(result.stdout)["webhooks"]
        return {name: "/webhooks/" + url.split("/webhooks/", 1)[1] for name, url in hooks.items()}

    def _page(self, what: str, query: str) -> list[dict[str, Any]]:
        status, body = self.api(f"{what}?{query}&limit={_PAGE}")
        assert status == 200, body
        rows: list[dict[str, Any]] = body[what]
        assert len(rows) < _PAGE, f"more {what} than one page holds: use fewer"
        return rows

    def sessions(self, project: str) -> list[dict[str, Any]]:
        return self._page("sessions", f"project={project}")

    def events(self, project: str) -> list[dict[str, Any]]:
        return self._page("events", f"project={project}")

    def logs(self, session_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        def one(session_id: str) -> list[dict[str, Any]]:
            status, body = self.api(f"sessions/{session_id}/log")
            assert status == 200, body
            records: list[dict[str, Any]] = body["records"]
            return records

        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(zip(session_ids, pool.map(one, session_ids), strict=True))

    def wait_sessions_ended(
        self, project: str, event_ids: set[str], timeout: float
    ) -> list[dict[str, Any]]:
        """Every event in ``event_ids`` has a session and every session of the project ended."""
        return wait_sessions_ended(lambda: self.sessions(project), event_ids, timeout)

    # -- teardown -----------------------------------------------------------------
    def close(self) -> None:
        """SIGTERM whatever still runs (workers first), SIGKILL what does not stop,
        and make sure nothing started below them is left."""
        procs = [*self.workers.values(), *(s.proc for s in self.servers.values())]
        for proc in procs:
            if proc.proc is not None and proc.proc.poll() is None:
                self._started |= descendants(proc.pid)
                proc.proc.send_signal(signal.SIGTERM)
        for proc in procs:
            if proc.proc is None:
                continue
            try:
                proc.proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.proc.kill()
                proc.proc.wait()
        leftovers = self.leaked()
        if leftovers:
            # Children of a killed parent follow it; give them a moment first.
            with contextlib.suppress(AssertionError):
                wait_for(lambda: not self.leaked(), 10, 0.1, "children to exit")
            for pid in self.leaked():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def leaked(self) -> list[int]:
        return [p for p in self._started if pid_alive(p) and _is_ours(p)]


def _is_ours(pid: int) -> bool:
    # Pids are reused: only a process still running our interpreter counts.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"pawflow" in cmdline or b"python" in cmdline


def _answers(url: str) -> bool:
    try:
        return http_json(url)[0] == 200
    except OSError:
        return False
