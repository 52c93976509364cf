"""The server's Temporal client: one per application, connected on first use.

Routes that act on running sessions (signals, stop, ...) share it. It is made
lazily so a server starts, takes webhooks and serves the API while Temporal is
still down; a request that needs Temporal then gets a clear 503.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from temporalio.client import Client
from temporalio.service import RetryConfig

from ..config import TemporalAccess
from ..errors import TemporalUnavailable

__all__ = ["TEMPORAL", "TemporalLink"]

log = logging.getLogger(__name__)

# An API request waits for Temporal a few seconds at most; the caller retries.
_RPC_RETRY = RetryConfig(
    initial_interval_millis=100,
    max_interval_millis=1000,
    max_elapsed_time_millis=3000,
    max_retries=5,
)


class TemporalLink:
    """A lazily connected, shared :class:`temporalio.client.Client`."""

    def __init__(
        self, address: str, namespace: str = "default", access: TemporalAccess | None = None
    ) -> None:
        self.address = address
        self.namespace = namespace
        self._access = access or TemporalAccess()
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The client, connecting first if needed. Raises
        :class:`~pawflow.errors.TemporalUnavailable` when Temporal cannot be reached."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await self._access.connect(
                        self.address, self.namespace, retry_config=_RPC_RETRY
                    )
                except Exception as err:
                    log.debug("cannot connect to Temporal at %s: %s", self.address, err)
                    raise TemporalUnavailable(
                        f"Temporal at {self.address} is unavailable; try again later"
                    ) from None
            return self._client


TEMPORAL = web.AppKey("temporal", TemporalLink)
