"""What a session's user program asks of its workflow, and what it gets back.

The user program runs in a runner process (see ``_runner``). It runs until it
needs something durable -- an external call, a timer, an event -- and says so
with a :class:`Request`. The workflow records every request it answers; after a
crash a fresh runner is driven through the same requests with the recorded
answers (an :class:`Exchange` each), which brings it back to where it was
without repeating any external call.

These values travel inside Temporal payloads (JSON), so they are flat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CallDone", "Exchange", "Request", "Step", "StepAction"]

# "call": run external call ``number``; "gather": run ``calls`` (calls that
# tasks of an async handler wait on at once) concurrently; "sleep": a durable
# timer; "next_event", "next_signal", "result": wait for something to arrive;
# "finished"/"failed": the program ended (returned, or raised, died or broke a limit).
RequestKind = Literal[
    "call", "gather", "sleep", "next_event", "next_signal", "result", "finished", "failed"
]


@dataclass(frozen=True)
class Request:
    kind: RequestKind
    number: int = 0  # calls: counts the session's external calls from 1
    function: str = ""  # calls: readable name, e.g. "requests.api.get"
    args: list[str] = field(default_factory=list)  # calls: reprs for the log
    kwargs: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None  # waits (None: forever); calls: per-attempt limit
    budget: float | None = None  # calls: the longest all attempts and pauses may take
    key: Any = None  # waits: the seconds, subscription id, signal names or session id
    result: Any = None  # finished: loggable rendering of the return value
    error: str = ""  # failed: the user's traceback or the reason the program died
    message: str = ""  # failed: one line, e.g. "ValueError: boom"
    # gather: its calls, numbered ``number``, ``number + 1``... in the order the
    # program's tasks asked for them (asyncio runs ready tasks first in, first out).
    calls: list[Request] = field(default_factory=list)
    # call: an undo of a failed ``pawflow.saga`` (logged as compensate_start/_end);
    # failed: the program ended because such an undo failed for good, and
    # ``result`` says what was and was not undone.
    compensation: bool = False

    @property
    def ended(self) -> bool:
        return self.kind in ("finished", "failed")

    def describe(self) -> str:
        """How a divergence message names this request."""
        if self.kind == "call":
            return f"call #{self.number} {self.function}"
        if self.kind == "gather":
            return "concurrent " + ", ".join(c.describe() for c in self.calls)
        if self.ended:
            return "the end of the program"
        return self.kind.replace("_", " ")

    def same_as(self, other: Request) -> bool:
        """Whether a replay reached the request the session made the first time."""
        return (self.kind, self.number, self.function, self.compensation) == (
            other.kind,
            other.number,
            other.function,
            other.compensation,
        ) and [(c.number, c.function) for c in self.calls] == [
            (c.number, c.function) for c in other.calls
        ]


StepAction = Literal["start", "execute", "resume", "stop"]


@dataclass(frozen=True)
class CallDone:
    """An external call that one advance ran (or found in the call journal)."""

    request: Request
    # The pickled (value, exception) of the call, in base64 (the JSON converter
    # would write bytes as a list of numbers, four times the size).
    outcome: str
    shown: dict[str, Any] = field(default_factory=dict)  # {"result": ...} or {"error": ...}
    attempts: int = 0
    duration_ms: float = 0.0
    from_journal: bool = False  # the call had completed before a crash; not run again
    started_at: float = 0.0  # wall clock, for the log
    prints: list[str] = field(default_factory=list)  # printed during and after the call
    # When each of ``prints`` was printed (wall clock; empty in older histories).
    printed_at: list[float] = field(default_factory=list)
    # The number of the first call of the "gather" this call ran in (0: it ran
    # alone): such calls ran at once, so the log shows them all start first.
    group: int = 0


@dataclass(frozen=True)
class Step:
    """What one advance of the program produced (an activity result, recorded).

    An advance runs the program's external calls one after another, as long as
    it asks for nothing but calls, for a short while: a workflow round trip per
    call would cost several times the call itself. Each call's outcome is in
    the call journal before the next call runs, so this batching gives up
    nothing of exactly-once.
    """

    request: Request  # what the program asks for next
    prints: list[str] = field(default_factory=list)  # printed before the first call
    calls: list[CallDone] = field(default_factory=list)
    printed_at: list[float] = field(default_factory=list)  # as in CallDone
    # Answered from the transcript of the failed session this one restarts
    # (before ``prints`` and ``calls``): its first requests, not asked again.
    reused: list[Exchange] = field(default_factory=list)
    # Those of ``reused`` that ran again instead (see ``_RUN_AGAIN_ON_REUSE``).
    reused_live: list[CallDone] = field(default_factory=list)


@dataclass(frozen=True)
class Exchange:
    """One answered request: what a fresh runner is fed when it replays."""

    request: Request
    outcome: str | None = None  # for calls: as in CallDone
    value: Any = None  # for waits: what the wait produced
    stop: str | None = None  # the session was stopped here, with this reason
