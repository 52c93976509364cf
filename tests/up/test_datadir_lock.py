"""One platform per data dir: a second ``paw up``/``paw server`` on it is refused."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from pawflow.up import LOCK_FILE, DataDirInUse, DataDirLock
from tests.helpers import PawUp, child_pids, free_port, paw_env, pid_alive, run_paw, wait_for

_HOLD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pawflow.up import DataDirLock
    lock = DataDirLock(Path(sys.argv[1]), "paw up")
    lock.acquire()
    lock.announce("http://127.0.0.1:1234")
    print("held", flush=True)
    sys.stdin.read()
    """
)


def _names(data_dir: Path) -> set[str]:
    return {str(p.relative_to(data_dir)) for p in data_dir.rglob("*")}


def test_a_held_lock_names_its_holder_and_is_free_once_the_holder_is_killed(
    tmp_path: Path,
) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            with pytest.raises(DataDirInUse) as refused:
                DataDirLock(tmp_path, "paw server").acquire()
            assert str(refused.value) == (
                f"the data dir {tmp_path} is in use by paw up (pid {holder.pid}, "
                "http://127.0.0.1:1234); stop it first or use another --data-dir"
            )
            # The refused attempt left the holder's record alone.
            assert str(holder.pid) in (tmp_path / LOCK_FILE).read_text()
        finally:
            holder.kill()
            holder.wait()
    # SIGKILL: the kernel dropped the lock; the stale file does not block.
    with DataDirLock(tmp_path, "paw up") as lock:
        assert lock.held


def test_what_a_killed_holder_started_still_holds_the_lock(tmp_path: Path) -> None:
    # A holder that hands the lock to a child (as paw up to its Temporal) and dies.
    starter = textwrap.dedent(
        """
        import subprocess, sys
        from pathlib import Path
        from pawflow.up import DataDirLock
        lock = DataDirLock(Path(sys.argv[1]), "paw up")
        lock.acquire()
        child = subprocess.Popen(
            ["sleep", "60"], pass_fds=(lock.fileno(),),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        print(child.pid, flush=True)
        """
    )
    started = subprocess.run(
        [sys.executable, "-c", starter, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    orphan = int(started.stdout)
    try:
        with pytest.raises(DataDirInUse) as refused:
            DataDirLock(tmp_path, "paw up", orphans_seconds=0.3).acquire()
        assert str(refused.value).startswith(
            f"the data dir {tmp_path} is still in use by what paw up (pid "
        )
        assert "ended) started; stop those processes first" in str(refused.value)
    finally:
        os.kill(orphan, signal.SIGKILL)
    wait_for(lambda: not pid_alive(orphan), message="the orphan gone")
    with DataDirLock(tmp_path, "paw up", orphans_seconds=0.3) as lock:
        assert lock.held


def test_a_child_process_is_not_refused_its_parents_lock(tmp_path: Path) -> None:
    with DataDirLock(tmp_path, "paw up"):
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from pawflow.up import DataDirLock;"
                "DataDirLock(Path(sys.argv[1]), 'paw server').acquire(); print('ok')",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert child.returncode == 0, child.stderr
    assert child.stdout == "ok\n"


def test_a_second_paw_up_or_server_on_a_data_dir_is_refused(
    tmp_path: Path, temporal_address: str
) -> None:
    data_dir = tmp_path / "data"
    args = ["--workers", "0", "--temporal", temporal_address]
    first = PawUp(data_dir, args=args).start()
    try:
        assert first.proc is not None
        wait_for(
            lambda: first.url in (data_dir / LOCK_FILE).read_text(),
            message="paw up to record its URL in the lock file",
        )
        before = _names(data_dir)
        lock_text = (data_dir / LOCK_FILE).read_text()
        expected = (
            f"error: the data dir {data_dir} is in use by paw up (pid {first.proc.pid}, "
            f"{first.url}); stop it first or use another --data-dir"
        )
        for command in (
            ["up", "--workers", "0", "--temporal", temporal_address],
            ["server", "--temporal", temporal_address],
        ):
            result = run_paw(*command, "--port", str(free_port()), "--data-dir", str(data_dir))
            assert result.returncode == 1, result.stderr
            assert result.stderr.strip().splitlines() == [expected]
        assert _names(data_dir) == before
        assert (data_dir / LOCK_FILE).read_text() == lock_text

        # SIGKILLed: nothing is left to stop, and a new platform starts on the dir.
        first.proc.kill()
        first.proc.wait()
        with PawUp(data_dir, args=args) as second:
            assert second.proc is not None
            assert f'"pid": {second.proc.pid}' in (data_dir / LOCK_FILE).read_text()
    finally:
        first.stop()


def test_servers_of_one_postgresql_database_take_no_lock(tmp_path: Path) -> None:
    # The store is shared on purpose: holding the data dir's lock must not stop them.
    with DataDirLock(tmp_path, "paw up"):
        result = run_paw(
            "server",
            "--data-dir",
            str(tmp_path),
            "--database-url",
            # Refused later for want of the shared credentials: after the lock would be taken.
            "postgresql://pawflow@127.0.0.1:1/pawflow",
            env=paw_env(),
        )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "in use" not in line and "PostgreSQL" in line


def test_after_a_sigkill_the_next_paw_up_waits_for_the_old_temporal(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = PawUp(data_dir, args=["--workers", "0"]).start()
    second = PawUp(data_dir, args=["--workers", "0"])
    old_temporal = 0
    try:
        assert first.proc is not None
        (old_temporal,) = wait_for(
            lambda: [p for p, c in child_pids(first.proc.pid).items() if "start-dev" in c],  # type: ignore[union-attr]
            timeout=30,
            message="the embedded Temporal",
        )
        # paw up dies at once; its Temporal is slow to end (held stopped here).
        os.kill(old_temporal, signal.SIGSTOP)
        first.proc.kill()
        first.proc.wait()

        def resume_once_waited_for() -> None:
            wait_for(
                lambda: (
                    second.stderr_path.exists()
                    and "is still held by what paw up (pid" in second.stderr()
                ),
                timeout=30,
                message="the new paw up waiting for the old Temporal",
            )
            os.kill(old_temporal, signal.SIGCONT)

        resumer = threading.Thread(target=resume_once_waited_for)
        resumer.start()
        try:
            second.start()
        finally:
            resumer.join()
        assert second.proc is not None
        # The old Temporal ended before the new one started: never two on one file.
        assert not pid_alive(old_temporal)
        new = [p for p, c in child_pids(second.proc.pid).items() if "start-dev" in c]
        assert len(new) == 1 and new[0] != old_temporal
        new_temporal = new[0]
        assert second.stop() == 0
        assert not pid_alive(new_temporal)
    finally:
        if old_temporal:
            with contextlib.suppress(ProcessLookupError):
                os.kill(old_temporal, signal.SIGCONT)
        second.stop()
        first.stop()
