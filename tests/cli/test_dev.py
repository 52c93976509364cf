"""``paw dev``'s parts that need no platform: which saves count, session tags, no server."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pawflow.cli._dev_cmd import _is_project_file
from pawflow.cli._dev_console import Console, PrefixedWriter
from pawflow.cli._dev_sessions import SessionFollower, StoppableClient
from tests.helpers import free_port, paw_env, run_paw, wait_for

ROOT = Path("/p")


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("/p/program.py", True),
        ("/p/pawflow.yaml", True),
        ("/p/lib/util.py", True),
        ("/p/requirements.txt", True),
        ("/p/./program.py", True),
        ("/p/.program.py.swp", False),
        ("/p/.program.py.swx", False),
        ("/p/program.py.swp", False),
        ("/p/program.py~", False),
        ("/p/.#program.py", False),
        ("/p/#program.py#", False),
        ("/p/4913", False),
        ("/p/program.py___jb_tmp___", False),
        ("/p/.env", False),
        ("/p/.git/index", False),
        ("/p/.idea/workspace.xml", False),
        ("/p/__pycache__/program.cpython-311.pyc", False),
        ("/p/lib/__pycache__/util.cpython-311.pyc", False),
        ("/p/program.pyc", False),
        ("/p/.venv/lib/site.py", False),
        ("/p/node_modules/x.js", False),
        ("/p", False),
        ("/elsewhere/program.py", False),
    ],
)
def test_which_changes_redeploy(path: str, wanted: bool) -> None:
    assert _is_project_file(ROOT, path) is wanted


def test_session_tags_are_the_id_end_and_never_alike() -> None:
    follower = SessionFollower(
        StoppableClient("http://127.0.0.1:1", "t"), Console(io.StringIO(), io.StringIO())
    )
    first = follower._tag("ses_01aaaaaaaaaaaaaaaaaaaxabcdef")
    assert first == "abcdef"
    assert follower._tag("ses_01aaaaaaaaaaaaaaaaaaaxabcdef") == "abcdef"  # the same session
    assert follower._tag("ses_01bbbbbbbbbbbbbbbbbbbyabcdef") == "yabcdef"
    assert follower._tag("ses_01bbbbbbbbbbbbbbbbbbbbbcdef") == "bbcdef"


def test_prefixed_lines_stay_whole() -> None:
    out = io.StringIO()
    writer = PrefixedWriter(Console(out, io.StringIO()), "[abc123] ")
    writer.write("one\ntw")
    writer.flush()
    assert out.getvalue() == "[abc123] one\n"
    writer.write("o\n")
    assert out.getvalue() == "[abc123] one\n[abc123] two\n"


def test_dev_without_a_server_is_one_line(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "pawflow.yaml").write_text(
        "version: 1\nproject:\n  name: p\n  triggers:\n    - name: run\n"
        "      webhook: {}\n      call: program.py:handler\n"
    )
    (project / "program.py").write_text("def handler(event):\n    pass\n")
    env = paw_env(
        PAWFLOW_SERVER=f"http://127.0.0.1:{free_port()}",
        PAWFLOW_TOKEN="t",
        PAWFLOW_HOME=str(tmp_path / "home"),
    )
    result = run_paw("dev", str(project), env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the Pawflow server"), result.stderr
    assert result.stderr.count("\n") == 1


def test_dev_in_no_directory_is_one_line(tmp_path: Path) -> None:
    env = paw_env(PAWFLOW_TOKEN="t", PAWFLOW_HOME=str(tmp_path / "home"))
    result = run_paw("dev", str(tmp_path / "nope"), env=env)
    assert result.returncode == 1
    assert result.stderr == f"error: {tmp_path / 'nope'}: no such project directory\n"


def test_a_broken_project_at_the_start_is_waited_for(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "pawflow.yaml").write_text("version: 1\nproject:\n  nme: p\n")
    env = paw_env(
        PAWFLOW_SERVER=f"http://127.0.0.1:{free_port()}",
        PAWFLOW_TOKEN="t",
        PAWFLOW_HOME=str(tmp_path / "home"),
    )
    log = tmp_path / "dev.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pawflow.cli", "dev", str(project)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        # Nothing needs the server yet: the error is the manifest's, and it keeps watching.
        wait_for(lambda: "watching" in log.read_text(), 30, 0.05, "paw dev to watch")
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = log.read_text().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d error: .*pawflow\.yaml:2: .*'name'", lines[0]), lines
    assert lines[1].endswith(f"watching {project}: a save redeploys; Ctrl-C stops"), lines
    assert lines[2].endswith("stopped; nothing was deployed"), lines
    assert len(lines) == 3, lines


def test_output_nobody_reads_any_more_is_noted_not_raised() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w") as gone:
        console = Console(gone, io.StringIO())
        console.say("one")  # a session's thread: no BrokenPipeError
        assert console.closed
        console.error("two")
        with contextlib.suppress(BrokenPipeError):
            gone.close()  # what was buffered has nowhere to go either
