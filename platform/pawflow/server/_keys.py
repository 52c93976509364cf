"""App state of integrations and vars: the integration registry and the secret box,
and the check that a server's secret key is the one its database's secrets use."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from aiohttp import web

from ..errors import ConfigError
from ..integrations import IntegrationRegistry
from ..secrets import SECRET_KEY_ENV, SECRET_KEY_FILE, SecretBox, load_secret_box
from ..storage import Store
from ._http import ApiError

__all__ = [
    "INTEGRATIONS",
    "KEY_FINGERPRINT_SETTING",
    "SECRETS",
    "WEBHOOK_PREFIX",
    "SecretKeeper",
    "SecretKeyMismatch",
    "check_secret_key",
]

log = logging.getLogger(__name__)

# Connection webhooks live beside trigger webhooks (/webhooks/{slug}) one level down.
WEBHOOK_PREFIX = "/webhooks/connections/"

KEY_FINGERPRINT_SETTING = "secret_key_fingerprint"
"""The store setting that holds :meth:`SecretBox.fingerprint` of the key in use."""

# Two servers replacing an orphan fingerprint at once: the loser looks again.
_REPLACE_ATTEMPTS = 3


class SecretKeyMismatch(ConfigError):
    """This server's secret key is not the one the database's secrets are sealed with."""


class SecretKeeper:
    """The server's :class:`SecretBox`, made on first use, so a server that never
    handles a secret never creates a key file. ``key``: the configured key
    (else ``PAWFLOW_SECRET_KEY`` or the data dir's ``secret.key``)."""

    def __init__(
        self, data_dir: Path, box: SecretBox | None = None, *, key: str | None = None
    ) -> None:
        self._data_dir = data_dir
        self._box = box
        self._key = key
        self._lock = threading.Lock()

    def box(self) -> SecretBox:
        with self._lock:
            if self._box is None:
                self._box = SecretBox(self._key) if self._key else load_secret_box(self._data_dir)
            return self._box

    async def sealing_box(self, store: Store) -> SecretBox:
        """The box to seal a new secret with, once the store agrees it is the key
        in use (see :func:`check_secret_key`): a key made just now is recorded,
        and a server whose key was superseded seals nothing another cannot read."""
        box = self.box()
        try:
            await check_secret_key(store, box, self._data_dir)
        except SecretKeyMismatch as err:
            # The server's configuration is wrong, not the request.
            log.error("%s", err)
            raise ApiError(409, str(err)) from None
        return box

    def __repr__(self) -> str:
        return f"SecretKeeper({str(self._data_dir)!r})"


async def check_secret_key(store: Store, box: SecretBox | None, data_dir: Path) -> None:
    """Refuse a secret key that would leave the database's secret vars unreadable.

    The store keeps the fingerprint of the key in use: the first key checked is
    recorded; a different one is refused while any secret var is stored (they
    were sealed with the recorded key), and else recorded instead, since it
    makes nothing unreadable. ``box`` None (SQLite, no key made yet) is refused
    only when secrets were sealed with a key that is now gone.

    Raises :class:`SecretKeyMismatch` (one line, naming neither key).
    """
    if box is None:
        if (
            await store.get_setting(KEY_FINGERPRINT_SETTING) is not None
            and await store.count_secret_vars()
        ):
            raise SecretKeyMismatch(
                f"{SECRET_KEY_ENV} is not set and {data_dir / SECRET_KEY_FILE} is missing, but "
                "this database's secret vars are encrypted with a key: set it again (or restore "
                "the file); a new key could not read them"
            )
        return
    mine = box.fingerprint()
    for _ in range(_REPLACE_ATTEMPTS):
        recorded = await store.put_setting_if_absent(KEY_FINGERPRINT_SETTING, mine)
        if recorded == mine:
            return
        if await store.count_secret_vars():
            break
        if await store.replace_setting(KEY_FINGERPRINT_SETTING, recorded, mine):
            log.info("no secret var is stored yet: the database now records this server's key")
            return
    raise SecretKeyMismatch(
        f"{SECRET_KEY_ENV} differs from the key this database's secrets are encrypted with: "
        "every server of the database needs that same key (or its secret.key file), "
        "and it cannot be changed while secret vars are stored"
    )


INTEGRATIONS = web.AppKey("integrations", IntegrationRegistry)
SECRETS = web.AppKey("secrets", SecretKeeper)
