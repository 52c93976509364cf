"""How records, tables and times are shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pawflow.cli._output import format_record, format_table, local_clock, short_time

# 09:30:01.123 UTC shown in the local zone, whatever the machine's zone is.
TIME = "2026-11-25T09:30:01.123456Z"
CLOCK = datetime(2026, 11, 25, 9, 30, 1, 123456, tzinfo=UTC).astimezone().strftime("%H:%M:%S")


def record(type: str, **fields: object) -> dict[str, object]:
    return {"session_id": "ses_1", "n": 1, "time": TIME, "type": type, **fields}


def test_local_clock_has_milliseconds() -> None:
    assert local_clock(TIME) == CLOCK + ".123"
    assert local_clock(None) == "--:--:--.---"


def test_state_print_call_and_return_lines() -> None:
    assert format_record(record("state", state="running")) == [f"{CLOCK}.123 state     running"]
    assert format_record(record("print", text="Hello, Ada!\n")) == [
        f"{CLOCK}.123 print     Hello, Ada!"
    ]
    start = record("call_start", seq=1, function="requests.get", args=["'http://x'"])
    assert format_record(start) == [f"{CLOCK}.123 call      #1 requests.get('http://x')"]
    end = record("call_end", seq=1, result="<Response [200]>")
    assert format_record(end) == [f"{CLOCK}.123 return    #1 <Response [200]>"]


def test_a_finished_call_shows_its_attempts_duration_and_note() -> None:
    end = record("call_end", seq=4, result=1, attempt=3, duration_ms=1234.5)
    assert format_record(end) == [f"{CLOCK}.123 return    #4 1  (attempt 3, 1234 ms)"]
    quick = record("call_end", seq=5, result=2, attempt=1, duration_ms=0.2)
    assert format_record(quick) == [f"{CLOCK}.123 return    #5 2"]
    replayed = record("call_end", seq=6, result=3, attempt=0, note="not run again")
    assert format_record(replayed) == [f"{CLOCK}.123 return    #6 3  (not run again)"]


def test_call_error_shows_the_exception_line() -> None:
    failed = record("call_end", seq=2, error="Traceback...\nConnectionError: refused")
    assert format_record(failed) == [f"{CLOCK}.123 error     #2 ConnectionError: refused"]


def test_call_arguments_are_shown_as_recorded_reprs() -> None:
    call = record("call_start", seq=3, function="f", args=["1", "'a'"], kwargs={"k": "2"})
    assert format_record(call)[0].endswith("#3 f(1, 'a', k=2)")
    assert format_record(record("call_start", seq=5, function="h", args=[]))[0].endswith("#5 h()")


def test_error_state_shows_the_traceback_indented() -> None:
    tb = 'Traceback (most recent call last):\n  File "program.py", line 3\nValueError: bad'
    lines = format_record(record("state", state="error", error=tb))
    assert lines[0] == f"{CLOCK}.123 state     error"
    assert lines[1:] == [
        "    Traceback (most recent call last):",
        '      File "program.py", line 3',
        "    ValueError: bad",
    ]


def test_multi_line_print_and_unknown_types() -> None:
    lines = format_record(record("print", text="one\ntwo"))
    assert lines[0].endswith("print     one")
    assert lines[1].strip() == "two" and lines[1].index("two") == lines[0].index("one")
    assert format_record(record("stop_request", reason="user"))[0].endswith(
        "stop      requested: user"
    )
    assert format_record(record("mystery", x=1))[0].endswith('mystery   {"x": 1}')


def test_control_characters_in_records_and_tables_are_shown_escaped() -> None:
    shown = format_record(record("print", text="a\x1b[2Jb\tc\nd\x07\x7f\x85"))
    assert shown == [f"{CLOCK}.123 print     a\\x1b[2Jb\tc", " " * 23 + "d\\x07\\x7f\\x85"]
    error = format_record(record("state", state="error", error="E: \x1b]0;title\x07"))
    assert error[1] == "    E: \\x1b]0;title\\x07"
    call = format_record(record("call_start", seq=1, function="f\x1b[31m", args=["'\x1b'"]))
    assert "\x1b" not in call[0] and "f\\x1b[31m('\\x1b')" in call[0]
    assert format_table(["K"], [["x\x1b[2J"]]) == "K\nx\\x1b[2J"


def test_table_is_aligned_with_a_header() -> None:
    text = format_table(["ID", "STATE"], [["ses_1", "running"], ["ses_22", None]])
    assert text.split("\n") == ["ID      STATE", "ses_1   running", "ses_22  -"]


def test_short_time_is_local_and_short() -> None:
    moment = datetime(2026, 11, 25, 9, 30, 1, tzinfo=UTC)
    local = moment.astimezone()
    iso = moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert short_time(iso, now=local) == local.strftime("%H:%M:%S")
    assert short_time(iso, now=local + timedelta(days=2)) == local.strftime("%Y-%m-%d %H:%M")
    assert short_time(None) == "-"
