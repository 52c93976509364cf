"""Retention on the server: finished sessions, their events and old code go on their own.

Shortly after it starts, then every few minutes, a server makes a pass over
every project: the rule of the project's active deployment's manifest
(``retention: {days: N}`` or ``{keep: N}``), else the server's
``retention_days`` (0: keep forever). A pass is many short transactions of
the store (:meth:`~pawflow.storage.Store.purge`) with a pause between them, so
a webhook's event never waits behind more than one of them; then the store
gives the freed space back (SQLite's incremental vacuum). Several servers on
one PostgreSQL database may pass at once: the store lets one of them work and
the others stop their pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from ..manifest import Manifest
from ..storage import PURGE_BATCH, PurgeCounts, Store
from ._metrics import METRICS, ServerMetrics
from ._state import CONFIG

__all__ = ["RETENTION", "Retention", "RetentionRule", "install_retention"]

log = logging.getLogger(__name__)

DAY_SECONDS = 86_400.0
_FIRST_PASS_SECONDS = 30.0  # after start: not in the way of a server's first requests
_PAUSE_SECONDS = 0.01  # between two batches: writers queued meanwhile go first


@dataclass(frozen=True)
class RetentionRule:
    """What a project keeps: sessions that ended within ``days`` (0: all), or
    the newest ``keep``."""

    days: int = 0
    keep: int | None = None

    def keeps_all(self) -> bool:
        return self.keep is None and self.days == 0


class Retention:
    """Runs retention passes in the background while the server runs."""

    def __init__(
        self,
        store: Store,
        days: int,
        *,
        interval: float = 300.0,
        batch: int = PURGE_BATCH,
        metrics: ServerMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._default = RetentionRule(days=days)
        self._interval = interval
        self._batch = batch
        self._metrics = metrics
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the passes in a background task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="pawflow-retention")

    async def stop(self) -> None:
        """Stop between two batches; the next start carries on."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Waited for, not awaited: a CancelledError here must be the caller's.
            await asyncio.wait([task])

    async def _run(self) -> None:
        delay = min(self._interval, _FIRST_PASS_SECONDS)
        while True:
            await asyncio.sleep(delay)
            delay = self._interval
            try:
                await self.run_once()
            except Exception as err:  # the store may be unavailable: try next time
                log.warning("retention pass failed, will try again: %s", err)

    async def rule(self, project: str) -> RetentionRule:
        """The project's rule: its active deployment's manifest's, else the server's."""
        active = await self._store.active_deployment(project)
        if active is None:
            return self._default
        own = Manifest.from_dict(active.manifest).project.retention
        if own is None:
            return self._default
        return RetentionRule(days=own.days or 0, keep=own.keep)

    async def run_once(self) -> PurgeCounts:
        """One pass over every project; returns what it deleted."""
        now = self._clock()
        total = PurgeCounts()
        for project in await self._store.list_projects():
            rule = await self.rule(project.name)
            if rule.keeps_all():
                continue
            counts = await self._purge(project.name, rule, now)
            total += counts
            if counts.busy:
                log.debug("another server is applying retention; this one skips its pass")
                break
        if total.total:
            pages = await self._store.reclaim_space()
            log.info(
                "retention deleted %d sessions, %d log records, %d events and the code "
                "of %d deployments; %d pages given back to the file system",
                total.sessions,
                total.log_records,
                total.events,
                total.deployment_code,
                pages,
            )
            if self._metrics is not None:
                self._metrics.retention_deleted(total)
        return total

    async def _purge(self, project: str, rule: RetentionRule, now: float) -> PurgeCounts:
        total = PurgeCounts()
        cutoff = None if rule.keep is not None else now - rule.days * DAY_SECONDS
        while True:
            counts = await self._store.purge(
                project, cutoff=cutoff, keep=rule.keep, limit=self._batch
            )
            total += counts
            if not counts.more or counts.busy:
                return total
            await asyncio.sleep(_PAUSE_SECONDS)


RETENTION = web.AppKey("retention", Retention)


def install_retention(app: web.Application, store: Store) -> None:
    """Give ``app`` a :class:`Retention` that runs while the app does, as its
    configuration says (its config and metrics must be set first)."""
    config = app[CONFIG]
    app[RETENTION] = Retention(
        store,
        config.retention_days,
        interval=config.retention_interval,
        metrics=app[METRICS],
    )

    async def start(app: web.Application) -> None:
        await app[RETENTION].start()

    async def stop(app: web.Application) -> None:
        await app[RETENTION].stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
