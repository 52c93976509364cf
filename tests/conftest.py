"""Fixtures shared by every test area."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from pawflow.storage import Store, connect_store
from pawflow.up import EmbeddedTemporal, find_temporal_binary
from tests.helpers import run_coroutine
from tests.pg import PostgresCluster, start_postgres

BACKENDS = ("sqlite", "postgresql")
"""The store's back ends: the ``store`` fixture runs each test against both."""


def pytest_configure(config: pytest.Config) -> None:
    # Tests send SIGINT (Ctrl-C) to the commands they start, as a terminal
    # would. A suite started as a background job of a script inherits SIGINT
    # ignored, and so would every command it starts (Python then raises no
    # KeyboardInterrupt): handled here, they start with it as from a terminal.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded Temporal dev server for the whole run: ``"127.0.0.1:<port>"``."""
    directory = tmp_path_factory.mktemp("temporal")
    temporal = EmbeddedTemporal(
        find_temporal_binary(), directory / "temporal.db", directory / "temporal.log"
    )
    address = run_coroutine(temporal.start())
    try:
        yield address
    finally:
        run_coroutine(temporal.stop())


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One PostgreSQL server for the whole run, started when a test first needs it."""
    cluster = start_postgres()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> Iterator[str]:
    """A fresh database of its own for the test, with the store's schema."""
    url = postgres.new_database()
    try:
        yield url
    finally:
        postgres.drop_database(url)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """What ``connect_store`` is given: None (SQLite in the data dir) or a fresh
    PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(database_url: str | None, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store of each back end (SQLite: in the test's data dir,
    ``tmp_path / "data"``)."""
    s = await connect_store(database_url, tmp_path / "data")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def open_again(
    database_url: str | None, tmp_path: Path
) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    """Opens another store object on the test's database (as another server
    would); each is closed at the end of the test."""
    opened: list[Store] = []

    async def open_one() -> Store:
        s = await connect_store(database_url, tmp_path / "data")
        opened.append(s)
        return s

    try:
        yield open_one
    finally:
        for s in opened:
            await s.close()
