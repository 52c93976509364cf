"""A real PostgreSQL server for the tests: Debian's ``initdb``/``pg_ctl`` in a
temporary directory, on a free loopback port, as the ``postgres`` user when
running as root (PostgreSQL refuses to run as root).

``start_postgres()`` returns a :class:`PostgresCluster`: its ``url`` (a
superuser, no password, on 127.0.0.1), ``new_database()`` for a fresh
database per test, and ``stop()``. Reusable by any test that needs one
(the store's suite, multi-process tests); ``scripts/ensure-postgres.sh``
installs the binaries when they are missing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pawflow.storage import open_postgres_store
from tests.helpers import free_port, run_coroutine

__all__ = ["PostgresCluster", "find_pg_bin", "start_postgres"]

_TEMPLATE = "pawflow_template"


def find_pg_bin() -> Path | None:
    """The directory of the newest installed ``initdb``/``pg_ctl``, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


@dataclass
class PostgresCluster:
    """A running PostgreSQL server of the tests."""

    directory: Path
    port: int
    bin_dir: Path
    # How its programs run: as the postgres user when we are root (see _owner).
    _run_as: dict[str, Any] = field(default_factory=dict)
    _stopped: bool = False

    @property
    def url(self) -> str:
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self, migrated: bool = True) -> str:
        """A fresh, empty database (with the store's schema when ``migrated``);
        its URL. Copying a template makes this take milliseconds."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            if migrated:
                conn.execute(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
            else:
                conn.execute(f"CREATE DATABASE {name}")
        return self.url_of(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.directory / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                ],
                check=False,
                capture_output=True,
                timeout=60,
                **self._run_as,
            )
        shutil.rmtree(self.directory, ignore_errors=True)


def _owner(directory: Path) -> dict[str, Any]:
    """The ``subprocess`` arguments that run PostgreSQL's programs in ``directory``.

    PostgreSQL refuses to run as root: then its files and processes belong to
    the ``postgres`` user. Switched by ``subprocess`` itself, not by ``runuser``
    or ``su``, which live in ``/usr/sbin`` and are often not on a CI's PATH.
    """
    if os.geteuid() != 0:
        return {"cwd": directory}
    shutil.chown(directory, "postgres", "postgres")
    return {"cwd": directory, "user": "postgres", "group": "postgres", "extra_groups": []}


def start_postgres() -> PostgresCluster:
    """Initialise and start a throwaway cluster (fsync off: test speed only)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError(
            "PostgreSQL's initdb/pg_ctl are not installed: run scripts/ensure-postgres.sh "
            "(make install does)"
        )
    directory = Path(tempfile.mkdtemp(prefix="pawflow-pg-"))
    run_as = _owner(directory)
    cluster = PostgresCluster(directory, free_port(), bin_dir, run_as)
    data = directory / "data"
    try:
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            **run_as,
        )
        options = " ".join(
            [
                f"-p {cluster.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={directory}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=300",
            ]
        )
        subprocess.run(
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "-D",
                str(data),
                "-w",
                "-t",
                "60",
                "-l",
                str(directory / "postgres.log"),
                "-o",
                options,
            ],
            check=True,
            capture_output=True,
            timeout=120,
            **run_as,
        )
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {_TEMPLATE}")
        run_coroutine(_migrate(cluster.url_of(_TEMPLATE)))
    except BaseException as err:
        log = directory / "postgres.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        if isinstance(err, subprocess.CalledProcessError):
            detail += (err.stderr or b"").decode(errors="replace")[-2000:]
        cluster.stop()
        raise RuntimeError(f"cannot start PostgreSQL for the tests: {err}\n{detail}") from err
    return cluster


async def _migrate(url: str) -> None:
    await (await open_postgres_store(url)).close()
