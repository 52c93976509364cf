"""``paw init`` output deploys on the real platform as is, and its sessions run."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client

from pawflow.schedules import schedule_id
from tests.e2e.conftest import Platform
from tests.fakes.bank import FakeBank
from tests.fakes.github import FakeGitHub
from tests.helpers import http_json, run_coroutine, run_paw, wait_for
from tests.integrations.conftest import github_signature

GH_TOKEN = "ghp-init-test-token"
GH_SECRET = "init-test-webhook-secret"


def init(platform: Platform, directory: Path, *args: str) -> Path:
    result = platform.paw("init", str(directory), *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return directory


def prints(platform: Platform, session_id: str) -> list[str]:
    return [r["text"].rstrip("\n") for r in platform.log(session_id) if r["type"] == "print"]


def completed(platform: Platform, event_id: str) -> dict[str, Any]:
    session = platform.wait_ended(platform.session_for(event_id)["id"])
    assert session["state"] == "completed", platform.log(session["id"])
    return session


def test_hello_and_webhook_json_deploy_and_answer(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    platform.start_worker()
    hello = platform.deploy(init(platform, tmp_path / "hello-init"))
    assert hello["project"] == "hello-init"
    status, body = platform.post(hello["webhooks"]["greet"], {"name": "Ada"})
    assert status == 202
    session = completed(platform, body["event_id"])
    assert prints(platform, session["id"]) == ["Hello, Ada!"]
    assert platform.log(session["id"])[-1]["result"] == {"greeted": "Ada"}

    orders = platform.deploy(init(platform, tmp_path / "orders", "--template", "webhook-json"))
    # As the template's README says: the API's URL is a var.
    api = platform.paw(
        "var", "set", "--project", "orders", "API_URL", "--value", f"{bank.url}/orders"
    )
    assert api.returncode == 0, api.stderr
    url = orders["webhooks"]["order"]

    # A sync webhook: the request waits for the handler's answer.
    status, reply = platform.post(url, {"item": "book", "quantity": 2})
    assert (status, reply) == (200, {"accepted": True, "item": "book", "quantity": 2})
    assert bank.requests == [("orders", {"item": "book", "quantity": 2})]
    (session,) = platform.sessions("--project", "orders")
    assert prints(platform, session["id"]) == ["ordered 2 x book: the API answered 200"]
    calls = [r for r in platform.log(session["id"]) if r["type"] == "call_start"]
    assert [c["function"] for c in calls] == ["program.post_json"], calls

    # Bad input gets a 400 naming the problem, and the API is not called.
    status, reply = platform.post(url, {"item": "book", "quantity": 0})
    assert status == 400
    assert reply == {"error": "quantity: a whole number of at least 1 is required"}
    status, reply = platform.post(url, ["not", "an", "object"])
    assert status == 400 and "JSON object" in reply["error"]
    assert len(bank.requests) == 1
    sessions = platform.sessions("--project", "orders")
    assert all(platform.wait_ended(s["id"])["state"] == "completed" for s in sessions)


def test_schedule_and_github_deploy_as_is_and_run(platform: Platform, tmp_path: Path) -> None:
    platform.start_worker()
    # Schedules are named after their project on the run's shared Temporal: a name of its own.
    name = f"tick-{uuid.uuid4().hex[:8]}"
    init(platform, tmp_path / "ticks", "--template", "schedule", "--name", name)
    platform.deploy(tmp_path / "ticks")
    try:
        run_coroutine(_trigger_schedule(platform.temporal_address, schedule_id(name, "hourly")))
        (event,) = _wait_events(platform, name)
        session = completed(platform, event["id"])
        (line,) = prints(platform, session["id"])
        assert line.startswith("tick 20") and " ran at " in line
    finally:
        # The hourly schedule goes with its project.
        assert platform.paw("project", "delete", name, "--force").returncode == 0

    # Deploys without any secret set; its README's commands make it work.
    deployed = platform.deploy(init(platform, tmp_path / "gh-bot", "--template", "github"))
    hook = deployed["connections"]["gh"]
    assert hook["integration"] == "github" and hook["webhook_url"]
    with FakeGitHub(token=GH_TOKEN).running() as github:
        scope = ("--project", "gh-bot", "--connection", "gh")
        for args, secret in (
            (("token",), GH_TOKEN),
            (("webhook_secret",), GH_SECRET),
            (("base_url", "--value", github.url), None),
        ):
            result = run_paw("var", "set", *scope, *args, env=platform.env, input=secret)
            assert result.returncode == 0, result.stderr
        payload = {
            "action": "opened",
            "issue": {"number": 3, "title": "It breaks", "user": {"login": "ada"}},
            "repository": {"full_name": "acme/widgets"},
        }
        raw = json.dumps(payload).encode()
        status, reply = http_json(
            hook["webhook_url"],
            method="POST",
            body=payload,
            headers={
                "X-GitHub-Event": "issues",
                "X-GitHub-Delivery": "init-1",
                "X-Hub-Signature-256": github_signature(GH_SECRET, raw),
            },
        )
        assert status == 202, reply
        (event_id,) = reply["event_ids"]
        session = completed(platform, event_id)
        assert prints(platform, session["id"]) == ["acme/widgets#3 opened by ada: It breaks"]
        assert github.comments[("acme", "widgets", 3)] == ["Thanks @ada, we'll have a look."]


async def _trigger_schedule(address: str, sid: str) -> None:
    client = await Client.connect(address)
    await client.get_schedule_handle(sid).trigger()


def _wait_events(platform: Platform, project: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = wait_for(
        lambda: platform.paw_json("event", "list", "--project", project),
        30.0,
        0.1,
        f"an event of {project}",
    )
    return result
