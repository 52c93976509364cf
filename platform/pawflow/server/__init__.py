"""The Pawflow HTTP server: management API, webhook ingress and live session logs.

:func:`serve` runs a complete server (store, dispatcher, listener);
:func:`create_app` builds just the aiohttp application around a store and a
dispatcher the caller owns.
"""

from ._app import create_app
from ._config import ServerConfig, server_config
from ._serve import RunningServer, open_configured_store, run_server, serve

__all__ = [
    "RunningServer",
    "ServerConfig",
    "create_app",
    "open_configured_store",
    "run_server",
    "serve",
    "server_config",
]
