from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.storage import SQLiteStore
from tests.helpers import free_port

from ._helpers import TOKEN

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def config(tmp_path: Path) -> ServerConfig:
    # Nothing listens at this Temporal address: events stay pending.
    return ServerConfig(
        data_dir=tmp_path / "data",
        token=TOKEN,
        temporal_address=f"127.0.0.1:{free_port()}",
        max_body_bytes=4096,
    )


@pytest.fixture
def app(config: ServerConfig, store: SQLiteStore) -> web.Application:
    # The dispatcher is not started: these tests look at what the HTTP layer
    # commits, not at what happens to it afterwards.
    dispatcher = Dispatcher(store, config.temporal_address, config.namespace, config.task_queue)
    return create_app(config, store, dispatcher)


@pytest.fixture
async def client(app: web.Application, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(app)
