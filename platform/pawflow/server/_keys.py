"""App state of integrations and vars: the integration registry and the secret box."""

from __future__ import annotations

import threading
from pathlib import Path

from aiohttp import web

from ..integrations import IntegrationRegistry
from ..secrets import SecretBox, load_secret_box

__all__ = ["INTEGRATIONS", "SECRETS", "WEBHOOK_PREFIX", "SecretKeeper"]

# Connection webhooks live beside trigger webhooks (/webhooks/{slug}) one level down.
WEBHOOK_PREFIX = "/webhooks/connections/"


class SecretKeeper:
    """The server's :class:`SecretBox`, made on first use, so a server that never
    handles a secret never creates a key file."""

    def __init__(self, data_dir: Path, box: SecretBox | None = None) -> None:
        self._data_dir = data_dir
        self._box = box
        self._lock = threading.Lock()

    def box(self) -> SecretBox:
        with self._lock:
            if self._box is None:
                self._box = load_secret_box(self._data_dir)
            return self._box

    def __repr__(self) -> str:
        return f"SecretKeeper({str(self._data_dir)!r})"


INTEGRATIONS = web.AppKey("integrations", IntegrationRegistry)
SECRETS = web.AppKey("secrets", SecretKeeper)
