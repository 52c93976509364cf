"""Which triggers of a deployment, and which subscriptions, an event matches.

The rule for triggers, in order:

1. Source. An event that came through a connection matches every trigger with
   that ``connection``. Any other event names its trigger (webhooks, schedule
   ticks) and matches only that one, provided it is not a connection trigger, and
   a ``schedule`` event only a schedule trigger (and the other way round), so a
   trigger that changed its kind between the event and the dispatch is not
   started by the wrong source.
2. ``event_type``: when the trigger sets one, the event's type must equal it.
3. ``filter``: when the trigger sets one, its CEL expression must return true.

A subscription (chosen by the caller: same project and source, older than the
event) matches when its filter, if any, returns true.

Every filter an event meets is evaluated in one request to the
:class:`~pawflow.filters.FilterPool`, within its budgets; a filter over budget
is a "no" whose reason is kept in the event's match record. Whether a matching
trigger starts a session (it has a ``call``) is for the caller to decide:
triggers without ``call`` still match, for subscriptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..filters import FilterPool, Verdict
from ..manifest import Project, Trigger
from ..schedules import SCHEDULE_EVENT_TYPE
from ..storage import SubscriptionRecord

__all__ = ["EventMatches", "MatchableEvent", "TriggerMatcher", "candidates"]


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


@dataclass(frozen=True)
class EventMatches:
    """What an event matched, and the record of it (``EventRecord.matches``)."""

    triggers: list[Trigger]  # in manifest order
    subscriptions: list[str]  # ids, in the order given
    record: list[dict[str, Any]]


class TriggerMatcher:
    """Applies the matching rule; filters are evaluated by ``pool``."""

    def __init__(self, pool: FilterPool) -> None:
        self._pool = pool

    async def match(
        self,
        event: MatchableEvent,
        project: Project | None,
        subscriptions: Sequence[SubscriptionRecord] = (),
    ) -> EventMatches:
        """The triggers of ``project`` (None: no active deployment) and the
        ``subscriptions`` that ``event`` matches."""
        triggers = candidates(project, event) if project is not None else []
        typed = [t for t in triggers if t.event_type in (None, event.type)]
        expressions = [t.filter for t in typed if t.filter is not None]
        expressions += [s.filter for s in subscriptions if s.filter is not None]
        verdicts = dict(
            zip(
                expressions,
                await self._pool.evaluate(event.type, event.data, expressions),
                strict=True,
            )
        )
        record: list[dict[str, Any]] = []
        matched: list[Trigger] = []
        for trigger in triggers:
            if trigger.event_type not in (None, event.type):
                verdict = Verdict(False, f"event type {event.type!r} is not {trigger.event_type!r}")
            else:
                verdict = _passes(trigger.filter, verdicts)
            if verdict.matched:
                matched.append(trigger)
            record.append({"trigger": trigger.name, **_fields(verdict)})
        wanted: list[str] = []
        for sub in subscriptions:
            verdict = _passes(sub.filter, verdicts)
            if verdict.matched:
                wanted.append(sub.id)
            record.append({"subscription": sub.id, "session": sub.session_id, **_fields(verdict)})
        return EventMatches(matched, wanted, record)

    async def matching(self, project: Project, event: MatchableEvent) -> list[Trigger]:
        """The triggers of ``project`` that ``event`` matches, in manifest order."""
        return (await self.match(event, project)).triggers


def candidates(project: Project, event: MatchableEvent) -> list[Trigger]:
    """The triggers whose source the event came from (rule 1), in manifest order."""
    if event.connection is not None:
        return [t for t in project.triggers if t.connection == event.connection]
    if event.trigger is not None:
        named = project.trigger(event.trigger)
        if named is not None and _same_source(named, event):
            return [named]
    return []


def _passes(expression: str | None, verdicts: dict[str, Verdict]) -> Verdict:
    return Verdict(True) if expression is None else verdicts[expression]


def _fields(verdict: Verdict) -> dict[str, Any]:
    return {"matched": verdict.matched, "reason": verdict.reason}


def _same_source(trigger: Trigger, event: MatchableEvent) -> bool:
    if trigger.connection is not None:
        return False
    return (trigger.schedule is not None) == (event.type == SCHEDULE_EVENT_TYPE)
