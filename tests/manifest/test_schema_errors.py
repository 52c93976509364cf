"""Schema violations, reported in plain words at the right line and key."""

from __future__ import annotations

import pytest

from ._support import BASE, ProjectDir, where


def _with(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        # -- unknown keys: the line of the key, with a suggestion --------------------
        pytest.param(
            _with("  triggers:", "  trigers:"),
            7,
            "project.trigers",
            "unknown key 'trigers' (did you mean 'triggers'?)",
            id="unknown-key-typo",
        ),
        pytest.param(
            _with("      webhook: {}", "      webhook: {method: [GET]}"),
            9,
            "project.triggers[0].webhook.method",
            "unknown key 'method' (did you mean 'methods'?)",
            id="unknown-key-in-flow-mapping",
        ),
        pytest.param(
            _with("      value: Hello", "      value: Hello\n      secret: true"),
            7,
            "project.vars[0].secret",
            "unknown key 'secret' (known keys: name, value)",
            id="unknown-key-no-close-match",
        ),
        pytest.param(
            "version: 1\nzzz: 1\nproject: {name: hello}\naaa: 2\n",
            2,
            "zzz",
            "unknown key 'zzz' (known keys: version, project)",
            id="first-unknown-key-by-line",
        ),
        # -- wrong types: the line of the value --------------------------------------
        pytest.param(
            _with("value: Hello", "value: 8080"),
            6,
            "project.vars[0].value",
            'expected a string, got a number (put it in quotes: "8080")',
            id="number-for-string",
        ),
        pytest.param(
            _with("value: Hello", "value: yes"),
            6,
            "project.vars[0].value",
            'expected a string, got a boolean (put it in quotes: "yes")',
            id="yaml11-boolean-for-string",
        ),
        pytest.param(
            _with("value: Hello", "value: 2024-05-01"),
            6,
            "project.vars[0].value",
            'expected a string, got a date (put it in quotes: "2024-05-01")',
            id="date-for-string",
        ),
        pytest.param(
            _with("value: Hello", "value:"),
            6,
            "project.vars[0].value",
            "expected a string, got an empty value",
            id="empty-for-string",
        ),
        pytest.param(
            _with("value: Hello", "value: [a, b]"),
            6,
            "project.vars[0].value",
            "expected a string, got a list",
            id="list-for-string",
        ),
        pytest.param(
            _with("  vars:\n", "  vars:\n    GREETING: Hello\n").replace(
                "    - name: GREETING\n      value: Hello\n", ""
            ),
            5,
            "project.vars",
            "expected a list, got a mapping",
            id="mapping-for-list",
        ),
        pytest.param(
            _with("webhook: {}", "webhook:"),
            9,
            "project.triggers[0].webhook",
            "expected a mapping, got an empty value (write {} for a mapping with no keys)",
            id="empty-webhook",
        ),
        pytest.param(
            "version: 1\nproject: hello\n",
            2,
            "project",
            "expected a mapping, got a string",
            id="string-for-mapping",
        ),
        pytest.param(
            _with("version: 1", 'version: "1"'),
            1,
            "version",
            "expected a whole number, got a string",
            id="string-version",
        ),
        # -- missing keys: the line of the parent mapping ----------------------------
        pytest.param(
            _with("  name: hello\n", ""),
            2,
            "project",
            "missing required key 'name'",
            id="missing-project-name",
        ),
        pytest.param(
            _with("    - name: greet\n", "    - webhook: {}\n").replace(
                "      webhook: {}\n      call", "      call"
            ),
            8,
            "project.triggers[0]",
            "missing required key 'name'",
            id="missing-trigger-name",
        ),
        pytest.param(
            "version: 1\nproject:\n  name: p\n  connections:\n    - name: gh\n",
            5,
            "project.connections[0]",
            "missing required key 'integration'",
            id="missing-integration",
        ),
        pytest.param(
            _with("      value: Hello\n", ""),
            5,
            "project.vars[0]",
            "missing required key 'value'",
            id="missing-var-value",
        ),
        pytest.param(
            "# a comment first\nversion: 1\n",
            2,
            "",
            "missing required key 'project'",
            id="missing-project",
        ),
        # -- patterns ----------------------------------------------------------------
        pytest.param(
            _with("name: hello", "name: Hello"),
            3,
            "project.name",
            "invalid value 'Hello': use lower-case letters, digits, '-' and '_', "
            "starting with a letter",
            id="bad-project-name",
        ),
        pytest.param(
            _with("name: greet", "name: 1st"),
            8,
            "project.triggers[0].name",
            "invalid value '1st': use lower-case letters, digits, '-' and '_', "
            "starting with a letter",
            id="bad-trigger-name",
        ),
        pytest.param(
            _with("name: GREETING", "name: MY-VAR"),
            5,
            "project.vars[0].name",
            "invalid value 'MY-VAR': use letters, digits and '_', not starting with a digit",
            id="bad-var-name",
        ),
        pytest.param(
            _with("name: hello", "name: " + "X" * 60),
            3,
            "project.name",
            "invalid value 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX...': use lower-case "
            "letters, digits, '-' and '_', starting with a letter",
            id="long-value-is-cut",
        ),
        # -- version -----------------------------------------------------------------
        pytest.param(
            _with("version: 1", "version: 2"),
            1,
            "version",
            "must be 1, got 2",
            id="version-2",
        ),
        # -- webhook methods ---------------------------------------------------------
        pytest.param(
            _with("webhook: {}", "webhook: {methods: [post]}"),
            9,
            "project.triggers[0].webhook.methods[0]",
            "'post' is not one of GET, POST, PUT, PATCH, DELETE (did you mean 'POST'?)",
            id="lower-case-method",
        ),
        pytest.param(
            _with("webhook: {}", "webhook:\n        methods:\n          - GET\n          - HEAD"),
            12,
            "project.triggers[0].webhook.methods[1]",
            "'HEAD' is not one of GET, POST, PUT, PATCH, DELETE",
            id="unknown-method",
        ),
        pytest.param(
            _with("webhook: {}", "webhook: {methods: []}"),
            9,
            "project.triggers[0].webhook.methods",
            "must not be empty",
            id="no-methods",
        ),
        pytest.param(
            _with(
                "webhook: {}",
                "webhook:\n        methods:\n          - GET\n          - PUT\n          - GET",
            ),
            13,
            "project.triggers[0].webhook.methods[2]",
            "'GET' is listed twice",
            id="duplicate-method",
        ),
        pytest.param(
            _with("webhook: {}", "webhook: {methods: POST}"),
            9,
            "project.triggers[0].webhook.methods",
            "expected a list, got a string",
            id="method-not-a-list",
        ),
        # -- additions: sync webhooks, schedules, filters, connections, limits -------
        pytest.param(
            _with("webhook: {}", "webhook: {sync: yes please}"),
            9,
            "project.triggers[0].webhook.sync",
            "expected true or false, got a string",
            id="sync-not-boolean",
        ),
        pytest.param(
            _with("webhook: {}", "webhook: {sync: true, timeout: 0}"),
            9,
            "project.triggers[0].webhook.timeout",
            "must be positive, got 0",
            id="zero-timeout",
        ),
        pytest.param(
            _with("webhook: {}", 'webhook: {}\n      durable: "false"'),
            10,
            "project.triggers[0].durable",
            "expected true or false, got a string",
            id="durable-quoted",
        ),
        pytest.param(
            _with("webhook: {}", "schedule: 5"),
            9,
            "project.triggers[0].schedule",
            'expected a string, got a number (put it in quotes: "5")',
            id="schedule-not-a-string",
        ),
        pytest.param(
            _with("webhook: {}", "webhook: {}\n      filter: ''"),
            10,
            "project.triggers[0].filter",
            "must not be empty",
            id="empty-filter",
        ),
        pytest.param(
            _with("webhook: {}", "webhook: {}\n      event_type: 7"),
            10,
            "project.triggers[0].event_type",
            'expected a string, got a number (put it in quotes: "7")',
            id="event-type-not-a-string",
        ),
        pytest.param(
            _with("webhook: {}", "connection: GH"),
            9,
            "project.triggers[0].connection",
            "invalid value 'GH': use lower-case letters, digits, '-' and '_', "
            "starting with a letter",
            id="bad-connection-reference",
        ),
        pytest.param(
            _with(
                "  triggers:",
                "  connections:\n    - name: gh\n      integration: github\n"
                "      vars: {port: 8080}\n  triggers:",
            ),
            10,
            "project.connections[0].vars.port",
            'expected a string, got a number (put it in quotes: "8080")',
            id="connection-var-not-a-string",
        ),
        pytest.param(
            _with(
                "  triggers:",
                "  connections:\n    - name: gh\n      integration: github\n"
                "      token: abc\n  triggers:",
            ),
            10,
            "project.connections[0].token",
            "unknown key 'token' (known keys: name, integration, vars)",
            id="connection-unknown-key",
        ),
        pytest.param(
            _with("  triggers:", "  limits: {cpu_seconds: -1}\n  triggers:"),
            7,
            "project.limits.cpu_seconds",
            "must be positive, got -1",
            id="negative-cpu-limit",
        ),
        pytest.param(
            _with("  triggers:", "  limits: {memory_mb: 1.5}\n  triggers:"),
            7,
            "project.limits.memory_mb",
            "expected a whole number, got a number",
            id="fractional-memory-limit",
        ),
        pytest.param(
            _with("  triggers:", "  limits:\n    wall_seconds: 0\n  triggers:"),
            8,
            "project.limits.wall_seconds",
            "must be positive, got 0",
            id="zero-wall-limit",
        ),
        pytest.param(
            _with("  triggers:", "  limits: {cpu: 3}\n  triggers:"),
            7,
            "project.limits.cpu",
            "unknown key 'cpu' (known keys: cpu_seconds, wall_seconds, memory_mb)",
            id="unknown-limit",
        ),
        pytest.param(
            _with("  triggers:", "  retry: {max_attempts: 0}\n  triggers:"),
            7,
            "project.retry.max_attempts",
            "must be at least 1, got 0",
            id="zero-attempts",
        ),
        pytest.param(
            _with("  triggers:", "  retry: {backoff: 0.5}\n  triggers:"),
            7,
            "project.retry.backoff",
            "must be at least 1, got 0.5",
            id="shrinking-backoff",
        ),
    ],
)
def test_schema_error(
    project: ProjectDir, text: str, line: int | None, key: str, message: str
) -> None:
    err = project.error(text)
    assert where(err) == ("proj/pawflow.yaml", line, key)
    assert err.message == message
    assert str(err) == f"proj/pawflow.yaml:{line}: {key + ': ' if key else ''}{message}"


def test_first_problem_in_file_order_is_reported(project: ProjectDir) -> None:
    text = _with("name: hello", "name: Hello").replace("value: Hello", "value: 1")
    err = project.error(text)
    assert err.line == 3


def test_type_error_wins_over_other_rules_on_the_same_line(project: ProjectDir) -> None:
    # A boolean fails both `type` and `enum`; the type is what the user must fix.
    err = project.error(_with("webhook: {}", "webhook: {methods: [true]}"))
    assert err.message == 'expected a string, got a boolean (put it in quotes: "true")'
