"""Transcripts of sessions that continued as new: kept for the worker, refused to anyone else."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.storage import SQLiteStore

from ._events import deploy_manifest, end_session, new_session
from ._helpers import AUTH

EXCHANGE = {"request": {"kind": "sleep", "key": 1.0}, "outcome": None, "value": None, "stop": None}


async def test_a_transcript_is_kept_in_order_paged_and_dropped_at_the_end(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    session_id = await new_session(store, await deploy_manifest(store))
    path = f"/api/v1/sessions/{session_id}/transcript"
    first = [{**EXCHANGE, "value": i} for i in range(600)]
    assert (await client.post(path, json={"start": 0, "exchanges": first}, headers=AUTH)).ok
    # A retried save changes nothing: the first copy of each entry wins.
    again = {"start": 0, "exchanges": [{**EXCHANGE, "value": "other"}]}
    assert (await client.post(path, json=again, headers=AUTH)).ok
    page = await (await client.get(path, headers=AUTH)).json()
    assert page["more"] is True and [e["value"] for e in page["exchanges"]] == list(range(500))
    rest = await (await client.get(path + "?start=500", headers=AUTH)).json()
    assert rest["more"] is False and [e["value"] for e in rest["exchanges"]] == list(
        range(500, 600)
    )

    await end_session(client, session_id)
    assert await store.load_transcript(session_id) == []
    # A late save (a worker that lost the race) does not outlive the session.
    assert (await client.post(path, json={"start": 600, "exchanges": [EXCHANGE]}, headers=AUTH)).ok
    assert await store.load_transcript(session_id) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"start": -1, "exchanges": []}',
        b'{"start": 1.5, "exchanges": []}',
        b'{"start": true, "exchanges": []}',
        b'{"start": 0, "exchanges": {}}',
        b'{"start": 0, "exchanges": [1, 2]}',
        b'{"exchanges": []}',
        b"[]",
    ],
)
async def test_a_malformed_transcript_is_refused_and_stores_nothing(
    client: TestClient[Any, Any], store: SQLiteStore, body: bytes
) -> None:
    session_id = await new_session(store, await deploy_manifest(store))
    reply = await client.post(
        f"/api/v1/sessions/{session_id}/transcript",
        data=body,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert reply.status == 400
    assert "\n" not in (await reply.json())["error"]
    assert await store.load_transcript(session_id) == []
