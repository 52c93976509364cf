"""Helpers shared by the manifest tests."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from pawflow.errors import ManifestError
from pawflow.manifest import MANIFEST_FILE, Manifest, load_manifest

# A valid manifest; tests derive broken ones from it so line numbers stay easy to read.
BASE = """\
version: 1
project:
  name: hello
  vars:
    - name: GREETING
      value: Hello
  triggers:
    - name: greet
      webhook: {}
      call: program.py:on_greet
"""

PROGRAM = """\
def on_greet(event):
    print(event)
"""


@dataclass
class ProjectDir:
    """A project directory in tmp_path; errors are displayed under ``proj/``."""

    root: Path

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def load(self, manifest: str | bytes = BASE, *, check_calls: bool = True) -> Manifest:
        path = self.write(MANIFEST_FILE, manifest)
        return load_manifest(path, check_calls=check_calls, display="proj")

    def error(self, manifest: str | bytes = BASE, *, check_calls: bool = True) -> ManifestError:
        with pytest.raises(ManifestError) as info:
            self.load(manifest, check_calls=check_calls)
        return info.value


def where(err: ManifestError) -> tuple[str, int | None, str]:
    return err.file, err.line, err.key
