"""Which triggers of a deployment an event matches.

The rule, in order:

1. Source. An event that came through a connection matches every trigger with
   that ``connection``. Any other event names its trigger (webhooks, schedule
   ticks) and matches only that one, provided it is not a connection trigger, and
   a ``schedule`` event only a schedule trigger (and the other way round), so a
   trigger that changed its kind between the event and the dispatch is not
   started by the wrong source.
2. ``event_type``: when the trigger sets one, the event's type must equal it.
3. ``filter``: when the trigger sets one, its CEL expression must return true.

Whether a matching trigger starts a session (it has a ``call``) is for the
caller to decide: triggers without ``call`` still match, for subscriptions.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from ..filters import Filter, FilterError, compile_filter
from ..manifest import Project, Trigger
from ..schedules import SCHEDULE_EVENT_TYPE

__all__ = ["MatchableEvent", "TriggerMatcher"]

log = logging.getLogger(__name__)

# Distinct filter texts seen by one matcher are few (they come from deployed
# manifests); the bound only keeps a long-lived server from growing forever.
_MAX_CACHED_FILTERS = 1024


class MatchableEvent(Protocol):
    """What matching reads of an event (an ``EventRecord`` has all of it)."""

    @property
    def trigger(self) -> str | None: ...

    @property
    def connection(self) -> str | None: ...

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> Any: ...


class TriggerMatcher:
    """Applies the matching rule; keeps each filter expression compiled once."""

    def __init__(self) -> None:
        self._filters: dict[str, Filter | None] = {}

    def matching(self, project: Project, event: MatchableEvent) -> list[Trigger]:
        """The triggers of ``project`` that ``event`` matches, in manifest order."""
        if event.connection is not None:
            candidates = [t for t in project.triggers if t.connection == event.connection]
        elif event.trigger is not None:
            named = project.trigger(event.trigger)
            candidates = [named] if named is not None and _same_source(named, event) else []
        else:
            candidates = []
        return [t for t in candidates if self._passes(t, event)]

    def matches(self, trigger: Trigger, event: MatchableEvent) -> bool:
        """Whether ``event`` passes ``trigger``'s ``event_type`` and ``filter`` (the
        source is not checked: for callers that already picked the trigger)."""
        return self._passes(trigger, event)

    def _passes(self, trigger: Trigger, event: MatchableEvent) -> bool:
        if trigger.event_type is not None and trigger.event_type != event.type:
            return False
        if trigger.filter is None:
            return True
        compiled = self._filter(trigger.filter)
        return compiled is not None and compiled.matches(event.type, event.data)

    def _filter(self, expression: str) -> Filter | None:
        if expression in self._filters:
            return self._filters[expression]
        if len(self._filters) >= _MAX_CACHED_FILTERS:
            self._filters.clear()
        compiled: Filter | None
        try:
            compiled = compile_filter(expression)
        except FilterError as err:
            # Deploy rejects such manifests; one stored before that check
            # existed matches nothing rather than everything.
            log.warning("filter %r does not compile, so it matches nothing: %s", expression, err)
            compiled = None
        self._filters[expression] = compiled
        return compiled


def _same_source(trigger: Trigger, event: MatchableEvent) -> bool:
    if trigger.connection is not None:
        return False
    return (trigger.schedule is not None) == (event.type == SCHEDULE_EVENT_TYPE)
