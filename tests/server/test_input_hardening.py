"""Input that once made the server answer 500 or store non-JSON: lone surrogates, numbers
that overflow to infinity, header bytes that are not UTF-8, undecodable bodies."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.server._body import parse_json
from pawflow.storage import SQLiteStore
from tests.raw_http import raw_post

from ._helpers import AUTH, MANIFEST, deploy, project_zip, webhook_path

# -- the shared strict parser -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1e999]", "number 1e999 is out of range"),
        ('{"a": -1e400}', "number -1e400 is out of range"),
        ("1" * 400 + ".5", "number 11111111111111111111... is out of range"),
        ("NaN", "NaN is not valid JSON"),
        ("[-Infinity]", "-Infinity is not valid JSON"),
        ('"\\ud800"', "lone surrogate \\ud800 in a string is not a character"),
        ('{"k\\udfff": 1}', "lone surrogate \\udfff in a string is not a character"),
        ('[[["\\ude00\\ud83d"]]]', "lone surrogate \\ude00 in a string is not a character"),
    ],
)
def test_parse_json_rejects_what_other_readers_and_the_store_cannot_take(
    text: str, problem: str
) -> None:
    for form in (text, text.encode()):
        with pytest.raises(ValueError) as caught:
            parse_json(form)
        assert str(caught.value) == problem


def test_parse_json_rejects_surrogates_in_raw_bytes() -> None:
    # json.loads(bytes) decodes with "surrogatepass": UTF-8-encoded surrogates pass it.
    with pytest.raises(ValueError, match="lone surrogate"):
        parse_json(b'["\xed\xa0\x80"]')


def test_parse_json_keeps_what_is_json() -> None:
    text = '{"a": [1.5, -0.0, 1e308, 12345678901234567890], "b": "\\ud83d\\ude00 \\u00e9"}'
    assert parse_json(text) == {
        "a": [1.5, -0.0, 1e308, 12345678901234567890],
        "b": "\U0001f600 \u00e9",
    }


def test_parse_json_walks_deep_documents_without_recursion() -> None:
    # json.loads accepts ~1000 levels; the surrogate check must not fail below that.
    depth = 900
    assert parse_json("[" * depth + "]" * depth) is not None


# -- webhooks ----------------------------------------------------------------------------


async def _hook(client: TestClient[Any, Any]) -> str:
    return webhook_path((await deploy(client))["webhooks"]["greet"])


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[1e999]", "number 1e999 is out of range"),
        (b'{"a": "\\ud800"}', "lone surrogate \\ud800"),
        (b'{"\\udc00": 1}', "lone surrogate \\udc00"),
    ],
)
async def test_webhook_json_that_cannot_be_stored_is_400(
    client: TestClient[Any, Any], store: SQLiteStore, body: bytes, problem: str
) -> None:
    hook = await _hook(client)
    resp = await client.post(hook, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error.startswith("body is not valid JSON: ") and problem in error
    assert await store.list_events() == []


async def _raw_post(client: TestClient[Any, Any], path: str, head: bytes, body: bytes) -> Any:
    """POST with header bytes as given; (status, JSON reply)."""
    assert client.server.port is not None
    status, reply = await raw_post(client.server.port, path, head, body)
    return status, json.loads(reply)


async def test_header_bytes_that_are_not_utf8_are_replaced(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hook = await _hook(client)
    head = b"X-Latin: caf\xe9\r\nX-Utf8: caf\xc3\xa9\r\nX-Junk: \xff\xfe!\r\n"
    status, reply = await _raw_post(client, hook + "?q=%ff&%ed%a0%80=x", head, b"")
    assert status == 202, reply
    event = await store.get_event(reply["event_id"])
    assert event is not None
    headers = event.data["headers"]
    assert (headers["x-latin"], headers["x-utf8"], headers["x-junk"]) == (
        "caf\ufffd",
        "café",
        "\ufffd\ufffd!",
    )
    assert event.data["query"] == {"q": "\ufffd", "\ufffd\ufffd\ufffd": "x"}


async def test_form_body_with_bad_percent_escapes_is_replaced(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hook = await _hook(client)
    resp = await client.post(
        hook,
        data=b"a=%ff&%ed%a0%80=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 202
    event = await store.get_event((await resp.json())["event_id"])
    assert event is not None
    assert event.data["body"]["form"] == {"a": "\ufffd", "\ufffd\ufffd\ufffd": "b"}


async def test_idempotency_key_in_utf8_is_kept(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hook = await _hook(client)
    status, reply = await _raw_post(client, hook, "Idempotency-Key: ключ\r\n".encode(), b"")
    assert status == 202, reply
    event = await store.get_event(reply["event_id"])
    assert event is not None
    assert event.idempotency_key == "ключ"


_CONTROL = "Idempotency-Key holds a control character"


@pytest.mark.parametrize(
    ("key", "error"),
    [
        (b"\xff\xfe", "Idempotency-Key is not valid UTF-8"),
        (b"caf\xe9", "Idempotency-Key is not valid UTF-8"),
        (b"a\tb", f"{_CONTROL} (U+0009)"),
        (b"\xc2\x85x", f"{_CONTROL} (U+0085)"),  # str.strip() would take it for a blank
        (b"x\xe2\x80\xa8y", f"{_CONTROL} (U+2028)"),
        (b"\xc2\x9b2J", f"{_CONTROL} (U+009B)"),
    ],
)
async def test_idempotency_key_that_is_not_plain_text_is_400(
    client: TestClient[Any, Any], store: SQLiteStore, key: bytes, error: str
) -> None:
    hook = await _hook(client)
    status, reply = await _raw_post(client, hook, b"Idempotency-Key: " + key + b"\r\n", b"{}")
    assert (status, reply) == (400, {"error": error})
    assert await store.list_events() == []


# Bytes that HTTP forbids in a header: aiohttp's parser refuses the request
# before any handler runs.
_PARSER_REFUSES = [
    b"Idempotency-Key: a\x01b\r\n",
    b"Idempotency-Key: a\x00b\r\n",
    b"Idempotency-Key: a\x7fb\r\n",
    b"Idempotency-Key: \x1b[2J\r\n",
    b"X-Anything: a\rb\r\n",
    b"Content-Type: application/json\x01\r\n",
    b"X\xff: 1\r\n",
]
# Bytes a handler sees: kept as text (U+FFFD for what is not UTF-8) where they are
# only data, never a 500.
_HANDLER_SEES = [
    b"Content-Type: \xff/\xfe\r\n",
    b"Content-Type: application/json; charset=\xff\r\n",
    b"Content-Type: ;;;==\r\n",
    b"Content-Encoding: \xff\r\n",
    b"X-Tabbed: a\tb\r\n",
    b"X-Latin: caf\xe9\r\n",
    b"Idempotency-Key: a\r\nIdempotency-Key: b\r\n",
]


@pytest.mark.parametrize("head", _PARSER_REFUSES + _HANDLER_SEES)
async def test_malformed_webhook_headers_are_never_a_500(
    client: TestClient[Any, Any], store: SQLiteStore, head: bytes
) -> None:
    hook = await _hook(client)
    assert client.server.port is not None
    status, reply = await raw_post(client.server.port, hook, head, b"{}")
    if head in _PARSER_REFUSES:
        assert status == 400, reply
        assert await store.list_events() == []
    else:
        assert status == 202, reply
        (event,) = await store.list_events()
        assert json.loads(reply) == {"event_id": event.id}


async def test_undecodable_compressed_body_is_400(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hook = await _hook(client)
    good = zlib.compress(b'{"a": 1}')
    for encoding, body, status in (("deflate", b"not deflate", 400), ("deflate", good, 202)):
        resp = await client.post(
            hook,
            data=body,
            headers={"Content-Type": "application/json", "Content-Encoding": encoding},
        )
        assert resp.status == status, await resp.text()
        if status == 400:
            assert (await resp.json())["error"] == (
                "the request body cannot be read: Can not decode content-encoding: deflate"
            )
    events = await store.list_events()
    assert [e.data["body"]["json"] for e in events] == [{"a": 1}]


# -- the management API and deployments --------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ('{"value": 1e999}', "number 1e999 is out of range"),
        ('{"value": "\\ud800"}', "lone surrogate \\ud800"),
    ],
)
async def test_management_api_json_that_cannot_be_stored_is_400(
    client: TestClient[Any, Any], raw: str, problem: str
) -> None:
    await deploy(client)
    resp = await client.put("/api/v1/projects/hello/store/k", data=raw, headers=AUTH)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error.startswith("request body is not valid JSON: ") and problem in error


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("value: Hi", 'value: "\\ud800"', "pawflow.yaml:6: project.vars[0].value: lone surrogate"),
        (
            "  triggers:",
            "  limits: {wall_seconds: .inf}\n  triggers:",
            "pawflow.yaml:7: project.limits.wall_seconds: must be a finite number, got .inf",
        ),
    ],
)
async def test_deploying_a_manifest_that_cannot_be_stored_is_400(
    client: TestClient[Any, Any], store: SQLiteStore, old: str, new: str, problem: str
) -> None:
    # A lone surrogate in the manifest once made the deployment answer 500.
    manifest = MANIFEST.replace(old, new)
    assert manifest != MANIFEST
    resp = await client.post(
        "/api/v1/deployments",
        data=project_zip(manifest=manifest),
        headers={**AUTH, "Content-Type": "application/zip"},
    )
    assert resp.status == 400
    assert (await resp.json())["error"].startswith(problem)
    assert await store.list_projects() == []


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/webhooks/%0D%7B", "/webhooks/%0D%7B"),  # "{" is not in a slug: the router's 404
        ("/api/v1/nope%0Aline%E2%80%A8", "/api/v1/nope%0Aline%E2%80%A8"),
    ],
)
async def test_router_errors_show_the_path_as_sent(
    client: TestClient[Any, Any], path: str, shown: str
) -> None:
    # Decoded, the path once put a line break into the error message.
    resp = await client.post(path, headers=AUTH)
    assert resp.status == 404
    assert await resp.json() == {"error": f"not found: POST {shown}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/sessions/ses_x/calls/1"),
        ("POST", "/api/v1/schedules/ticks"),
        ("PUT", "/api/v1/projects/hello/vars/NAME"),
    ],
)
async def test_worker_and_cli_endpoints_refuse_json_that_cannot_be_stored(
    client: TestClient[Any, Any], method: str, path: str
) -> None:
    await deploy(client)
    for raw in ('{"records": [1e999]}', '{"value": "\\ud800", "outcome": "\\ud800"}'):
        resp = await client.request(method, path, data=raw, headers=AUTH)
        assert resp.status == 400, (path, resp.status, await resp.text())
