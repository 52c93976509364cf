"""The projects ``paw init`` makes: a manifest, a handler module and a README each.

Kept as text here rather than as package files: a template's ``program.py``
would otherwise be linted and type-checked as part of Pawflow, and there is
nothing to install beside the code. ``__PROJECT__`` stands for the project's
name (braces are left alone: the programs use f-strings).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_TEMPLATE", "TEMPLATES", "Template"]

PLACEHOLDER = "__PROJECT__"


@dataclass(frozen=True)
class Template:
    """One kind of project: its files (relative path → text) and how to trigger it."""

    name: str
    summary: str
    files: dict[str, str]
    # What to do once deployed to see a session start (``__DIR__``: the project's folder).
    next_step: str

    def render(self, project: str) -> dict[str, str]:
        """The files with the project's name filled in."""
        return {path: text.replace(PLACEHOLDER, project) for path, text in self.files.items()}

    def next_step_for(self, project: str, directory: str) -> str:
        """:attr:`next_step` for this project in ``directory``."""
        return self.next_step.replace(PLACEHOLDER, project).replace("__DIR__", directory)


_README_LOOP = """\
## The loop

```sh
paw dev .                      # deploy, redeploy on every save, stream new sessions' logs
paw session log ID             # a session's whole log
paw session replay ID          # run a recorded session again here, nothing called for real
paw deploy . --check           # would live sessions diverge from the new code?
paw deploy .                   # deploy once
```
"""

_HELLO = Template(
    name="hello",
    summary="a webhook that greets whoever it names",
    next_step=(
        "curl -X POST <webhook url> -H 'content-type: application/json' -d '{\"name\": \"Ada\"}'"
    ),
    files={
        "pawflow.yaml": """\
version: 1
project:
  name: __PROJECT__
  vars:
    - name: GREETING
      value: Hello
  triggers:
    - name: greet
      webhook: {}               # POST to the URL paw deploy prints
      call: program.py:on_greet
""",
        "program.py": '''\
"""Greets whoever the webhook names."""

import pawflow


def on_greet(event):
    body = event.data.body.json or {}
    name = body.get("name", "world")
    print(f"{pawflow.vars['GREETING']}, {name}!")
    return {"greeted": name}
''',
        "README.md": """\
# __PROJECT__

A webhook that greets whoever it names (`program.py:on_greet`).

```sh
paw deploy .                   # prints the webhook URL
curl -X POST <webhook url> -H 'content-type: application/json' -d '{"name": "Ada"}'
paw session list --project __PROJECT__
```

The greeting is the var `GREETING` (in `pawflow.yaml`; override it with
`paw var set --project __PROJECT__ GREETING --value Hi`).

"""
        + _README_LOOP,
    },
)

_WEBHOOK_JSON = Template(
    name="webhook-json",
    summary="a webhook taking JSON: checks it, posts it to an HTTP API, answers with the result",
    next_step=(
        "curl -X POST <webhook url> -H 'content-type: application/json' "
        '-d \'{"item": "book", "quantity": 2}\''
    ),
    files={
        "pawflow.yaml": """\
version: 1
project:
  name: __PROJECT__
  vars:
    - name: API_URL             # where orders go (paw var set ... API_URL --value URL)
      value: https://httpbin.org/post
  triggers:
    - name: order
      webhook:
        sync: true              # the request waits for the session's answer...
        timeout: 30             # ...this many seconds, then gets a 504 (the session goes on)
      call: program.py:on_order
""",
        "program.py": '''\
"""Takes an order as JSON, checks it, posts it to an HTTP API and answers the
webhook's request with the outcome (the trigger is ``sync: true``)."""

import json
import urllib.request

import pawflow


def on_order(event):
    order = event.data.body.json
    problem = check(order)
    if problem:
        # The caller gets this answer; the session ends normally.
        pawflow.http_outcome(400, json={"error": problem})
        return None
    item, quantity = order["item"], order["quantity"]
    status = post_json(pawflow.vars["API_URL"], {"item": item, "quantity": quantity})
    print(f"ordered {quantity} x {item}: the API answered {status}")
    # A sync webhook answers 200 with what the handler returns, as JSON.
    return {"accepted": True, "item": item, "quantity": quantity}


def check(order):
    """What is wrong with the order, or None."""
    if not isinstance(order, dict):
        return "send a JSON object (content-type: application/json)"
    if not isinstance(order.get("item"), str) or not order["item"]:
        return "item: a non-empty string is required"
    quantity = order.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        return "quantity: a whole number of at least 1 is required"
    return None


@pawflow.activity(timeout=20)
def post_json(url, payload):
    """One durable call (the HTTP status): once it has completed, a crash or a
    replay never posts again."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        return response.status
''',
        "README.md": """\
# __PROJECT__

A webhook that takes an order as JSON, checks it, posts it to an HTTP API (the
var `API_URL`) and answers the request with the outcome: `200` and
`{"accepted": true, ...}`, or `400` and `{"error": ...}` naming what is wrong.

```sh
paw deploy .                   # prints the webhook URL
paw var set --project __PROJECT__ API_URL --value https://api.example.com/orders
curl -X POST <webhook url> -H 'content-type: application/json' -d '{"item": "book", "quantity": 2}'
```

`post_json` is an `@pawflow.activity`: one recorded call, retried on
connection errors, never made twice once it has completed.

"""
        + _README_LOOP,
    },
)

_SCHEDULE = Template(
    name="schedule",
    summary="a session every hour, on a cron schedule",
    next_step="paw session start --project __PROJECT__ --call program.py:on_tick   # run it now",
    files={
        "pawflow.yaml": """\
version: 1
project:
  name: __PROJECT__
  triggers:
    - name: hourly
      schedule: "0 * * * *"     # cron: minute hour day-of-month month day-of-week
      timezone: UTC             # any IANA time zone, e.g. Europe/Berlin
      call: program.py:on_tick
""",
        "program.py": '''\
"""Runs on a schedule (see pawflow.yaml)."""

import datetime


def on_tick(event):
    # A scheduled run's data holds its tick's time; a run started by hand has none.
    tick = event.data.get("scheduled_time")
    now = datetime.datetime.now(datetime.timezone.utc)  # recorded: a replay sees the same
    print(f"tick {tick or '(started by hand)'} ran at {now:%Y-%m-%d %H:%M:%S} UTC")
    return {"scheduled_time": tick}
''',
        "README.md": """\
# __PROJECT__

A session every hour (`schedule:` in `pawflow.yaml`, run by Temporal
Schedules, which `paw deploy` creates and a redeploy updates).

```sh
paw deploy .
paw session start --project __PROJECT__ --call program.py:on_tick   # run it now
paw session list --project __PROJECT__
```

"""
        + _README_LOOP,
    },
)

_GITHUB = Template(
    name="github",
    summary="GitHub issues events through a GitHub connection: comments on each new issue",
    next_step="then give the connection a token and a webhook secret: see __DIR__/README.md",
    files={
        "pawflow.yaml": """\
version: 1
project:
  name: __PROJECT__
  connections:
    - name: gh
      integration: github       # secrets: paw var set (see README.md)
  triggers:
    - name: issue_opened
      connection: gh
      event_type: issues
      filter: data.action == "opened"
      call: program.py:on_issue_opened
""",
        "program.py": '''\
"""Welcomes every newly opened GitHub issue with a comment."""

import pawflow
import pawflow_github


def on_issue_opened(event):
    repo = event.data.repository.full_name
    issue = event.data.issue
    print(f"{repo}#{issue.number} opened by {issue.user.login}: {issue.title}")
    gh = pawflow_github.client("gh")
    thanks = f"Thanks @{issue.user.login}, we'll have a look."
    comment_id = add_comment(gh, repo, issue.number, thanks)
    return {"issue": f"{repo}#{issue.number}", "comment": comment_id}


@pawflow.activity
def add_comment(gh, repo, number, text):
    """One durable call returning plain data (not PyGithub objects)."""
    return gh.get_repo(repo).get_issue(number).create_comment(text).id
''',
        "README.md": """\
# __PROJECT__

Comments on every newly opened issue of the repositories whose webhooks point
at this project's GitHub connection `gh`.

It deploys without credentials; events arrive once the connection has them:

```sh
paw deploy .                   # prints the connection's webhook URL
echo -n "$GITHUB_TOKEN"   | paw var set --project __PROJECT__ --connection gh token
echo -n "$WEBHOOK_SECRET" | paw var set --project __PROJECT__ --connection gh webhook_secret
paw connection test --project __PROJECT__ gh
```

- `token`: a personal access (or installation) token allowed to comment on issues.
- `webhook_secret`: any long random string; give GitHub the same one.
- For GitHub Enterprise also
  `paw var set --project __PROJECT__ --connection gh base_url --value https://HOST/api/v3`.

Then, in the repository's Settings → Webhooks, add the connection's webhook URL
(`paw connection list`), content type `application/json`, the same secret, and
the "Issues" events. Deliveries without a valid signature are refused.

"""
        + _README_LOOP,
    },
)

TEMPLATES: dict[str, Template] = {t.name: t for t in (_HELLO, _WEBHOOK_JSON, _SCHEDULE, _GITHUB)}
DEFAULT_TEMPLATE = _HELLO.name
