"""The project directory as the zip ``paw deploy`` uploads."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

__all__ = ["MAX_ARCHIVE_BYTES", "SKIPPED_DIRS", "zip_project"]

MAX_ARCHIVE_BYTES = 64 << 20
SKIPPED_DIRS = frozenset({".git", "__pycache__", ".venv", "venv", "node_modules", ".pawflow"})
_SKIPPED_SUFFIXES = (".pyc",)


def zip_project(directory: Path) -> bytes:
    """Zip ``directory`` (paths relative to it, sorted) without caches, VCS and venvs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, dirs, files in os.walk(directory):
            # Pruning in place stops os.walk from descending; sorting makes the zip stable.
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            for name in sorted(files):
                if name.endswith(_SKIPPED_SUFFIXES):
                    continue
                path = Path(root) / name
                if not path.is_file():
                    continue
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()
