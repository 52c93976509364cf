"""Webhook ingress: the event is committed before the 202; errors store nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp.test_utils import TestClient

from pawflow.storage import SQLiteStore

from ._helpers import MANIFEST, deploy, project_zip, webhook_path


async def _hooks(client: TestClient[Any, Any]) -> dict[str, str]:
    return {name: webhook_path(url) for name, url in (await deploy(client))["webhooks"].items()}


async def _assert_no_events(store: SQLiteStore) -> None:
    assert await store.list_events() == []


async def test_post_json_commits_the_event_before_replying(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hook = (await _hooks(client))["greet"]
    resp = await client.post(
        hook + "?a=1&b=2&b=3",
        json={"name": "Ada", "n": [1, 2]},
        headers={"X-Custom": "yes"},
    )
    assert resp.status == 202
    body = await resp.json()
    event_id = body["event_id"]
    assert event_id.startswith("evt_")
    assert resp.headers["Pawflow-Event-Id"] == event_id
    assert "Pawflow-Duplicate" not in resp.headers

    event = await store.get_event(event_id)
    assert event is not None
    assert (event.project, event.trigger, event.type, event.state) == (
        "hello",
        "greet",
        "post",
        "pending",
    )
    data = event.data
    assert data["method"] == "POST"
    assert data["path"] == hook
    assert data["query"] == {"a": "1", "b": ["2", "3"]}
    assert data["headers"]["x-custom"] == "yes"
    assert data["headers"]["content-type"].startswith("application/json")
    assert all(name == name.lower() for name in data["headers"])
    assert data["body"]["json"] == {"name": "Ada", "n": [1, 2]}
    assert data["body"]["text"] == '{"name": "Ada", "n": [1, 2]}'
    assert data["body"]["form"] is None


async def test_body_parsing_by_content_type(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hook = (await _hooks(client))["items"]

    async def body_of(data: bytes, content_type: str | None, method: str = "POST") -> Any:
        headers = {"Content-Type": content_type} if content_type else {}
        resp = await client.request(method, hook, data=data, headers=headers)
        assert resp.status == 202, await resp.text()
        event = await store.get_event((await resp.json())["event_id"])
        assert event is not None
        return event.data["body"]

    assert await body_of(b"a=1&b=x+y&a=2&c=", "application/x-www-form-urlencoded") == {
        "text": "a=1&b=x+y&a=2&c=",
        "json": None,
        "form": {"a": ["1", "2"], "b": "x y", "c": ""},
    }
    assert await body_of("héllo".encode(), "text/plain; charset=utf-8") == {
        "text": "héllo",
        "json": None,
        "form": None,
    }
    assert await body_of(b'{"x": 1}', "application/vnd.api+json") == {
        "text": '{"x": 1}',
        "json": {"x": 1},
        "form": None,
    }
    assert await body_of(b'{"x": 1}', "text/plain") == {
        "text": '{"x": 1}',
        "json": None,
        "form": None,
    }
    assert (await body_of(b"\xff\xfeok", "application/octet-stream"))["text"] == "\ufffd\ufffdok"
    assert await body_of(b"", None, method="GET") == {"text": None, "json": None, "form": None}
    assert await body_of(b"", "application/json", method="PUT") == {
        "text": None,
        "json": None,
        "form": None,
    }


async def test_bad_json_is_400_and_stores_nothing(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hook = (await _hooks(client))["greet"]
    for data in (b"{not json", b'{"a": NaN}', b"\xff\xfe{}", b"[" * 4000):
        resp = await client.post(hook, data=data, headers={"Content-Type": "application/json"})
        assert resp.status == 400, data[:10]
        assert "error" in await resp.json()
    await _assert_no_events(store)


async def test_idempotency_key_repeat_returns_the_first_event(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hook = (await _hooks(client))["greet"]
    headers = {"Idempotency-Key": "delivery-1"}
    first = await client.post(hook, json={"n": 1}, headers=headers)
    again = await client.post(hook, json={"n": 2}, headers=headers)
    assert first.status == again.status == 202
    event_id = (await first.json())["event_id"]
    assert (await again.json())["event_id"] == event_id
    assert again.headers["Pawflow-Event-Id"] == event_id
    assert again.headers["Pawflow-Duplicate"] == "true"
    events = await store.list_events()
    assert [e.id for e in events] == [event_id]
    assert events[0].data["body"]["json"] == {"n": 1}


async def test_unknown_slug_is_404(client: TestClient[Any, Any], store: SQLiteStore) -> None:
    await _hooks(client)
    resp = await client.post("/webhooks/no-such-slug", json={})
    assert resp.status == 404
    assert "error" in await resp.json()
    # NUL cannot reach PostgreSQL's text: it is no slug, not a server error.
    for path in ("/webhooks/%00", "/webhooks/a%00b", "/webhooks/connections/%00"):
        resp = await client.post(path, json={})
        assert resp.status == 404, (path, await resp.text())
    await _assert_no_events(store)


async def test_trigger_removed_by_a_redeploy_is_404(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hooks = await _hooks(client)
    without_items = MANIFEST[: MANIFEST.index("    - name: items")]
    await deploy(client, project_zip(manifest=without_items))
    resp = await client.post(hooks["items"], json={})
    assert resp.status == 404
    await _assert_no_events(store)
    assert (await client.post(hooks["greet"], json={})).status == 202


async def test_method_not_allowed_is_405_with_allow(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hooks = await _hooks(client)
    resp = await client.get(hooks["greet"])
    assert resp.status == 405
    assert resp.headers["Allow"] == "POST"
    resp = await client.delete(hooks["items"])
    assert resp.status == 405
    assert resp.headers["Allow"] == "GET, POST, PUT"
    assert "error" in await resp.json()
    await _assert_no_events(store)
    resp = await client.get(hooks["items"])
    assert resp.status == 202
    event = await store.get_event((await resp.json())["event_id"])
    assert event is not None
    assert event.type == "get"


async def test_too_large_by_content_length_is_413(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hook = (await _hooks(client))["greet"]
    resp = await client.post(hook, data=b"x" * 4097, headers={"Content-Type": "text/plain"})
    assert resp.status == 413
    assert "error" in await resp.json()
    resp = await client.post(hook, data=b"x" * 4096, headers={"Content-Type": "text/plain"})
    assert resp.status == 202
    assert len(await store.list_events()) == 1


async def test_too_large_chunked_body_is_413(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hook = (await _hooks(client))["greet"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000

    resp = await client.post(hook, data=chunks(), headers={"Content-Type": "text/plain"})
    assert resp.status == 413
    assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
    await _assert_no_events(store)


async def test_overlong_idempotency_key_is_400(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hook = (await _hooks(client))["greet"]
    resp = await client.post(hook, json={}, headers={"Idempotency-Key": "k" * 300})
    assert resp.status == 400
    await _assert_no_events(store)
