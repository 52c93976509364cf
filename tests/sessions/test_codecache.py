"""The worker's copy of deployment code: fetched once, then found without waiting."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from pathlib import Path
from typing import Any, cast

import pytest

from pawflow.sessions._codecache import CodeCache
from pawflow.sessions._serverlink import ServerLink

pytestmark = pytest.mark.timeout(30)


def _archive(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("program.py", text)
    return buffer.getvalue()


class _Link:
    """The server's side: archives by deployment, one of them slow to come."""

    def __init__(self, archives: dict[str, bytes], slow: str) -> None:
        self.archives = archives
        self.slow = slow
        self.fetched: list[str] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def deployment_code(self, deployment_id: str) -> bytes:
        self.fetched.append(deployment_id)
        if deployment_id == self.slow:
            self.started.set()
            assert self.release.wait(20)
        return self.archives[deployment_id]


def test_known_code_is_found_while_another_deployment_downloads(tmp_path: Path) -> None:
    archives = {"dep_a": _archive("A = 1\n"), "dep_slow": _archive("B = 2\n")}
    digest = {k: hashlib.sha256(v).hexdigest() for k, v in archives.items()}
    link = _Link(archives, slow="dep_slow")
    cache = CodeCache(tmp_path / "code", cast(ServerLink, link))
    first = cache.path("dep_a", digest["dep_a"])
    assert (first / "program.py").read_text() == "A = 1\n"

    found: list[Any] = []
    slow = threading.Thread(target=lambda: found.append(cache.path("dep_slow", digest["dep_slow"])))
    slow.start()
    try:
        assert link.started.wait(10)
        # The download in progress holds up no session of a deployment already here.
        assert cache.path("dep_a", digest["dep_a"]) == first
    finally:
        link.release.set()
        slow.join(20)
    assert (found[0] / "program.py").read_text() == "B = 2\n"
    assert cache.path("dep_slow", digest["dep_slow"]) == found[0]
    assert link.fetched == ["dep_a", "dep_slow"]
