"""Running a server: store, dispatcher and HTTP listener, started and stopped together."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TextIO

from aiohttp import web

from ..config import PUBLIC_URL_HINT, is_wildcard, listen_url, reachable_host
from ..dispatch import Dispatcher
from ..errors import ConfigError
from ..processes import make_undumpable, raise_open_files_limit
from ..secrets import SecretBox, find_secret_box
from ..storage import Store, connect_store
from ._app import create_app, create_metrics_app
from ._config import ServerConfig
from ._drain import CUT_SECONDS, DRAIN, stop_gracefully
from ._keys import check_secret_key

__all__ = ["RunningServer", "open_configured_store", "run_server", "serve"]

log = logging.getLogger(__name__)

_METRICS_HOST = "127.0.0.1"  # the token-free metrics port is never reachable from outside


@dataclass(frozen=True)
class RunningServer:
    """A server accepting requests: ``url`` is where it listens, ``port`` the actual port."""

    url: str
    port: int
    public_url: str  # base of webhook URLs
    metrics_url: str | None = None  # the token-free /metrics, when a port was given
    public_url_hint: str | None = None  # why webhook URLs may not reach this server


async def open_configured_store(config: ServerConfig) -> Store:
    """The store the configuration names: SQLite in the data dir, or PostgreSQL."""
    return await connect_store(config.database_url, config.data_dir)


@asynccontextmanager
async def serve(config: ServerConfig) -> AsyncIterator[RunningServer]:
    """Run a server until the ``async with`` block ends, then stop everything cleanly:
    the listener first (new connections are refused at once; requests already
    begun, bodies still arriving included, get ``config.shutdown_seconds`` to
    finish), then the dispatcher, then the store.

    Raises :class:`~pawflow.errors.ConfigError` when the address cannot be bound,
    or when the secret key is not the one the store's secrets are sealed with.
    """
    config, hint = _with_public_url(config)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = await open_configured_store(config)
    try:
        # Before taking any request: a wrong key would seal secrets nobody else reads.
        box = (
            SecretBox(config.secret_key) if config.secret_key else find_secret_box(config.data_dir)
        )
        await check_secret_key(store, box, config.data_dir)
        dispatcher = Dispatcher(
            store,
            config.temporal_address,
            config.namespace,
            config.task_queue,
            connect_options=config.temporal_access.connect_kwargs(),
        )
        await dispatcher.start()
        try:
            app = create_app(config, store, dispatcher)
            # The drain gives requests their time (see stop_gracefully); the
            # runner's own timeout is for what is cut after that.
            runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=CUT_SECONDS)
            await runner.setup()
            try:
                port = await _listen(runner, config.host, config.port)
                # Clients here (paw up's workers, the banner's commands) use loopback
                # when the server listens everywhere.
                url = listen_url("127.0.0.1" if is_wildcard(config.host) else config.host, port)
                metrics_url = None
                if config.metrics_port is not None:
                    metrics_runner = web.AppRunner(
                        create_metrics_app(app), handle_signals=False, shutdown_timeout=CUT_SECONDS
                    )
                    await metrics_runner.setup()
                    try:
                        metrics_port = await _listen(
                            metrics_runner, _METRICS_HOST, config.metrics_port
                        )
                    except BaseException:
                        await stop_gracefully(metrics_runner)
                        raise
                    metrics_url = listen_url(_METRICS_HOST, metrics_port) + "/metrics"
                else:
                    metrics_runner = None
                try:
                    server = RunningServer(
                        url=url,
                        port=port,
                        public_url=(config.public_url or url).rstrip("/"),
                        metrics_url=metrics_url,
                        public_url_hint=hint,
                    )
                    log.info("Pawflow server listening on %s", url)
                    yield server
                finally:
                    if metrics_runner is not None:
                        await stop_gracefully(metrics_runner)
            finally:
                await stop_gracefully(runner, app[DRAIN], config.shutdown_seconds)
        finally:
            await dispatcher.stop()
    finally:
        await store.close()


def _with_public_url(config: ServerConfig) -> tuple[ServerConfig, str | None]:
    """A wildcard host (``0.0.0.0``) is no address to send webhooks to: without a
    configured public URL, use the machine's outward address and say so."""
    if config.public_url is not None or not is_wildcard(config.host):
        return config, None
    port = config.port
    if port == 0:
        # The URL is fixed before listening: pick the port now.
        from ..up import free_port

        port = free_port("0.0.0.0")
    public = listen_url(reachable_host(config.host), port)
    return dataclasses.replace(config, port=port, public_url=public), PUBLIC_URL_HINT


async def _listen(runner: web.AppRunner, host: str, port: int) -> int:
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is already in use "
                f"(is another Pawflow server running? choose another port)"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return port


def run_server(config: ServerConfig, *, out: TextIO | None = None) -> None:
    """``paw server``: serve until SIGINT or SIGTERM, then stop gracefully."""
    from ..up import run_until_signalled

    make_undumpable()  # it holds the admin token
    # A keep-alive connection from every worker thread running a session's call.
    raise_open_files_limit()
    asyncio.run(run_until_signalled(_serve_forever(config, out or sys.stdout), "the server"))


async def _serve_forever(config: ServerConfig, out: TextIO) -> None:
    async with serve(config) as server:
        lines = [
            "Pawflow server is up (no workers here: run 'paw worker' against it).",
            f"  listening  {server.url}",
            f"  webhooks   {server.public_url}/webhooks/...",
            f"  temporal   {config.temporal_address} ({config.temporal_access.kind}), "
            f"namespace {config.namespace}, task queue {config.task_queue}",
            "  store      "
            + ("PostgreSQL" if config.database_url else f"SQLite in {config.data_dir}"),
            f"  health     {server.url}/healthz, {server.url}/readyz",
            f"  metrics    {server.metrics_url or server.url + '/metrics (admin token)'}",
        ]
        if server.public_url_hint:
            lines.append(f"  note       {server.public_url_hint}")
        out.write("\n".join(lines) + "\n")
        out.flush()
        await asyncio.Event().wait()
