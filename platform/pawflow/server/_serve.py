"""Running a server: store, dispatcher and HTTP listener, started and stopped together."""

from __future__ import annotations

import errno
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from ..dispatch import Dispatcher
from ..errors import ConfigError
from ..storage import open_store
from ._app import create_app
from ._config import ServerConfig
from ._http import listen_url

__all__ = ["RunningServer", "serve"]

log = logging.getLogger(__name__)

DB_FILE = "pawflow.db"
_SHUTDOWN_SECONDS = 5.0


@dataclass(frozen=True)
class RunningServer:
    """A server accepting requests: ``url`` is where it listens, ``port`` the actual port."""

    url: str
    port: int
    public_url: str  # base of webhook URLs


@asynccontextmanager
async def serve(config: ServerConfig) -> AsyncIterator[RunningServer]:
    """Run a server until the ``async with`` block ends, then stop everything cleanly.

    Raises :class:`~pawflow.errors.ConfigError` when the address cannot be bound.
    """
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = await open_store(config.data_dir / DB_FILE)
    try:
        dispatcher = Dispatcher(store, config.temporal_address, config.namespace, config.task_queue)
        await dispatcher.start()
        try:
            runner = web.AppRunner(
                create_app(config, store, dispatcher),
                handle_signals=False,
                shutdown_timeout=_SHUTDOWN_SECONDS,
            )
            await runner.setup()
            try:
                port = await _listen(runner, config)
                url = listen_url(config.host, port)
                server = RunningServer(
                    url=url, port=port, public_url=(config.public_url or url).rstrip("/")
                )
                log.info("Pawflow server listening on %s", url)
                yield server
            finally:
                await runner.cleanup()
        finally:
            await dispatcher.stop()
    finally:
        await store.close()


async def _listen(runner: web.AppRunner, config: ServerConfig) -> int:
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {config.port} on {config.host} is already in use "
                f"(is another Pawflow server running? choose another port)"
            ) from None
        raise ConfigError(
            f"cannot listen on {config.host}:{config.port}: {err.strerror or err}"
        ) from None
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return config.port
