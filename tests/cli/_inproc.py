"""A real server in this process on a store of the test's own (no Temporal): the
CLI runs in a thread against it, since it blocks and the server runs on the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pawflow.cli import main
from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.storage import Store
from tests.helpers import free_port

__all__ = ["Paw", "paw", "server"]

Paw = Callable[..., Awaitable[tuple[int, str, str]]]

TOKEN = "cli-test-token"


@pytest.fixture
async def server(store: Store, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    # Nothing listens at this Temporal address: these commands need none.
    config = ServerConfig(
        data_dir=tmp_path / "data", token=TOKEN, temporal_address=f"127.0.0.1:{free_port()}"
    )
    dispatcher = Dispatcher(store, config.temporal_address, config.namespace, config.task_queue)
    async with TestClient(TestServer(create_app(config, store, dispatcher))) as client:
        yield client


@pytest.fixture
def paw(
    server: TestClient[Any, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Paw:
    monkeypatch.setenv("PAWFLOW_TOKEN", TOKEN)
    monkeypatch.setenv("PAWFLOW_SERVER", str(server.make_url("")).rstrip("/"))

    async def run(*argv: str) -> tuple[int, str, str]:
        # The CLI blocks; the server runs on this loop.
        code = await asyncio.to_thread(main, list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
