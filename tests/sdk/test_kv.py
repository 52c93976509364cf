"""``pawflow.store`` as user code calls it, against a real server.

The functions are called the way the runtime calls a recorded call: directly,
in a greenlet carrying the session's scope, with the worker's real server link.
(The platform's database package is ``pawflow.storage``, so nothing shadows
``pawflow.store``.)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient

import pawflow
from pawflow import sdk
from pawflow.dispatch import Dispatcher
from pawflow.errors import PawflowError, ServerError
from pawflow.sdk._activity import activity_options
from pawflow.sdk._kv import KeyValueStore
from pawflow.sdk._scope import Scope, ScopedGreenlet
from pawflow.server import ServerConfig, create_app
from pawflow.sessions._serverlink import ServerLink
from pawflow.storage import open_store
from tests.helpers import free_port
from tests.server._helpers import TOKEN, deploy

T = TypeVar("T")

Run = Callable[[Callable[[], Any]], Any]


@pytest.fixture
async def run(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Run]:
    """Runs a function as code of a session of the project ``hello``."""
    config = ServerConfig(
        data_dir=tmp_path, token=TOKEN, temporal_address=f"127.0.0.1:{free_port()}"
    )
    store = await open_store(tmp_path / "pawflow.db")
    dispatcher = Dispatcher(store, config.temporal_address)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(config, store, dispatcher))
    await deploy(client)
    link = ServerLink(str(client.make_url("")), TOKEN)

    def in_session(fn: Callable[[], T]) -> T:
        scope = Scope({}, session_id="ses_test", project="hello", server=link)
        result: T = ScopedGreenlet(lambda: fn(), scope).switch()
        return result

    # The link blocks and keeps a connection per thread: one thread of its own,
    # off the loop that serves the requests, closed in that thread at the end.
    thread = ThreadPoolExecutor(max_workers=1)
    loop = asyncio.get_running_loop()

    async def runner(fn: Callable[[], Any]) -> Any:
        return await loop.run_in_executor(thread, in_session, fn)

    try:
        yield runner
    finally:
        await loop.run_in_executor(thread, link.close)
        thread.shutdown()
        await store.close()


async def test_every_function_is_a_recorded_call() -> None:
    for name in ("get", "set", "delete", "keys", "mutate", "check_and_set", "add"):
        assert activity_options(getattr(sdk.store, name)) is not None, name
    assert isinstance(sdk.store, KeyValueStore)
    assert "store" in pawflow.__all__


async def test_read_and_write(run: Run) -> None:
    store = sdk.store
    assert await run(lambda: store.get("k")) is None
    assert await run(lambda: store.get("k", {"d": 1})) == {"d": 1}
    await run(lambda: store.set("k", {"a": [1, 2.5, None, True]}))
    assert await run(lambda: store.get("k")) == {"a": [1, 2.5, None, True]}
    await run(lambda: store.set("n/1", None))
    assert await run(lambda: store.get("n/1", "default")) is None  # a stored null is a value
    await run(lambda: store.set("n/2", (1, 2)))
    assert await run(lambda: store.get("n/2")) == [1, 2]
    assert await run(lambda: store.keys()) == ["k", "n/1", "n/2"]
    assert await run(lambda: store.keys("n/")) == ["n/1", "n/2"]
    assert await run(lambda: store.delete("k")) is True
    assert await run(lambda: store.delete("k")) is False
    assert await run(lambda: store.keys()) == ["n/1", "n/2"]


async def test_atomic_operations(run: Run) -> None:
    store = sdk.store
    assert await run(lambda: store.add("count")) == 1
    assert await run(lambda: store.add("count", 4)) == 5
    assert await run(lambda: store.add("count", 0.5)) == 5.5
    assert await run(lambda: store.mutate("list", "append", "a")) == ["a"]
    assert await run(lambda: store.mutate("list", "append", None)) == ["a", None]
    assert await run(lambda: store.mutate("obj", "merge", {"x": 1})) == {"x": 1}
    assert await run(lambda: store.mutate("d", "set_default", 1)) == 1
    assert await run(lambda: store.mutate("d", "set_default", 2)) == 1
    assert await run(lambda: store.mutate("n", "add")) == 1
    assert await run(lambda: store.check_and_set("lock", None, "me")) is True
    assert await run(lambda: store.check_and_set("lock", None, "you")) is False
    assert await run(lambda: store.check_and_set("lock", "me", "you")) is True
    assert await run(lambda: store.get("lock")) == "you"


async def test_mistakes_are_clear_errors(run: Run) -> None:
    store = sdk.store
    with pytest.raises(
        PawflowError, match=r"pawflow.store.set: the value for key 'k' must be JSON"
    ):
        await run(lambda: store.set("k", object()))
    with pytest.raises(PawflowError, match="must be JSON-serialisable"):
        await run(lambda: store.set("k", float("nan")))
    with pytest.raises(PawflowError, match="the key must be a non-empty string"):
        await run(lambda: store.get(""))
    with pytest.raises(PawflowError, match="the amount must be a number"):
        await run(lambda: store.add("n", "1"))  # type: ignore[arg-type]
    await run(lambda: store.set("name", "Ada"))
    with pytest.raises(ServerError, match="'add': key 'name' holds a string, not a number"):
        await run(lambda: store.add("name"))
    with pytest.raises(ServerError, match=r"unknown operation|'op' must be one of"):
        await run(lambda: store.mutate("name", "multiply", 2))
    assert await run(lambda: store.get("name")) == "Ada"


def test_outside_a_session() -> None:
    with pytest.raises(PawflowError, match="only available inside a Pawflow session"):
        sdk.store.get("k")


def test_nothing_shadows_the_sdk_store() -> None:
    """Importing every part of the platform leaves ``pawflow.store`` the SDK's."""
    probe = (
        "import pawflow, pawflow.sessions._runner, pawflow.cli._main, pawflow.server\n"
        "import pawflow.storage\n"
        "from pawflow.sdk._kv import KeyValueStore\n"
        "assert isinstance(pawflow.store, KeyValueStore)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
