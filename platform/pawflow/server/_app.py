"""The aiohttp application: routes, middlewares and the JSON error format."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from ..dispatch import Dispatcher
from ..errors import NotFoundError, PawflowError
from ..integrations import IntegrationRegistry
from ..storage import Store
from ._api import add_api_routes
from ._auth import auth_middleware
from ._children import install_child_relay
from ._config import ServerConfig
from ._connection_webhooks import CONNECTION_WEBHOOK_ROUTE, handle_connection_webhook
from ._connections import install_integrations
from ._http import ApiError
from ._state import CONFIG, DISPATCHER, STORE
from ._stream import NOTIFIER, STREAM_SETTINGS, LogNotifier, StreamSettings
from ._temporal import TEMPORAL, TemporalLink
from ._webhooks import handle_webhook

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(
    config: ServerConfig,
    store: Store,
    dispatcher: Dispatcher,
    integrations: IntegrationRegistry | None = None,
) -> web.Application:
    """The Pawflow HTTP application; the caller owns ``store`` and ``dispatcher``."""
    app = web.Application(middlewares=[error_middleware, auth_middleware])
    app[CONFIG] = config
    app[STORE] = store
    app[DISPATCHER] = dispatcher
    app[NOTIFIER] = LogNotifier()
    app[STREAM_SETTINGS] = StreamSettings()
    app[TEMPORAL] = TemporalLink(config.temporal_address, config.namespace)
    install_child_relay(app, store)
    app.router.add_get("/healthz", healthz)
    add_api_routes(app)
    app.router.add_route("*", "/webhooks/{slug}", handle_webhook)
    # Integrations default to the installed plugins (entry points).
    install_integrations(app, integrations)
    app.router.add_route("*", CONNECTION_WEBHOOK_ROUTE, handle_connection_webhook)
    app.on_shutdown.append(_end_streams)
    return app


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _end_streams(app: web.Application) -> None:
    # Open log streams would otherwise hold shutdown for its whole timeout.
    app[NOTIFIER].close()


def error_reply(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """The one error shape of the API: ``{"error": "<one line>"}``."""
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return error_reply(err.status, err.message, err.headers)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        # Raised by the router (unknown path, wrong method): keep Allow.
        headers = {"Allow": err.headers["Allow"]} if "Allow" in err.headers else None
        reason = (err.reason or "error").lower()
        return error_reply(err.status, f"{reason}: {request.method} {request.path}", headers)
    except NotFoundError as err:
        return error_reply(404, str(err))
    except PawflowError as err:
        return error_reply(400, str(err))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("internal error handling %s %s", request.method, request.path)
        return error_reply(500, "internal server error (details are in the server log)")
