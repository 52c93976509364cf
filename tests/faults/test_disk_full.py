"""The server's disk fills up while sessions run and webhooks arrive, then frees up again.

Two ways to fill it. Portable, with no privileges needed: the server's
RLIMIT_FSIZE is lowered while it runs. Python ignores SIGXFSZ, so every write
past the limit fails with EFBIG, which SQLite reports as a disk I/O error. Only
the soft limit is changed, so it can be raised again without CAP_SYS_RESOURCE.
Where a tmpfs can be mounted (root in a privileged container), the data dir
also lives on a small one that a filler file fills for real: ENOSPC, which
SQLite reports as "database or disk is full". Both reach the server the same
way, as an error on COMMIT.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path

import pytest

from tests.faults._load import EffectService, LoadRig, Poster, make_load_project, post_all
from tests.faults._verdict import conclude
from tests.helpers import run_coroutine, run_paw, wait_for

STEPS = 3
NAP = 0.5
# No file of the server may grow past this while the disk is "full": below the
# store's WAL, which holds megabytes once sessions have run.
FULL_AT = 64 * 1024
HOLD = 5.0  # seconds the disk stays full: the fault itself, not synchronisation


@contextmanager
def file_size_limited(pid: int) -> Iterator[None]:
    """Writes of process ``pid`` past :data:`FULL_AT` fail until the block exits."""
    soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (FULL_AT, hard))
    try:
        yield
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))


@contextmanager
def filled(directory: Path, store: Path) -> Iterator[None]:
    """The file system of ``directory`` has no free byte until the block exits.

    SQLite writes its WAL over the file's old space once a checkpoint resets
    it, so a WAL that grew earlier could take seconds of writes on a full disk
    without ever meeting it. The WAL of ``store`` is checkpointed and truncated
    first, as when a disk fills up right after a checkpoint: the server's next
    commits need new blocks.
    """
    with closing(sqlite3.connect(store, timeout=30)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            chunk = b"\0" * size
            with contextlib.suppress(OSError):  # ENOSPC: nothing more of this size fits
                while True:
                    os.write(fd, chunk)
        yield
    finally:
        os.close(fd)
        filler.unlink()


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs, or a skip where mounting one is not allowed."""
    mount = tmp_path / "fs"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        # The logs would vanish with the mount; keep them for a failed run.
        shutil.copytree(mount, tmp_path / "fs-copy", ignore=_not_logs, dirs_exist_ok=True)
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _not_logs(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n.endswith((".db", ".db-wal", ".db-shm", "filler"))]


def run_disk_full(
    rig: LoadRig,
    effects: EffectService,
    tmp_path: Path,
    *,
    scenario: str,
    sessions: int,
    fill: Callable[[], AbstractContextManager[None]],
) -> None:
    started = time.monotonic()
    rig.start_server()
    url = rig.deploy(make_load_project(tmp_path / "project", "disk", effects.url))
    rig.start_worker()
    first = Poster(url, range(sessions), steps=STEPS, nap=NAP).start()
    wait_for(lambda: effects.reached(sessions // 2), 120, 0.05, "sessions to get going")

    during_ids = range(sessions, sessions + 40)
    with fill():
        full_at = time.monotonic()
        during = run_coroutine(post_all(url, during_ids, steps=STEPS, nap=NAP))
        time.sleep(max(0.0, HOLD - (time.monotonic() - full_at)))
        assert rig.up.proc is not None and rig.up.proc.poll() is None, "the server died"

    # Refused, not dropped: every request while full got an answer, never a
    # connection error, and an answer other than 202 is an error status.
    statuses = Counter(o.status for o in during)
    assert None not in statuses, [o.error for o in during if o.status is None][:3]
    assert all(o.accepted or (o.status or 0) >= 500 for o in during), statuses
    refused = [o for o in during if not o.accepted]
    assert refused, "nothing was refused: the disk never looked full to the server"

    after = run_coroutine(post_all(url, range(sessions + 40, sessions + 60), steps=STEPS, nap=NAP))
    assert all(o.accepted for o in after), [o for o in after if not o.accepted][:5]
    listed = run_paw("session", "list", "--json", env=rig.env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)

    outcomes = first.join() + [o for o in during if o.accepted] + after
    conclude(
        scenario, rig, effects, project="disk", posted=sessions + 60, outcomes=outcomes,
        steps=STEPS, started=started, internal_errors_allowed=True,
        refused_while_full=len(refused),
        accepted_while_full=len(during) - len(refused),
        statuses_while_full={str(k): v for k, v in sorted(statuses.items(), key=str)},
    )  # fmt: skip


@pytest.mark.faults_full
@pytest.mark.timeout(300)
def test_disk_full_under_load_loses_nothing_and_recovers(
    rig: LoadRig, effects: EffectService, tmp_path: Path
) -> None:
    run_disk_full(
        rig, effects, tmp_path, scenario="disk_full", sessions=220,
        fill=lambda: file_size_limited(rig.server_pid),
    )  # fmt: skip


@pytest.mark.faults_full
@pytest.mark.timeout(300)
def test_a_really_full_file_system_under_load_loses_nothing_and_recovers(
    small_fs: Path, temporal_address: str, effects: EffectService, tmp_path: Path
) -> None:
    rig = LoadRig(small_fs / "data", temporal_address, f"faults-{uuid.uuid4().hex[:12]}")
    try:
        run_disk_full(
            rig, effects, tmp_path, scenario="disk_full_tmpfs", sessions=220,
            fill=lambda: filled(small_fs, rig.db_path),
        )  # fmt: skip
    finally:
        rig.close()
    assert not rig.leaked(), f"processes left running: {rig.leaked()}"


@pytest.mark.timeout(120)
def test_a_webhook_refused_for_a_full_disk_gets_a_clear_answer(
    rig: LoadRig, effects: EffectService, tmp_path: Path
) -> None:
    rig.start_server()
    url = rig.deploy(make_load_project(tmp_path / "project", "disk", effects.url))
    # Grow the store past the limit first, so that the next writes cross it.
    warm = run_coroutine(post_all(url, range(100), steps=STEPS, nap=NAP))
    assert all(o.accepted for o in warm)
    log_before = len(rig.up.stderr())
    with file_size_limited(rig.server_pid):
        outcomes = run_coroutine(post_all(url, range(100, 110), steps=STEPS, nap=NAP))
    refused = [o for o in outcomes if not o.accepted]
    assert refused, "nothing was refused"
    answers = Counter((o.status, o.message) for o in refused)
    assert {o.status for o in refused} <= {503, 507}, answers
    assert all("disk" in (o.message or "") or "storage" in (o.message or "") for o in refused)
    assert "Traceback" not in rig.up.stderr()[log_before:]
