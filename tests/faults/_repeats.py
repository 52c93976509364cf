"""Telling a completed call that ran again from an interrupted one that was re-run.

A side effect counted twice is a **completed repeat** (a broken guarantee) only
if an earlier execution of that call had been *recorded* before the repeat
started: its outcome was in the server's call journal, or its ``call_end`` was
in the session's log. Otherwise it is an **interrupted re-run**: the call was
in flight when a process died, and running it again is at-least-once by design.

Neither record keeps the time it was written, and the journal is dropped when
its session ends, so :func:`watch_calls` has the store itself note both as they
are written: SQLite triggers in the server's database copy each first journal
write and each first ``call_end`` record, with the time, into a table of the
test's own. Only first writes fire them (both tables ignore a second write of
the same key), and a write rolled back (a full disk) takes its note with it.

When a repeat *started* is bounded by when it reached the fake service, which
is later, and a note is taken as the row is written, a moment before the commit
makes it visible: judging by these times can only count more completed
repeats, never fewer, so asserting none is sound.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "EffectTally",
    "Receipt",
    "Recorded",
    "call_numbers",
    "recorded_calls",
    "tally_effects",
    "watch_calls",
]

_TABLE = "fault_suite_recorded"
# Unix time with SQLite's millisecond resolution (3.40 has no unixepoch('subsec')).
_NOW = "(julianday('now') - 2440587.5) * 86400.0"
_WATCH = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    source      TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    number      INTEGER NOT NULL,
    at          REAL NOT NULL
);
CREATE TRIGGER IF NOT EXISTS {_TABLE}_journal AFTER INSERT ON call_journal BEGIN
    INSERT INTO {_TABLE} VALUES ('journal', NEW.session_id, NEW.number, {_NOW});
END;
CREATE TRIGGER IF NOT EXISTS {_TABLE}_call_end AFTER INSERT ON session_log
WHEN NEW.type = 'call_end' BEGIN
    INSERT INTO {_TABLE}
    VALUES ('call_end', NEW.session_id, json_extract(NEW.record, '$.seq'), {_NOW});
END;
"""


def watch_calls(db_path: Path) -> None:
    """Have the store at ``db_path`` note when each call's outcome is first recorded.

    Run once the server has created its schema and before any session runs;
    the triggers live in the database, so they outlast a restart of the server.
    """
    with closing(sqlite3.connect(db_path, timeout=30, isolation_level=None)) as db:
        db.executescript(f"BEGIN IMMEDIATE;{_WATCH}COMMIT;")


@dataclass(frozen=True)
class Recorded:
    """A call's outcome first stored by the server: in the journal or as a ``call_end``."""

    source: str  # "journal" or "call_end"
    session: str
    number: int  # the call's number in its session (the log's ``seq``)
    at: float  # wall clock


def recorded_calls(db_path: Path) -> list[Recorded]:
    """Everything :func:`watch_calls` noted so far."""
    with closing(sqlite3.connect(db_path, timeout=30)) as db:
        rows = db.execute(f"SELECT source, session_id, number, at FROM {_TABLE}").fetchall()
    return [Recorded(str(s), str(sid), int(n), float(at)) for s, sid, n, at in rows]


def call_numbers(logs: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[tuple[str, int], int]:
    """(session, call number) → the load program's step ``n``, from each ``call_start``
    (the program's ``effect(session, n)`` logs its arguments as reprs)."""
    numbers: dict[tuple[str, int], int] = {}
    for session, records in logs.items():
        for r in records:
            if r["type"] == "call_start":
                numbers[(session, int(r["seq"]))] = int(r["args"][1])
    return numbers


@dataclass(frozen=True)
class Receipt:
    """One request that reached the side-effect fake: the ``seq``-th overall."""

    seq: int
    session: str
    n: int
    at: float  # wall-clock arrival time


@dataclass(frozen=True)
class EffectTally:
    side_effects: int
    duplicates: int
    interrupted_reruns: int
    completed_repeats: int
    # (session, n) of calls that ran again after an earlier run of theirs was recorded.
    repeated_calls: tuple[tuple[str, int], ...]
    # (session, n) of interrupted re-runs that followed no worker SIGKILL: in
    # flight, but not because a worker was killed.
    unexplained_reruns: tuple[tuple[str, int], ...]
    # Interrupted re-runs whose first run reached the fake only after the kill
    # before the re-run: a runner of the killed worker still finishing its call.
    late_first_runs: int


def tally_effects(
    receipts: Sequence[Receipt],
    recorded: Sequence[Recorded],
    numbers: Mapping[tuple[str, int], int],
    worker_kills: Sequence[float] = (),
) -> EffectTally:
    """Count duplicates and split them into interrupted re-runs and completed repeats.

    ``recorded``: when the server first stored each call's outcome;
    ``numbers``: (session, call number) → step, to match them to receipts;
    ``worker_kills``: wall-clock times of worker SIGKILLs.

    An interrupted re-run must follow a kill. Its first run may reach the fake
    after that kill, though: the runner is a process of its own that was told
    to run the call before its worker died, and the fake stamps a request when
    it reads it. So the first run is not required to precede the kill, only
    counted (``late_first_runs``) when it does not.
    """
    first_recorded: dict[tuple[str, int], float] = {}
    for r in recorded:
        step = numbers.get((r.session, r.number))
        assert step is not None, f"call #{r.number} of {r.session} was recorded, yet never started"
        key = (r.session, step)
        first_recorded[key] = min(r.at, first_recorded.get(key, r.at))
    first_arrival: dict[tuple[str, int], float] = {}
    duplicates = 0
    repeated: list[tuple[str, int]] = []
    unexplained: list[tuple[str, int]] = []
    late = 0
    for receipt in sorted(receipts, key=lambda r: r.seq):
        key = (receipt.session, receipt.n)
        if key not in first_arrival:
            first_arrival[key] = receipt.at
            continue
        duplicates += 1
        if first_recorded.get(key, float("inf")) < receipt.at:
            repeated.append(key)
            continue
        kills = [kill for kill in worker_kills if kill < receipt.at]
        if not kills:
            unexplained.append(key)
        elif first_arrival[key] > max(kills):
            late += 1
    return EffectTally(
        side_effects=len(receipts),
        duplicates=duplicates,
        interrupted_reruns=duplicates - len(repeated),
        completed_repeats=len(repeated),
        repeated_calls=tuple(repeated),
        unexplained_reruns=tuple(unexplained),
        late_first_runs=late,
    )
