"""Events into running sessions: the subscription side of the dispatcher.

Two steps, both driven by the dispatcher's loop:

1. For every pending event, before it is matched to triggers, the dispatcher
   reads the subscriptions it may be for (:meth:`SubscriptionRelay.candidates`:
   same project, its trigger or connection is the subscription's source, the
   subscription is older than the event), has their filters evaluated with the
   triggers' (``_matching.py``), and :meth:`SubscriptionRelay.fan_out` writes an
   outbox row for each one it passed. An event stays pending until matched, so
   a crash in between only repeats the fan-out, which writes nothing twice.
2. :meth:`SubscriptionRelay.deliver` signals ``pawflow.event`` to each
   subscribed session's workflow and flags the row delivered once Temporal took
   it. Rows of a session are sent in order, one at a time, so a session sees
   its events in the order they were stored. A session whose workflow is gone
   loses its subscriptions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from ..sessions import SessionEvent, session_event, signal_event
from ..storage import Delivery, EventRecord, Store, SubscriptionRecord
from ..temporal_errors import is_unavailable

__all__ = ["SubscriptionRelay", "event_payload"]

log = logging.getLogger(__name__)

_BATCH = 100


class SubscriptionRelay:
    """Fans events out to subscriptions and signals them to their sessions.

    Nothing lives in memory: everything is re-read from the store.
    """

    def __init__(self, store: Store, *, max_in_flight: int = 32) -> None:
        self._store = store
        self._max_in_flight = max_in_flight

    # -- step 1: event → outbox rows ---------------------------------------------------
    async def candidates(self, event: EventRecord) -> list[SubscriptionRecord]:
        """The subscriptions ``event`` is for if it passes their filters: of its
        project, its trigger or connection, older than the event."""
        sources = [s for s in (event.trigger, event.connection) if s]
        if not sources:
            return []
        return await self._store.subscriptions_for(event.project, sources, event.created_at)

    async def fan_out(self, event: EventRecord, subscription_ids: list[str]) -> int:
        """Write the outbox rows of ``event`` for the subscriptions it matched
        (see ``TriggerMatcher.match``); returns how many were new."""
        if not subscription_ids:
            return 0
        added = await self._store.add_deliveries(event.id, subscription_ids)
        if added:
            log.debug("event %s -> %d subscription(s)", event.id, added)
        return added

    # -- step 2: outbox rows → signals -------------------------------------------------
    async def deliver(self, connect: Callable[[], Awaitable[Client | None]]) -> RPCError | None:
        """Signal every pending outbox row. ``connect`` gives the Temporal client
        (None when it is unreachable: nothing is sent). Returns the error when
        Temporal turned out to be unavailable, for the caller's backoff."""
        done_with: set[tuple[str, str]] = set()
        while True:
            batch = [
                d
                for d in await self._store.pending_deliveries(_BATCH)
                if (d.subscription_id, d.event.id) not in done_with
            ]
            if not batch:
                return None
            client = await connect()
            if client is None:
                return None
            by_session: dict[str, list[Delivery]] = {}
            for delivery in batch:
                by_session.setdefault(delivery.session_id, []).append(delivery)
            limit = asyncio.Semaphore(self._max_in_flight)
            outcomes = await asyncio.gather(
                *(self._deliver_session(client, rows, limit) for rows in by_session.values())
            )
            outage = next((o for o in outcomes if isinstance(o, RPCError)), None)
            if outage is not None:
                return outage
            # Rows left undelivered (a session not started yet) wait for the next pass.
            done_with.update((d.subscription_id, d.event.id) for d in batch)
            if len(batch) < _BATCH:
                return None

    async def _deliver_session(
        self, client: Client, rows: list[Delivery], limit: asyncio.Semaphore
    ) -> RPCError | None:
        async with limit:
            handle = client.get_workflow_handle(rows[0].session_id)
            for row in rows:
                try:
                    await signal_event(handle, row.subscription_id, event_payload(row.event))
                except RPCError as err:
                    if err.status == RPCStatusCode.NOT_FOUND:
                        await self._session_gone(row.session_id)
                        return None
                    if is_unavailable(err):
                        return err
                    log.error(
                        "cannot signal event %s to session %s; will retry: %s",
                        row.event.id,
                        row.session_id,
                        err,
                    )
                    return None
                except (ConnectionError, TimeoutError) as err:
                    return RPCError(str(err), RPCStatusCode.UNAVAILABLE, b"")
                await self._store.mark_delivered(row.subscription_id, row.event.id)
            return None

    async def _session_gone(self, session_id: str) -> None:
        # Not found: the workflow ended, or it was never started. Only the first
        # means its subscriptions are over; a session waiting to start keeps them.
        session = await self._store.get_session(session_id)
        if session is not None and session.start_pending:
            return
        dropped = await self._store.delete_session_subscriptions(session_id)
        log.info("session %s no longer runs; dropped its %d subscription(s)", session_id, dropped)


def event_payload(event: EventRecord) -> SessionEvent:
    """The event as a subscribed session receives it."""
    return session_event(event.id, event.type, event.trigger, event.connection, event.data)
