"""What the measures run against: one Temporal dev server, Pawflow servers, workers.

Everything lives in one temp dir and listens on 127.0.0.1; :class:`Stack` is
used as ``async with`` and stops all of it on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from tests.pg import PostgresCluster, start_postgres

from pawflow import config
from pawflow.secrets import load_secret_box
from pawflow.up import EmbeddedTemporal, find_temporal_binary, free_port

from ._baseline import fast_queue
from ._procs import Children

__all__ = [
    "Api",
    "PawServer",
    "Stack",
    "StackError",
    "paw_env",
    "wait_healthy",
    "wait_listening",
    "wait_polled",
]

log = logging.getLogger(__name__)

_START_TIMEOUT = 60.0


class StackError(RuntimeError):
    """A part of the stack did not start or answered unexpectedly."""


def paw_env(**overrides: str) -> dict[str, str]:
    """The environment of a ``paw`` child: none of the user's Pawflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAWFLOW_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


class Api:
    """The management API of one Pawflow server (``/api/v1``), with its token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(limit=16),
                timeout=aiohttp.ClientTimeout(total=60),
            )
        return self._http

    async def get(self, path: str, **params: str | int) -> Any:
        """GET ``/api/v1/<path>`` and return the decoded JSON answer."""
        async with self._session().get(f"{self.url}/api/v1/{path}", params=params) as resp:
            body = await resp.text()
            if resp.status != 200:
                raise StackError(f"GET {path} answered {resp.status}: {body[:300]}")
            return json.loads(body)

    async def session_of(self, event_id: str) -> dict[str, Any] | None:
        """The session the event made, None while the dispatcher has not made it."""
        sessions = (await self.get("sessions", event=event_id))["sessions"]
        return sessions[-1] if sessions else None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


@dataclass
class PawServer:
    """One ``paw up --workers 0`` (the server only) and the workers started for it."""

    url: str
    data_dir: Path
    task_queue: str
    proc: subprocess.Popen[bytes]
    api: Api
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return paw_env(PAWFLOW_SERVER=self.url, PAWFLOW_HOME=str(self.data_dir))


class Stack:
    """The Temporal server of the run, and Pawflow servers and workers on it."""

    def __init__(self, root: Path, children: Children) -> None:
        self.root = root
        self.children = children
        self.temporal = EmbeddedTemporal(
            find_temporal_binary(), root / "temporal" / "temporal.db", root / "temporal.log"
        )
        self._client: Client | None = None
        self._postgres: PostgresCluster | None = None
        self._servers: list[PawServer] = []
        self._baseline_workers: list[subprocess.Popen[bytes]] = []

    @property
    def temporal_address(self) -> str:
        return self.temporal.address

    async def client(self) -> Client:
        """A temporalio client of the run's Temporal server (one, shared)."""
        if self._client is None:
            self._client = await Client.connect(self.temporal_address)
        return self._client

    async def __aenter__(self) -> Stack:
        await self.temporal.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # Side by side: stopping takes seconds each (workers drain their pollers).
            await asyncio.gather(
                *(self.stop_server(server) for server in list(self._servers)),
                *(self.children.stop(proc) for proc in self._baseline_workers),
            )
        finally:
            try:
                await self.temporal.stop()
            finally:
                if self._postgres is not None:
                    await asyncio.to_thread(self._postgres.stop)

    async def database(self) -> str:
        """The URL of a fresh, migrated database on the run's PostgreSQL server,
        which is started the first time (the tests' throwaway cluster: a temp
        dir, a loopback port, fsync off; see ``tests/pg.py``)."""
        if self._postgres is None:
            try:
                self._postgres = await asyncio.to_thread(start_postgres)
            except RuntimeError as err:
                raise StackError(str(err).splitlines()[0]) from err
        return await asyncio.to_thread(self._postgres.new_database)

    @property
    def postgres_pid(self) -> int:
        """The postmaster's pid (0 while none runs): its backends are its children."""
        if self._postgres is None:
            return 0
        try:
            pid_file = self._postgres.directory / "data" / "postmaster.pid"
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    # -- Pawflow servers --------------------------------------------------------------
    async def start_server(
        self, name: str, task_queue: str, database_url: str | None = None
    ) -> PawServer:
        """``paw up --workers 0`` on the run's Temporal server, data in ``root/name``;
        with ``database_url``, ``paw server`` on that PostgreSQL database instead
        (production mode: its configuration from the environment)."""
        data_dir = self.root / name
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        common = ["--temporal", self.temporal_address, "--task-queue", task_queue,
                  "--port", str(port)]  # fmt: skip
        if database_url is None:
            args = ["up", "--workers", "0", "--data-dir", str(data_dir), *common]
            env = paw_env()
        else:
            args = ["server", *common]
            env = paw_env(PAWFLOW_HOME=str(data_dir), PAWFLOW_DATABASE_URL=database_url)
            # On PostgreSQL paw server makes no credentials: provision them as files.
            for name in (config.TOKEN_FILE, config.WORKER_TOKEN_FILE):
                config.ensure_token(data_dir, name)
            load_secret_box(data_dir)
        proc = self.children.start(
            [sys.executable, "-m", "pawflow.cli", *args], log_file=data_dir / "server.log", env=env
        )
        try:
            await wait_healthy(url, proc, data_dir / "server.log")
            token = (data_dir / "token").read_text().strip()
        except BaseException:
            await self.children.stop(proc)
            raise
        server = PawServer(url, data_dir, task_queue, proc, Api(url, token))
        self._servers.append(server)
        return server

    async def stop_server(self, server: PawServer) -> None:
        """Stop the server's workers, then the server."""
        try:
            await self.stop_workers(server)
            await server.api.close()
        finally:
            # SIGINT is how paw up is told to stop (as Ctrl-C would).
            await self.children.stop(server.proc, signal.SIGINT)
            if server in self._servers:
                self._servers.remove(server)

    async def deploy(self, server: PawServer, directory: Path) -> dict[str, str]:
        """``paw deploy DIR --json``; returns the webhook URL of each trigger."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pawflow.cli", "deploy", str(directory), "--json",
            env=server.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), _START_TIMEOUT)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.returncode != 0:
            raise StackError(f"paw deploy {directory} failed: {err.decode(errors='replace')}")
        webhooks: dict[str, str] = json.loads(out)["webhooks"]
        return webhooks

    # -- workers -------------------------------------------------------------------
    async def start_worker(self, server: PawServer) -> subprocess.Popen[bytes]:
        """``paw worker`` for ``server``; returns once it polls its task queue."""
        n = len(server.workers)
        log_file = server.data_dir / f"worker-{n}.log"
        proc = self.children.start(
            [sys.executable, "-m", "pawflow.cli", "worker",
             "--temporal", self.temporal_address, "--task-queue", server.task_queue],
            log_file=log_file,
            env=server.env,
        )  # fmt: skip
        server.workers.append(proc)
        try:
            await wait_polled(await self.client(), server.task_queue, proc, log_file)
        except BaseException:
            await self.stop_worker(server, proc)
            raise
        return proc

    async def stop_worker(self, server: PawServer, proc: subprocess.Popen[bytes]) -> None:
        try:
            await self.children.stop(proc)
        finally:
            if proc in server.workers:
                server.workers.remove(proc)

    async def stop_workers(self, server: PawServer) -> None:
        for proc in list(server.workers):
            await self.stop_worker(server, proc)

    async def start_baseline_worker(
        self, task_queue: str, http_port: int | None = None
    ) -> subprocess.Popen[bytes]:
        """The raw temporalio workers (``python -m bench._baseline_worker``), once both
        poll; with ``http_port``, once its HTTP handler answers as well."""
        log_file = self.root / f"baseline-{task_queue}.log"
        command = [
            sys.executable,
            "-m",
            "bench._baseline_worker",
            self.temporal_address,
            task_queue,
        ]
        if http_port is not None:
            command.append(str(http_port))
        proc = self.children.start(
            command, log_file=log_file, env=paw_env(), cwd=Path(__file__).resolve().parents[1]
        )
        self._baseline_workers.append(proc)
        client = await self.client()
        await wait_polled(client, task_queue, proc, log_file)
        await wait_polled(client, fast_queue(task_queue), proc, log_file)
        if http_port is not None:
            await wait_listening(http_port, proc, log_file)
        return proc


async def wait_polled(
    client: Client, task_queue: str, proc: subprocess.Popen[bytes], log_file: Path
) -> None:
    """Wait until a worker polls ``task_queue`` for workflow tasks."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise StackError(f"worker exited with {proc.returncode}: {_tail(log_file)}")
        answer = await client.workflow_service.describe_task_queue(request)
        if answer.pollers:
            return
        if loop.time() > deadline:
            raise StackError(f"no worker polls {task_queue}: {_tail(log_file)}")
        await asyncio.sleep(0.05)


async def wait_listening(port: int, proc: subprocess.Popen[bytes], log_file: Path) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:``port``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise StackError(f"process exited with {proc.returncode}: {_tail(log_file)}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise StackError(f"nothing listens on port {port}: {_tail(log_file)}") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], log_file: Path) -> None:
    """Wait until the Pawflow server at ``url`` answers ``/healthz``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _START_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while True:
            if proc.poll() is not None:
                raise StackError(f"paw up exited with {proc.returncode}: {_tail(log_file)}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            if loop.time() > deadline:
                raise StackError(f"paw up at {url} did not answer: {_tail(log_file)}")
            await asyncio.sleep(0.05)


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"
