"""What ``paw deploy`` puts in the zip."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from pawflow.cli._archive import zip_project


def test_zip_has_relative_paths_and_skips_caches(tmp_path: Path) -> None:
    (tmp_path / "pawflow.yaml").write_text("version: 1\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "util.py").write_text("X = 1\n")
    (tmp_path / "lib" / "util.pyc").write_bytes(b"\0")
    for skipped in (".git", "__pycache__", ".venv", "venv", "node_modules", ".pawflow"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "junk.txt").write_text("x")
    (tmp_path / "lib" / "__pycache__").mkdir()
    (tmp_path / "lib" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"\0")

    with zipfile.ZipFile(io.BytesIO(zip_project(tmp_path))) as archive:
        assert archive.namelist() == ["pawflow.yaml", "lib/util.py"]
        assert archive.read("lib/util.py") == b"X = 1\n"
