"""The sample projects end to end: paw up, a worker, the CLI and the fakes.

Secrets go in through ``paw var set`` on stdin and must show up in no CLI
output and no session log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.e2e.conftest import Platform, copy_project, platform  # noqa: F401 -- the fixture
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.helpers import http_json, wait_for

from .conftest import github_signature, slack_headers

GH_TOKEN = "ghp-e2e-token-0123456789"
GH_WEBHOOK_SECRET = "e2e-webhook-secret-abcdef"
SLACK_TOKEN = "xoxb-e2e-token-9876543210"
SLACK_SIGNING_SECRET = "e2e-signing-secret-fedcba"
SECRETS = (GH_TOKEN, GH_WEBHOOK_SECRET, SLACK_TOKEN, SLACK_SIGNING_SECRET)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=GH_TOKEN).running() as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=SLACK_TOKEN).running() as fake:
        yield fake


class Outputs:
    """Every CLI output of a test, to check no secret is in any of them."""

    def __init__(self, running: Platform) -> None:
        self.platform = running
        self.texts: list[str] = []

    def paw(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "pawflow.cli", *args],
            input=stdin,
            env=self.platform.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.texts += [result.stdout, result.stderr]
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def assert_no_secrets(self) -> None:
        """Nor in the server's or the workers' logs."""
        data_dir = self.platform.up.data_dir
        logs = [self.platform.up.stderr(), self.platform.up.stdout_path.read_text()]
        logs += [p.read_text(errors="replace") for p in data_dir.glob("worker-test-*.log")]
        for secret in SECRETS:
            for text in self.texts + logs:
                assert secret not in text


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers)


def test_issue_triage_labels_and_comments_once(
    platform: Platform,  # noqa: F811
    github: FakeGitHub,
    tmp_path: Path,
) -> None:
    out = Outputs(platform)
    platform.start_worker()
    deployed = json.loads(
        out.paw("deploy", str(copy_project("issue-triage", tmp_path)), "--json").stdout
    )
    hook = deployed["connections"]["gh"]
    assert hook["integration"] == "github" and hook["webhook_url"]
    scope = ("--project", "issue-triage", "--connection", "gh")
    out.paw("var", "set", *scope, "token", stdin=GH_TOKEN + "\n")
    out.paw("var", "set", *scope, "webhook_secret", stdin=GH_WEBHOOK_SECRET)
    out.paw("var", "set", *scope, "base_url", "--value", github.url)
    listed = out.paw("var", "list", "--project", "issue-triage").stdout
    assert "***" in listed and github.url in listed
    out.paw("var", "list", "--project", "issue-triage", "--json")
    tested = out.paw("connection", "test", "--project", "issue-triage", "gh")
    assert "authenticated as octocat" in tested.stdout
    connections = out.paw("connection", "list").stdout
    assert "ready" in connections and hook["webhook_url"] in connections
    out.paw("connection", "list", "--json")
    out.paw("integration", "list")

    payload = {
        "action": "opened",
        "issue": {"number": 5, "user": {"login": "ada"}},
        "repository": {"full_name": "acme/widgets"},
    }
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "delivery-1",
        "X-Hub-Signature-256": github_signature(GH_WEBHOOK_SECRET, body),
    }
    status, reply = _post(hook["webhook_url"], body, headers)
    assert status == 202
    # A redelivery is stored once and starts nothing.
    assert _post(hook["webhook_url"], body, headers)[1].get("Pawflow-Duplicate") == "true"
    session = platform.session_for(reply["Pawflow-Event-Id"], timeout=30)
    ended = platform.wait_ended(session["id"], timeout=60)
    log = platform.log(session["id"])
    assert ended["state"] == "completed", log
    assert github.labels[("acme", "widgets", 5)] == ["triage"]
    assert github.comments[("acme", "widgets", 5)] == [
        "Thanks @ada! A maintainer will look at this soon."
    ]
    assert github.count("POST", "/repos/acme/widgets/issues/5/comments") == 1
    out.paw("session", "log", session["id"])
    out.paw("session", "log", session["id"], "--json")
    out.assert_no_secrets()


def test_slack_command_replies_in_the_channel(
    platform: Platform,  # noqa: F811
    slack: FakeSlack,
    tmp_path: Path,
) -> None:
    out = Outputs(platform)
    platform.start_worker()
    deployed = json.loads(
        out.paw("deploy", str(copy_project("slack-command", tmp_path)), "--json").stdout
    )
    url = deployed["connections"]["slack"]["webhook_url"]
    scope = ("--project", "slack-command", "--connection", "slack")
    out.paw("var", "set", *scope, "bot_token", stdin=SLACK_TOKEN)
    out.paw("var", "set", *scope, "signing_secret", stdin=SLACK_SIGNING_SECRET)
    out.paw("var", "set", *scope, "base_url", "--value", slack.api_url)
    assert "pawbot" in out.paw("connection", "test", "--project", "slack-command", "slack").stdout

    challenge = json.dumps({"type": "url_verification", "challenge": "c-42"}).encode()
    status, answer = http_json(
        url,
        method="POST",
        body={"type": "url_verification", "challenge": "c-42"},
        headers=slack_headers(SLACK_SIGNING_SECRET, challenge),
    )
    assert (status, answer) == (200, {"challenge": "c-42"})

    form = urlencode(
        {"command": "/paw", "text": "deploy staging", "user_id": "U7", "channel_id": "C9",
         "trigger_id": "trig-1"}
    ).encode()  # fmt: skip
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **slack_headers(SLACK_SIGNING_SECRET, form),
    }
    status, reply = _post(url, form, headers)
    assert status == 200
    session = platform.session_for(reply["Pawflow-Event-Id"], timeout=30)
    ended = platform.wait_ended(session["id"], timeout=60)
    log = platform.log(session["id"])
    assert ended["state"] == "completed", log
    wait_for(lambda: slack.messages, 5, message="the reply")
    assert slack.messages == [{"channel": "C9", "text": "<@U7> asked for deploy staging — on it!"}]
    out.paw("session", "log", session["id"], "--json")
    out.assert_no_secrets()


RECORDS_A_CLIENT_OBJECT = """
import pawflow


def handler(event):
    gh = pawflow.connection("gh")
    repo = gh.get_repo("acme/widgets")  # recorded: a Repository, which holds the client
    issue = repo.get_issue(5)  # a call through the recorded object still authenticates
    return [repo.full_name, issue.number]
"""


async def _marker_payloads(address: str, session_id: str) -> list[bytes]:
    from temporalio.client import Client

    client = await Client.connect(address)
    history = await client.get_workflow_handle(session_id).fetch_history()
    blobs: list[bytes] = []
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            for payloads in event.marker_recorded_event_attributes.details.values():
                blobs += [p.data for p in payloads.payloads]
    return blobs


def test_a_recorded_client_object_keeps_its_token_out_of_history(
    platform: Platform,  # noqa: F811
    github: FakeGitHub,
    tmp_path: Path,
) -> None:
    import base64

    from tests.helpers import run_coroutine

    root = tmp_path / "holder"
    root.mkdir()
    (root / "pawflow.yaml").write_text(
        "version: 1\nproject:\n  name: holder\n"
        "  connections:\n    - name: gh\n      integration: github\n"
        f"      vars: {{base_url: {github.url!r}}}\n"
        "  triggers:\n    - name: run\n      webhook: {}\n      call: program.py:handler\n"
    )
    (root / "program.py").write_text(RECORDS_A_CLIENT_OBJECT)
    out = Outputs(platform)
    url = json.loads(out.paw("deploy", str(root), "--json").stdout)["webhooks"]["run"]
    out.paw("var", "set", "--project", "holder", "--connection", "gh", "token", stdin=GH_TOKEN)
    platform.start_worker()
    session = platform.session_for(http_json(url, method="POST", body={})[1]["event_id"])
    ended = platform.wait_ended(session["id"], timeout=60)
    assert ended["state"] == "completed", platform.log(session["id"])
    assert platform.log(session["id"])[-1]["result"] == ["acme/widgets", 5]

    blobs = run_coroutine(_marker_payloads(platform.temporal_address, session["id"]))
    outcomes = [
        base64.b64decode(call["outcome"])
        for blob in blobs
        if blob.startswith(b"{")
        for call in json.loads(blob).get("calls", ())
    ]
    assert outcomes, "no recorded call outcome found in the history"
    for data in [*blobs, *outcomes]:
        assert GH_TOKEN.encode() not in data
