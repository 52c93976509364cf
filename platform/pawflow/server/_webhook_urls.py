"""The public URL of a webhook trigger, for a session to hand out
(``pawflow.webhook_url``): e.g. a callback link in an approval request.

Built like the URLs ``paw deploy`` prints (``base_url`` and the trigger's
slug), so both agree. A session credential reaches only its own session's
route (see ``_auth``), and the trigger is looked up in that session's own
deployment: no other project's URL can be named.
"""

from __future__ import annotations

from aiohttp import web

from ..manifest import Manifest
from ._http import ApiError, base_url, clean_text, live_session
from ._state import CONFIG, STORE

__all__ = ["WEBHOOK_URL_ROUTE", "add_webhook_url_routes"]

WEBHOOK_URL_ROUTE = "/api/v1/sessions/{id}/webhooks/{trigger}"
_MAX_NAME = 255


def add_webhook_url_routes(app: web.Application) -> None:
    """Register the webhook URL route on ``app``."""
    app.router.add_get(WEBHOOK_URL_ROUTE, get_webhook_url)


async def get_webhook_url(request: web.Request) -> web.Response:
    """→ ``{"trigger": NAME, "url": "<public base>/webhooks/<slug>"}``; 404 when the
    session's deployment has no such trigger, 400 when it is not a webhook trigger."""
    store = request.app[STORE]
    name = clean_text(request.match_info["trigger"])[: _MAX_NAME + 1]
    session = await live_session(store, request.match_info["id"])
    deployment = await store.get_deployment(session.deployment_id)
    project = Manifest.from_dict(deployment.manifest).project if deployment else None
    trigger = project.trigger(name) if project is not None else None
    if trigger is None:
        raise ApiError(404, f"project {session.project!r} has no trigger {name!r}")
    if trigger.webhook is None:
        raise ApiError(
            400, f"trigger {name!r} of project {session.project!r} is not a webhook trigger"
        )
    hook = await store.ensure_webhook(session.project, trigger.name)
    url = f"{base_url(request, request.app[CONFIG])}/webhooks/{hook.slug}"
    return web.json_response({"trigger": trigger.name, "url": url})
