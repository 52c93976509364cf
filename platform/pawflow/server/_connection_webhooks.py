"""Connection webhooks: ``ANY /webhooks/connections/{slug}`` → verified → events → reply.

The connection's integration verifies the request (a bad or missing signature
is a 401 and nothing is stored) and turns it into events, which are committed,
tagged with the connection, before any 2xx goes out; the provider's delivery
id is the idempotency key (in the connection's own namespace), so a
redelivery stores nothing new.
"""

from __future__ import annotations

import hashlib
import logging
import time

from aiohttp import web

from ..integrations import WebhookRejected, WebhookRequest
from ..storage import connection_source
from ._body import lone_surrogate
from ._connections import connection_values
from ._http import ApiError, clean_text, read_body, request_headers
from ._idempotency import check_identifier
from ._keys import INTEGRATIONS, SECRETS, WEBHOOK_PREFIX
from ._state import CONFIG, DISPATCHER, STORE

__all__ = ["CONNECTION_WEBHOOK_ROUTE", "handle_connection_webhook"]

log = logging.getLogger(__name__)

CONNECTION_WEBHOOK_ROUTE = WEBHOOK_PREFIX + "{slug}"
_MAX_KEY = 255


async def handle_connection_webhook(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    slug = clean_text(request.match_info["slug"])
    hook = await store.resolve_connection_webhook(slug)
    if hook is None:
        raise ApiError(404, f"no connection webhook {slug!r}")
    # Through the dispatcher's cache: a delivery neither reads nor parses the
    # deployment's manifest again.
    deployment = await request.app[DISPATCHER].deployments.active(hook.project)
    spec = None
    if deployment is not None and deployment.manifest is not None:
        spec = deployment.manifest.project.connection(hook.connection)
    if spec is None:
        raise ApiError(
            404, f"connection {hook.connection!r} is not in the active deployment of {hook.project}"
        )
    registry = request.app[INTEGRATIONS]
    if spec.integration not in registry:
        raise ApiError(503, f"integration {spec.integration!r} is not installed on this server")
    integration = registry.get(spec.integration)
    if integration.webhook is None:
        raise ApiError(404, f"{integration.name} connections receive no webhooks")

    body = await read_body(request, request.app[CONFIG].max_connection_body_bytes)
    values = await connection_values(store, request.app[SECRETS], hook.project, spec, integration)
    incoming = WebhookRequest(
        method=request.method.upper(),
        path=request.path,
        headers=request_headers(request),
        body=body,
        received_at=time.time(),
        query={clean_text(k): clean_text(v) for k, v in request.query.items()},
    )
    try:
        result = integration.webhook(incoming, values)
    except WebhookRejected as err:
        log.info("connection webhook %s/%s refused: %s", hook.project, hook.connection, err)
        raise ApiError(err.status, f"connection {hook.connection!r}: {err}") from None

    if any(lone_surrogate(found.data) is not None for found in result.events):
        # Not storable (and not text): refused whole, like a webhook's JSON body.
        raise ApiError(
            400,
            f"connection {hook.connection!r}: the delivery holds a lone surrogate "
            "(\\uD800-\\uDFFF), which is not a character",
        )
    for found in result.events:
        # Checked for every event before any is stored: a delivery is taken whole or not at all.
        what = f"connection {hook.connection!r}: the delivery's"
        check_identifier(found.type, f"{what} event type", read_cleaned=True)
        if found.idempotency_key is not None:
            check_identifier(found.idempotency_key, f"{what} id", read_cleaned=True)
    event_ids: list[str] = []
    created_any = False
    for found in result.events:
        event, created = await store.add_event(
            project=hook.project,
            trigger=None,
            type=found.type,
            data=found.data,
            idempotency_key=_key(found.idempotency_key),
            connection=hook.connection,
            idempotency_source=connection_source(hook.connection),
        )
        event_ids.append(event.id)
        created_any = created_any or created
    if created_any:
        request.app[DISPATCHER].wake()
    headers: dict[str, str] = {}
    if len(event_ids) == 1:
        headers["Pawflow-Event-Id"] = event_ids[0]
    if event_ids and not created_any:
        headers["Pawflow-Duplicate"] = "true"
    log.debug("connection webhook %s/%s: %s", hook.project, hook.connection, event_ids)
    if result.reply is not None:
        reply = result.reply
        return web.Response(
            status=reply.status, body=reply.body, content_type=reply.content_type, headers=headers
        )
    return web.json_response({"event_ids": event_ids}, status=202, headers=headers)


def _key(key: str | None) -> str | None:
    # Providers' delivery ids are short; anything absurdly long is hashed
    # rather than refused, so a delivery is never lost over its id.
    if key is None or len(key) <= _MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
