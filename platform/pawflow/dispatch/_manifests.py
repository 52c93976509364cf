"""Deployments and their parsed manifests, read from the store once.

Every webhook and every dispatched event needs its project's active deployment
and that deployment's manifest. Reading and parsing them each time costs store
round trips (on SQLite, each one waits behind the group commit in progress) and
CPU on the event loop; this cache keeps them:

- by deployment id: a deployment's manifest never changes once stored, so a
  parsed one is kept for as long as the (bounded, least recently used) cache
  has room;
- the active deployment of a project, and what a webhook slug names: these do
  change (activation, deactivation, deleting a project). A change made through
  this server's store is seen by the next lookup: the store counts such changes
  (``deployment_changes``) and an entry read before the last one is not used.
  A change made through another server sharing the database is seen within
  ``ACTIVE_SECONDS``, after which an entry is read again.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..manifest import Manifest
from ..storage import DeploymentRecord, Store, WebhookRecord

__all__ = ["ACTIVE_SECONDS", "Deployment", "Deployments"]

log = logging.getLogger(__name__)

# How long another server's activation (or deactivation, or deleted project)
# may go unseen here: lookups within it are answered from memory.
ACTIVE_SECONDS = 1.0
_MAX_DEPLOYMENTS = 256
_MAX_PROJECTS = 4096
_MAX_WEBHOOKS = 4096

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Deployment:
    """A deployment and its parsed manifest (None: the stored one is unusable).
    ``record.state`` is as it was when first read; it is not kept current."""

    record: DeploymentRecord
    manifest: Manifest | None

    @property
    def id(self) -> str:
        return self.record.id


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


@dataclass(frozen=True)
class _Fresh(Generic[V]):
    value: V
    changes: int  # the store's count of deployment changes before it was read
    read_at: float


class Deployments:
    """Deployments, active deployments and webhooks of ``store``, cached (see
    the module's docstring for how long what is trusted)."""

    def __init__(
        self,
        store: Store,
        *,
        active_seconds: float = ACTIVE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._active_seconds = active_seconds
        self._clock = clock
        self._by_id: _Lru[str, Deployment] = _Lru(_MAX_DEPLOYMENTS)
        self._active: _Lru[str, _Fresh[str | None]] = _Lru(_MAX_PROJECTS)
        self._webhooks: _Lru[str, _Fresh[WebhookRecord]] = _Lru(_MAX_WEBHOOKS)

    def _changes(self) -> int | None:
        """The store's count of deployment changes; None when it keeps none
        (then nothing that can change is cached)."""
        changes = getattr(self._store, "deployment_changes", None)
        return changes if isinstance(changes, int) else None

    def _usable(self, entry: _Fresh[V] | None) -> bool:
        return (
            entry is not None
            and entry.changes == self._changes()
            and self._clock() - entry.read_at < self._active_seconds
        )

    async def get(self, deployment_id: str) -> Deployment | None:
        """The deployment and its manifest; None for an unknown id."""
        known = self._by_id.get(deployment_id)
        if known is not None:
            return known
        record = await self._store.get_deployment(deployment_id)
        return None if record is None else self._keep(record)

    async def active(self, project: str) -> Deployment | None:
        """The project's active deployment, None when it has none."""
        entry = self._active.get(project)
        if entry is not None and self._usable(entry):
            return None if entry.value is None else await self.get(entry.value)
        # Counted before the read: a change landing during it makes what it
        # read stale at once.
        changes, read_at = self._changes(), self._clock()
        record = await self._store.active_deployment(project)
        if changes is not None:
            self._active.put(
                project, _Fresh(None if record is None else record.id, changes, read_at)
            )
        return None if record is None else self._keep(record)

    async def webhook(self, slug: str) -> WebhookRecord | None:
        """The webhook with this slug, or None (an unknown slug is not kept: it
        may be made at any time)."""
        entry = self._webhooks.get(slug)
        if entry is not None and self._usable(entry):
            return entry.value
        changes, read_at = self._changes(), self._clock()
        hook = await self._store.resolve_webhook(slug)
        if hook is not None and changes is not None:
            self._webhooks.put(slug, _Fresh(hook, changes, read_at))
        return hook

    def _keep(self, record: DeploymentRecord) -> Deployment:
        known = self._by_id.get(record.id)
        if known is not None:
            return known
        deployment = Deployment(record, _parse(record))
        self._by_id.put(record.id, deployment)
        return deployment


def _parse(record: DeploymentRecord) -> Manifest | None:
    # The loader validated it before it was stored, so this failing is a bug;
    # the deployment is then treated as having no triggers rather than failing
    # every request that meets it.
    try:
        return Manifest.from_dict(record.manifest)
    except Exception:
        log.exception("stored manifest of deployment %s is unusable", record.id)
        return None
