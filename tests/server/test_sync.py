"""Synchronous webhooks: the request waits for its session's answer, its end, or
the timeout. The dispatcher runs (Temporal unreachable), so events become
sessions as in production; the test plays the session through the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from pawflow.dispatch import Dispatcher
from pawflow.ids import new_id
from pawflow.server import ServerConfig, create_app
from pawflow.server._state import DISPATCHER
from pawflow.server._stream import NOTIFIER, STREAM_SETTINGS, StreamSettings
from pawflow.storage import HttpOutcome, NewSession, SQLiteStore, Store
from tests.helpers import wait_for

from ._events import end_session
from ._helpers import AUTH, deploy, project_zip, webhook_path
from .conftest import ClientFactory

MANIFEST = """\
version: 1
project:
  name: syncy
  triggers:
    - name: ask
      webhook: {sync: true, timeout: 20}
      call: program.py:on_ask
    - name: quick
      webhook: {sync: true, timeout: 0.3}
      call: program.py:on_ask
    - name: plain
      webhook: {}
      call: program.py:on_ask
    - name: picky
      webhook: {sync: true, timeout: 20}
      filter: "data.body.json.go == true"
      call: program.py:on_ask
"""

PROGRAM = """\
def on_ask(event):
    return {"ok": True}
"""


@pytest.fixture
async def hooks(
    client: TestClient[Any, Any], app: web.Application
) -> AsyncIterator[dict[str, str]]:
    deployed = await deploy(client, project_zip(MANIFEST, PROGRAM))
    dispatcher = app[DISPATCHER]
    await dispatcher.start()
    try:
        yield {name: webhook_path(url) for name, url in deployed["webhooks"].items()}
    finally:
        await dispatcher.stop()


async def _ask(
    client: TestClient[Any, Any], store: SQLiteStore, path: str, **kwargs: Any
) -> tuple[asyncio.Future[ClientResponse], str]:
    """Send the webhook; returns (the pending reply, the session it made)."""
    reply = asyncio.ensure_future(client.post(path, **kwargs))

    async def session() -> str | None:
        if reply.done():
            raise AssertionError(f"answered early: {reply.result().status}")
        found = await store.list_sessions(project="syncy")
        return found[0].id if found else None

    session_id: str = await wait_for(session, message="the webhook's session")
    return reply, session_id


async def _outcome(client: TestClient[Any, Any], session_id: str, body: Any) -> ClientResponse:
    return await client.post(f"/api/v1/sessions/{session_id}/http_outcome", json=body, headers=AUTH)


async def test_the_sessions_outcome_is_the_exact_reply(
    client: TestClient[Any, Any], store: SQLiteStore, hooks: dict[str, str]
) -> None:
    reply, session_id = await _ask(client, store, hooks["ask"], json={"q": 1})
    resp = await _outcome(
        client,
        session_id,
        {"status": 201, "headers": {"X-Answer": "yes"}, "json": {"made": [1, 2]}},
    )
    assert resp.status == 200
    assert await resp.json() == {"accepted": True}
    answer = await reply
    assert answer.status == 201
    assert answer.headers["X-Answer"] == "yes"
    assert answer.headers["Content-Type"] == "application/json"
    assert await answer.json() == {"made": [1, 2]}

    # Only the first answer counts.
    resp = await _outcome(client, session_id, {"status": 500, "body": "late"})
    assert await resp.json() == {"accepted": False}
    stored = await store.get_http_outcome(session_id)
    assert stored is not None
    assert stored.status == 201


async def test_a_text_body_with_its_own_content_type(
    client: TestClient[Any, Any], store: SQLiteStore, hooks: dict[str, str]
) -> None:
    reply, session_id = await _ask(client, store, hooks["ask"], json={})
    await _outcome(
        client,
        session_id,
        {"status": 202, "headers": {"Content-Type": "text/csv"}, "body": "a,b\n1,2\n"},
    )
    answer = await reply
    assert answer.status == 202
    assert answer.headers["Content-Type"] == "text/csv"
    assert await answer.text() == "a,b\n1,2\n"


async def test_an_outcome_posted_before_the_end_wins_over_the_result(
    client: TestClient[Any, Any], store: SQLiteStore, hooks: dict[str, str]
) -> None:
    reply, session_id = await _ask(client, store, hooks["ask"], json={})
    # Stored behind the server's back (no wake-up): the end wakes the request,
    # which must still find the answer given before it.
    await store.set_http_outcome(session_id, HttpOutcome(418, {}, json="teapot"))
    await end_session(client, session_id, result={"ignored": True})
    answer = await reply
    assert (answer.status, await answer.json()) == (418, "teapot")


async def test_a_completed_session_answers_with_its_result(
    client: TestClient[Any, Any], store: SQLiteStore, hooks: dict[str, str]
) -> None:
    reply, session_id = await _ask(client, store, hooks["ask"], json={})
    await end_session(client, session_id, result={"total": 3, "items": ["a"]})
    answer = await reply
    assert answer.status == 200
    assert await answer.json() == {"total": 3, "items": ["a"]}
    assert answer.headers["Pawflow-Session-Id"] == session_id


async def test_a_failed_session_answers_500(
    client: TestClient[Any, Any], store: SQLiteStore, hooks: dict[str, str]
) -> None:
    reply, session_id = await _ask(client, store, hooks["ask"], json={})
    await end_session(client, session_id, "error", error="ValueError: boom")
    answer = await reply
    assert answer.status == 500
    assert await answer.json() == {"error": "session failed", "session_id": session_id}


async def test_no_answer_in_time_is_a_504_and_the_session_keeps_running(
    client: TestClient[Any, Any], store: SQLiteStore, hooks: dict[str, str]
) -> None:
    resp = await client.post(hooks["quick"], json={})
    assert resp.status == 504
    body = await resp.json()
    (session,) = await store.list_sessions(project="syncy")
    assert body["event_id"] == session.event_id
    assert body["session_id"] == session.id
    assert "keeps running" in body["error"]
    assert session.state == "created"


async def test_a_plain_webhook_does_not_wait(
    client: TestClient[Any, Any], store: SQLiteStore, hooks: dict[str, str]
) -> None:
    resp = await client.post(hooks["plain"], json={})
    assert resp.status == 202


async def test_a_repeated_delivery_gets_the_same_answer(
    client: TestClient[Any, Any], store: SQLiteStore, hooks: dict[str, str]
) -> None:
    headers = {"Idempotency-Key": "k-1"}
    reply, session_id = await _ask(client, store, hooks["ask"], json={}, headers=headers)
    await _outcome(client, session_id, {"status": 200, "json": {"n": 1}})
    assert await (await reply).json() == {"n": 1}
    again = await client.post(hooks["ask"], json={}, headers=headers)
    assert (again.status, await again.json()) == (200, {"n": 1})
    assert len(await store.list_sessions(project="syncy")) == 1


async def test_bad_outcomes_are_refused(
    client: TestClient[Any, Any], store: SQLiteStore, hooks: dict[str, str]
) -> None:
    reply, session_id = await _ask(client, store, hooks["ask"], json={})
    cases: list[tuple[Any, str]] = [
        ({"status": 99}, "status must be"),
        ({"status": "200"}, "status must be"),
        ({"status": 200, "headers": {"X-A": 1}}, "header 'X-A' must be a string"),
        ({"status": 200, "headers": {"X-A": "a\r\nX-B: b"}}, "without line breaks"),
        ({"status": 200, "headers": {"bad name": "x"}}, "header name 'bad name'"),
        ({"status": 200, "headers": ["x"]}, "headers must be an object"),
        ({"status": 200, "json": 1, "body": "x"}, "not both"),
        ({"status": 200, "body": {"a": 1}}, "body must be a string"),
        ({"status": 200, "html": "x"}, "unknown field 'html'"),
    ]
    for body, message in cases:
        resp = await _outcome(client, session_id, body)
        assert resp.status == 400, body
        assert message in (await resp.json())["error"], body
    resp = await _outcome(client, "ses_nope", {"status": 200})
    assert resp.status == 404
    assert await store.get_http_outcome(session_id) is None

    await end_session(client, session_id, result=None)
    assert (await (await reply).json()) is None
    resp = await _outcome(client, session_id, {"status": 200})
    assert resp.status == 409


async def test_an_event_no_trigger_takes_is_answered_at_once(
    client: TestClient[Any, Any], store: SQLiteStore, hooks: dict[str, str]
) -> None:
    resp = await client.post(hooks["picky"], json={"go": False})
    assert resp.status == 202
    body = await resp.json()
    assert body["session_id"] is None
    event = await store.get_event(body["event_id"])
    assert event is not None
    assert event.state == "unmatched"


class _HeldStore:
    """The store, counting the reads of a webhook looking for its event's
    session, and holding the dispatcher's matching until ``release`` is set."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.session_reads = 0
        self.matching = asyncio.Event()
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name == "list_sessions":

            async def counted(**kwargs: Any) -> Any:
                if kwargs.get("event_id") is not None:
                    self.session_reads += 1
                return await attr(**kwargs)

            return counted
        if name == "match_event":

            async def held(*args: Any) -> Any:
                self.matching.set()
                await self.release.wait()
                return await attr(*args)

            return held
        return attr


@pytest.fixture
async def held(
    config: ServerConfig, store: Store, aiohttp_client: ClientFactory
) -> AsyncIterator[tuple[TestClient[Any, Any], _HeldStore, dict[str, str]]]:
    """A server on a held store whose log streams and webhooks re-read the store
    only hourly: what reaches a waiting request quickly is woken by this server."""
    wrapped = _HeldStore(store)
    dispatcher = Dispatcher(
        wrapped,  # type: ignore[arg-type]
        config.temporal_address,
        config.namespace,
        config.task_queue,
    )
    app = create_app(config, wrapped, dispatcher)  # type: ignore[arg-type]
    app[STREAM_SETTINGS] = StreamSettings(recheck_seconds=3600)
    client = await aiohttp_client(app)
    deployed = await deploy(client, project_zip(MANIFEST, PROGRAM))
    await dispatcher.start()
    try:
        hooks = {name: webhook_path(url) for name, url in deployed["webhooks"].items()}
        yield client, wrapped, hooks
    finally:
        wrapped.release.set()
        await dispatcher.stop()


@pytest.mark.timeout(30)
async def test_the_dispatcher_wakes_a_webhook_waiting_for_its_session(
    held: tuple[TestClient[Any, Any], _HeldStore, dict[str, str]], store: Store
) -> None:
    client, wrapped, hooks = held
    reply = asyncio.ensure_future(client.post(hooks["ask"], json={}))
    await wait_for(lambda: wrapped.matching.is_set() and wrapped.session_reads, message="matching")
    # Time in which a webhook polling the store for its session would read it
    # again and again; one woken by the dispatcher read it once, and waits.
    await asyncio.sleep(0.5)
    assert wrapped.session_reads == 1
    assert not reply.done()
    wrapped.release.set()

    async def made() -> str | None:
        found = await store.list_sessions(project="syncy")
        return found[0].id if found else None

    session_id: str = await wait_for(made, message="the session")
    # The webhook must have its session to answer with its end; re-reading the
    # store hourly, only the dispatcher's wake-up gets it there in time.
    await wait_for(lambda: wrapped.session_reads == 2, message="the session found")
    await end_session(client, session_id, result={"done": True})
    answer = await reply
    assert (answer.status, await answer.json()) == (200, {"done": True})
    assert answer.headers["Pawflow-Session-Id"] == session_id


@pytest.mark.timeout(30)
async def test_a_webhook_waiting_for_its_session_ends_with_the_server(
    held: tuple[TestClient[Any, Any], _HeldStore, dict[str, str]],
) -> None:
    client, wrapped, hooks = held
    reply = asyncio.ensure_future(client.post(hooks["ask"], json={}))
    await wait_for(lambda: wrapped.matching.is_set() and wrapped.session_reads, message="matching")
    client.app[NOTIFIER].close()
    answer = await reply
    assert answer.status == 503
    assert (await answer.json())["session_id"] is None


@pytest.mark.timeout(30)
async def test_a_session_another_server_made_is_found_by_rereading_the_store(
    app: web.Application,
    aiohttp_client: ClientFactory,
    store: Store,
    open_again: Callable[[], Awaitable[Store]],
) -> None:
    # This server's dispatcher does not run: the event is matched by another
    # server, which cannot wake this one's requests.
    app[STREAM_SETTINGS] = StreamSettings(recheck_seconds=0.05)
    client = await aiohttp_client(app)
    deployed = await deploy(client, project_zip(MANIFEST, PROGRAM))
    reply = asyncio.ensure_future(client.post(webhook_path(deployed["webhooks"]["ask"]), json={}))

    async def pending() -> str | None:
        events = await store.list_events(project="syncy")
        return events[0].id if events else None

    event_id: str = await wait_for(pending, message="the webhook's event")
    other = await open_again()
    active = await other.active_deployment("syncy")
    assert active is not None
    new = NewSession(new_id("ses"), "syncy", active.id, "ask", "program.py:on_ask")
    (session,) = await other.match_event(event_id, [new])
    await other.set_http_outcome(session.id, HttpOutcome(201, {}, json="from afar"))
    answer = await reply
    assert (answer.status, await answer.json()) == (201, "from afar")
