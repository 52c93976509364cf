"""External calls as a user sees them: recorded results, recorded errors, clear failures."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Platform, make_project
from tests.fakes.bank import FakeBank


def test_an_external_calls_exception_is_recorded_and_raised_in_user_code(
    platform: Platform, tmp_path: Path
) -> None:
    project = make_project(
        tmp_path / "p",
        "errs",
        """
        import urllib.request

        def handler(event):
            try:
                urllib.request.urlopen("http://127.0.0.1:9/", timeout=5)
            except OSError as exc:
                print("caught", type(exc).__name__)
            return "fine"
        """,
    )
    platform.start_worker()
    url = platform.deploy(project)["webhooks"]["run"]
    session = platform.session_for(platform.post(url, {})[1]["event_id"])
    assert platform.wait_ended(session["id"])["state"] == "completed"
    log = platform.log(session["id"])
    start, end = (r for r in log if r["type"] in ("call_start", "call_end"))
    assert start["function"] == "urllib.request.urlopen"
    assert start["args"] == ["'http://127.0.0.1:9/'"] and start["kwargs"] == {"timeout": "5"}
    assert end["seq"] == start["seq"] == 1
    assert end["error"].startswith("URLError")
    assert [r["text"] for r in log if r["type"] == "print"] == ["caught URLError"]
    assert log[-1]["result"] == "fine"


def test_a_result_that_cannot_be_recorded_fails_with_a_message_naming_the_function(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    project = make_project(
        tmp_path / "p",
        "unrec",
        """
        import urllib.request
        import pawflow

        def handler(event):
            request = urllib.request.Request(pawflow.vars["BANK"] + "/ping", data=b"{}")
            return urllib.request.urlopen(request).read()
        """,
        vars={"BANK": bank.url},
    )
    platform.start_worker()
    url = platform.deploy(project)["webhooks"]["run"]
    session = platform.session_for(platform.post(url, {})[1]["event_id"])
    assert platform.wait_ended(session["id"])["state"] == "error"
    error = platform.log(session["id"])[-1]["error"]
    assert error.splitlines()[-1].startswith(
        "pawflow.errors.UnrecordableResult: urllib.request.urlopen returned a "
        "http.client.HTTPResponse, which cannot be recorded"
    )
    assert bank.count("ping") == 1


def test_a_large_webhook_body_reaches_the_session_whole(platform: Platform, tmp_path: Path) -> None:
    # Event data over 256 KiB is left out of the workflow input (production Temporal
    # refuses payloads over 2 MB) and fetched by the worker from the server.
    project = make_project(
        tmp_path / "p",
        "big",
        """
        def handler(event):
            items = event.data.body.json["items"]
            print(len(items), len(event.data.body.text))
        """,
    )
    platform.start_worker()
    url = platform.deploy(project)["webhooks"]["run"]
    items = ["x" * 100] * 9800  # ~1 MB: as text and parsed, too big for a workflow input
    status, body = platform.post(url, {"items": items})
    assert status == 202
    session = platform.session_for(body["event_id"])
    assert platform.wait_ended(session["id"])["state"] == "completed"
    (text,) = [r["text"] for r in platform.log(session["id"]) if r["type"] == "print"]
    count, size = map(int, text.split())
    assert count == 9800 and size > 1_000_000


def test_prints_are_logged_at_the_time_they_were_printed(
    platform: Platform, tmp_path: Path
) -> None:
    # One advance runs the prints and the calls between them; each record must
    # still carry its own moment, so the log reads in time order.
    project = make_project(
        tmp_path / "p",
        "times",
        """
        import asyncio
        import time

        import pawflow

        @pawflow.activity
        def slow(n):
            print("inside", n)
            time.sleep(0.3)
            return n

        @pawflow.activity
        async def slow_async(n):
            await asyncio.sleep(0.3)
            return n

        def handler(event):
            print("before")
            slow(1)
            print("between")
            slow(2)
            print("after")
            return asyncio.run(gathered())

        async def gathered():
            print("before the gather")
            done = await asyncio.gather(slow_async(3), slow_async(4))
            print("after the gather")
            return done
        """,
    )
    platform.start_worker()
    url = platform.deploy(project)["webhooks"]["run"]
    session = platform.session_for(platform.post(url, {})[1]["event_id"])
    assert platform.wait_ended(session["id"])["state"] == "completed"
    timed = [
        (r["type"], r.get("text", r.get("seq")), r["time"])
        for r in platform.log(session["id"])
        if r["type"] in ("print", "call_start", "call_end")
    ]
    assert [t[:2] for t in timed] == [
        ("print", "before"),
        ("call_start", 1),
        ("print", "inside 1"),
        ("call_end", 1),
        ("print", "between"),
        ("call_start", 2),
        ("print", "inside 2"),
        ("call_end", 2),
        ("print", "after"),
        ("print", "before the gather"),
        ("call_start", 3),
        ("call_start", 4),
        ("call_end", 3),
        ("call_end", 4),
        ("print", "after the gather"),
    ], "\n".join(map(str, timed))
    times = [t[2] for t in timed]
    # Calls took 0.3 s each: a print stamped when its advance was logged would
    # come after the calls that followed it. (A gather's calls end in any order.)
    gather_ends = {i for i, t in enumerate(timed) if t[:2] in (("call_end", 3), ("call_end", 4))}
    in_order = [at for i, at in enumerate(times) if i not in gather_ends]
    assert in_order == sorted(in_order), timed
