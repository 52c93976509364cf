"""Webhook ingress: ``ANY /webhooks/{slug}`` → a committed event → 202.

Every check that can reject a request runs before the event is written, so an
error reply never leaves anything behind; the event is committed before the
202, so an accepted webhook is never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from ..storage import webhook_source
from ._body import parse_json
from ._http import ApiError, clean_text, read_body, request_headers
from ._idempotency import idempotency_header
from ._state import CONFIG, DISPATCHER, STORE
from ._sync import answer_sync_webhook

__all__ = ["handle_webhook"]

log = logging.getLogger(__name__)


async def handle_webhook(request: web.Request) -> web.Response:
    store = request.app[STORE]
    # Read through the dispatcher's cache: the slug, the active deployment and
    # its parsed manifest cost no store round trip while they are known.
    deployments = request.app[DISPATCHER].deployments
    slug = clean_text(request.match_info["slug"])
    hook = await deployments.webhook(slug)
    if hook is None:
        raise ApiError(404, f"no webhook {slug!r}")
    deployment = await deployments.active(hook.project)
    trigger = None
    if deployment is not None and deployment.manifest is not None:
        trigger = deployment.manifest.project.trigger(hook.trigger)
    if trigger is None or trigger.webhook is None:
        raise ApiError(
            404, f"webhook {slug!r}: trigger {hook.trigger!r} is not in the active deployment"
        )
    allowed = trigger.webhook.methods
    if request.method.upper() not in allowed:
        raise ApiError(
            405,
            f"method {request.method} not allowed; use {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )
    idempotency_key = idempotency_header(request)

    body = await read_body(request, request.app[CONFIG].max_body_bytes)
    data = {
        "method": request.method.upper(),
        "path": clean_text(request.path),
        "query": _group(
            (clean_text(name), clean_text(value)) for name, value in request.query.items()
        ),
        "headers": request_headers(request),
        "body": _parse_body(request.content_type, body),
    }
    event, created = await store.add_event(
        project=hook.project,
        trigger=hook.trigger,
        type=request.method.lower(),
        data=data,
        idempotency_key=idempotency_key,
        # The trigger's own namespace: a caller of this URL cannot claim the
        # keys of schedules, connections or other webhooks.
        idempotency_source=webhook_source(hook.trigger),
    )
    headers = {"Pawflow-Event-Id": event.id}
    if created:
        request.app[DISPATCHER].dispatch(event)
        log.debug("webhook %s: event %s", slug, event.id)
    else:
        headers["Pawflow-Duplicate"] = "true"
    if trigger.webhook.sync:
        return await answer_sync_webhook(request, event.id, trigger.webhook.timeout)
    return web.json_response({"event_id": event.id}, status=202, headers=headers)


def _group(pairs: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Pairs → {name: value}, or {name: [values...]} for a repeated name."""
    out: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if name not in out:
            out[name] = value
            continue
        previous = out[name]
        if isinstance(previous, list):
            previous.append(value)
        else:
            out[name] = [previous, value]
    return out


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        "/" in content_type and content_type.endswith("+json")
    )


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    content_type = content_type.lower()
    parsed: dict[str, Any] = {"text": None, "json": None, "form": None}
    if _is_json(content_type):
        if not body:
            return parsed
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "body is not valid UTF-8 (Content-Type is JSON)") from None
        try:
            parsed["json"] = parse_json(text)
        except (ValueError, RecursionError) as err:
            raise ApiError(400, f"body is not valid JSON: {_json_problem(err)}") from None
        parsed["text"] = text
        return parsed
    text = body.decode("utf-8", errors="replace")
    parsed["text"] = text or None
    if content_type == "application/x-www-form-urlencoded":
        # errors="replace" (the default, said out loud): "%ff" must not become a
        # lone surrogate.
        parsed["form"] = _group(parse_qsl(text, keep_blank_values=True, errors="replace"))
    return parsed


def _json_problem(err: BaseException) -> str:
    if isinstance(err, RecursionError):
        return "nested too deeply"
    return str(err).splitlines()[0] if str(err) else type(err).__name__
