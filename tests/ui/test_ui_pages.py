"""The dashboard's pages over HTTP: paging, filters, escaping, masking, log resumption."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from pawflow.server._state import STORE
from tests.server._events import deploy_manifest, new_session
from tests.server._helpers import AUTH

Client = TestClient[Any, Any]


async def _log_in(client: Client) -> str:
    reply = await client.post("/api/v1/ui/login-codes", headers=AUTH)
    url: str = (await reply.json())["url"]
    page = await client.get(url[url.index("/ui/login") :])
    assert page.status == 200
    found = re.search(r'name="csrf-token" content="([^"]+)"', await page.text())
    assert found is not None
    return found.group(1)


def _store(client: Client) -> Any:
    # Either back end (the builders are typed for SQLite, but speak the Store API).
    return client.server.app[STORE]


def _row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-id="([^"]+)"', html)


async def test_the_sessions_list_pages_past_100_newest_first(client: Client) -> None:
    await _log_in(client)
    store = _store(client)
    dep = await deploy_manifest(store)
    made = [await new_session(store, dep) for _ in range(101)]
    first = await (await client.get("/ui/sessions")).text()
    assert _row_ids(first) == made[::-1][:100]
    found = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert found is not None
    second = await (await client.get(found.group(1).replace("&amp;", "&"))).text()
    assert _row_ids(second) == [made[0]]
    assert 'rel="next"' not in second


async def test_sessions_filter_by_trigger_and_state(client: Client) -> None:
    await _log_in(client)
    store = _store(client)
    dep = await deploy_manifest(store)
    session_id = await new_session(store, dep)
    page = await (await client.get("/ui/sessions?trigger=hook&state=created")).text()
    assert _row_ids(page) == [session_id]
    page = await (await client.get("/ui/sessions?trigger=other")).text()
    assert _row_ids(page) == []
    rows = await (await client.get("/ui/data/sessions/rows?project=demo")).text()
    assert _row_ids(rows) == [session_id]
    bad = await client.get("/ui/sessions?state=sleepy")
    assert bad.status == 400
    assert "state must be one of" in await bad.text()


async def test_an_events_payload_is_escaped_and_its_credentials_masked(client: Client) -> None:
    await _log_in(client)
    store = _store(client)
    await deploy_manifest(store)
    event, _ = await store.add_event(
        project="demo",
        trigger="hook",
        type="post",
        data={
            "headers": {"authorization": "Bearer sekrit", "x-note": "<script>alert(1)</script>"},
            "body": {"json": {"html": "<img src=x onerror=alert(1)>"}},
        },
    )
    html = await (await client.get(f"/ui/events/{event.id}")).text()
    assert "sekrit" not in html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


async def test_a_reconnecting_log_stream_resumes_after_last_event_id(client: Client) -> None:
    await _log_in(client)
    store = _store(client)
    dep = await deploy_manifest(store)
    session_id = await new_session(store, dep)
    records = [
        {"session_id": session_id, "n": n, "time": 1000.0 + n, "type": "print", "text": f"p{n}"}
        for n in range(3)
    ]
    records.append(
        {"session_id": session_id, "n": 3, "time": 1004.0, "type": "state", "state": "completed"}
    )
    reply = await client.post("/api/v1/sessions/log", json={"records": records}, headers=AUTH)
    assert reply.status == 200
    stream = await client.get(
        f"/ui/data/sessions/{session_id}/log/stream", headers={"Last-Event-ID": "1"}
    )
    body = await stream.text()
    assert re.findall(r"^id: (\d+)$", body, re.MULTILINE) == ["2", "3"]
    assert "event: end" in body


async def test_pages_for_unknown_things_say_so(client: Client) -> None:
    await _log_in(client)
    reply = await client.get("/ui/sessions/ses_nope")
    assert reply.status == 404
    assert "no session &#39;ses_nope&#39;" in await reply.text()


async def test_projects_show_deployments_triggers_and_masked_vars(client: Client) -> None:
    await _log_in(client)
    store = _store(client)
    dep = await deploy_manifest(store)
    await new_session(store, dep)
    await store.set_var("demo", None, "API_KEY", "ciphertext-here", secret=True)
    await store.set_var("demo", None, "REGION", "eu-west", secret=False)
    html = await (await client.get("/ui/projects")).text()
    assert f'<tr data-id="{dep.id}">' in html
    assert "created 1" in html
    assert "/webhooks/" in html  # the hook trigger's URL
    assert "eu-west" in html
    assert "ciphertext-here" not in html


async def test_an_unknown_page_is_a_page_saying_so(client: Client) -> None:
    await _log_in(client)
    reply = await client.get("/ui/nowhere")
    assert reply.status == 404
    assert reply.content_type == "text/html"
    assert "there is no page /ui/nowhere" in await reply.text()
