"""A server app with the installed integrations, and helpers to deploy and sign."""

from __future__ import annotations

import hashlib
import hmac
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from pawflow.cli._archive import zip_project
from pawflow.dispatch import Dispatcher
from pawflow.integrations import IntegrationRegistry
from pawflow.server import ServerConfig, create_app
from pawflow.storage import SQLiteStore
from tests.helpers import free_port

TOKEN = "integration-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GITHUB_SECRET = "gh-webhook-secret-1234"
SLACK_SECRET = "slack-signing-secret-5678"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]

MANIFEST = """\
version: 1
project:
  name: {name}
  connections:
    - name: gh
      integration: github
      vars: {{base_url: "{github_url}"}}
    - name: chat
      integration: slack
      vars: {{base_url: "{slack_url}"}}
    - name: api
      integration: http
      vars: {{base_url: "http://127.0.0.1:9"}}
  triggers:
    - name: opened
      connection: gh
      event_type: issues
      call: program.py:on_event
    - name: command
      connection: chat
      event_type: slash_command
      call: program.py:on_event
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServerConfig:
    monkeypatch.delenv("PAWFLOW_SECRET_KEY", raising=False)
    # Nothing listens at this Temporal address: events stay pending.
    return ServerConfig(
        data_dir=tmp_path / "data", token=TOKEN, temporal_address=f"127.0.0.1:{free_port()}"
    )


@pytest.fixture
def app(config: ServerConfig, store: SQLiteStore) -> web.Application:
    dispatcher = Dispatcher(store, config.temporal_address, config.namespace, config.task_queue)
    return create_app(config, store, dispatcher, IntegrationRegistry.discover())


@pytest.fixture
async def client(app: web.Application, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(app)


def write_project(
    root: Path,
    name: str = "triage",
    *,
    github_url: str = "http://127.0.0.1:9",
    slack_url: str = "http://127.0.0.1:9/api/",
    manifest: str | None = None,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    text = manifest if manifest is not None else MANIFEST
    (root / "pawflow.yaml").write_text(
        text.format(name=name, github_url=github_url, slack_url=slack_url)
    )
    (root / "program.py").write_text(textwrap.dedent("def on_event(event):\n    pass\n"))
    return root


async def deploy(client: TestClient[Any, Any], root: Path) -> tuple[int, Any]:
    response = await client.post(
        "/api/v1/deployments",
        data=zip_project(root),
        headers={**AUTH, "Content-Type": "application/zip"},
    )
    return response.status, await response.json()


async def set_var(
    client: TestClient[Any, Any],
    project: str,
    name: str,
    value: str,
    *,
    connection: str | None = None,
    secret: bool = True,
) -> tuple[int, Any]:
    params = {"connection": connection} if connection else {}
    response = await client.put(
        f"/api/v1/projects/{project}/vars/{name}",
        json={"value": value, "secret": secret},
        params=params,
        headers=AUTH,
    )
    return response.status, await response.json()


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def slack_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def path_of(url: str) -> str:
    """The path of a webhook URL, for the test client."""
    return "/" + url.split("/", 3)[3]
