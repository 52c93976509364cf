"""The server's Temporal client: one per application, connected on first use.

Routes that act on running sessions (signals, stop, ...) share it. It is made
lazily so a server starts, takes webhooks and serves the API while Temporal is
still down; a request that needs Temporal then gets a clear 503.

Once Temporal is reachable the server also makes the namespace keep closed
workflows as long as Pawflow keeps finished sessions (``retention_days``), so
Temporal's database does not outgrow Pawflow's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client
from temporalio.service import RetryConfig, RPCError

from ..config import TemporalAccess
from ..errors import TemporalUnavailable

__all__ = ["TEMPORAL", "TemporalLink", "align_retention", "keep_retention_aligned"]

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
        self,
        address: str,
        namespace: str = "default",
        access: TemporalAccess | None = None,
        *,
        retention_days: int | None = None,
    ) -> None:
        self.address = address
        self.namespace = namespace
        # Pawflow's retention, for the namespace's (see keep_retention_aligned);
        # None: the namespace's is left as it is.
        self.retention_days = retention_days
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

_FIRST_RETRY = 1.0
_LAST_RETRY = 60.0


async def align_retention(client: Client, namespace: str, days: int) -> bool:
    """Set ``namespace``'s retention of closed workflows to ``days`` when it
    differs; True when it was changed. ``days`` 0 (Pawflow keeps sessions
    forever) leaves it as it is: a finished session's history in Temporal is
    not what Pawflow shows or replays from (its store keeps the logs and the
    call journal), and keeping every history forever would grow Temporal's
    database without bound. Raises :class:`temporalio.service.RPCError` when
    Temporal refuses (no permission on a shared cluster, no such namespace).
    """
    if days <= 0:
        return False
    service = client.workflow_service
    described = await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    current = described.config.workflow_execution_retention_ttl.ToTimedelta()
    wanted = timedelta(days=days)
    if current == wanted:
        return False
    # Only the retention is given: UpdateNamespace leaves unset fields as they are.
    await service.update_namespace(
        UpdateNamespaceRequest(
            namespace=namespace,
            config=NamespaceConfig(
                workflow_execution_retention_ttl=Duration(seconds=int(wanted.total_seconds()))
            ),
        )
    )
    log.info(
        "Temporal namespace %s keeps closed workflows %d days, as Pawflow keeps sessions "
        "(it kept them %s)",
        namespace,
        days,
        _days(current),
    )
    return True


async def keep_retention_aligned(app: web.Application) -> AsyncIterator[None]:
    """An aiohttp cleanup context: once Temporal answers, align the namespace's
    retention with Pawflow's (see :func:`align_retention`). It waits for
    Temporal in the background, and a refusal is a warning: neither may keep a
    server from starting."""
    link = app[TEMPORAL]
    task = None
    if link.retention_days is not None:
        task = asyncio.create_task(_align_when_reachable(link, link.retention_days))
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _align_when_reachable(link: TemporalLink, days: int) -> None:
    delay = _FIRST_RETRY
    while True:
        try:
            client = await link.client()
            break
        except TemporalUnavailable:
            await asyncio.sleep(delay)  # a back-off, not a synchronisation
            delay = min(delay * 2, _LAST_RETRY)
    try:
        await align_retention(client, link.namespace, days)
    except Exception as err:  # a refusal, or Temporal gone again: never the server's end
        if isinstance(err, RPCError):
            why = err.message.splitlines()[0] if err.message else err.status.name
        else:
            why = str(err).splitlines()[0] if str(err) else type(err).__name__
        log.warning(
            "could not set the retention of Temporal namespace %s to %d days (%s); "
            "Temporal keeps closed workflows as its namespace says",
            link.namespace,
            days,
            why,
        )


def _days(span: timedelta) -> str:
    if span % timedelta(days=1):
        return f"{span.total_seconds() / 86400:.2f} days"
    return f"{span.days} days"
