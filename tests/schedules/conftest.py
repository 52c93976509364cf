from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from temporalio.client import Client

from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.storage import SQLiteStore

# The whole platform (real `paw up` and workers) of the end-to-end tests.
from tests.e2e.conftest import platform  # noqa: F401

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
ServerFactory = Callable[[str], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def temporal(temporal_address: str) -> Client:
    return await Client.connect(temporal_address)


@pytest.fixture
def server(tmp_path: Path, store: SQLiteStore, aiohttp_client: ClientFactory) -> ServerFactory:
    """Builds a server app on ``store`` talking to the given Temporal address
    (its dispatcher is not started: the tests dispatch themselves)."""

    async def make(temporal_address: str) -> TestClient[Any, Any]:
        config = ServerConfig(
            data_dir=tmp_path / "data",
            token=TOKEN,
            temporal_address=temporal_address,
            task_queue="schedules-test",
        )
        dispatcher = Dispatcher(store, temporal_address, config.namespace, config.task_queue)
        return await aiohttp_client(create_app(config, store, dispatcher))

    return make
