"""``project.retention``: ``{days: N}`` or ``{keep: N}``, checked at its line."""

from __future__ import annotations

import json

import pytest

from pawflow.manifest import Manifest, Retention

from ._support import BASE, ProjectDir, where


def _with_retention(body: str) -> str:
    return BASE.replace("  triggers:", f"  retention: {body}\n  triggers:")


@pytest.mark.parametrize(
    ("body", "retention"),
    [
        ("{days: 7}", Retention(days=7)),
        ("{days: 0}", Retention(days=0)),
        ("{keep: 2}", Retention(keep=2)),
    ],
)
def test_one_rule_is_accepted_and_round_trips(
    project: ProjectDir, body: str, retention: Retention
) -> None:
    manifest = project.load(_with_retention(body))
    assert manifest.project.retention == retention
    data = json.loads(json.dumps(manifest.to_dict()))
    assert Manifest.from_dict(data) == manifest


def test_without_it_the_server_decides(project: ProjectDir) -> None:
    manifest = project.load()
    assert manifest.project.retention is None
    assert "retention" not in manifest.to_dict()["project"]


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        (
            "{days: 7, keep: 3}",
            "project.retention",
            "takes one of 'days' or 'keep', not 'days' and 'keep'",
        ),
        ("{}", "project.retention", "needs one of 'days' or 'keep'"),
        ("{keep: 0}", "project.retention.keep", "must be at least 1, got 0"),
        ("{days: -1}", "project.retention.days", "must be at least 0, got -1"),
        ("{days: 100000}", "project.retention.days", "must be at most 36500, got 100000"),
        ("{days: 1.5}", "project.retention.days", "expected a whole number, got a number"),
        ("{day: 3}", "project.retention.day", "unknown key 'day' (did you mean 'days'?)"),
        ("30", "project.retention", "expected a mapping, got a number"),
    ],
)
def test_a_bad_rule_is_one_line_at_its_place(
    project: ProjectDir, body: str, key: str, message: str
) -> None:
    err = project.error(_with_retention(body))
    assert where(err) == ("proj/pawflow.yaml", 7, key)
    assert err.message == message
