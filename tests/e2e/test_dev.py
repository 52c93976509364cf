"""``paw dev DIR`` for real: a subprocess against the whole platform, driven by file writes."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pawflow.cli._dev_console import Console
from pawflow.cli._dev_sessions import SessionFollower, StoppableClient
from tests.e2e.conftest import Platform, make_project
from tests.helpers import child_pids, pid_alive, wait_for

PROGRAM = """
def handler(event):
    print("hello {version}", (event.data.body.json or {{}}).get("n"))
"""


class Dev:
    """``paw dev`` running, its output (stdout and stderr) going to a file read as it grows."""

    def __init__(self, platform: Platform, directory: Path, log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pawflow.cli", "dev", str(directory)],
                stdout=out, stderr=subprocess.STDOUT, env=platform.env,
            )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_line(self, pattern: str, *, after: int = 0, timeout: float = 30.0) -> re.Match[str]:
        """The first line matching ``pattern`` that starts at or after offset ``after``."""

        def found() -> re.Match[str] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"paw dev exited with {self.proc.returncode}:\n{self.text()}")
            return re.compile(pattern, re.MULTILINE).search(self.text(), after)

        try:
            match: re.Match[str] = wait_for(found, timeout, 0.05, f"{pattern!r} from paw dev")
        except AssertionError as err:
            raise AssertionError(f"{err}; its output:\n{self.text()}") from None
        return match

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"paw dev ignored SIGINT:\n{self.text()}") from None
        return self.proc.returncode


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "loop", "devloop", PROGRAM.format(version="v1"))


@pytest.fixture
def dev(platform: Platform, project: Path, tmp_path: Path) -> Iterator[Dev]:
    running = Dev(platform, project, tmp_path / "dev.out")
    try:
        yield running
    finally:
        running.stop()


def _session_print(dev: Dev, platform: Platform, url: str, n: int, version: str) -> str:
    """Trigger the webhook and return the session's print as ``paw dev`` showed it."""
    status, body = platform.post(url, {"n": n})
    assert status == 202, body
    session_id = platform.session_for(body["event_id"])["id"]
    tag = re.escape(session_id[-6:])
    dev.wait_line(rf"^\[{tag}\] .*session {session_id} started by run$")
    line = dev.wait_line(rf"^\[{tag}\] \d\d:\d\d:\d\d\.\d{{3}} print +hello {version} {n}$")
    dev.wait_line(rf"^\[{tag}\] .* state +completed$")
    return line.group(0)


@pytest.mark.timeout(240)
def test_dev_redeploys_on_save_and_keeps_the_last_good_deployment(
    platform: Platform, project: Path, dev: Dev
) -> None:
    platform.start_worker()
    first = dev.wait_line(r"^\d\d:\d\d:\d\d deployed (dep_\w+) \(project devloop\)$").group(1)
    url = dev.wait_line(r"^  run  POST (http://\S+)$").group(1)
    dev.wait_line(r"watching .*Ctrl-C stops")
    _session_print(dev, platform, url, 1, "v1")

    # Files an editor or Python leave beside the code change nothing; the save does.
    seen = len(dev.text())
    (project / ".program.py.swp").write_text("swap")
    (project / "4913").write_text("")
    (project / "program.py~").write_text("backup")
    (project / "__pycache__").mkdir()
    (project / "__pycache__" / "program.cpython-311.pyc").write_bytes(b"\0")
    (project / "program.py").write_text(PROGRAM.format(version="v2"))
    second = dev.wait_line(r"deployed (dep_\w+) \(1 file changed\)$", after=seen).group(1)
    assert second != first
    assert dev.text()[seen:].count("deployed") == 1, dev.text()
    _session_print(dev, platform, url, 2, "v2")

    # A syntax error, then a broken manifest: one line each, and v2 keeps serving.
    seen = len(dev.text())
    (project / "program.py").write_text("def handler(event:\n    pass\n")
    error = dev.wait_line(r"^\d\d:\d\d:\d\d error: .*program\.py.*$", after=seen).group(0)
    assert f"({second} stays active)" in error
    _session_print(dev, platform, url, 3, "v2")

    seen = len(dev.text())
    manifest = (project / "pawflow.yaml").read_text()
    (project / "pawflow.yaml").write_text(manifest.replace("triggers:", "triggerz:"))
    error = dev.wait_line(r"^\d\d:\d\d:\d\d error: .*pawflow\.yaml:\d+.*$", after=seen).group(0)
    assert f"({second} stays active)" in error
    _session_print(dev, platform, url, 4, "v2")
    assert "Traceback" not in dev.text()

    children = child_pids(dev.proc.pid)
    assert dev.stop() == 0
    assert dev.text().rstrip().endswith(f"stopped; {second} stays active"), dev.text()
    assert not [pid for pid in children if pid_alive(pid)]
    (listed,) = [p for p in platform.paw_json("project", "list") if p["name"] == "devloop"]
    assert listed["active_deployment_id"] == second


SLEEPER = """
import time

def handler(event):
    print("waiting")
    time.sleep(600)
"""


@pytest.mark.timeout(120)
def test_ctrl_c_ends_the_streams_of_running_sessions(platform: Platform, tmp_path: Path) -> None:
    project = make_project(tmp_path / "sleepy", "sleepy", SLEEPER)
    platform.start_worker()
    dev = Dev(platform, project, tmp_path / "dev.out")
    try:
        deployed = dev.wait_line(r"deployed (dep_\w+) \(project sleepy\)$").group(1)
        url = dev.wait_line(r"^  run  POST (http://\S+)$").group(1)
        dev.wait_line(r"watching ")
        status, body = platform.post(url, {})
        assert status == 202, body
        session_id = platform.session_for(body["event_id"])["id"]
        dev.wait_line(rf"^\[{session_id[-6:]}\] .* print +waiting$")
        # Its log stream is open and idle: Ctrl-C must end it, not wait for the session.
        assert dev.stop() == 0
    finally:
        dev.stop()
    out = dev.text()
    assert out.rstrip().endswith(f"stopped; {deployed} stays active"), out
    assert "error" not in out, out
    (session,) = [s for s in platform.sessions() if s["id"] == session_id]
    assert session["state"] == "running"


@pytest.mark.timeout(120)
def test_sessions_past_the_bound_are_counted_not_followed(
    platform: Platform, tmp_path: Path
) -> None:
    url = platform.deploy(make_project(tmp_path / "many", "many", SLEEPER))["webhooks"]["run"]
    out = io.StringIO()
    client = StoppableClient(platform.url, platform.up.token)
    follower = SessionFollower(client, Console(out, out), max_followed=1)
    follower.baseline("many")
    for _ in range(3):
        assert platform.post(url, {})[0] == 202
    # No worker: the sessions exist and wait, so each log stream stays open.
    wait_for(lambda: len(platform.sessions("--project", "many")) == 3, 30, 0.1, "3 sessions")
    follower.start()
    try:
        wait_for(lambda: "more sessions started" in out.getvalue(), 30, 0.05, "the count")
    finally:
        follower.stop()
    text = out.getvalue()
    assert text.count(" started by run") == 1, text
    assert re.search(r"\b2 more sessions started, not followed \(1 at once at most\)", text), text
    assert not [t for t in threading.enumerate() if t.name.startswith("paw-dev")]
