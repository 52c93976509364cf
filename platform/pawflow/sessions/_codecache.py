"""Deployment code on the worker: downloaded once, unpacked on disk for its runners."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

from ._confine import make_readable
from ._serverlink import ServerLink

__all__ = ["CodeCache", "CodeMismatch"]


class CodeMismatch(Exception):
    """Code downloaded for a deployment that is not what the server recorded."""


class CodeCache:
    def __init__(self, directory: Path, link: ServerLink) -> None:
        self._dir = directory
        self._link = link
        self._lock = threading.Lock()
        # Deployments found complete, with their digest: every session asks,
        # and deployments are immutable, so the disk is looked at once each.
        self._ready: dict[str, str] = {}

    def path(self, deployment_id: str, sha256: str) -> Path:
        """Where the deployment's code is unpacked; fetched from the server on
        first use (blocking), and checked against its digest ``sha256``."""
        if self._ready.get(deployment_id) == sha256:
            return self._dir / deployment_id
        with self._lock:
            target = self._unpacked(deployment_id, sha256)
            self._ready[deployment_id] = sha256
            return target

    def _unpacked(self, deployment_id: str, sha256: str) -> Path:
        target = self._dir / deployment_id
        if target.is_dir():
            return target  # deployments are immutable: a complete copy is final
        self._dir.mkdir(parents=True, exist_ok=True)
        archive = self._link.deployment_code(deployment_id)
        if hashlib.sha256(archive).hexdigest() != sha256:
            raise CodeMismatch(f"the code of deployment {deployment_id} does not match its digest")
        staging = Path(tempfile.mkdtemp(prefix=f".{deployment_id}-", dir=self._dir))
        try:
            with zipfile.ZipFile(io.BytesIO(archive)) as zf:
                _extract(zf, staging)
            # Rename is atomic: other workers sharing the data dir see all or nothing.
            os.rename(staging, target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not target.is_dir():
                raise
        return target


def _extract(zf: zipfile.ZipFile, dest: Path) -> None:
    root = dest.resolve()
    for info in zf.infolist():
        path = (root / info.filename).resolve()
        # The server validated the archive; this guards the worker's disk anyway.
        if root not in path.parents and path != root:
            raise ValueError(f"unsafe path in deployment archive: {info.filename!r}")
    zf.extractall(root)
    make_readable(root)
