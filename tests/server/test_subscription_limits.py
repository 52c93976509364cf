"""What one session may ask of the subscription API: a bounded number of live
subscriptions, each with a bounded filter."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.errors import ServerError
from pawflow.sessions._serverlink import ServerLink
from pawflow.storage import MAX_SUBSCRIPTIONS_PER_SESSION, SQLiteStore

from ._events import deploy_manifest, new_session
from ._helpers import AUTH, TOKEN


def _path(session_id: str) -> str:
    return f"/api/v1/sessions/{session_id}/subscriptions"


async def test_subscriptions_beyond_the_cap_are_409_naming_it(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    session_id = await new_session(store, await deploy_manifest(store))
    for i in range(MAX_SUBSCRIPTIONS_PER_SESSION):
        resp = await client.post(
            _path(session_id), json={"source": "hook", "idempotency_key": f"k{i}"}, headers=AUTH
        )
        assert resp.status == 201, await resp.text()
    resp = await client.post(_path(session_id), json={"source": "hook"}, headers=AUTH)
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert f"the most a session may ({MAX_SUBSCRIPTIONS_PER_SESSION})" in error
    assert "\n" not in error
    assert len(await store.list_subscriptions(session_id)) == MAX_SUBSCRIPTIONS_PER_SESSION

    # What the session's program sees, through the link its worker uses.
    assert client.server.port is not None
    link = ServerLink(f"http://127.0.0.1:{client.server.port}", TOKEN)

    def subscribe() -> Any:
        try:  # the link keeps one connection per thread: close it in this one
            return link.post_json(_path(session_id), {"source": "hook"})
        finally:
            link.close()

    with pytest.raises(ServerError) as info:
        await asyncio.to_thread(subscribe)
    assert info.value.status == 409
    assert f"({MAX_SUBSCRIPTIONS_PER_SESSION}); unsubscribe one first" in str(info.value)

    # A retried subscribe is not a new one: it still gets its subscription.
    resp = await client.post(
        _path(session_id), json={"source": "hook", "idempotency_key": "k7"}, headers=AUTH
    )
    assert resp.status == 201


async def test_an_overlong_filter_is_400_and_stores_nothing(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    session_id = await new_session(store, await deploy_manifest(store))
    expression = "data.n == 1 || " * 300 + "true"
    assert len(expression) > 4096
    resp = await client.post(
        _path(session_id), json={"source": "hook", "filter": expression}, headers=AUTH
    )
    assert resp.status == 400
    assert (await resp.json())["error"] == "filter is longer than 4096 characters"
    assert await store.list_subscriptions(session_id) == []
