"""The Pawflow HTTP server: management API, webhook ingress and live session logs.

:func:`serve` runs a complete server (store, dispatcher, listener);
:func:`create_app` builds just the aiohttp application around a store and a
dispatcher the caller owns.
"""

from ._app import create_app
from ._config import ServerConfig
from ._serve import RunningServer, serve

__all__ = ["RunningServer", "ServerConfig", "create_app", "serve"]
