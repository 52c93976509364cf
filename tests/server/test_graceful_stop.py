"""A server told to stop (SIGTERM) finishes the requests it has begun, uploads
included, refuses new connections at once, and cuts what is left after its
shutdown time."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.server._drain import DRAIN
from pawflow.storage import connect_store
from tests.helpers import free_port, http_json, paw_env, run_coroutine, wait_for

from ._helpers import TOKEN, project_zip

BODY = json.dumps({"blob": "x" * 500_000}).encode()  # ~500 KB
FIRST = 50_000  # what arrives before the signal
PIECES = 10  # the rest, paced over about a second
PACE = 0.1  # not a synchronisation: how slowly the client sends


class Server:
    """A server subprocess whose output goes to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.log, self.port = log, port
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_for(self._healthy, 30, 0.05, "the server")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"exited with {self.proc.returncode}: {self.output()[-2000:]}")
        try:
            return http_json(f"http://127.0.0.1:{self.port}/healthz")[0] == 200
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def refuses_connections(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        return False

    def webhook_path(self) -> str:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/deployments",
            data=project_zip(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/zip"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            url: str = json.loads(reply.read())["webhooks"]["greet"]
        return url.split(str(self.port), 1)[1]


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


class Upload(contextlib.AbstractContextManager["Upload"]):
    """A webhook POST over a raw socket, its body sent in pieces."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n"
            "Expect: 100-continue\r\n\r\n"
        )
        self.sock.sendall(head.encode())
        # The server answers "100 Continue" once its handler has the request:
        # from here on the request has begun.
        interim = self.sock.recv(64)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        self.sock.sendall(BODY[:FIRST])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def finish(self) -> None:
        rest = BODY[FIRST:]
        size = -(-len(rest) // PIECES)
        for start in range(0, len(rest), size):
            time.sleep(PACE)
            self.sock.sendall(rest[start : start + size])

    def reply(self) -> tuple[int, dict[str, str], Any]:
        answer = http.client.HTTPResponse(self.sock)
        answer.begin()
        headers = {name.lower(): value for name, value in answer.getheaders()}
        return answer.status, headers, json.loads(answer.read())

    def ended_by_server(self) -> bool:
        """The server closed the connection (nothing more comes)."""
        try:
            return self.sock.recv(4096) == b""
        except ConnectionResetError:
            return True


def idle_keepalive(port: int) -> socket.socket:
    """A connection that made one request and stays open, idle."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    answer = http.client.HTTPResponse(sock)
    answer.begin()
    assert answer.status == 200 and answer.getheader("Connection") != "close"
    answer.read()
    return sock


def stored_events(data_dir: Path) -> dict[str, int]:
    """The stored events' ids and the size of the body each carries."""

    async def read() -> dict[str, int]:
        store = await connect_store(None, data_dir)
        try:
            return {e.id: len(json.dumps(e.data)) for e in await store.list_events()}
        finally:
            await store.close()

    result: dict[str, int] = run_coroutine(read())
    return result


def exits(server: Server, within: float) -> int:
    try:
        return server.proc.wait(within)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running after {within} s: {server.output()[-2000:]}") from None


def test_an_upload_under_way_at_sigterm_is_finished_and_stored(
    temporal_address: str, tmp_path: Path, servers: list[Server]
) -> None:
    port = free_port()
    env = paw_env(
        PAWFLOW_HOME=str(tmp_path / "data"),
        PAWFLOW_TEMPORAL_ADDRESS=temporal_address,
        PAWFLOW_TOKEN=TOKEN,
    )
    args = [sys.executable, "-m", "pawflow.cli", "server", "--port", str(port)]
    server = Server(args, env, tmp_path / "server.log", port)
    servers.append(server)
    path = server.webhook_path()
    idle = idle_keepalive(port)
    with Upload(port, path) as upload:
        server.proc.send_signal(signal.SIGTERM)
        # New connections are refused at once, while the upload is still arriving.
        wait_for(server.refuses_connections, 5, 0.02, "new connections refused")
        # An idle keep-alive connection is closed rather than kept for more requests.
        assert upload_pending(upload)
        assert idle_ended(idle)

        upload.finish()
        status, headers, body = upload.reply()
    assert status == 202, body
    assert headers["connection"] == "close"  # no more requests on this connection
    assert exits(server, 15) == 0, server.output()[-2000:]
    output = server.output()
    assert "the server stopped" in output
    assert "Traceback" not in output, output
    events = stored_events(tmp_path / "data")
    assert body["event_id"] in events
    assert events[body["event_id"]] > len(BODY)


def upload_pending(upload: Upload) -> bool:
    """No answer yet: the server waits for the rest of the body."""
    upload.sock.setblocking(False)
    try:
        upload.sock.recv(1)
    except BlockingIOError:
        return True
    finally:
        upload.sock.setblocking(True)
        upload.sock.settimeout(30)
    return False


def idle_ended(sock: socket.socket) -> bool:
    sock.settimeout(10)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    finally:
        sock.close()


SCRIPT = """\
import sys
from pathlib import Path

from pawflow.server import ServerConfig, run_server

data_dir, token, temporal, port, seconds = sys.argv[1:]
run_server(ServerConfig(
    data_dir=Path(data_dir), token=token, temporal_address=temporal, port=int(port),
    shutdown_seconds=float(seconds),
))
"""


def test_a_request_unfinished_after_the_shutdown_time_is_cut(
    temporal_address: str, tmp_path: Path, servers: list[Server]
) -> None:
    port, seconds = free_port(), 1.0
    data_dir = tmp_path / "data"
    script = [sys.executable, "-c", textwrap.dedent(SCRIPT)]
    args = [*script, str(data_dir), TOKEN, temporal_address, str(port), str(seconds)]
    server = Server(args, paw_env(), tmp_path / "server.log", port)
    servers.append(server)
    with Upload(port, server.webhook_path()) as upload:
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        wait_for(server.refuses_connections, 5, 0.02, "new connections refused")
        # The rest of the body never comes: the server gives up on it, and on the
        # connection, once its shutdown time has passed.
        assert upload.ended_by_server()
        assert time.monotonic() - signalled >= seconds
    assert exits(server, 10) == 0, server.output()[-2000:]
    assert "Traceback" not in server.output(), server.output()
    assert stored_events(data_dir) == {}


async def test_a_stopping_server_is_not_ready_and_ends_keepalive(
    client: TestClient[Any, Any],
) -> None:
    drain = client.app[DRAIN]
    reply = await client.get("/healthz")
    assert reply.status == 200 and reply.headers.get("Connection") != "close"

    drain.stop()
    reply = await client.get("/readyz")
    assert reply.status == 503
    assert await reply.json() == {"ok": False, "error": "the server is shutting down"}
    # A request that arrives on a kept-alive connection meanwhile is answered,
    # and its connection ends with it.
    assert reply.headers["Connection"] == "close"
    assert drain.in_progress == 0
