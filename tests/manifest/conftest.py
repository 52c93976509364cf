from __future__ import annotations

from pathlib import Path

import pytest

from ._support import PROGRAM, ProjectDir


@pytest.fixture
def project(tmp_path: Path) -> ProjectDir:
    project = ProjectDir(tmp_path)
    project.write("program.py", PROGRAM)
    return project
