"""Opening the store the configuration names, and PostgreSQL's migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from pawflow.errors import ConfigError
from pawflow.storage import PostgresStore, SQLiteStore, Store, connect_store, open_postgres_store
from pawflow.storage._migrations import MIGRATIONS
from tests.helpers import free_port
from tests.pg import PostgresCluster

from ._helpers import deploy


async def test_no_url_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    store = await connect_store(None, tmp_path / "data")
    try:
        assert isinstance(store, SQLiteStore)
        assert (tmp_path / "data" / "pawflow.db").is_file()
    finally:
        await store.close()


@pytest.mark.parametrize(
    "url", ["mysql://root:hunter2@db/x", "hunter2", "sqlite:///tmp/x.db?pw=hunter2", ""]
)
async def test_other_urls_are_a_one_line_error_without_the_secret(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        await connect_store(url, tmp_path)
    message = str(info.value)
    assert "postgresql://" in message and "\n" not in message
    assert "hunter2" not in message


async def test_an_unreachable_database_is_a_one_line_error_without_the_password() -> None:
    url = f"postgresql://pawflow:hunter2@127.0.0.1:{free_port()}/pawflow"
    with pytest.raises(ConfigError) as info:
        await connect_store(url, Path("/nonexistent"))
    message = str(info.value)
    assert "cannot open the store postgresql://pawflow@127.0.0.1:" in message
    assert "hunter2" not in message and "\n" not in message


async def test_repr_names_the_database_without_the_password(postgres: PostgresCluster) -> None:
    url = postgres.new_database()
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("CREATE ROLE someone LOGIN SUPERUSER PASSWORD 'hunter2'")
    try:
        store = await connect_store(url.replace("postgres@", "someone:hunter2@"), Path("/x"))
        try:
            assert isinstance(store, PostgresStore)
            assert "hunter2" not in repr(store) and "someone@127.0.0.1" in repr(store)
        finally:
            await store.close()
    finally:
        postgres.drop_database(url)
        with psycopg.connect(postgres.url, autocommit=True) as conn:
            conn.execute("DROP ROLE someone")


async def test_servers_starting_together_on_an_empty_database_migrate_it_once(
    postgres: PostgresCluster,
) -> None:
    url = postgres.new_database(migrated=False)
    try:
        stores: list[Store] = list(
            await asyncio.gather(*(open_postgres_store(url, pool_size=2) for _ in range(4)))
        )
        try:
            await deploy(stores[0])
            assert [p.name for p in await stores[3].list_projects()] == ["demo"]
        finally:
            for store in stores:
                await store.close()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version FROM pawflow_schema").fetchall() == [
                (len(MIGRATIONS),)
            ]
    finally:
        postgres.drop_database(url)


async def test_a_database_of_a_newer_pawflow_is_refused(postgres: PostgresCluster) -> None:
    url = postgres.new_database()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE pawflow_schema SET version = %s", (len(MIGRATIONS) + 1,))
        with pytest.raises(ConfigError, match="upgrade Pawflow") as info:
            await open_postgres_store(url)
        assert f"schema version {len(MIGRATIONS) + 1}" in str(info.value)
    finally:
        postgres.drop_database(url)
