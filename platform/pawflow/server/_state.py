"""Typed keys of the application state (no module globals hold server state)."""

from __future__ import annotations

from aiohttp import web

from ..dispatch import Dispatcher
from ..storage import Store
from ._config import ServerConfig

__all__ = ["CONFIG", "DISPATCHER", "STORE"]

CONFIG = web.AppKey("config", ServerConfig)
STORE = web.AppKey("store", Store)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
