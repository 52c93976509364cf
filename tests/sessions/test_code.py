"""Deployment code is loaded under a namespace of its own, with the project's imports intact."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pawflow.manifest import CallTarget
from pawflow.sessions._code import DeploymentCode


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def loaded() -> Iterator[list[DeploymentCode]]:
    codes: list[DeploymentCode] = []
    yield codes
    for code in codes:
        code.unload()


def load(loaded: list[DeploymentCode], deployment_id: str, root: Path) -> DeploymentCode:
    code = DeploymentCode(
        deployment_id, root, lambda fn, /, *a, **kw: fn(*a, **kw), lambda run: run()
    )
    loaded.append(code)
    return code


def test_two_projects_with_the_same_module_names_stay_apart(
    tmp_path: Path, loaded: list[DeploymentCode]
) -> None:
    for name in ("a", "b"):
        write(
            tmp_path / name,
            {
                "program.py": "import helpers\ndef run(event):\n    return helpers.NAME\n",
                "helpers.py": f"NAME = {name!r}\n",
            },
        )
    a = load(loaded, "dep_a", tmp_path / "a").handler(CallTarget("program.py", "run"))
    b = load(loaded, "dep_b", tmp_path / "b").handler(CallTarget("program.py", "run"))
    assert (a(None), b(None)) == ("a", "b")
    assert "helpers" not in sys.modules and "program" not in sys.modules
    assert sys.modules["pawflow_dep_dep_a.helpers"].NAME == "a"


def test_packages_relative_imports_and_from_imports(
    tmp_path: Path, loaded: list[DeploymentCode]
) -> None:
    write(
        tmp_path,
        {
            "program.py": """
                from shop import orders
                from shop.billing import total
                import shop.billing
                def run(event):
                    return orders.describe(), total([1, 2]), shop.billing.CURRENCY
            """,
            "shop/__init__.py": "",
            "shop/orders.py": """
                from . import billing
                from .billing import CURRENCY
                def describe():
                    return f"order in {CURRENCY} via {billing.__name__.rpartition('.')[2]}"
            """,
            "shop/billing.py": "CURRENCY = 'EUR'\ndef total(items):\n    return sum(items)\n",
        },
    )
    run = load(loaded, "dep_p", tmp_path).handler(CallTarget("program.py", "run"))
    assert run(None) == ("order in EUR via billing", 3, "EUR")


def test_missing_function_and_module_errors_name_them(
    tmp_path: Path, loaded: list[DeploymentCode]
) -> None:
    write(tmp_path, {"program.py": "import nowhere_to_be_found\n", "other.py": "X = 1\n"})
    code = load(loaded, "dep_m", tmp_path)
    with pytest.raises(ModuleNotFoundError, match="nowhere_to_be_found"):
        code.handler(CallTarget("program.py", "run"))
    assert "pawflow_dep_dep_m.program" not in sys.modules  # a failed import leaves nothing
    with pytest.raises(AttributeError, match=r"other\.py has no function 'run'"):
        code.handler(CallTarget("other.py", "run"))


def test_module_level_code_runs_once(tmp_path: Path, loaded: list[DeploymentCode]) -> None:
    write(
        tmp_path,
        {
            "program.py": """
                import counter
                counter.HITS.append(1)
                def run(event):
                    return len(counter.HITS)
            """,
            "counter.py": "HITS = []\n",
        },
    )
    code = load(loaded, "dep_once", tmp_path)
    run = code.handler(CallTarget("program.py", "run"))
    code.handler(CallTarget("program.py", "run"))
    assert run(None) == 1


def test_folders_without_init_are_namespace_packages(
    tmp_path: Path, loaded: list[DeploymentCode]
) -> None:
    write(
        tmp_path,
        {
            "handlers/closing.py": """
                from handlers import common
                def run(event):
                    return common.X
            """,
            "handlers/common.py": "X = 'closed'\n",
        },
    )
    code = load(loaded, "dep_ns", tmp_path)
    assert code.handler(CallTarget("handlers/closing.py", "run"))(None) == "closed"


def test_source_encoding_declarations_are_honoured(
    tmp_path: Path, loaded: list[DeploymentCode]
) -> None:
    (tmp_path / "program.py").write_bytes(
        b"# -*- coding: latin-1 -*-\ndef run(event):\n    return '\xe9t\xe9'\n"
    )
    code = load(loaded, "dep_enc", tmp_path)
    assert code.handler(CallTarget("program.py", "run"))(None) == "\u00e9t\u00e9"
