"""How paw session log/watch show a failed saga's undos: like calls, labelled."""

from __future__ import annotations

from datetime import UTC, datetime

from pawflow.cli._output import format_record

TIME = "2026-11-25T09:30:01.123456Z"
CLOCK = datetime(2026, 11, 25, 9, 30, 1, 123456, tzinfo=UTC).astimezone().strftime("%H:%M:%S")


def record(type: str, **fields: object) -> dict[str, object]:
    return {"session_id": "ses_1", "n": 1, "time": TIME, "type": type, **fields}


def test_an_undo_shows_like_a_call() -> None:
    start = record("compensate_start", seq=4, function="program.refund", args=["'alice'", "10"])
    assert format_record(start) == [f"{CLOCK}.123 undo      #4 program.refund('alice', 10)"]
    end = record("compensate_end", seq=4, result="refunded", attempt=2, duration_ms=12)
    assert format_record(end) == [f"{CLOCK}.123 undone    #4 refunded  (attempt 2, 12 ms)"]
    failed = record("compensate_end", seq=4, error="RuntimeError: ledger locked")
    assert format_record(failed) == [f"{CLOCK}.123 error     #4 RuntimeError: ledger locked"]


def test_a_failed_undo_lists_what_was_and_was_not_undone() -> None:
    summary = record(
        "compensation_failed",
        failed="program.refund('alice', 10)",
        error="RuntimeError: ledger locked",
        undone=["program.cancel('hotel')"],
        not_undone=[],
    )
    assert format_record(summary) == [
        f"{CLOCK}.123 undo      failed: program.refund('alice', 10): RuntimeError: ledger locked",
        "    undone: program.cancel('hotel')",
        "    not undone: nothing",
    ]
