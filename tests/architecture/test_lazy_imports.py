"""What a process that never uses PostgreSQL does not load: psycopg and its
bundled libpq cost about 11 MB in each of ``paw up``'s server and worker."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(60)

_PROGRAM = """
import sys
import pawflow.cli._main
import pawflow.server._serve
import pawflow.sessions._worker
import pawflow.up._run
import pawflow.storage
assert pawflow.storage.connect_store
print(sorted(m for m in sys.modules if m.split(".")[0] in ("psycopg", "psycopg_pool")))
"""


def test_the_platform_loads_no_postgresql_driver_until_a_store_needs_it() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=50
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


def test_the_postgresql_store_is_still_reachable_by_name() -> None:
    import pawflow.storage

    assert pawflow.storage.PostgresStore.__name__ == "PostgresStore"
    with pytest.raises(AttributeError):
        pawflow.storage.NoSuchStore  # noqa: B018
