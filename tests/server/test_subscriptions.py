"""The subscription API: what a session may subscribe to, and when subscriptions end."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from pawflow.storage import SQLiteStore

from ._events import deploy_manifest, end_session, new_session
from ._helpers import AUTH


def _path(session_id: str) -> str:
    return f"/api/v1/sessions/{session_id}/subscriptions"


async def test_subscribe_to_a_trigger_or_connection_then_unsubscribe(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    session_id = await new_session(store, await deploy_manifest(store))
    resp = await client.post(
        _path(session_id), json={"source": "hook", "filter": "data.n > 1"}, headers=AUTH
    )
    assert resp.status == 201, await resp.text()
    hook_id = (await resp.json())["subscription_id"]
    assert hook_id.startswith("sub_")
    resp = await client.post(_path(session_id), json={"source": "gh", "filter": None}, headers=AUTH)
    assert resp.status == 201
    gh_id = (await resp.json())["subscription_id"]

    stored = await store.get_subscription(hook_id)
    assert stored is not None
    assert (stored.session_id, stored.project, stored.source, stored.filter) == (
        session_id,
        "demo",
        "hook",
        "data.n > 1",
    )
    resp = await client.get(_path(session_id), headers=AUTH)
    listed = (await resp.json())["subscriptions"]
    assert [(s["id"], s["source"], s["filter"]) for s in listed] == [
        (hook_id, "hook", "data.n > 1"),
        (gh_id, "gh", None),
    ]

    resp = await client.delete(f"/api/v1/subscriptions/{hook_id}", headers=AUTH)
    assert resp.status == 204
    # Again: a retried unsubscribe succeeds too.
    resp = await client.delete(f"/api/v1/subscriptions/{hook_id}", headers=AUTH)
    assert resp.status == 204
    assert [s.id for s in await store.list_subscriptions(session_id)] == [gh_id]


async def test_a_repeated_idempotency_key_returns_the_same_subscription(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    session_id = await new_session(store, await deploy_manifest(store))
    body = {"source": "hook", "filter": None, "idempotency_key": f"{session_id}/3"}
    ids = []
    for _ in range(2):
        resp = await client.post(_path(session_id), json=body, headers=AUTH)
        assert resp.status == 201, await resp.text()
        ids.append((await resp.json())["subscription_id"])
    assert ids[0] == ids[1]
    assert [s.id for s in await store.list_subscriptions(session_id)] == ids[:1]
    resp = await client.post(
        _path(session_id), json={**body, "idempotency_key": "other"}, headers=AUTH
    )
    assert (await resp.json())["subscription_id"] != ids[0]


async def test_bad_subscriptions_are_refused_and_store_nothing(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    session_id = await new_session(store, await deploy_manifest(store))
    cases: list[tuple[Any, int, str]] = [
        ({"source": "nope"}, 400, "source 'nope' is neither a trigger nor a connection"),
        ({"source": "hook", "filter": "data.n >"}, 400, "filter: syntax error"),
        ({"source": "hook", "filter": 3}, 400, "filter must be a CEL expression"),
        ({"source": ""}, 400, "source must be"),
        ({"filter": None}, 400, "source must be"),
        ({"source": "hook", "extra": 1}, 400, "unknown field 'extra'"),
        (["hook"], 400, "must be a JSON object"),
    ]
    for body, status, message in cases:
        resp = await client.post(_path(session_id), json=body, headers=AUTH)
        assert resp.status == status, body
        assert message in (await resp.json())["error"], body
    resp = await client.post(_path("ses_nope"), json={"source": "hook"}, headers=AUTH)
    assert resp.status == 404
    assert await store.list_subscriptions(session_id) == []


async def test_a_syntax_error_in_the_filter_is_reported_on_one_line(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    session_id = await new_session(store, await deploy_manifest(store))
    resp = await client.post(
        _path(session_id), json={"source": "hook", "filter": "data.n >"}, headers=AUTH
    )
    assert resp.status == 400
    message = (await resp.json())["error"]
    assert message and "\n" not in message


async def test_subscriptions_end_with_their_session(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    dep = await deploy_manifest(store)
    ending = await new_session(store, dep)
    staying = await new_session(store, dep)
    for session_id in (ending, staying, ending):
        resp = await client.post(_path(session_id), json={"source": "hook"}, headers=AUTH)
        assert resp.status == 201
    await end_session(client, ending, "error", error="boom")
    assert await store.list_subscriptions(ending) == []
    assert len(await store.list_subscriptions(staying)) == 1

    resp = await client.post(_path(ending), json={"source": "hook"}, headers=AUTH)
    assert resp.status == 409
    assert "has ended" in (await resp.json())["error"]
