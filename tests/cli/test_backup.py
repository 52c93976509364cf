"""``paw backup FILE``: an online copy of the SQLite store, and a restore from it."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from pawflow.storage import backup_sqlite
from tests.helpers import PawUp, http_json, paw_env, run_paw

_PROGRAM = "def on_hello(event):\n    print('hello')\n"


def _project(root: Path, name: str) -> Path:
    project = root / name
    project.mkdir()
    (project / "pawflow.yaml").write_text(
        textwrap.dedent(f"""\
        version: 1
        project:
          name: {name}
          triggers:
            - name: hello
              webhook: {{}}
              call: program.py:on_hello
        """)
    )
    (project / "program.py").write_text(_PROGRAM)
    return project


def _deploy(up: PawUp, project: Path) -> str:
    env = paw_env(PAWFLOW_SERVER=up.url, PAWFLOW_TOKEN=up.token)
    deployed = run_paw("deploy", str(project), "--json", env=env)
    assert deployed.returncode == 0, deployed.stderr
    hook: str = json.loads(deployed.stdout)["webhooks"]["hello"]
    return hook


def _listed(up: PawUp, *what: str) -> list[dict[str, object]]:
    env = paw_env(PAWFLOW_SERVER=up.url, PAWFLOW_TOKEN=up.token)
    result = run_paw(*what, "--json", env=env)
    assert result.returncode == 0, result.stderr
    listed: list[dict[str, object]] = json.loads(result.stdout)
    return listed


def test_a_backup_taken_while_paw_up_takes_webhooks_restores(
    tmp_path: Path, temporal_address: str
) -> None:
    data = tmp_path / "data"
    backup = tmp_path / "backups" / "pawflow-backup.db"
    backup.parent.mkdir()
    # No worker: the events stay where the copy can count them.
    args = ["--workers", "0", "--temporal", temporal_address, "--task-queue", "backup-test"]
    with PawUp(data, args=args) as up:
        hook = _deploy(up, _project(tmp_path, "kept"))
        for _ in range(5):
            assert http_json(hook, method="POST", body={})[0] == 202
        # Webhooks keep arriving (the server commits each) while the copy is taken.
        stop = threading.Event()
        posted = [0]

        def post() -> None:
            while not stop.is_set() and posted[0] < 200:
                assert http_json(hook, method="POST", body={})[0] == 202
                posted[0] += 1

        poster = threading.Thread(target=post)
        poster.start()
        try:
            result = run_paw("backup", str(backup), "--data-dir", str(data))
        finally:
            stop.set()
            poster.join()
        assert result.returncode == 0, result.stderr
        size = backup.stat().st_size
        assert result.stdout.startswith(f"wrote {backup} ({size / 1000:.1f} KB), a copy of ")
        assert backup.stat().st_mode & 0o077 == 0  # it holds what the store holds

        again = run_paw("backup", str(backup), "--data-dir", str(data))
        assert again.returncode == 1
        assert again.stderr == f"error: {backup} exists; pass --force to replace it\n"

        # Made after the backup: a restore takes it away.
        _deploy(up, _project(tmp_path, "later"))
        assert {p["name"] for p in _listed(up, "project", "list")} == {"kept", "later"}

    with sqlite3.connect(backup) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # Restore: the platform stopped, the copy becomes the store (its WAL goes).
    for suffix in ("-wal", "-shm"):
        (data / f"pawflow.db{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, data / "pawflow.db")
    with PawUp(data, args=args) as up:
        assert [p["name"] for p in _listed(up, "project", "list")] == ["kept"]
        events = len(_listed(up, "event", "list", "--project", "kept", "--limit", "1000"))
        assert 5 <= events <= 5 + posted[0]


def test_backup_refuses_postgresql_and_a_data_dir_without_a_store(tmp_path: Path) -> None:
    postgres = paw_env(PAWFLOW_DATABASE_URL="postgresql://pawflow@127.0.0.1:1/pawflow")
    result = run_paw("backup", str(tmp_path / "b.db"), "--data-dir", str(tmp_path), env=postgres)
    assert result.returncode == 1
    assert result.stderr.startswith("error: the store is PostgreSQL (env PAWFLOW_DATABASE_URL)")
    assert "pg_dump" in result.stderr and "127.0.0.1:1" not in result.stderr

    empty = tmp_path / "empty"
    result = run_paw("backup", str(tmp_path / "b.db"), "--data-dir", str(empty))
    assert result.returncode == 1
    assert result.stderr == f"error: the data dir {empty} has no store (pawflow.db) to back up\n"
    assert not empty.exists() and not (tmp_path / "b.db").exists()


def test_a_copy_under_constant_writes_is_whole(tmp_path: Path) -> None:
    source = tmp_path / "busy.db"
    with sqlite3.connect(source) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (n INTEGER, pad BLOB)")
        db.executemany("INSERT INTO t VALUES (?, randomblob(500))", [(i,) for i in range(50_000)])
    db.close()
    writer = textwrap.dedent(
        """
        import sqlite3, sys
        db = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
        print("writing", flush=True)
        n = 50_000
        while True:
            db.execute("INSERT INTO t VALUES (?, randomblob(500))", (n,))
            n += 1
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", writer, str(source)], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
            result = backup_sqlite(source, tmp_path / "copy.db")
        finally:
            proc.kill()
    # Another process's commits restarted the paged copy: it still finished.
    assert result.restarts >= 1
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count, top = copy.execute("SELECT count(*), max(n) FROM t").fetchone()
    copy.close()
    assert count == top + 1 >= 50_000  # a prefix of the writes, none half-made
    assert sorted(p.name for p in tmp_path.iterdir() if "copy" in p.name) == ["copy.db"]


def test_the_embedded_temporal_is_copied_too_when_asked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store_copy, temporal_copy = tmp_path / "pawflow.db", tmp_path / "temporal.db"
    with PawUp(data, args=["--workers", "0"]):
        temporal_copy.write_text("an older copy")
        refused = run_paw(
            "backup", str(store_copy), "--temporal-db", str(temporal_copy), "--data-dir", str(data)
        )
        assert refused.returncode == 1
        assert refused.stderr == f"error: {temporal_copy} exists; pass --force to replace it\n"
        assert not store_copy.exists()  # no half of a pair

        result = run_paw(
            "backup",
            str(store_copy),
            "--temporal-db",
            str(temporal_copy),
            "--force",
            "--data-dir",
            str(data),
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert [line.split(" (")[0] for line in lines] == [
            f"wrote {store_copy}",
            f"wrote {temporal_copy}",
        ]
        assert f"a copy of {data / 'temporal.db'} taken in" in lines[1]
    with sqlite3.connect(temporal_copy) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # Temporal's own tables, with the namespace paw up made.
        names = {row[0] for row in copy.execute("SELECT name FROM namespaces")}
    copy.close()
    assert "default" in names


def test_asking_for_temporal_without_an_embedded_one_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "pawflow.db") as store:
        store.execute("CREATE TABLE t (n INTEGER)")
    store.close()
    result = run_paw(
        "backup", str(tmp_path / "b.db"), "--temporal-db", str(tmp_path / "t.db"),
        "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        f"error: the data dir {tmp_path} has no embedded Temporal (temporal.db) to back up\n"
    )
    assert not (tmp_path / "b.db").exists()
