"""The outbox relay: turns committed events into sessions and starts their workflows.

Every step reads its work from the store and records its progress there, so the
relay can stop at any moment (crash, Temporal outage) and resume from the store.
Starting a workflow twice is harmless (its id is the session id), which is what
makes "start, then mark started" safe to repeat.

Several servers may share one database: each matches only the events it has
claimed (``Store.claim_events``), so an event's filters run once and its
sessions are made once; a claim lapses after ``claim_seconds``, so the events
of a server that died mid-dispatch are taken over by another. Matching itself
is idempotent in the store, so a claim that lapsed while its server was merely
slow makes no second session either.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.service import RetryConfig

from ..errors import StorageUnavailable
from ..filters import FilterBudget, FilterPool
from ..ids import new_id
from ..manifest import Manifest
from ..sessions import INLINE_EVENT_BYTES, SessionEvent, SessionInput, session_event, start_session
from ..storage import EventRecord, NewSession, SessionRecord, Store
from ..temporal_errors import is_unavailable
from ..waiting import wait_until_set
from ._manifests import Deployment, Deployments
from ._matching import TriggerMatcher
from ._subscriptions import SubscriptionRelay

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)

_IDLE_SECONDS = 1.0  # re-check the store this often even when nobody wakes us
_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 5.0
_BATCH = 100
_MAX_REPORTED = 10_000
_MAX_AT_ONCE = 4  # events dispatch() handles at a time; more wait for a pass
_AT_HAND = 500  # events a pass keeps in memory to start their sessions with
# Events a pass matches at a time. The answers to their store writes come back
# together, and the event loop runs all their next steps in one turn: bounded,
# so that webhooks arriving meanwhile wait little for the loop.
_MATCH_AT_ONCE = 16
# How long a pass waits for its events to be matched before it goes on to start
# the sessions of those that are: normal filters take milliseconds.
_PASS_WAIT = 0.5
# How long a claimed event is this server's alone. Matching takes far less
# (filters have a budget of about a second); a server that died holds its
# events this long at most.
CLAIM_SECONDS = 30.0
# The client's own retries only need to ride out a blip: outages are handled by
# this loop, which keeps matching new events meanwhile (the default retries
# would hold a pass for about ten seconds).
_RPC_RETRY = RetryConfig(
    initial_interval_millis=100,
    max_interval_millis=1000,
    max_elapsed_time_millis=2000,
    max_retries=5,
)

# What matching an event did: its sessions, and whether subscribed sessions
# have it to be signalled.
_Matched = tuple[list[SessionRecord], bool]


class Dispatcher:
    """Relays pending events from the store to Temporal.

    ``wake()`` after committing an event makes it go out at once; otherwise the
    store is polled every second. Temporal being down only delays dispatch:
    events and sessions stay pending in the store until it is reachable.
    """

    def __init__(
        self,
        store: Store,
        temporal_address: str,
        namespace: str = "default",
        task_queue: str = "pawflow-sessions",
        *,
        max_in_flight: int = 32,
        filter_budget: FilterBudget | None = None,
        connect_options: dict[str, Any] | None = None,
        claim_seconds: float = CLAIM_SECONDS,
        deployments: Deployments | None = None,
    ) -> None:
        self._store = store
        # Shared with the webhooks: each deployment is read and parsed once.
        self._deployments = deployments if deployments is not None else Deployments(store)
        # Who claims events in the store: this dispatcher, for as long as it runs.
        self._owner = new_id("dsp")
        self._claim_seconds = claim_seconds
        # Client.connect's tls / api_key, for a Temporal cluster that wants them.
        self._connect_options = dict(connect_options or {})
        self._address = temporal_address
        self._namespace = namespace
        self._task_queue = task_queue
        self._max_in_flight = max_in_flight
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: Client | None = None
        # Backoff state shared by connecting and starting: both fail for the
        # same reason (Temporal unreachable) and recover together.
        self._delay = _BACKOFF_FIRST
        self._retry_at = 0.0
        self._outage = False
        self._reported: set[str] = set()
        # Filters read event data from strangers: evaluated in processes of
        # their own, within budgets, so that none can stall this loop.
        self._filters = FilterPool(filter_budget)
        self._matcher = TriggerMatcher(self._filters)
        self._subscriptions = SubscriptionRelay(store, max_in_flight=max_in_flight)
        self._starting = asyncio.Semaphore(max_in_flight)  # for dispatch(), not passes
        self._dispatching: set[asyncio.Task[None]] = set()
        # Events being matched now, by dispatch() or a pass: the other leaves
        # them alone (their filters may take a while, and cost CPU each time).
        self._matching: set[str] = set()
        self._match_slots = asyncio.Semaphore(_MATCH_AT_ONCE)  # for passes
        self._background: set[asyncio.Task[_Matched | None]] = set()
        self._turns = _Turns()
        self._match_watchers: list[Callable[[str], None]] = []

    async def start(self) -> None:
        """Start relaying in a background task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="pawflow-dispatcher")

    async def stop(self) -> None:
        """Stop relaying; whatever is not done stays pending in the store."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Waited for, not awaited: a CancelledError here must be the
            # caller's own (it is not swallowed), not the loop's.
            await asyncio.wait([task])
        for fast in [*self._dispatching, *self._background]:
            fast.cancel()
        await asyncio.gather(*self._dispatching, *self._background, return_exceptions=True)
        await self._filters.close()
        self._client = None

    @property
    def deployments(self) -> Deployments:
        """The cache of deployments and manifests this dispatcher reads through."""
        return self._deployments

    def wake(self) -> None:
        """Ask for a dispatch pass now (non-blocking; call after committing an event)."""
        self._wakeup.set()

    def watch_matches(self, watcher: Callable[[str], None]) -> Callable[[], None]:
        """Call ``watcher(event_id)`` whenever this dispatcher has matched an
        event: its sessions are in the store, or it matched nothing. Returns
        what stops the calls. (Events matched by another server are not seen.)"""
        self._match_watchers.append(watcher)
        return lambda: self._match_watchers.remove(watcher)

    def dispatch(self, event: EventRecord) -> None:
        """Match and start a just-committed event now (non-blocking), without
        waiting for a pass and its reads of the store. A pass follows when
        something is left (subscribed sessions to signal, a step that failed),
        and takes over whatever this could not do."""
        if self._task is None or self._backing_off() or len(self._dispatching) >= _MAX_AT_ONCE:
            # Under load, passes do better: they match and start in batches.
            self.wake()
            return
        task = asyncio.create_task(self._dispatch_now(event), name=f"pawflow-dispatch-{event.id}")
        self._dispatching.add(task)
        task.add_done_callback(self._dispatching.discard)

    async def _dispatch_now(self, event: EventRecord) -> None:
        # Not on cancellation (stop()): a loop being stopped needs no wake-up.
        # A pass is woken only when something is left for it: subscribed
        # sessions to signal, or a step that failed (whatever it is, it stays
        # pending in the store, and the pass takes it from there).
        left_over = True
        try:
            # Claimed first: another server's pass may have it already.
            matched = await self._match(event, claim=True)
            if matched is not None:
                sessions, to_deliver = matched
                left_over = to_deliver
                if sessions:
                    client = await self._connect()
                    if client is None:
                        left_over = True
                    else:
                        started = await asyncio.gather(
                            *(self._start_one(client, s, self._starting, event) for s in sessions)
                        )
                        left_over = left_over or not all(started)
        except Exception as err:
            self._report_once(event.id, f"cannot dispatch event {event.id} now; will retry", err)
        if left_over:
            self.wake()

    # -- the loop -----------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            # Clear before the pass: a wake-up arriving during the pass then
            # triggers another one instead of being lost.
            self._wakeup.clear()
            try:
                await self._pass()
            except Exception as err:
                # A store failure must not end the relay; the next pass retries.
                self._report_once("<pass>", "dispatch pass failed; will retry", err)
            else:
                self._reported.discard("<pass>")
            timeout = _IDLE_SECONDS
            backoff_left = self._retry_at - time.monotonic()
            if backoff_left > 0:
                timeout = min(timeout, backoff_left)
            await wait_until_set(self._wakeup, timeout)

    async def _pass(self) -> None:
        at_hand = await self._match_pending_events()
        if not self._backing_off():
            await self._start_sessions(at_hand)
        if not self._backing_off():
            await self._deliver_subscribed_events()

    # -- step 1: events → sessions ----------------------------------------------------
    async def _match_pending_events(self) -> dict[str, EventRecord]:
        """Match what is pending; returns (some of) the events it claimed, by id,
        for starting their sessions without reading them again."""
        seen: set[str] = set()
        at_hand: dict[str, EventRecord] = {}
        while True:
            # Not those being matched: their data may be large, and read again
            # on every pass, it would take the server's time for nothing.
            batch = await self._store.claim_events(
                self._owner,
                lease_seconds=self._claim_seconds,
                limit=_BATCH,
                exclude=self._matching | seen,
            )
            todo = [e for e in batch if e.id not in seen and e.id not in self._matching]
            seen.update(e.id for e in todo)
            # Bounded: a backlog's events are not all held until the pass ends.
            at_hand.update((e.id, e) for e in todo[: max(0, _AT_HAND - len(at_hand))])
            # Each event is matched in a task of its own: one whose filters take
            # long (they may, up to their budget) holds up neither the others nor
            # this pass, which starts what is matched by then; the rest wake a
            # later pass when done. Started together (up to _MATCH_AT_ONCE at a
            # time), their writes still reach the store together and are
            # committed as one group.
            tasks = [self._matching_task(e) for e in todo]
            if tasks:
                await asyncio.wait(tasks, timeout=_PASS_WAIT)
            # Stop on a short batch (drained) or one holding only events already
            # seen or being matched meanwhile (re-reading them would spin).
            if len(batch) < _BATCH or not todo:
                return at_hand

    def _matching_task(self, event: EventRecord) -> asyncio.Task[_Matched | None]:
        task = asyncio.create_task(
            self._match(event, slots=self._match_slots), name=f"pawflow-match-{event.id}"
        )
        self._background.add(task)

        def done(task: asyncio.Task[_Matched | None]) -> None:
            self._background.discard(task)
            if not task.cancelled() and task.exception() is None and task.result() is not None:
                # Sessions to start, events to deliver: the pass may not have waited.
                self.wake()

        task.add_done_callback(done)
        return task

    async def _match(
        self,
        event: EventRecord,
        *,
        claim: bool = False,
        slots: asyncio.Semaphore | None = None,
    ) -> _Matched | None:
        """The event's sessions, created, and whether it has subscribed
        sessions to be signalled (None when that failed, or someone else is
        matching the event: it stays pending until matched). ``claim``: claim
        the event first (a pass's events are claimed already). ``slots``: taken
        for the work, after the event's place in line (the events of a pass take
        both in the same order, so none waits for a place held by one waiting
        for a slot)."""
        if event.id in self._matching:
            return None
        self._matching.add(event.id)
        # Its place in line is taken before the first wait, in the order events
        # were handed over: the store's answers (from a pool of connections)
        # may come back in any order.
        place = self._turns.take(event.project)
        try:
            async with slots if slots is not None else contextlib.nullcontext():
                return await self._match_in_turn(event, place, claim)
        finally:
            place.pass_on()
            self._matching.discard(event.id)

    async def _match_in_turn(
        self, event: EventRecord, place: _Turn, claim: bool
    ) -> _Matched | None:
        turn: _Turn | None = place
        try:
            if claim:
                # Together, in one round trip to the store: the read is wasted
                # only when another server has the event.
                claimed, subscriptions = await asyncio.gather(
                    self._store.claim_event(
                        self._owner, lease_seconds=self._claim_seconds, event_id=event.id
                    ),
                    self._subscriptions.candidates(event),
                )
                if not claimed:
                    place.pass_on()
                    turn = None
                    return None
            else:
                subscriptions = await self._subscriptions.candidates(event)
            if not subscriptions:
                # Nothing to deliver in order: the line moves past it as soon
                # as the events before it are through.
                place.pass_on()
                turn = None
            active = await self._active(event)
            project = active[1].project if active is not None else None
            found = await self._matcher.match(event, project, subscriptions)
            # One session per matching trigger with a call; triggers without
            # one only feed subscriptions.
            sessions = [
                NewSession(
                    id=new_id("ses"),
                    project=event.project,
                    deployment_id=active[0].id,
                    trigger=trigger.name,
                    call=str(trigger.call),
                )
                for trigger in found.triggers
                if active is not None and trigger.call is not None
            ]
            if turn is not None:
                # Subscribed sessions get events in the order they were stored.
                await turn.wait()
            # Before matching: a pending event is certain to be fanned out.
            await self._subscriptions.fan_out(event, found.subscriptions)
            if turn is not None:
                turn.done()
            created = await self._store.match_event(event.id, sessions, found.record)
        except Exception as err:
            self._report_once(event.id, f"cannot dispatch event {event.id}; will retry", err)
            return None
        finally:
            if turn is not None:
                turn.pass_on()
        if created:
            log.debug("event %s -> session %s", event.id, created[0].id)
        else:
            log.info("event %s matches no trigger of an active deployment", event.id)
        for watcher in self._match_watchers:
            watcher(event.id)
        return created, bool(found.subscriptions)

    async def _active(self, event: EventRecord) -> tuple[Deployment, Manifest] | None:
        """The active deployment of the event's project and its manifest, when
        it has one that triggers can match (an unusable stored manifest, a bug,
        leaves its events unmatched rather than retried forever)."""
        if event.trigger is None and event.connection is None:
            return None
        active = await self._deployments.active(event.project)
        if active is None or active.manifest is None:
            return None
        return active, active.manifest

    # -- step 2: sessions → workflows -------------------------------------------------
    async def _connect(self) -> Client | None:
        if self._client is None:
            try:
                self._client = await Client.connect(
                    self._address,
                    namespace=self._namespace,
                    retry_config=_RPC_RETRY,
                    **self._connect_options,
                )
            except Exception as err:
                self._unavailable(err)
                return None
            self._available()
        return self._client

    async def _start_sessions(self, at_hand: dict[str, EventRecord] | None = None) -> None:
        """Start the sessions waiting to be; ``at_hand``: events already read,
        by id (the others are read from the store)."""
        at_hand = at_hand or {}
        limit = asyncio.Semaphore(self._max_in_flight)
        failed: set[str] = set()
        while True:
            batch = await self._store.sessions_to_start(_BATCH)
            todo = [s for s in batch if s.id not in failed]
            if not todo:
                return
            # Connect only when there is work: an idle server does not need
            # Temporal and should not warn about it.
            client = await self._connect()
            if client is None:
                return
            results = await asyncio.gather(
                *(self._start_one(client, s, limit, at_hand.get(s.event_id or "")) for s in todo)
            )
            failed.update(s.id for s, ok in zip(todo, results, strict=True) if not ok)
            if len(batch) < _BATCH or self._backing_off():
                return

    async def _start_one(
        self,
        client: Client,
        session: SessionRecord,
        limit: asyncio.Semaphore,
        event: EventRecord | None = None,
    ) -> bool:
        """``event``: the session's event when the caller has it at hand (it is
        read from the store otherwise)."""
        async with limit:
            if self._backing_off():
                return False  # a sibling found Temporal down; don't pile on
            try:
                inp = await self._session_input(session, event)
                created = await start_session(client, self._task_queue, inp)
            except Exception as err:
                if is_unavailable(err):
                    self._unavailable(err)
                else:
                    self._report_once(session.id, f"cannot start session {session.id}", err)
                return False
            self._available()
            if not created:
                log.debug("session %s was already started", session.id)
            try:
                await self._store.mark_started(session.id)
            except Exception as err:
                self._report_once(session.id, f"cannot mark session {session.id} started", err)
                return False
            self._reported.discard(session.id)
            return True

    async def _session_input(
        self, session: SessionRecord, event: EventRecord | None = None
    ) -> SessionInput:
        deployment = await self._deployments.get(session.deployment_id)
        manifest = None if deployment is None else deployment.manifest
        variables: dict[str, str] = {}
        options: dict[str, Any] = {}
        if manifest is not None:
            variables = {v.name: v.value for v in manifest.project.vars}
            options = _session_options(manifest, session.trigger)
        if event is None or event.id != session.event_id:
            event = await self._store.get_event(session.event_id) if session.event_id else None
        # Temporal refuses payloads over 2 MB; the worker fetches big events itself.
        payload = event_of_session(session, event, inline_limit=INLINE_EVENT_BYTES)
        return SessionInput(
            session_id=session.id,
            project=session.project,
            deployment_id=session.deployment_id,
            trigger=session.trigger,
            call=session.call,
            event=payload,
            vars=variables,
            options=options,
            reuse=(
                {"session_id": session.reuse_from, "count": session.reuse_count}
                if session.reuse_from is not None
                else None
            ),
        )

    # -- step 3: events → subscribed sessions (see _subscriptions.py) ------------------
    async def _deliver_subscribed_events(self) -> None:
        outage = await self._subscriptions.deliver(self._connect)
        if outage is not None:
            self._unavailable(outage)

    # -- failures -------------------------------------------------------------------
    def _unavailable(self, err: BaseException) -> None:
        if self._backing_off():
            return  # concurrent starts failing together count as one attempt
        if not self._outage:
            self._outage = True
            log.warning(
                "Temporal at %s is unavailable (%s); events stay pending until it is back",
                self._address,
                err,
            )
        else:
            log.debug("Temporal at %s still unavailable: %s", self._address, err)
        self._retry_at = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, _BACKOFF_MAX)

    def _backing_off(self) -> bool:
        return time.monotonic() < self._retry_at

    def _available(self) -> None:
        if self._outage:
            self._outage = False
            log.info("Temporal at %s is reachable again", self._address)
        self._delay = _BACKOFF_FIRST
        self._retry_at = 0.0

    def _report_once(self, key: str, message: str, err: BaseException) -> None:
        # Failures tied to one item repeat on every pass; one log line per item
        # is enough to find it.
        if key in self._reported:
            log.debug("%s: %s", message, err)
            return
        if len(self._reported) >= _MAX_REPORTED:
            self._reported.clear()
        self._reported.add(key)
        if isinstance(err, StorageUnavailable):
            # A condition of the machine, said in full by the message: no traceback.
            log.error("%s: %s", message, err)
        else:
            log.error("%s", message, exc_info=err)


class _Turn:
    """An event's place in its project's line of fan-outs: it writes its outbox
    rows after the events before it (that have subscriptions to think of)."""

    def __init__(self, before: asyncio.Future[None] | None) -> None:
        self._before = before
        self.mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def wait(self) -> None:
        if self._before is not None:
            # Shielded: this task being cancelled must not cancel the other's turn.
            await asyncio.shield(self._before)

    def done(self) -> None:
        if not self.mine.done():
            self.mine.set_result(None)

    def pass_on(self) -> None:
        """Done, once the events before it are: the event leaves the line
        without letting a later one overtake an earlier."""
        if self._before is None or self._before.done():
            self.done()
        else:
            self._before.add_done_callback(lambda _: self.done())


class _Turns:
    """The line of fan-outs of each project (events are taken in the order they
    reach it: a pass starts them oldest first)."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[None]] = {}

    def take(self, project: str) -> _Turn:
        turn = _Turn(self._last.get(project))
        self._last[project] = turn.mine

        def forget(mine: asyncio.Future[None]) -> None:
            if self._last.get(project) is mine:
                del self._last[project]

        turn.mine.add_done_callback(forget)
        return turn


def event_of_session(
    session: SessionRecord, event: EventRecord | None, *, inline_limit: int | None = None
) -> SessionEvent:
    """The event as the session's program gets it (``pawflow.Event``'s fields);
    see :func:`pawflow.sessions.session_event` for ``inline_limit``."""
    return session_event(
        session.event_id,
        event.type if event else None,
        # A connection event names no trigger: its session's trigger is the one it matched.
        event.trigger if event and event.connection is None else session.trigger,
        event.connection if event else None,
        event.data if event else None,
        inline_limit=inline_limit,
    )


def _session_options(manifest: Manifest, trigger_name: str) -> dict[str, Any]:
    """How the session runs, from its project's manifest (see ``SessionInput``)."""
    project = manifest.project
    trigger = project.trigger(trigger_name)
    limits = {k: v for k, v in dataclasses.asdict(project.limits).items() if v is not None}
    return {
        "durable": trigger.durable if trigger is not None else True,
        "limits": limits,
        "retry": dataclasses.asdict(project.retry),
    }
