"""The dashboard's login, cookie and CSRF rules, over HTTP (no browser)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.storage import Store
from tests.server._helpers import AUTH

Client = TestClient[Any, Any]


async def _login_url(client: Client) -> str:
    reply = await client.post("/api/v1/ui/login-codes", headers=AUTH)
    assert reply.status == 201, await reply.text()
    url: str = (await reply.json())["url"]
    assert "/ui/login?code=" in url
    return url[url.index("/ui/login") :]


async def _log_in(client: Client) -> str:
    """Logs the client in; returns the page's CSRF token."""
    reply = await client.get(await _login_url(client), allow_redirects=False)
    assert reply.status == 303
    assert reply.headers["Location"] == "/ui/sessions"
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    page = await client.get("/ui/sessions")
    assert page.status == 200
    found = re.search(r'name="csrf-token" content="([^"]+)"', await page.text())
    assert found is not None
    return found.group(1)


async def test_login_codes_need_the_admin_token(client: Client) -> None:
    assert (await client.post("/api/v1/ui/login-codes")).status == 401
    bad = {"Authorization": "Bearer nope"}
    assert (await client.post("/api/v1/ui/login-codes", headers=bad)).status == 401


@pytest.mark.parametrize("path", ["/ui/sessions", "/ui/projects", "/ui/status", "/ui/events/x"])
async def test_a_page_without_a_session_redirects_to_login(client: Client, path: str) -> None:
    reply = await client.get(path, allow_redirects=False)
    assert reply.status == 303
    assert reply.headers["Location"].startswith("/ui/login?next=")
    login = await client.get(reply.headers["Location"])
    assert login.status == 200
    assert "paw ui" in await login.text()


async def test_the_api_still_answers_401_to_a_dashboard_cookie(client: Client) -> None:
    await _log_in(client)
    reply = await client.get("/api/v1/sessions")
    assert reply.status == 401


async def test_a_login_code_works_once(client: Client) -> None:
    url = await _login_url(client)
    first = await client.get(url, allow_redirects=False)
    assert first.status == 303
    client.session.cookie_jar.clear()
    again = await client.get(url, allow_redirects=False)
    assert again.status == 401
    assert "not valid" in await again.text()
    assert (await client.get("/ui/sessions", allow_redirects=False)).status == 303


async def test_state_changes_need_the_csrf_token(client: Client) -> None:
    csrf = await _log_in(client)
    no_token = await client.post("/ui/data/events/nope/redispatch", json={})
    assert no_token.status == 403
    wrong = await client.post(
        "/ui/data/events/nope/redispatch", json={}, headers={"X-CSRF-Token": "x" + csrf}
    )
    assert wrong.status == 403
    right = await client.post(
        "/ui/data/events/nope/redispatch", json={}, headers={"X-CSRF-Token": csrf}
    )
    # Through to the API's own handler, which knows no such event.
    assert right.status == 404
    assert (await right.json())["error"] == "no event 'nope'"


async def test_data_without_a_session_is_401_not_a_redirect(client: Client) -> None:
    reply = await client.get("/ui/data/sessions/rows", allow_redirects=False)
    assert reply.status == 401


async def test_pages_carry_a_strict_content_security_policy(client: Client) -> None:
    await _log_in(client)
    reply = await client.get("/ui/status")
    assert reply.status == 200
    policy = reply.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert reply.headers["X-Frame-Options"] == "DENY"


async def test_logout_ends_the_session(client: Client) -> None:
    csrf = await _log_in(client)
    reply = await client.post("/ui/logout", data={"csrf": csrf}, allow_redirects=False)
    assert reply.status == 303
    assert (await client.get("/ui/sessions", allow_redirects=False)).status == 303


async def test_login_goes_back_only_to_a_dashboard_page(client: Client) -> None:
    url = await _login_url(client)
    reply = await client.get(url + "&next=//evil.example/x", allow_redirects=False)
    assert reply.headers["Location"] == "/ui/sessions"
    url = await _login_url(client)
    reply = await client.get(url + "&next=/ui/status", allow_redirects=False)
    assert reply.headers["Location"] == "/ui/status"


async def test_the_cookie_is_secure_when_the_public_url_is_https(
    config: ServerConfig, store: Store, aiohttp_client: Any
) -> None:
    https = dataclasses.replace(config, public_url="https://paw.example.com")
    dispatcher = Dispatcher(store, https.temporal_address, https.namespace, https.task_queue)
    client = await aiohttp_client(create_app(https, store, dispatcher))
    url = await _login_url(client)
    reply = await client.get(url, allow_redirects=False)
    assert reply.status == 303
    assert "Secure" in reply.headers["Set-Cookie"]
    answer = await client.post("/api/v1/ui/login-codes", headers=AUTH)
    assert (await answer.json())["url"].startswith("https://paw.example.com/ui/login?code=")
