"""What a fault scenario's run comes to: its figures, and the guarantees checked on them.

:func:`conclude` waits for every accepted event's session to end, then reads
the sessions, their logs, the fake's receipts and what the server's store
recorded (``_repeats.py``), prints a :class:`FaultReport` and asserts what
BENCHMARKS.md claims of every scenario.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.faults._load import EffectService, LoadRig, PostOutcome
from tests.faults._repeats import Receipt, call_numbers, recorded_calls, tally_effects

__all__ = [
    "FaultReport",
    "LogTally",
    "SessionTally",
    "conclude",
    "peak_in_flight",
    "peak_open",
    "tally_logs",
    "tally_sessions",
]


def peak_in_flight(receipts: Sequence[Receipt], steps: int) -> int:
    """The most sessions at once that had made their first call but not yet their last."""
    open_sessions: set[str] = set()
    peak = 0
    for r in sorted(receipts, key=lambda r: r.seq):
        if r.n == 0:
            open_sessions.add(r.session)
        if r.n == steps - 1:
            open_sessions.discard(r.session)
        peak = max(peak, len(open_sessions))
    return peak


def peak_open(outcomes: Sequence[PostOutcome], sessions: Sequence[dict[str, Any]]) -> int:
    """The most accepted events at once whose session had not ended yet.

    Exact, from the client's accept times and the sessions' end times (both
    wall clock on this machine), so no sampling can miss the peak.
    """
    ends = {s["event_id"]: _parse_time(s["ended_at"]) for s in sessions if s.get("ended_at")}
    marks: list[tuple[float, int]] = []
    for o in outcomes:
        if o.accepted and o.event_id is not None:
            marks.append((o.at, 1))
            if o.event_id in ends:
                marks.append((ends[o.event_id], -1))
    # At equal times the end counts first: never overstate the load.
    marks.sort(key=lambda m: (m[0], m[1]))
    peak = current = 0
    for _, step in marks:
        current += step
        peak = max(peak, current)
    return peak


def _parse_time(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


# What the server logs with the traceback of a request it answered with a 500.
_INTERNAL_ERROR = "internal error handling"


# --- counts --------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionTally:
    completed: int
    error: int
    other: int
    # (session id, its error) of every session that ended in error.
    errors: tuple[tuple[str, str], ...]
    # Accepted events with no session, or whose session ended in neither state.
    lost: tuple[str, ...]
    # Completed sessions whose calls did not all reach the fake.
    incomplete: tuple[str, ...]


def tally_sessions(
    rig: LoadRig,
    sessions: Sequence[dict[str, Any]],
    accepted: set[str],
    receipts: Sequence[Receipt],
    steps: int,
) -> SessionTally:
    """How the sessions ended, checked against the accepted events and the fake's receipts."""
    by_event = {s["event_id"]: s for s in sessions}
    calls: dict[str, set[int]] = {}
    for r in receipts:
        calls.setdefault(r.session, set()).add(r.n)
    completed = other = 0
    errors: list[tuple[str, str]] = []
    incomplete: list[str] = []
    for s in sessions:
        if s["state"] == "completed":
            completed += 1
            if calls.get(s["id"], set()) != set(range(steps)):
                incomplete.append(s["id"])
        elif s["state"] == "error":
            errors.append((s["id"], str(rig.session(s["id"]).get("error") or "")))
        else:
            other += 1
    lost = tuple(
        e
        for e in sorted(accepted)
        if e not in by_event or by_event[e]["state"] not in ("completed", "error")
    )
    return SessionTally(completed, len(errors), other, tuple(errors), lost, tuple(incomplete))


@dataclass(frozen=True)
class LogTally:
    # Calls a resumed session took from the call journal instead of running them.
    journal_saves: int
    # "session: what is wrong" for logs with gaps, repeated records or calls.
    problems: tuple[str, ...]


def tally_logs(
    logs: Mapping[str, Sequence[dict[str, Any]]],
    sessions: Sequence[dict[str, Any]],
    receipts: Sequence[Receipt],
    steps: int,
) -> LogTally:
    """Check every session's log: numbered without gaps, each call ended once, with
    the outcome of a run of that very call (the fake's answer names its receipt)."""
    numbers = call_numbers(logs)
    by_seq = {r.seq: r for r in receipts}
    saves = 0
    problems: list[str] = []
    for s in sessions:
        records = logs[s["id"]]
        if [r["n"] for r in records] != list(range(len(records))):
            problems.append(f"{s['id']}: records are not numbered 0..{len(records) - 1}")
        ends = [r for r in records if r["type"] == "call_end"]
        saves += sum(1 for r in ends if r.get("note"))
        seqs = [r["seq"] for r in ends]
        if len(seqs) != len(set(seqs)):
            problems.append(f"{s['id']}: a call ended twice: {seqs}")
        if s["state"] == "completed" and len(seqs) != steps:
            problems.append(f"{s['id']}: {len(seqs)} calls ended, not {steps}")
        for r in ends:
            result = r.get("result")
            receipt = by_seq.get(result.get("seq", -1)) if isinstance(result, dict) else None
            step = numbers.get((s["id"], r["seq"]))
            if receipt is None or (receipt.session, receipt.n) != (s["id"], step):
                problems.append(f"{s['id']}: call #{r['seq']} ended with {result!r}")
    return LogTally(saves, tuple(problems))


@dataclass(frozen=True)
class FaultReport:
    """The figures one scenario reports (printed, and appended to $PAWFLOW_FAULTS_REPORT)."""

    scenario: str
    events_posted: int
    events_accepted: int
    sessions_completed: int
    sessions_error: int
    side_effects: int
    duplicates: int
    interrupted_reruns: int
    completed_repeats: int
    lost: int
    # Most accepted events at once whose session had not ended (the load).
    peak_open: int
    # Most sessions at once between their first and their last call.
    peak_calling: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("extra"))
        return out

    def emit(self) -> None:
        line = json.dumps(self.as_dict())
        print(f"\nfault report: {line}")
        target = os.environ.get("PAWFLOW_FAULTS_REPORT")
        if target:
            with open(target, "a", encoding="utf-8") as f:
                f.write(line + "\n")


def conclude(
    scenario: str,
    rig: LoadRig,
    effects: EffectService,
    *,
    project: str,
    posted: int,
    outcomes: Sequence[PostOutcome],
    steps: int,
    started: float,
    timeout: float = 240.0,
    min_open: int = 200,
    internal_errors_allowed: bool = False,
    **extra: Any,
) -> FaultReport:
    """Wait for every accepted event's session to end, report the figures and check
    what BENCHMARKS.md claims: nothing accepted is lost, every session completed
    (no fault here is a reason for a session to fail), no completed call ran
    again, the only calls run twice were in flight when their worker was
    SIGKILLed, one event and one session per accepted webhook, and no 500 from
    the server (unless allowed)."""
    accepted = {o.event_id for o in outcomes if o.accepted and o.event_id is not None}
    sessions = rig.wait_all_ended(project, accepted, timeout)
    stored = {e["id"] for e in rig.events(project)}
    receipts = effects.receipts()
    # Kept beside the run's store and logs, for a post-mortem of a failed run.
    (rig.data_dir / "receipts.json").write_text(
        json.dumps({"worker_kills": rig.worker_kills, "receipts": [asdict(r) for r in receipts]})
    )
    internal_errors = rig.server_log().count(_INTERNAL_ERROR)
    ended = tally_sessions(rig, sessions, accepted, receipts, steps)
    session_logs = rig.logs([s["id"] for s in sessions])
    calls = tally_effects(
        receipts, recorded_calls(rig.db_path), call_numbers(session_logs), rig.worker_kills
    )
    logs = tally_logs(session_logs, sessions, receipts, steps)
    times = [o.at for o in outcomes if o.accepted]
    report = FaultReport(
        scenario=scenario,
        events_posted=posted,
        events_accepted=len(accepted),
        sessions_completed=ended.completed,
        sessions_error=ended.error,
        side_effects=calls.side_effects,
        duplicates=calls.duplicates,
        interrupted_reruns=calls.interrupted_reruns,
        completed_repeats=calls.completed_repeats,
        lost=len(ended.lost),
        peak_open=peak_open(outcomes, sessions),
        peak_calling=peak_in_flight(receipts, steps),
        seconds=round(time.monotonic() - started, 1),
        extra={
            "ingest_seconds": round(max(times) - min(times), 1) if times else 0.0,
            "journal_saves": logs.journal_saves,
            "late_first_runs": calls.late_first_runs,
            "server_internal_errors": internal_errors,
            **extra,
        },
    )
    report.emit()
    assert report.peak_open >= min_open, f"the scenario ran under too little load: {report}"
    assert ended.lost == (), f"accepted events lost: {ended.lost[:5]}"
    assert ended.errors == (), f"{ended.error} sessions ended in error: {ended.errors[:5]}"
    assert calls.completed_repeats == 0, f"completed calls repeated: {calls.repeated_calls[:5]}"
    assert calls.unexplained_reruns == (), (
        f"calls run again though no worker had been killed: {calls.unexplained_reruns[:5]}"
    )
    assert ended.other == 0, "sessions ended neither completed nor in error"
    assert ended.incomplete == (), f"completed sessions missing a call: {ended.incomplete[:5]}"
    assert len(sessions) == len(accepted), f"{len(sessions)} sessions for {len(accepted)} events"
    assert logs.problems == (), logs.problems[:5]
    assert stored == accepted, (
        f"{len(stored - accepted)} stored events were never accepted, "
        f"{len(accepted - stored)} accepted ones are not stored"
    )
    if not internal_errors_allowed:
        assert internal_errors == 0, f"the server answered {internal_errors} requests with a 500"
    return report
