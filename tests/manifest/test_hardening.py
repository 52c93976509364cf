"""Manifests that once crashed the loader or loaded values no JSON store can hold: digits
int() refuses, time zone names zoneinfo cannot open, escapes past U+10FFFF, line breaks in
messages, NaN and infinities, lone surrogates, and names ending in a line break."""

from __future__ import annotations

import json

import pytest

from pawflow.errors import ManifestError
from pawflow.manifest._cron import cron_problem

from ._support import BASE, ProjectDir, where

TRIGGER = """\
version: 1
project:
  name: p
  triggers:
    - name: t
      call: program.py:on_greet
"""


def _error(project: ProjectDir, text: str) -> ManifestError:
    err = project.error(text)
    # One line, escapes shown escaped: the CLI prints it as it is.
    assert len(str(err).splitlines()) == 1, str(err)
    str(err).encode("utf-8")
    return err


# -- schedules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("² * * * *", "minute '²': '²' is not a number"),
        ("٣ * * * *", "minute '٣': '٣' is not a number"),
        ("1-² * * * *", "minute '1-²': '²' is not a number"),
        (
            "*/1² * * * *",
            "minute '*/1²': the step after '/' must be a positive whole number, got '1²'",
        ),
        ("1" * 4301 + " * * * *", "11111111... (4301 digits) is out of range 0-59"),
        ("0 0 " + "0" * 5000 + "32 * *", "00000000... (5002 digits) is out of range 1-31"),
        ("*/10000 * * * *", "minute '*/10000': the step after '/' must be at most 9999, got 10000"),
    ],
)
def test_cron_numbers_are_ascii_digits_of_bounded_length(expression: str, problem: str) -> None:
    found = cron_problem(expression)
    assert found is not None and found.endswith(problem), found


@pytest.mark.parametrize("expression", ["0005 * * * *", "*/9999 * * * *", "00 00 01 01 00"])
def test_cron_numbers_with_leading_zeros_are_fine(expression: str) -> None:
    assert cron_problem(expression) is None


def test_cron_digit_problem_is_a_manifest_error_at_the_schedule(project: ProjectDir) -> None:
    err = _error(project, TRIGGER + '      schedule: "² * * * *"\n')
    assert where(err) == ("proj/pawflow.yaml", 7, "project.triggers[0].schedule")


# -- time zones --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Europe",  # a directory of the tz database: IsADirectoryError
        "a" * 300,  # ENAMETOOLONG
        "Europe/" + "b" * 300,
        "posixrules",
        "../../../etc/passwd",
        "UTC\x00",
    ],
)
def test_time_zones_zoneinfo_cannot_open_are_unknown(project: ProjectDir, name: str) -> None:
    text = TRIGGER + f"      schedule: '@daily'\n      timezone: {json.dumps(name)}\n"
    err = _error(project, text)
    assert where(err) == ("proj/pawflow.yaml", 8, "project.triggers[0].timezone")
    assert err.message.startswith(f"unknown time zone {name!r}")


def test_known_time_zones_still_load(project: ProjectDir) -> None:
    for name in ("UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"):
        manifest = project.load(TRIGGER + f"      schedule: '@daily'\n      timezone: {name}\n")
        schedule = manifest.project.triggers[0].schedule
        assert schedule is not None and schedule.timezone == name


# -- YAML escapes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('version: 1\nproject: {name: "\\U0011ffff"}\n', 2),
        ('version: 1\nproject:\n  name: "a\n    b \\UFFFFFFFF"\n', 4),
    ],
)
def test_escape_past_the_last_unicode_character(project: ProjectDir, text: str, line: int) -> None:
    err = _error(project, text)
    assert err.line == line
    assert err.message == (
        "invalid YAML: an escape sequence is past U+10FFFF, the last Unicode character"
    )


@pytest.mark.parametrize(
    ("value", "line", "key"),
    [
        ('"\\ud800"', 6, "project.vars[0].value"),
        ('"ok \\udfff"', 6, "project.vars[0].value"),
        ('"\\ude00\\ud83d"', 6, "project.vars[0].value"),  # the halves swapped
        ('[1, {a: "\\udbff"}]', 6, "project.vars[0].value[1].a"),
    ],
)
def test_lone_surrogates_are_refused(project: ProjectDir, value: str, line: int, key: str) -> None:
    err = _error(project, BASE.replace("value: Hello", f"value: {value}"))
    assert where(err) == ("proj/pawflow.yaml", line, key)
    assert "lone surrogate \\u" in err.message


def test_lone_surrogate_in_a_key_is_refused(project: ProjectDir) -> None:
    err = _error(project, BASE.replace("  name: hello", '  name: hello\n  "x\\ud800": 1'))
    assert where(err) == ("proj/pawflow.yaml", 4, "project['x\\ud800']")
    assert "lone surrogate \\ud800" in err.message


def test_surrogate_pairs_are_joined(project: ProjectDir) -> None:
    # What json.dumps writes for astral characters; YAML is a superset of JSON.
    value = json.dumps("smile \U0001f600!")
    assert "\\ud83d\\ude00" in value
    manifest = project.load(BASE.replace("value: Hello", f"value: {value}"))
    assert manifest.project.vars[0].value == "smile \U0001f600!"


def test_a_repeated_alias_is_checked_once(project: ProjectDir) -> None:
    # 2000 references to a 200 kB string: checking each one would take seconds.
    text = "a: &a " + "x" * 200_000 + "\nb: [" + ", ".join(["*a"] * 2000) + "]\n"
    err = _error(project, text)
    assert err.message.startswith("unknown key")


# -- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "shown", "line", "key"),
    [
        ("limits: {cpu_seconds: .inf}", ".inf", 11, "project.limits.cpu_seconds"),
        ("limits: {wall_seconds: .NaN}", ".NaN", 11, "project.limits.wall_seconds"),
        ("retry: {backoff: .nan}", ".nan", 11, "project.retry.backoff"),
        ("retry: {max_interval: 1.0e+400}", "1.0e+400", 11, "project.retry.max_interval"),
        (
            'retry: {initial_interval: !!float "inf\\n"}',
            "inf",
            11,
            "project.retry.initial_interval",
        ),
    ],
)
def test_non_finite_numbers_are_refused(
    project: ProjectDir, setting: str, shown: str, line: int, key: str
) -> None:
    err = _error(project, BASE + f"  {setting}\n")
    assert where(err) == ("proj/pawflow.yaml", line, key)
    assert err.message == f"must be a finite number, got {shown}"


def test_non_finite_webhook_timeout_is_refused(project: ProjectDir) -> None:
    text = BASE.replace("webhook: {}", "webhook: {sync: true, timeout: .nan}")
    err = _error(project, text)
    assert where(err) == ("proj/pawflow.yaml", 9, "project.triggers[0].webhook.timeout")


@pytest.mark.parametrize("number", ["0x" + "f" * 4000, "-0b" + "1" * 64, str(2**63)])
def test_whole_numbers_past_64_bits_are_refused(project: ProjectDir, number: str) -> None:
    # str() refuses ints of over 4300 digits: json.dumps (and messages) once failed.
    err = _error(project, BASE + f"  retry: {{max_attempts: {number}}}\n")
    assert where(err) == ("proj/pawflow.yaml", 11, "project.retry.max_attempts")
    assert err.message == "whole number out of range (-2**63 to 2**63-1)"


def test_big_finite_numbers_load(project: ProjectDir) -> None:
    manifest = project.load(
        BASE + "  limits: {wall_seconds: 1.0e+300, memory_mb: 0x7fffffffffffffff}\n"
    )
    assert manifest.project.limits.wall_seconds == 1e300
    assert manifest.project.limits.memory_mb == 2**63 - 1


# -- one line per message ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('"a\\\\\\nb.py:on_greet"', "use '/' instead of '\\' in the path 'a\\\\\\nb.py'"),
        ('"a\\\\\\u2028b.py:on_greet"', "use '/' instead of '\\' in the path 'a\\\\\\u2028b.py'"),
        ("lib\\program.py:on_greet", "use '/' instead of '\\' in the path 'lib\\program.py'"),
    ],
)
def test_backslash_path_message_is_one_line(project: ProjectDir, call: str, message: str) -> None:
    err = _error(project, BASE.replace("call: program.py:on_greet", f"call: {call}"))
    assert where(err) == ("proj/pawflow.yaml", 10, "project.triggers[0].call")
    assert err.message == message


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("name: hello", 'name: "hello\\n"', "project.name"),
        ("name: GREETING", 'name: "GREETING\\n"', "project.vars[0].name"),
        ("name: greet", 'name: "greet\\n"', "project.triggers[0].name"),
        ("call: program.py:on_greet", 'call: "program.py:on_greet\\n"', "project.triggers[0].call"),
    ],
)
def test_a_final_line_break_does_not_pass_a_pattern(
    project: ProjectDir, old: str, new: str, key: str
) -> None:
    # Python's "$" also matches before a final "\n"; JSON Schema's (ECMA 262) does not.
    err = _error(project, BASE.replace(old, new))
    assert err.key == key
    assert err.message.startswith("invalid value ")


def test_a_final_line_break_does_not_pass_a_connection_name(project: ProjectDir) -> None:
    # Once it passed, and the list of known connections printed it raw, over two lines.
    text = (
        "version: 1\nproject:\n  name: p\n"
        '  connections:\n    - name: "gh\\n"\n      integration: github\n'
        "  triggers:\n    - name: t\n      connection: gx\n"
    )
    err = _error(project, text)
    assert where(err) == ("proj/pawflow.yaml", 5, "project.connections[0].name")
