"""Schedules, connections, filters, sync webhooks, limits and retry in the manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pawflow.manifest import (
    SCHEMA_PATH,
    CallTarget,
    Connection,
    Limits,
    Manifest,
    Project,
    RetrySpec,
    ScheduleSpec,
    Trigger,
    Var,
    WebhookSpec,
)

from ._support import ProjectDir, where

FULL = """\
version: 1
project:
  name: full
  connections:
    - name: gh
      integration: github
      vars: {base_url: "http://127.0.0.1:9/api", org: acme}
    - name: chat
      integration: slack
  limits: {cpu_seconds: 10, wall_seconds: 60.5, memory_mb: 256}
  retry: {max_attempts: 5, initial_interval: 0.5, backoff: 3, max_interval: 20}
  triggers:
    - name: nightly
      schedule: "0 3 * * *"
      timezone: Europe/Berlin
      call: program.py:on_greet
    - name: new-issue
      connection: gh
      event_type: issues
      filter: data.action == "opened"
      call: program.py:on_greet
    - name: chat-feed
      connection: chat
    - name: ask
      webhook: {sync: true, timeout: 5}
      durable: false
      call: program.py:on_greet
"""

EXPECTED = Project(
    name="full",
    connections=(
        Connection("gh", "github", (Var("base_url", "http://127.0.0.1:9/api"), Var("org", "acme"))),
        Connection("chat", "slack"),
    ),
    limits=Limits(cpu_seconds=10.0, wall_seconds=60.5, memory_mb=256),
    retry=RetrySpec(max_attempts=5, initial_interval=0.5, backoff=3.0, max_interval=20.0),
    triggers=(
        Trigger(
            "nightly",
            CallTarget("program.py", "on_greet"),
            schedule=ScheduleSpec("0 3 * * *", "Europe/Berlin"),
        ),
        Trigger(
            "new-issue",
            CallTarget("program.py", "on_greet"),
            connection="gh",
            event_type="issues",
            filter='data.action == "opened"',
        ),
        Trigger("chat-feed", None, connection="chat"),
        Trigger(
            "ask",
            CallTarget("program.py", "on_greet"),
            webhook=WebhookSpec(("POST",), sync=True, timeout=5.0),
            durable=False,
        ),
    ),
)


def test_every_addition_becomes_the_model(project: ProjectDir) -> None:
    manifest = project.load(FULL)
    assert manifest.project == EXPECTED
    assert manifest.project.connection("gh") == EXPECTED.connections[0]
    assert manifest.project.connection("nope") is None
    assert manifest.project.trigger("chat-feed") == Trigger("chat-feed", None, connection="chat")


def test_defaults_of_the_additions(project: ProjectDir) -> None:
    manifest = project.load(
        "version: 1\nproject:\n  name: p\n  triggers:\n"
        "    - name: hook\n      webhook: {}\n      call: program.py:on_greet\n"
        "    - name: tick\n      schedule: '@hourly'\n      call: program.py:on_greet\n"
    )
    hook, tick = manifest.project.triggers
    assert hook.webhook == WebhookSpec(("POST",), sync=False, timeout=30.0)
    assert (hook.durable, hook.schedule, hook.connection, hook.event_type, hook.filter) == (
        True,
        None,
        None,
        None,
        None,
    )
    assert tick.schedule == ScheduleSpec("@hourly", None)
    assert manifest.project.limits == Limits()
    assert manifest.project.retry == RetrySpec(3, 1.0, 2.0, 60.0)


def _schema_validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def test_round_trip_through_plain_data(project: ProjectDir) -> None:
    manifest = project.load(FULL)
    data = json.loads(json.dumps(manifest.to_dict()))
    _schema_validator().validate(data)
    assert Manifest.from_dict(data) == manifest
    triggers = {t["name"]: t for t in data["project"]["triggers"]}
    assert triggers["nightly"] == {
        "name": "nightly",
        "call": "program.py:on_greet",
        "schedule": "0 3 * * *",
        "timezone": "Europe/Berlin",
    }
    assert triggers["chat-feed"] == {"name": "chat-feed", "connection": "chat"}
    assert triggers["ask"]["durable"] is False
    assert data["project"]["connections"][0]["vars"] == {
        "base_url": "http://127.0.0.1:9/api",
        "org": "acme",
    }


def test_manifests_stored_before_the_additions_still_load() -> None:
    old: dict[str, Any] = {
        "version": 1,
        "project": {
            "name": "demo",
            "vars": [],
            "triggers": [{"name": "hook", "call": "a.py:f", "webhook": {"methods": ["POST"]}}],
        },
    }
    manifest = Manifest.from_dict(old)
    assert manifest.project == Project(
        "demo", triggers=(Trigger("hook", CallTarget("a.py", "f"), WebhookSpec()),)
    )
    # Nothing new appears in the stored form of a manifest that uses no addition
    # but the webhook's own defaults.
    assert "connections" not in manifest.to_dict()["project"]
    assert "limits" not in manifest.to_dict()["project"]


# -- cross-key checks -------------------------------------------------------------

BASE_TRIGGERS = """\
version: 1
project:
  name: p
  connections:
    - name: gh
      integration: github
  triggers:
    - name: t
"""


@pytest.mark.parametrize(
    ("body", "line", "key", "message"),
    [
        pytest.param(
            "      call: program.py:on_greet\n",
            8,
            "project.triggers[0]",
            "trigger 't' has no source: add one of 'webhook', 'schedule', 'connection'",
            id="no-source",
        ),
        pytest.param(
            "      webhook: {}\n      schedule: '@daily'\n",
            10,
            "project.triggers[0].schedule",
            "a trigger has one source, but 't' has both 'webhook' and 'schedule' "
            "(use one trigger per source)",
            id="two-sources",
        ),
        pytest.param(
            "      connection: gh\n      timezone: UTC\n",
            10,
            "project.triggers[0].timezone",
            "'timezone' only applies to a 'schedule' trigger",
            id="timezone-without-schedule",
        ),
        pytest.param(
            "      schedule: '0 3 * *'\n",
            9,
            "project.triggers[0].schedule",
            "invalid schedule '0 3 * *': expected 5 fields "
            "(minute hour day-of-month month day-of-week), got 4",
            id="cron-four-fields",
        ),
        pytest.param(
            "      schedule: '0 24 * * *'\n",
            9,
            "project.triggers[0].schedule",
            "invalid schedule '0 24 * * *': hour '24': 24 is out of range 0-23",
            id="cron-hour-out-of-range",
        ),
        pytest.param(
            "      schedule: '*/0 * * * *'\n",
            9,
            "project.triggers[0].schedule",
            "invalid schedule '*/0 * * * *': minute '*/0': the step after '/' must be a "
            "positive whole number, got '0'",
            id="cron-zero-step",
        ),
        pytest.param(
            "      schedule: '0 0 * * funday'\n",
            9,
            "project.triggers[0].schedule",
            "invalid schedule '0 0 * * funday': day of week 'funday': 'funday' is not a "
            "number or a name (SUN, ...)",
            id="cron-bad-day-name",
        ),
        pytest.param(
            "      schedule: '@fortnightly'\n",
            9,
            "project.triggers[0].schedule",
            "invalid schedule '@fortnightly': unknown macro '@fortnightly' "
            "(use one of @daily, @hourly, @monthly, @weekly, @yearly)",
            id="cron-unknown-macro",
        ),
        pytest.param(
            "      schedule: '@every 5'\n",
            9,
            "project.triggers[0].schedule",
            "invalid schedule '@every 5': write @every with a whole number and a unit: "
            "30s, 15m, 2h or 1d",
            id="every-without-unit",
        ),
        pytest.param(
            "      schedule: '@daily'\n      timezone: Europe/Berln\n",
            10,
            "project.triggers[0].timezone",
            "unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?)",
            id="timezone-typo",
        ),
        pytest.param(
            "      schedule: '@daily'\n      timezone: Mars/Olympus\n",
            10,
            "project.triggers[0].timezone",
            "unknown time zone 'Mars/Olympus'; use an IANA name such as 'Europe/Berlin'",
            id="timezone-unknown",
        ),
        pytest.param(
            "      connection: gh2\n",
            9,
            "project.triggers[0].connection",
            "no connection 'gh2' in project.connections (did you mean 'gh'?)",
            id="unknown-connection",
        ),
        pytest.param(
            "      connection: slack\n",
            9,
            "project.triggers[0].connection",
            "no connection 'slack' in project.connections (known: gh)",
            id="unknown-connection-no-close-match",
        ),
        pytest.param(
            "      connection: gh\n      filter: data.action ==\n",
            10,
            "project.triggers[0].filter",
            "invalid filter of trigger 't': syntax error at column 13 "
            "(the expression ends too early): 'data.action =='",
            id="filter-syntax-error",
        ),
        pytest.param(
            "      webhook: {}\n      filter: |\n        data.a == 1 &&\n        data.b === 2\n",
            10,
            "project.triggers[0].filter",
            "invalid filter of trigger 't': syntax error at line 2, column 10 "
            "(unexpected character '='): 'data.b === 2'",
            id="multi-line-filter-syntax-error",
        ),
    ],
)
def test_cross_key_error(project: ProjectDir, body: str, line: int, key: str, message: str) -> None:
    err = project.error(BASE_TRIGGERS + body)
    assert where(err) == ("proj/pawflow.yaml", line, key)
    assert err.message == message
    assert "\n" not in str(err)


def test_unknown_connection_when_the_project_has_none(project: ProjectDir) -> None:
    text = "version: 1\nproject:\n  name: p\n  triggers:\n    - name: t\n      connection: gh\n"
    err = project.error(text)
    assert err.message == "no connection 'gh' in project.connections (the project has none)"


def test_duplicate_connection_name(project: ProjectDir) -> None:
    text = (
        BASE_TRIGGERS.replace(
            "  triggers:", "    - name: gh\n      integration: slack\n  triggers:"
        )
        + "      connection: gh\n"
    )
    err = project.error(text)
    assert where(err) == ("proj/pawflow.yaml", 7, "project.connections[1].name")
    assert err.message == "duplicate connection name 'gh' (first used on line 5)"


def test_connection_var_names(project: ProjectDir) -> None:
    text = (
        BASE_TRIGGERS.replace(
            "      integration: github\n", "      integration: github\n      vars: {bad-key: x}\n"
        )
        + "      connection: gh\n"
    )
    err = project.error(text)
    assert where(err) == ("proj/pawflow.yaml", 7, "project.connections[0].vars")
    assert err.message == (
        "invalid value 'bad-key': use letters, digits and '_', not starting with a digit"
    )


def test_retry_intervals_must_be_ordered(project: ProjectDir) -> None:
    text = (
        BASE_TRIGGERS.replace(
            "  triggers:", "  retry:\n    initial_interval: 10\n    max_interval: 2\n  triggers:"
        )
        + "      connection: gh\n"
    )
    err = project.error(text)
    assert where(err) == ("proj/pawflow.yaml", 9, "project.retry.max_interval")
    assert err.message == "max_interval (2 s) is shorter than initial_interval (10 s)"


@pytest.mark.parametrize(
    "cron",
    ["*/15 * * * MON-FRI", "0 0 1,15 jan-jun *", "0-59/5 0 * * 7", "@weekly", "@every 90s"],
)
def test_accepted_schedules(project: ProjectDir, cron: str) -> None:
    manifest = project.load(BASE_TRIGGERS + f"      schedule: '{cron}'\n")
    assert manifest.project.triggers[0].schedule == ScheduleSpec(cron)


def test_trigger_without_call_needs_no_code(tmp_path: Path) -> None:
    project = ProjectDir(tmp_path)  # no program.py at all
    manifest = project.load(BASE_TRIGGERS + "      connection: gh\n")
    assert manifest.project.triggers[0].call is None


def test_sync_webhook_works_with_both_durable_modes(project: ProjectDir) -> None:
    for durable in ("true", "false"):
        manifest = project.load(
            BASE_TRIGGERS
            + f"      webhook: {{sync: true}}\n      durable: {durable}\n"
            + "      call: program.py:on_greet\n"
        )
        trigger = manifest.project.triggers[0]
        assert trigger.webhook is not None and trigger.webhook.sync
        assert trigger.durable is (durable == "true")
