"""What signals bring into a session -- events, signals, children's ends, a
stop -- kept in its workflow until the program asks for it.

Bounded: a session that never reads what it subscribed to must not grow its
workflow (and its history, which Temporal caps) without end. What arrives at a
full inbox is turned away with a notice in the session's log; the event itself
stays stored on the server.

Events are kept in the order they arrived, whatever their subscription: a
wait on several subscriptions gets the oldest event of any of them, and leaves
the others' events queued for a later wait.
"""

from __future__ import annotations

from typing import Any

from ._protocol import Request

__all__ = ["MAX_WAITING", "Inbox"]

MAX_WAITING = 1000  # events and signals waiting in one session
_MAX_SEEN = 10_000  # event deliveries remembered to count a redelivery once


class Inbox:
    def __init__(self) -> None:
        # (subscription id, event) in the order they arrived; at most MAX_WAITING
        # of them with the signals, so finding one by scanning costs little.
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.seen: dict[tuple[str, str], None] = {}  # ordered: the oldest are forgotten first
        self.signals: list[dict[str, Any]] = []
        self.children: dict[str, dict[str, Any]] = {}
        self.stop_reason: str | None = None
        self.notices: list[str] = []  # for the session's log, taken by the workflow
        self._overflowing = False

    def waiting(self) -> int:
        return len(self.events) + len(self.signals)

    def _full(self, what: str) -> bool:
        if self.waiting() < MAX_WAITING:
            self._overflowing = False
            return False
        if not self._overflowing:  # one notice until the program catches up
            self._overflowing = True
            self.notices.append(
                f"pawflow: {what} was not delivered, nor will be what follows while "
                f"{MAX_WAITING} events and signals are waiting in this session (read them "
                "with pawflow.next_event / pawflow.next_signal, or unsubscribe)"
            )
        return True

    def add_event(self, subscription_id: str, event: dict[str, Any]) -> None:
        key = (subscription_id, str(event.get("id")))
        if key in self.seen:  # a redelivered event counts once
            return
        if self._full(f"event {event.get('id')} of subscription {subscription_id}"):
            return
        self.seen[key] = None
        if len(self.seen) > _MAX_SEEN:
            del self.seen[next(iter(self.seen))]
        self.events.append((subscription_id, event))

    def add_signal(self, name: str, payload: Any, sender: str | None) -> None:
        if not self._full(f"signal {name!r} from {sender or 'the API'}"):
            self.signals.append({"name": name, "payload": payload, "sender": sender})

    def take(self, request: Request) -> tuple[bool, Any]:
        """(found, value) for a waiting request; what is found is used up."""
        if not self.ready(request):
            return False, None
        if request.kind == "next_event":
            index = self._event_index(request.key)
            assert index is not None  # ready() found it
            subscription, event = self.events.pop(index)
            # Which of the awaited subscriptions it came from (pawflow.Event.subscription).
            return True, {**event, "subscription": subscription}
        if request.kind == "next_signal":
            index = self._signal_index(request.key)
            assert index is not None  # ready() found it
            return True, self.signals.pop(index)
        return True, self.children[request.key]

    def ready(self, request: Request) -> bool:
        """Whether :meth:`take` would find something (without taking it)."""
        if request.kind == "next_event":
            return self._event_index(request.key) is not None
        if request.kind == "next_signal":
            return self._signal_index(request.key) is not None
        return request.kind == "result" and request.key in self.children

    def _event_index(self, subscriptions: str | list[str]) -> int | None:
        """The oldest event of one of ``subscriptions`` (one id, or a list of them)."""
        wanted = {subscriptions} if isinstance(subscriptions, str) else set(subscriptions)
        return next((i for i, (s, _) in enumerate(self.events) if s in wanted), None)

    def _signal_index(self, names: list[str]) -> int | None:
        """The first signal with one of ``names`` (any name when empty)."""
        return next(
            (i for i, s in enumerate(self.signals) if not names or s["name"] in names), None
        )

    # -- carried over when the session continues as new -----------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "queued": [[s, e] for s, e in self.events],
            "seen": [list(k) for k in self.seen],
            "signals": self.signals,
            "children": self.children,
            "stop_reason": self.stop_reason,
        }

    def restore(self, carried: dict[str, Any]) -> None:
        """Take what an earlier run of the session carried over, before what
        arrived in this run (signals may come before the workflow runs)."""
        events, signals = self.events, self.signals
        seen = {(k[0], k[1]): None for k in carried.get("seen", [])}
        self.events = [(s, e) for s, e in carried.get("queued", [])]
        # Carried by a run from before arrival order was kept across subscriptions.
        for subscription, queue in carried.get("events", {}).items():
            self.events.extend((subscription, e) for e in queue)
        self.events.extend((s, e) for s, e in events if (s, str(e.get("id"))) not in seen)
        self.seen = seen | self.seen
        self.signals = list(carried.get("signals", [])) + signals
        self.children = {**carried.get("children", {}), **self.children}
        self.stop_reason = self.stop_reason or carried.get("stop_reason")
