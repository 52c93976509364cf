"""CEL filters: compiling, matching, and what counts as no match."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pawflow.errors import PawflowError
from pawflow.filters import Filter, FilterError, compile_filter

ISSUE: dict[str, Any] = {
    "action": "opened",
    "issue": {"title": "Crash on start", "labels": [{"name": "bug"}, {"name": "p1"}]},
    "count": 3,
    "score": 0.5,
    "draft": False,
    "assignee": None,
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('data.action == "opened"', True),
        ('data.action == "closed"', False),
        ('event_type == "issues"', True),
        ('event_type == "issues" && data.action == "opened"', True),
        ('data.issue.title.startsWith("Crash")', True),
        ('data.issue.title.contains("stop")', False),
        ('data.issue.labels.exists(l, l.name == "bug")', True),
        ('data.issue.labels.all(l, l.name == "bug")', False),
        ("size(data.issue.labels) == 2", True),
        ("data.count > 2", True),
        ("data.score < 1.0", True),
        ("!data.draft", True),
        ("data.assignee == null", True),
        ("has(data.issue) && !has(data.pull_request)", True),
        ('data.action in ["opened", "reopened"]', True),
        ('data.issue.title.matches("^Crash")', True),
        ("true", True),
    ],
)
def test_matches(expression: str, expected: bool) -> None:
    assert compile_filter(expression).matches("issues", ISSUE) is expected


@pytest.mark.parametrize(
    "expression",
    [
        "data.missing == 1",  # no such key
        'data.count == "3"',  # no comparison between types: an error, not false
        "data.count / 0 > 1",  # division by zero
        "data.action",  # a string, not a boolean
        "1",  # a number
        "data.issue.labels",  # a list
    ],
)
def test_errors_and_non_booleans_are_no_match(
    expression: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pawflow.filters")
    assert compile_filter(expression).matches("issues", ISSUE) is False


def test_evaluation_errors_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pawflow.filters")
    compile_filter("data.missing == 1").matches("issues", ISSUE)
    (record,) = [r for r in caplog.records if r.name.startswith("pawflow.filters")]
    assert record.levelno == logging.DEBUG
    assert "data.missing == 1" in record.getMessage()


@pytest.mark.parametrize("data", [None, [], "text", 5, {}])
def test_data_of_any_json_shape(data: Any) -> None:
    f = compile_filter('event_type == "push"')
    assert f.matches("push", data) is True
    assert compile_filter("data.x == 1").matches("push", data) is False


def test_a_filter_is_reusable_and_independent() -> None:
    opened = compile_filter('data.action == "opened"')
    closed = compile_filter('data.action == "closed"')
    assert isinstance(opened, Filter)
    assert opened.expression == 'data.action == "opened"'
    assert [opened.matches("i", {"action": a}) for a in ("opened", "closed")] == [True, False]
    assert [closed.matches("i", {"action": a}) for a in ("opened", "closed")] == [False, True]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "data.action ==",
            "syntax error at column 13 (the expression ends too early): 'data.action =='",
        ),
        (
            "data.a === 1",
            "syntax error at column 10 (unexpected character '='): 'data.a === 1'",
        ),
        ("a &&& b", "syntax error at column 5 (unexpected character '&'): 'a &&& b'"),
        (
            "(data.a == 1",
            "syntax error at column 12 (the expression ends too early): '(data.a == 1'",
        ),
        ("data.a == 1 )", "syntax error at column 13 (unexpected ')'): 'data.a == 1 )'"),
        (
            "data.a == 1 &&\n  data.b ==",
            "syntax error at line 2, column 10 (the expression ends too early): 'data.b =='",
        ),
        ("", "the filter is empty"),
        ("   ", "the filter is empty"),
        ("x" * 5000, "the filter is longer than 4096 characters"),
    ],
)
def test_syntax_errors_are_one_line(expression: str, message: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(expression)
    assert str(info.value) == message
    assert isinstance(info.value, PawflowError)


def test_long_expressions_are_cut_in_messages() -> None:
    expression = "data.a == 1 && " * 10 + "data.b =="
    with pytest.raises(FilterError) as info:
        compile_filter(expression)
    assert str(info.value).endswith("...'")
    assert len(str(info.value)) < 140
