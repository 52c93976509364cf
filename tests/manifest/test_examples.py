"""The schema file and the reference manifests under manifests/."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pawflow.manifest import SCHEMA_PATH, Manifest, load_project

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
PROJECTS = MANIFESTS.parent / "projects"
# Reference manifests and the sample projects: every one must stay valid.
EXAMPLES = sorted(p.parent for p in (MANIFESTS / "examples").glob("*/pawflow.yaml")) + sorted(
    p.parent for p in PROJECTS.glob("*/pawflow.yaml")
)


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = _schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"]
    assert schema["title"]


def _properties(node: Any, where: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            found.append((f"{where}.{name}", sub))
        for key, sub in node.items():
            found.extend(_properties(sub, f"{where}/{key}"))
    return found


def test_every_property_is_described_for_editors() -> None:
    schema = _schema()
    definitions = schema["$defs"]
    for where, sub in _properties(schema):
        target = definitions[sub["$ref"].rsplit("/", 1)[-1]] if "$ref" in sub else sub
        assert "description" in sub or "description" in target, where


def test_schema_symlink_for_editors() -> None:
    link = MANIFESTS / "pawflow.schema.json"
    assert link.is_symlink()
    assert not os.path.isabs(os.readlink(link))
    assert link.resolve() == SCHEMA_PATH.resolve()


def test_there_is_an_example_per_feature() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"minimal-webhook", "webhook-methods", "vars", "several-triggers"} <= names
    assert {"schedule", "connection-filter", "sync-webhook", "limits"} <= names
    assert {"hello", "transfer"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_is_valid(example: Path) -> None:
    manifest = load_project(example)
    assert manifest.project.triggers


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_round_trips_through_plain_data(example: Path) -> None:
    manifest = load_project(example)
    data = manifest.to_dict()
    Draft202012Validator(_schema()).validate(data)
    assert Manifest.from_dict(json.loads(json.dumps(data))) == manifest


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_points_editors_at_the_schema(example: Path) -> None:
    first = (example / "pawflow.yaml").read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    assert (example / first.removeprefix(prefix)).resolve() == SCHEMA_PATH.resolve()
