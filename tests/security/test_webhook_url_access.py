"""A session's credential reads the webhook URLs of its own project only
(``pawflow.webhook_url``): never another project's, never through another
session, never once its session has ended."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from pawflow.credentials import mint_session_credential
from pawflow.storage import Store
from tests.security.test_credentials import WORKER, client
from tests.server._events import end_session, new_session
from tests.server._helpers import deploy, project_zip

__all__ = ["client"]  # the server the credential tests use, with a worker token

OTHER = """\
version: 1
project:
  name: other
  triggers:
    - name: secret-callback
      webhook: {}
      call: program.py:on_greet
"""


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _session_of(store: Store, deployed: dict[str, Any]) -> str:
    deployment = await store.get_deployment(deployed["deployment_id"])
    assert deployment is not None
    return await new_session(store, deployment)


async def test_a_session_reads_no_other_projects_webhook_url(
    client: TestClient[Any, Any], store: Store
) -> None:
    mine = await deploy(client)
    theirs = await deploy(client, project_zip(OTHER))
    secret_slug = theirs["webhooks"]["secret-callback"].rsplit("/", 1)[1]
    session = await _session_of(store, mine)
    their_session = await _session_of(store, theirs)
    headers = _auth(mint_session_credential(WORKER, session))

    own = await client.get(f"/api/v1/sessions/{session}/webhooks/greet", headers=headers)
    assert own.status == 200
    assert (await own.json())["url"] == mine["webhooks"]["greet"]

    # Their trigger's name, asked in this session's own project: not found.
    by_name = await client.get(
        f"/api/v1/sessions/{session}/webhooks/secret-callback", headers=headers
    )
    # Through their session: refused before anything is looked up.
    through = await client.get(
        f"/api/v1/sessions/{their_session}/webhooks/secret-callback", headers=headers
    )
    assert (by_name.status, through.status) == (404, 403)
    for reply in (by_name, through):
        assert secret_slug not in await reply.text()


async def test_a_webhook_url_needs_a_live_session_credential(
    client: TestClient[Any, Any], store: Store
) -> None:
    session = await _session_of(store, await deploy(client))
    path = f"/api/v1/sessions/{session}/webhooks/greet"
    assert (await client.get(path, headers=_auth(WORKER))).status == 403
    assert (await client.get(path)).status == 401
    headers = _auth(mint_session_credential(WORKER, session))
    assert (await client.get(path, headers=headers)).status == 200
    await end_session(client, session)
    assert (await client.get(path, headers=headers)).status == 401
