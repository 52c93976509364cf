"""Connection webhooks with header bytes no client would send: the ids and types
taken from them are refused with one-line 400s, never merged and never a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.storage import SQLiteStore
from tests.raw_http import raw_post

from .conftest import GITHUB_SECRET, deploy, github_signature, path_of, set_var, write_project

BODY = json.dumps({"action": "opened", "issue": {"number": 3}}).encode()


async def _gh_path(client: TestClient[Any, Any], tmp_path: Path) -> str:
    status, body = await deploy(client, write_project(tmp_path / "p"))
    assert status == 201, body
    status, reply = await set_var(
        client, "triage", "webhook_secret", GITHUB_SECRET, connection="gh"
    )
    assert status == 200, reply
    return path_of(body["connections"]["gh"]["webhook_url"])


async def _deliver(
    client: TestClient[Any, Any], path: str, *, event: bytes = b"issues", delivery: bytes
) -> tuple[int, bytes]:
    head = (
        b"Content-Type: application/json\r\n"
        b"X-GitHub-Event: " + event + b"\r\n"
        b"X-GitHub-Delivery: " + delivery + b"\r\n"
        b"X-Hub-Signature-256: " + github_signature(GITHUB_SECRET, BODY).encode() + b"\r\n"
    )
    assert client.server.port is not None
    return await raw_post(client.server.port, path, head, BODY)


@pytest.mark.parametrize(
    ("event", "delivery", "error"),
    [
        (b"issues", b"d-\xff\xfe", "the delivery's id is not valid UTF-8"),
        (b"issues", b"caf\xe9", "the delivery's id is not valid UTF-8"),
        (b"issues", b"d\t1", "the delivery's id holds a control character (U+0009)"),
        (b"issues", b"d\xc2\x851", "the delivery's id holds a control character (U+0085)"),
        (b"iss\xffues", b"d-1", "the delivery's event type is not valid UTF-8"),
        (b"iss\tues", b"d-1", "the delivery's event type holds a control character (U+0009)"),
    ],
)
async def test_a_delivery_id_or_type_that_is_not_plain_text_is_400(
    client: TestClient[Any, Any],
    store: SQLiteStore,
    tmp_path: Path,
    event: bytes,
    delivery: bytes,
    error: str,
) -> None:
    path = await _gh_path(client, tmp_path)
    status, reply = await _deliver(client, path, event=event, delivery=delivery)
    assert (status, json.loads(reply)) == (400, {"error": f"connection 'gh': {error}"})
    assert await store.list_events() == []


async def test_bytes_http_forbids_are_400_before_anything_is_read(
    client: TestClient[Any, Any], store: SQLiteStore, tmp_path: Path
) -> None:
    path = await _gh_path(client, tmp_path)
    for delivery in (b"d\x01", b"d\x00", b"d\x7f", b"\x1b[2J"):
        status, reply = await _deliver(client, path, delivery=delivery)
        assert status == 400, reply
    assert await store.list_events() == []


async def test_a_plain_delivery_with_odd_other_headers_is_stored_once(
    client: TestClient[Any, Any], store: SQLiteStore, tmp_path: Path
) -> None:
    path = await _gh_path(client, tmp_path)
    for _ in range(2):
        status, reply = await _deliver(client, path, delivery=b"d-1\r\nX-Proxy: caf\xe9")
        assert status == 202, reply
    (event,) = await store.list_events()
    assert (event.idempotency_key, event.data["issue"]) == ("d-1", {"number": 3})
