"""Vars with secrets, deploy checks of connections, listings and credential tests."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient

from pawflow.ids import new_id
from pawflow.secrets import SecretBox, SecretKeyError, load_secret_box
from pawflow.storage import DB_FILE, NewSession, SQLiteStore
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack

from .conftest import AUTH, deploy, set_var, write_project

Client = TestClient[Any, Any]
TOKEN_VALUE = "ghp-very-secret-value-42"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub().running() as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack().running() as fake:
        yield fake


def test_secret_box_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAWFLOW_SECRET_KEY", raising=False)
    box = load_secret_box(tmp_path)
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    sealed = box.seal("hunter2")
    assert "hunter2" not in sealed
    assert load_secret_box(tmp_path).open(sealed) == "hunter2"
    assert "hunter2" not in repr(box) and key_file.read_text().strip() not in repr(box)
    monkeypatch.setenv("PAWFLOW_SECRET_KEY", SecretBox.generate_key())
    with pytest.raises(SecretKeyError, match="another secret key"):
        load_secret_box(tmp_path).open(sealed)
    monkeypatch.setenv("PAWFLOW_SECRET_KEY", "not-a-key")
    with pytest.raises(SecretKeyError, match="not a valid Fernet key"):
        load_secret_box(tmp_path)


async def test_secret_vars_are_encrypted_and_never_listed(
    client: Client, database_url: str | None, tmp_path: Path
) -> None:
    status, body = await set_var(client, "triage", "token", TOKEN_VALUE, connection="gh")
    assert status == 200 and body["var"]["value"] is None and body["var"]["secret"]
    assert (await set_var(client, "triage", "REGION", "eu", secret=False))[0] == 200
    response = await client.get("/api/v1/projects/triage/vars", headers=AUTH)
    listed = (await response.json())["vars"]
    assert [(v["connection"], v["name"], v["value"]) for v in listed] == [
        (None, "REGION", "eu"),
        ("gh", "token", None),
    ]
    assert TOKEN_VALUE not in await response.text()
    only_gh = await client.get("/api/v1/projects/triage/vars?connection=gh", headers=AUTH)
    assert [v["name"] for v in (await only_gh.json())["vars"]] == ["token"]
    # At rest: ciphertext only.
    raw = _stored_rows(database_url, tmp_path, "SELECT value FROM vars")
    assert raw and all(TOKEN_VALUE not in row[0] for row in raw)


def _stored_rows(database_url: str | None, tmp_path: Path, sql: str) -> list[Any]:
    """What the database itself holds, read past the store."""
    if database_url is None:
        return sqlite3.connect(tmp_path / "data" / DB_FILE).execute(sql).fetchall()
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql).fetchall()


async def test_var_requests_are_checked(client: Client, tmp_path: Path) -> None:
    assert (await set_var(client, "Bad Name", "x", "v"))[0] == 400
    assert (await set_var(client, "triage", "9lives", "v"))[0] == 400
    response = await client.put("/api/v1/projects/triage/vars/x", data=b"not json", headers=AUTH)
    assert response.status == 400
    assert (await client.put("/api/v1/projects/triage/vars/x", json={"value": "v"})).status == 401
    await deploy(client, write_project(tmp_path / "p"))
    # Once the connection is deployed, its integration's schema applies.
    status, body = await set_var(client, "triage", "token", "t", connection="gh", secret=False)
    assert status == 400 and "secret" in body["error"]
    status, body = await set_var(client, "triage", "tokn", "t", connection="gh")
    assert status == 400 and "no var 'tokn'" in body["error"]
    deleted = await client.delete("/api/v1/projects/triage/vars/nothing", headers=AUTH)
    assert deleted.status == 404


async def test_deploy_rejects_unknown_integration_with_line(client: Client, tmp_path: Path) -> None:
    manifest = (
        "version: 1\nproject:\n  name: {name}\n  connections:\n    - name: gl\n"
        "      integration: gitlab\n"
    )
    status, body = await deploy(client, write_project(tmp_path / "p", manifest=manifest))
    assert status == 400
    assert body["error"] == (
        "pawflow.yaml:6: project.connections[0].integration: unknown integration 'gitlab' "
        "(installed: github, http, slack)"
    )


async def test_deploy_rejects_bad_and_secret_vars(client: Client, tmp_path: Path) -> None:
    base = "version: 1\nproject:\n  name: {name}\n  connections:\n    - name: gh\n"
    bad_url = base + "      integration: github\n      vars:\n        base_url: ftp://x\n"
    status, body = await deploy(client, write_project(tmp_path / "a", manifest=bad_url))
    assert status == 400
    assert body["error"].startswith("pawflow.yaml:8: project.connections[0].vars.base_url:")
    secret = base + "      integration: github\n      vars:\n        token: ghp-oops\n"
    status, body = await deploy(client, write_project(tmp_path / "b", manifest=secret))
    assert status == 400
    assert "'token' is a secret" in body["error"] and "ghp-oops" not in body["error"]
    unknown = base + "      integration: github\n      vars:\n        colour: red\n"
    status, body = await deploy(client, write_project(tmp_path / "c", manifest=unknown))
    assert status == 400 and "no var 'colour'" in body["error"]


async def test_connection_list_and_credential_tests(
    client: Client, tmp_path: Path, github: FakeGitHub, slack: FakeSlack
) -> None:
    root = write_project(tmp_path / "p", github_url=github.url, slack_url=slack.api_url)
    assert (await deploy(client, root))[0] == 201
    listed = (await (await client.get("/api/v1/connections", headers=AUTH)).json())["connections"]
    by_name = {c["name"]: c for c in listed}
    assert by_name["gh"]["missing"] == ["token"]
    assert by_name["gh"]["vars"]["base_url"] == github.url
    assert by_name["chat"]["missing"] == ["bot_token"]

    async def check(name: str) -> dict[str, Any]:
        response = await client.post(
            f"/api/v1/projects/triage/connections/{name}/test", headers=AUTH
        )
        assert response.status == 200
        result: dict[str, Any] = await response.json()
        return result

    missing = await check("gh")
    assert (
        not missing["ok"]
        and "paw var set --project triage --connection gh token" in missing["message"]
    )
    await set_var(client, "triage", "token", "wrong", connection="gh")
    assert (await check("gh")) == {"ok": False, "message": "GitHub refused the token (HTTP 401)"}
    await set_var(client, "triage", "token", github.token, connection="gh")
    assert await check("gh") == {"ok": True, "message": "authenticated as octocat"}
    await set_var(client, "triage", "bot_token", slack.token, connection="chat")
    assert await check("chat") == {"ok": True, "message": "authenticated as pawbot in Paw Team"}
    listed = (await (await client.get("/api/v1/connections", headers=AUTH)).json())["connections"]
    gh = next(c for c in listed if c["name"] == "gh")
    assert gh["missing"] == [] and gh["vars"]["token"] is None
    assert github.token not in str(listed) and slack.token not in str(listed)
    unknown = await client.post("/api/v1/projects/triage/connections/nope/test", headers=AUTH)
    assert unknown.status == 404


async def test_session_gets_decrypted_vars_of_its_own_deployment(
    client: Client, store: SQLiteStore, tmp_path: Path
) -> None:
    status, body = await deploy(client, write_project(tmp_path / "p"))
    assert status == 201
    await set_var(client, "triage", "token", TOKEN_VALUE, connection="gh")
    event, _ = await store.add_event(project="triage", trigger="opened", type="issues", data={})
    session_id = new_id("ses")
    await store.match_event(
        event.id,
        [NewSession(session_id, "triage", body["deployment_id"], "opened", "program.py:on_event")],
    )
    response = await client.get(f"/api/v1/sessions/{session_id}/connections/gh", headers=AUTH)
    assert response.status == 200
    assert await response.json() == {
        "name": "gh",
        "integration": "github",
        "vars": {"base_url": "http://127.0.0.1:9", "token": TOKEN_VALUE},
    }
    assert (await client.get(f"/api/v1/sessions/{session_id}/connections/gh")).status == 401
    missing = await client.get(f"/api/v1/sessions/{session_id}/connections/chat", headers=AUTH)
    assert missing.status == 400 and "bot_token" in (await missing.json())["error"]
    unknown = await client.get(f"/api/v1/sessions/{session_id}/connections/zz", headers=AUTH)
    assert unknown.status == 404


async def test_integration_list(client: Client) -> None:
    answer = await (await client.get("/api/v1/integrations", headers=AUTH)).json()
    by_name = {i["name"]: i for i in answer["integrations"]}
    assert sorted(by_name) == ["github", "http", "slack"]
    gh_vars = {v["name"]: v for v in by_name["github"]["vars"]}
    assert gh_vars["token"]["secret"] and gh_vars["webhook_secret"]["secret"]
    assert gh_vars["base_url"] == {
        **gh_vars["base_url"],
        "secret": False,
        "default": "https://api.github.com",
    }
    assert by_name["github"]["webhooks"] and not by_name["http"]["webhooks"]
