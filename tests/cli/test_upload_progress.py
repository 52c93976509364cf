"""``paw deploy`` shows upload progress on a terminal for a large archive, nothing when piped."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from pawflow.storage import Store

from ._inproc import Paw, paw, server

__all__ = ["paw", "server"]  # the fixtures these tests use

MANIFEST = """\
version: 1
project:
  name: {name}
  triggers:
    - name: run
      webhook: {{}}
      call: program.py:handler
"""


class Terminal(io.StringIO):
    """Stands in for a terminal's stderr: what the CLI writes, and that it is a TTY."""

    def isatty(self) -> bool:
        return True


def big_project(root: Path, name: str) -> Path:
    root.mkdir()
    (root / "pawflow.yaml").write_text(MANIFEST.format(name=name))
    (root / "program.py").write_text("def handler(event):\n    pass\n")
    # Random bytes do not compress: the archive is over 1 MiB.
    (root / "blob.bin").write_bytes(os.urandom(3 << 20))
    return root


async def test_progress_on_a_terminal(
    store: Store, paw: Paw, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code, out, _ = await paw("deploy", str(big_project(tmp_path / "big", "big")))
    assert code == 0 and out.startswith("Deployed big (dep_")
    drawn = terminal.getvalue()
    assert drawn.startswith("\r\x1b[Kuploading 0.") and drawn.endswith("(100%)\n")
    assert drawn.count("\r") >= 10  # redrawn as the bytes go out
    assert (await store.active_deployment("big")) is not None


async def test_silent_when_piped_or_small(
    store: Store, paw: Paw, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = await paw("deploy", str(big_project(tmp_path / "piped", "piped")))
    assert code == 0 and err == ""  # capsys' stderr is no terminal
    small = tmp_path / "small"
    small.mkdir()
    (small / "pawflow.yaml").write_text(MANIFEST.format(name="small"))
    (small / "program.py").write_text("def handler(event):\n    pass\n")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code, _, _ = await paw("deploy", str(small))
    assert code == 0 and terminal.getvalue() == ""  # not worth a progress line
