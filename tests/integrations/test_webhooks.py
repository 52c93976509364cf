"""Connection webhooks through the server: verified, committed once, or refused."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient

from pawflow.storage import SQLiteStore

from .conftest import (
    GITHUB_SECRET,
    SLACK_SECRET,
    deploy,
    github_signature,
    path_of,
    set_var,
    slack_headers,
    write_project,
)

Client = TestClient[Any, Any]
ISSUE = {"action": "opened", "issue": {"number": 3}, "repository": {"full_name": "acme/w"}}


async def _setup(client: Client, tmp_path: Path) -> dict[str, Any]:
    status, body = await deploy(client, write_project(tmp_path / "p"))
    assert status == 201, body
    assert (await set_var(client, "triage", "webhook_secret", GITHUB_SECRET, connection="gh"))[
        0
    ] == 200
    assert (await set_var(client, "triage", "signing_secret", SLACK_SECRET, connection="chat"))[
        0
    ] == 200
    connections: dict[str, Any] = body["connections"]
    return connections


def _github_headers(body: bytes, delivery: str, signature: str | None = None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery,
    }
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return headers


async def test_deploy_reports_connections_and_stable_urls(client: Client, tmp_path: Path) -> None:
    first = await _setup(client, tmp_path)
    assert first["gh"]["integration"] == "github"
    assert first["gh"]["webhook_url"].startswith("http://")
    assert "/webhooks/connections/" in first["gh"]["webhook_url"]
    assert first["chat"]["webhook_url"] != first["gh"]["webhook_url"]
    assert first["api"] == {"integration": "http", "webhook_url": None}
    status, again = await deploy(client, write_project(tmp_path / "p"))
    assert status == 201 and again["connections"] == first


async def test_github_signed_delivery_is_committed_once(
    client: Client, store: SQLiteStore, tmp_path: Path
) -> None:
    urls = await _setup(client, tmp_path)
    body = json.dumps(ISSUE).encode()
    headers = _github_headers(body, "d-1", github_signature(GITHUB_SECRET, body))
    first = await client.post(path_of(urls["gh"]["webhook_url"]), data=body, headers=headers)
    assert first.status == 202, await first.text()
    event_id = first.headers["Pawflow-Event-Id"]
    event = await store.get_event(event_id)
    assert event is not None
    assert (event.type, event.data, event.idempotency_key) == ("issues", ISSUE, "d-1")
    assert event.connection == "gh" and event.trigger is None

    # GitHub redelivers with the same delivery id: nothing new is stored.
    again = await client.post(path_of(urls["gh"]["webhook_url"]), data=body, headers=headers)
    assert again.status == 202
    assert again.headers["Pawflow-Event-Id"] == event_id
    assert again.headers["Pawflow-Duplicate"] == "true"
    assert len(await store.list_events("triage")) == 1


async def test_github_bad_or_missing_signature_is_401_and_stores_nothing(
    client: Client, store: SQLiteStore, tmp_path: Path
) -> None:
    urls = await _setup(client, tmp_path)
    path = path_of(urls["gh"]["webhook_url"])
    body = json.dumps(ISSUE).encode()
    for signature in (None, github_signature("wrong-secret", body), "sha256=zz", "garbage"):
        response = await client.post(path, data=body, headers=_github_headers(body, "d", signature))
        assert response.status == 401, signature
        assert "X-Hub-Signature-256" in (await response.json())["error"]
    tampered = body.replace(b"opened", b"closed")
    signed_other = _github_headers(tampered, "d", github_signature(GITHUB_SECRET, body))
    assert (await client.post(path, data=tampered, headers=signed_other)).status == 401
    assert await store.list_events("triage") == []


async def test_github_without_webhook_secret_refuses(client: Client, tmp_path: Path) -> None:
    status, body = await deploy(client, write_project(tmp_path / "p"))
    assert status == 201
    payload = json.dumps(ISSUE).encode()
    response = await client.post(
        path_of(body["connections"]["gh"]["webhook_url"]),
        data=payload,
        headers=_github_headers(payload, "d", github_signature(GITHUB_SECRET, payload)),
    )
    assert response.status == 401
    assert "webhook_secret" in (await response.json())["error"]


async def test_unknown_connection_webhook_is_404(client: Client) -> None:
    response = await client.post("/webhooks/connections/nope", data=b"{}")
    assert response.status == 404


async def test_slack_url_verification_challenge(
    client: Client, store: SQLiteStore, tmp_path: Path
) -> None:
    urls = await _setup(client, tmp_path)
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    headers = {"Content-Type": "application/json", **slack_headers(SLACK_SECRET, body)}
    response = await client.post(path_of(urls["chat"]["webhook_url"]), data=body, headers=headers)
    assert response.status == 200
    assert await response.json() == {"challenge": "abc123"}
    assert await store.list_events("triage") == []


async def test_slack_slash_command_becomes_an_event(
    client: Client, store: SQLiteStore, tmp_path: Path
) -> None:
    urls = await _setup(client, tmp_path)
    form = {
        "command": "/paw",
        "text": "status",
        "channel_id": "C42",
        "user_id": "U7",
        "trigger_id": "t-1",
        "response_url": "http://127.0.0.1:9/respond",
    }
    body = urlencode(form).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **slack_headers(SLACK_SECRET, body),
    }
    path = path_of(urls["chat"]["webhook_url"])
    response = await client.post(path, data=body, headers=headers)
    # Slack wants a 200 within 3 s; the reply comes later from the session.
    assert response.status == 200 and await response.read() == b""
    event = await store.get_event(response.headers["Pawflow-Event-Id"])
    assert event is not None
    assert (event.type, event.data, event.connection) == ("slash_command", form, "chat")
    again = await client.post(path, data=body, headers=headers)
    assert again.headers.get("Pawflow-Duplicate") == "true"
    assert len(await store.list_events("triage")) == 1


async def test_slack_events_api_callback(
    client: Client, store: SQLiteStore, tmp_path: Path
) -> None:
    urls = await _setup(client, tmp_path)
    payload = {
        "type": "event_callback",
        "event_id": "Ev1",
        "event": {"type": "app_mention", "text": "<@U1> hi", "channel": "C1"},
    }
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **slack_headers(SLACK_SECRET, body)}
    response = await client.post(path_of(urls["chat"]["webhook_url"]), data=body, headers=headers)
    assert response.status == 200
    event = await store.get_event(response.headers["Pawflow-Event-Id"])
    assert event is not None
    assert (event.type, event.idempotency_key, event.data) == ("app_mention", "Ev1", payload)


async def test_slack_replay_window_and_bad_signature(
    client: Client, store: SQLiteStore, tmp_path: Path
) -> None:
    urls = await _setup(client, tmp_path)
    path = path_of(urls["chat"]["webhook_url"])
    body = urlencode({"command": "/paw", "trigger_id": "t-2"}).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # Correctly signed, but six minutes old: a replay.
    old = slack_headers(SLACK_SECRET, body, timestamp=int(time.time()) - 360)
    response = await client.post(path, data=body, headers={**form, **old})
    assert response.status == 401
    assert "5 minutes" in (await response.json())["error"]
    # Four minutes old is still inside the window.
    recent = slack_headers(SLACK_SECRET, body, timestamp=int(time.time()) - 240)
    assert (await client.post(path, data=body, headers={**form, **recent})).status == 200
    wrong = slack_headers("not-the-secret", body)
    assert (await client.post(path, data=body, headers={**form, **wrong})).status == 401
    assert (await client.post(path, data=body, headers=form)).status == 401
    assert len(await store.list_events("triage")) == 1


async def test_a_delivery_holding_a_lone_surrogate_is_refused_and_stores_nothing(
    client: Client, store: SQLiteStore, tmp_path: Path
) -> None:
    urls = await _setup(client, tmp_path)
    body = b'{"action": "opened", "title": "\\ud800"}'
    headers = _github_headers(body, "d-bad", github_signature(GITHUB_SECRET, body))
    reply = await client.post(path_of(urls["gh"]["webhook_url"]), data=body, headers=headers)
    assert reply.status == 400, await reply.text()
    assert "lone surrogate" in (await reply.json())["error"]
    assert await store.list_events("triage") == []
