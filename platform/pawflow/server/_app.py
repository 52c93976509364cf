"""The aiohttp application: routes, middlewares and the JSON error format."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError

from ..dispatch import Dispatcher
from ..errors import NotFoundError, PawflowError, StorageUnavailable
from ..integrations import IntegrationRegistry
from ..storage import Store
from ._api import add_api_routes
from ._auth import auth_middleware
from ._children import install_child_relay
from ._config import ServerConfig
from ._connection_webhooks import CONNECTION_WEBHOOK_ROUTE, handle_connection_webhook
from ._connections import install_integrations
from ._drain import DRAIN, Drain, drain_middleware
from ._health import add_health_routes
from ._http import ApiError
from ._metrics import METRICS, ServerMetrics, metrics, metrics_middleware
from ._retention import install_retention
from ._state import CONFIG, DISPATCHER, STORE
from ._stream import NOTIFIER, STREAM_SETTINGS, LogNotifier, StreamSettings
from ._sync import wake_sync_webhooks
from ._temporal import TEMPORAL, TemporalLink, keep_retention_aligned
from ._ui import install_ui, ui_auth_middleware
from ._webhooks import handle_webhook
from ._workers import WORKERS, WorkerRegistry, add_worker_routes

__all__ = ["create_app", "create_metrics_app"]

log = logging.getLogger(__name__)


def create_app(
    config: ServerConfig,
    store: Store,
    dispatcher: Dispatcher,
    integrations: IntegrationRegistry | None = None,
) -> web.Application:
    """The Pawflow HTTP application; the caller owns ``store`` and ``dispatcher``."""
    # The drain outermost: a request counts from its headers to its reply. Then
    # metrics: they count the status a client gets, errors included.
    app = web.Application(
        middlewares=[
            drain_middleware,
            metrics_middleware,
            error_middleware,
            auth_middleware,
            ui_auth_middleware,
        ]
    )
    app[CONFIG] = config
    app[STORE] = store
    app[DISPATCHER] = dispatcher
    app[NOTIFIER] = LogNotifier()
    # Open log streams would otherwise hold the stop for its whole time.
    app[DRAIN] = Drain(on_stop=app[NOTIFIER].close)
    app[STREAM_SETTINGS] = StreamSettings()
    app.cleanup_ctx.append(wake_sync_webhooks)
    app[TEMPORAL] = TemporalLink(
        config.temporal_address,
        config.namespace,
        config.temporal_access,
        retention_days=config.retention_days,
    )
    app.cleanup_ctx.append(keep_retention_aligned)
    app[METRICS] = ServerMetrics()
    app[WORKERS] = WorkerRegistry()
    install_child_relay(app, store)
    install_retention(app, store)
    add_health_routes(app)
    app.router.add_get("/metrics", metrics)  # the admin token (see _auth)
    add_api_routes(app)
    add_worker_routes(app)
    app.router.add_route("*", "/webhooks/{slug}", handle_webhook)
    # Integrations default to the installed plugins (entry points).
    install_integrations(app, integrations)
    app.router.add_route("*", CONNECTION_WEBHOOK_ROUTE, handle_connection_webhook)
    install_ui(app)  # the dashboard, under /ui/ (see _ui_auth for who may see it)
    app.on_shutdown.append(_end_streams)
    return app


def create_metrics_app(app: web.Application) -> web.Application:
    """Just ``/metrics`` of ``app``, without a token: for a loopback-only port."""
    side = web.Application()
    side[METRICS] = app[METRICS]
    side[STORE] = app[STORE]
    side[WORKERS] = app[WORKERS]
    side.router.add_get("/metrics", metrics)
    return side


async def _end_streams(app: web.Application) -> None:
    # Open log streams would otherwise hold shutdown for its whole timeout.
    app[NOTIFIER].close()


def error_reply(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """The one error shape of the API: ``{"error": "<one line>"}``."""
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if "\x00" in request.path:
        # No id, name or slug holds a NUL (and PostgreSQL's text cannot): such
        # a path names nothing, whichever route and store.
        return error_reply(404, f"not found: {request.method} {request.rel_url.raw_path}")
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
        # The path as sent (percent-encoded): decoded, "%0D" would break the line.
        path = request.rel_url.raw_path
        return error_reply(err.status, f"{reason}: {request.method} {path}", headers)
    except NotFoundError as err:
        return error_reply(404, str(err))
    except StorageUnavailable as err:
        log.error("%s %s: %s", request.method, request.path, err)
        return error_reply(
            503,
            # Why (a full disk, a lost database) is for the operator's log, not
            # for whoever sent the request.
            "the server's storage is unavailable now; nothing was stored, retry later",
            {"Retry-After": "30"},
        )
    except PawflowError as err:
        return error_reply(400, str(err))
    except asyncio.CancelledError:
        raise
    except RequestPayloadError as err:
        # A body aiohttp cannot decode (a bad gzip stream, say): the client's mistake.
        cause = err.__cause__
        reason = cause.message if isinstance(cause, HttpProcessingError) else ""
        detail = f": {reason.splitlines()[0]}" if reason.strip() else ""
        reply = error_reply(400, f"the request body cannot be read{detail}")
        # Nothing more of the body can be read: end it and the connection, or aiohttp
        # would try to drain it and log the same error again.
        request.content.feed_eof()
        reply.force_close()
        return reply
    except Exception as err:
        if isinstance(err, ConnectionResetError) and _client_gone(request):
            # Mid-body, typically: not the server's fault, and nobody is left to
            # read a reply (aiohttp still needs one).
            log.debug("client went away: %s %s: %s", request.method, request.path, err)
            return error_reply(400, "the client closed the connection")
        log.exception("internal error handling %s %s", request.method, request.path)
        return error_reply(500, "internal server error (details are in the server log)")


def _client_gone(request: web.Request) -> bool:
    # A reset of some other connection (the store's, an outgoing call's) leaves
    # the client's open: that one is an internal error.
    transport = request.transport
    return transport is None or transport.is_closing()
