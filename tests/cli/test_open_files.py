"""``paw server`` and ``paw up`` raise their open-files limit: every worker thread
running a session's call keeps a connection to the server."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port, http_json, paw_env, wait_for

pytestmark = pytest.mark.timeout(90)

_LOW = 256


def _lower_open_files() -> None:
    # In the child before it runs paw: as a shell's `ulimit -Sn 256` would.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (_LOW, hard))


def _open_files(pid: int) -> tuple[int, int]:
    """(soft, hard) from /proc/PID/limits ("unlimited" as RLIM_INFINITY)."""

    def value(text: str) -> int:
        return resource.RLIM_INFINITY if text == "unlimited" else int(text)

    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return value(soft), value(hard)
    raise AssertionError("no open-files line in /proc/PID/limits")


def _answers(url: str) -> bool:
    try:
        return http_json(url)[0] == 200
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("command", [["server"], ["up", "--workers", "0"]], ids=" ".join)
def test_the_soft_limit_is_raised_to_the_hard_limit(
    command: list[str], temporal_address: str, tmp_path: Path
) -> None:
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] <= _LOW:
        pytest.skip(f"the hard limit here is at most {_LOW}")
    port = free_port()
    args = ["--temporal", temporal_address, "--port", str(port), "--data-dir", str(tmp_path)]
    with open(tmp_path / "paw.log", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pawflow.cli", *command, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=paw_env(),
            preexec_fn=_lower_open_files,
        )
    try:

        def up() -> bool:
            if proc.poll() is not None:
                log = (tmp_path / "paw.log").read_text(errors="replace")
                raise AssertionError(f"exited with {proc.returncode}: {log[-2000:]}")
            return _answers(f"http://127.0.0.1:{port}/healthz")

        wait_for(up, 60, 0.05, f"paw {command[0]}")
        soft, hard = _open_files(proc.pid)
        assert soft == hard and soft > _LOW
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
