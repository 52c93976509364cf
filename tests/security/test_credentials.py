"""Which credential reaches what: admin, worker, a session's own, forged, expired, malformed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.credentials import mint_session_credential, session_of_credential
from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.storage import SQLiteStore
from tests.helpers import free_port
from tests.server._events import deploy_manifest, end_session, new_session
from tests.server._helpers import TOKEN

ADMIN = TOKEN  # what the shared builders send
WORKER = "worker-token-for-tests"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client(tmp_path: Path, store: SQLiteStore, aiohttp_client: Any) -> TestClient[Any, Any]:
    config = ServerConfig(
        data_dir=tmp_path / "data",
        token=ADMIN,
        worker_token=WORKER,
        temporal_address=f"127.0.0.1:{free_port()}",
    )
    dispatcher = Dispatcher(store, config.temporal_address, config.namespace, config.task_queue)
    result: TestClient[Any, Any] = await aiohttp_client(create_app(config, store, dispatcher))
    return result


def test_a_session_credential_names_its_session_and_cannot_be_forged() -> None:
    credential = mint_session_credential(WORKER, "ses_a")
    assert session_of_credential(WORKER, credential) == "ses_a"
    assert session_of_credential("another-worker-token", credential) is None
    forged = credential.replace("ses_a", "ses_b")
    assert session_of_credential(WORKER, forged) is None
    assert session_of_credential("", credential) is None  # no worker token: no sessions


async def test_the_worker_token_reaches_only_what_workers_need(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    dep = await deploy_manifest(store)
    session_id = await new_session(store, dep)
    assert (await client.get("/api/v1/info", headers=_auth(WORKER))).status == 200
    reply = await client.get(f"/api/v1/sessions/{session_id}/vars", headers=_auth(WORKER))
    assert reply.status == 200
    facts = (await reply.json())["session"]
    assert (facts["project"], facts["deployment_id"]) == ("demo", dep.id)
    for path in ("/api/v1/sessions", "/api/v1/projects", "/api/v1/deployments"):
        reply = await client.get(path, headers=_auth(WORKER))
        assert reply.status == 403, path
        assert "worker credential" in (await reply.json())["error"]
    put = await client.put(
        "/api/v1/projects/demo/vars/X", json={"value": "v"}, headers=_auth(WORKER)
    )
    assert put.status == 403


async def test_a_session_credential_dies_with_its_session(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    dep = await deploy_manifest(store)
    session_id = await new_session(store, dep)
    mine = _auth(mint_session_credential(WORKER, session_id))
    assert (await client.get("/api/v1/projects/demo/store", headers=mine)).status == 200
    await end_session(client, session_id)
    reply = await client.get("/api/v1/projects/demo/store", headers=mine)
    assert reply.status == 401
    assert "ended" in (await reply.json())["error"]


@pytest.mark.parametrize(
    "header",
    [
        b"Bearer \xff\xfe",  # not UTF-8
        b"Bearer " + b"x" * 10_000,
        b"Bearer a\x01b",
        b"Basic dXNlcjpwYXNz",
        b"pws1.ses_x.abc",
    ],
)
async def test_malformed_authorization_is_a_401_never_a_500(
    client: TestClient[Any, Any], header: bytes
) -> None:
    # Sent raw, as a hostile client would, past the client library's checks.
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + header
        + b"\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status_line = answer.split(b"\r\n", 1)[0]
    # aiohttp refuses an oversized header line itself (400); never a 500.
    assert status_line.split(b" ")[1] in (b"400", b"401"), status_line


async def test_a_session_reaches_no_transcript_or_journal_not_even_its_own(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    dep = await deploy_manifest(store)
    mine = await new_session(store, dep)
    headers = _auth(mint_session_credential(WORKER, mine))
    exchange = {"request": {"kind": "sleep", "key": 1.0}}
    for target in (mine, await new_session(store, dep)):
        for method, path, body in (
            ("GET", f"/api/v1/sessions/{target}/transcript", None),
            (
                "POST",
                f"/api/v1/sessions/{target}/transcript",
                {"start": 0, "exchanges": [exchange]},
            ),
            ("GET", f"/api/v1/sessions/{target}/calls/1", None),
            ("POST", f"/api/v1/sessions/{target}/calls/1", {"outcome": "AAAA", "shown": {}}),
        ):
            reply = await client.request(method, path, json=body, headers=headers)
            assert reply.status == 403, (method, path)
        assert await store.load_transcript(target) == []
        assert await store.journaled_call(target, 1) is None
