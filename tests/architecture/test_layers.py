"""Which of Pawflow's packages may import which: the layers stay visible.

Read from the source (every import statement, also those inside functions),
so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pawflow

ROOT = Path(pawflow.__file__).parent

# package -> packages of pawflow it must never import
FORBIDDEN = {
    # What user code imports: built on nothing but itself and the shared basics.
    "sdk": {"integrations", "sessions", "server", "dispatch", "storage", "up", "cli"},
    # Integrations are built on the SDK; the runtime finds them, not the reverse.
    "integrations": {"sessions", "server", "dispatch", "storage", "up", "cli"},
    # The session runtime runs in workers and runners: nothing of the launcher,
    # the server or the command line.
    "sessions": {"up", "cli", "server"},
    "dispatch": {"up", "cli", "server"},
    "storage": {"sessions", "server", "dispatch", "up", "cli"},
}


def _imports(path: Path) -> set[str]:
    """The pawflow modules ``path`` imports, as absolute dotted names."""
    module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "pawflow" or name.startswith("pawflow.")}


def _layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in sorted(_imports(path)):
            if _layer(name) in FORBIDDEN[package]:
                wrong.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    assert not wrong, "\n".join(wrong)
