"""Worker supervision and orphan protection, with small real child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pawflow.up import WorkerSupervisor, worker_command
from tests.helpers import pid_alive, wait_for

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"]
# Ignores SIGTERM, so only SIGKILL ends it.
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(600)",
]


async def test_children_start_and_stop(tmp_path: Path) -> None:
    supervisor = WorkerSupervisor(SLEEPER, count=2, log_dir=tmp_path)
    await supervisor.start()
    pids = supervisor.pids
    assert len(pids) == 2 and all(pid_alive(p) for p in pids)
    await wait_for(
        lambda: all((tmp_path / f"worker-{i}.log").read_text() == "up\n" for i in (1, 2)),
        message="both workers to write their log",
    )
    await supervisor.stop()
    assert supervisor.pids == []
    assert not any(pid_alive(p) for p in pids)


async def test_a_killed_child_is_restarted(tmp_path: Path) -> None:
    supervisor = WorkerSupervisor(SLEEPER, count=1, log_dir=tmp_path, min_backoff=0.05)
    await supervisor.start()
    try:
        (first,) = supervisor.pids
        os.kill(first, signal.SIGKILL)
        await wait_for(lambda: supervisor.pids not in ([], [first]), message="a replacement worker")
        (second,) = supervisor.pids
        assert second != first and supervisor.restarts == 1
        assert not pid_alive(first)
    finally:
        await supervisor.stop()
    assert not pid_alive(second)


async def test_backoff_grows_while_children_keep_failing(tmp_path: Path) -> None:
    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    supervisor = WorkerSupervisor(
        failing, count=1, log_dir=tmp_path, min_backoff=0.05, max_backoff=0.2
    )
    await supervisor.start()
    try:
        await wait_for(lambda: supervisor.restarts >= 4, timeout=20, message="four restarts")
    finally:
        await supervisor.stop()


async def test_a_child_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    supervisor = WorkerSupervisor(STUBBORN, count=1, log_dir=tmp_path, stop_timeout=0.5)
    await supervisor.start()
    await wait_for(
        lambda: (tmp_path / "worker-1.log").read_text() == "up\n", message="the child's handler"
    )
    (pid,) = supervisor.pids
    await supervisor.stop()
    assert not pid_alive(pid)


async def test_zero_workers(tmp_path: Path) -> None:
    supervisor = WorkerSupervisor(SLEEPER, count=0, log_dir=tmp_path)
    await supervisor.start()
    assert supervisor.pids == []
    await supervisor.stop()


def test_worker_command_line(tmp_path: Path) -> None:
    assert worker_command("http://127.0.0.1:1", tmp_path, "127.0.0.1:2", "q") == [
        sys.executable,
        "-m",
        "pawflow.cli",
        "worker",
        "--server",
        "http://127.0.0.1:1",
        "--data-dir",
        str(tmp_path),
        "--temporal",
        "127.0.0.1:2",
        "--task-queue",
        "q",
    ]


def test_children_die_with_their_parent(tmp_path: Path) -> None:
    # A parent that spawns a child the way paw up does, then is SIGKILLed.
    script = (
        "import subprocess, sys, time\n"
        "from pawflow.up import die_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],"
        " preexec_fn=die_with_parent())\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert pid_alive(child)
    parent.kill()
    parent.wait()
    parent.stdout.close()
    wait_for(lambda: not pid_alive(child), message="the orphaned child to exit")
