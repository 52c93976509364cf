"""``/api/v1/projects/{project}/store``: the key-value store over HTTP."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ._helpers import AUTH, deploy

BASE = "/api/v1/projects/hello/store"


def key_url(key: str, project: str = "hello") -> str:
    return f"/api/v1/projects/{project}/store/{urllib.parse.quote(key, safe='')}"


async def call(
    client: TestClient[Any, Any], method: str, url: str, body: Any = None, raw: str | None = None
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"headers": AUTH}
    if raw is not None:
        kwargs["data"] = raw
    elif body is not None:
        kwargs["json"] = body
    resp = await client.request(method, url, **kwargs)
    return resp.status, await resp.json()


async def test_put_get_list_delete(client: TestClient[Any, Any]) -> None:
    await deploy(client)
    status, body = await call(client, "PUT", key_url("greeting"), {"value": {"text": "hi"}})
    assert status == 200
    assert body["key"] == "greeting" and body["value"] == {"text": "hi"}
    assert body["updated_at"].endswith("Z")
    status, body = await call(client, "GET", key_url("greeting"))
    assert status == 200 and body["value"] == {"text": "hi"}
    # null is a value like any other.
    assert (await call(client, "PUT", key_url("empty"), {"value": None}))[0] == 200
    status, body = await call(client, "GET", key_url("empty"))
    assert status == 200 and body["value"] is None

    status, body = await call(client, "GET", BASE)
    assert status == 200
    assert body["project"] == "hello" and body["truncated"] is False
    assert [(e["key"], e["value"]) for e in body["entries"]] == [
        ("empty", None),
        ("greeting", {"text": "hi"}),
    ]
    status, body = await call(client, "DELETE", key_url("greeting"))
    assert (status, body) == (200, {"key": "greeting", "deleted": True})
    status, body = await call(client, "GET", key_url("greeting"))
    assert status == 404
    assert body["error"] == "no key 'greeting' in the store of project 'hello'"
    status, body = await call(client, "DELETE", key_url("greeting"))
    assert status == 404


@pytest.mark.parametrize("key", ["a/b/c", "with space", "per%cent", "ünïcode ✓", "q?x=1#frag"])
async def test_keys_with_url_characters(client: TestClient[Any, Any], key: str) -> None:
    await deploy(client)
    assert (await call(client, "PUT", key_url(key), {"value": key}))[0] == 200
    status, body = await call(client, "GET", key_url(key))
    assert status == 200 and body["key"] == key and body["value"] == key
    status, body = await call(client, "GET", BASE)
    assert [e["key"] for e in body["entries"]] == [key]


async def test_list_prefix_and_limit(client: TestClient[Any, Any]) -> None:
    await deploy(client)
    for key in ("job/1", "job/2", "job/3", "jobs", "other"):
        await call(client, "PUT", key_url(key), {"value": 1})
    status, body = await call(client, "GET", BASE + "?prefix=job/")
    assert [e["key"] for e in body["entries"]] == ["job/1", "job/2", "job/3"]
    status, body = await call(client, "GET", BASE + "?prefix=job&limit=2")
    assert [e["key"] for e in body["entries"]] == ["job/1", "job/2"]
    assert body["truncated"] is True
    status, body = await call(client, "GET", BASE + "?limit=0")
    assert status == 400 and "limit" in body["error"]


async def test_atomic_operations(client: TestClient[Any, Any]) -> None:
    await deploy(client)
    url = key_url("count")
    assert (await call(client, "POST", url, {"op": "add"}))[1]["value"] == 1
    assert (await call(client, "POST", url, {"op": "add", "operand": 5}))[1]["value"] == 6
    status, body = await call(client, "POST", key_url("log"), {"op": "append", "operand": "a"})
    assert (status, body["value"]) == (200, ["a"])
    body = (await call(client, "POST", key_url("cfg"), {"op": "merge", "operand": {"x": 1}}))[1]
    assert body["value"] == {"x": 1}
    body = (await call(client, "POST", key_url("d"), {"op": "set_default", "operand": 1}))[1]
    assert body["value"] == 1
    body = (await call(client, "POST", key_url("d"), {"op": "set_default", "operand": 2}))[1]
    assert body["value"] == 1


async def test_check_and_set(client: TestClient[Any, Any]) -> None:
    await deploy(client)
    url = key_url("lock")
    cas = {"op": "check_and_set", "expected": None, "new": "me"}
    status, body = await call(client, "POST", url, cas)
    assert (status, body) == (200, {"key": "lock", "swapped": True, "exists": True, "value": "me"})
    status, body = await call(client, "POST", url, {**cas, "new": "you"})
    assert body == {"key": "lock", "swapped": False, "exists": True, "value": "me"}
    status, body = await call(client, "POST", url, {**cas, "expected": "me", "new": "you"})
    assert body["swapped"] is True and body["value"] == "you"
    status, body = await call(client, "POST", key_url("nope"), {**cas, "expected": 1})
    assert body == {"key": "nope", "swapped": False, "exists": False, "value": None}


@pytest.mark.parametrize(
    ("method", "body", "raw", "status", "message"),
    [
        ("PUT", {"val": 1}, None, 400, "unknown field 'val'"),
        ("PUT", {}, None, 400, 'must be {"value"'),
        ("PUT", None, "{not json", 400, "not valid JSON"),
        ("PUT", None, '{"value": NaN}', 400, "NaN is not valid JSON"),
        ("PUT", [1], None, 400, "must be a JSON object"),
        ("POST", {"op": "multiply", "operand": 2}, None, 400, "'op' must be one of: add,"),
        ("POST", {"operand": 2}, None, 400, "'op' must be one of"),
        ("POST", {"op": "append"}, None, 400, "'append' needs an 'operand'"),
        ("POST", {"op": "check_and_set", "expected": 1}, None, 400, "needs 'new'"),
        ("POST", {"op": "add", "operand": "x"}, None, 400, "'add' needs a number"),
    ],
)
async def test_bad_requests(
    client: TestClient[Any, Any],
    method: str,
    body: Any,
    raw: str | None,
    status: int,
    message: str,
) -> None:
    await deploy(client)
    got_status, got = await call(client, method, key_url("k"), body, raw)
    assert got_status == status
    assert message in got["error"]
    assert (await call(client, "GET", BASE))[1]["entries"] == []


async def test_type_mismatch_is_a_clear_400(client: TestClient[Any, Any]) -> None:
    await deploy(client)
    await call(client, "PUT", key_url("name"), {"value": "Ada"})
    status, body = await call(client, "POST", key_url("name"), {"op": "add", "operand": 1})
    assert status == 400
    assert body["error"] == "'add': key 'name' holds a string, not a number"
    status, body = await call(client, "GET", key_url("name"))
    assert body["value"] == "Ada"


async def test_bad_key_and_unknown_project(client: TestClient[Any, Any]) -> None:
    await deploy(client)
    status, body = await call(client, "PUT", key_url("x" * 257), {"value": 1})
    assert status == 400 and "longer than 256" in body["error"]
    status, body = await call(client, "PUT", key_url("a\tb"), {"value": 1})
    assert status == 400 and "control character" in body["error"]
    for method, body_in in (("GET", None), ("PUT", {"value": 1}), ("DELETE", None)):
        status, body = await call(client, method, key_url("k", project="ghost"), body_in)
        assert status == 404 and body["error"] == "no project 'ghost'", method
    status, body = await call(client, "GET", "/api/v1/projects/ghost/store")
    assert status == 404


async def test_store_needs_the_token(client: TestClient[Any, Any]) -> None:
    resp = await client.get(BASE)
    assert resp.status == 401
