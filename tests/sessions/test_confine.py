"""What a runner's confinement keeps within its reach."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from pawflow.sessions._confine import _passages, _under


def test_python_files_under_private_directories_are_kept_outermost_first() -> None:
    paths = ["/tmp/x/.venv", "/tmp/x/.venv/lib/site-packages", "/tmp/x/platform", "/usr/lib"]
    assert _under(["/tmp", "/dev/shm"], paths) == ["/tmp/x/.venv", "/tmp/x/platform"]
    assert _under(["/tmp"], ["/tmpfoo/lib", "/tmp"]) == []


def test_a_directory_the_runner_cannot_pass_is_replaced_by_what_it_needs() -> None:
    # Not under pytest's own tmp dir, which no other user may pass either.
    top = Path(tempfile.mkdtemp(dir="/tmp"))
    top.chmod(0o755)
    closed = top / "home"
    (closed / "python" / "lib").mkdir(parents=True)
    (closed / "secrets").mkdir()
    closed.chmod(0o700)
    try:
        uid = gid = 0x70000001  # owns nothing here: passes where "other" may
        assert _passages(uid, gid, [str(closed / "python" / "lib")]) == (
            (str(closed), ("python",)),
        )
        os.chmod(closed, 0o711)
        assert _passages(uid, gid, [str(closed / "python" / "lib")]) == ()
    finally:
        shutil.rmtree(top)
