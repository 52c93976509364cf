"""Async handlers: gather requests on the wire, and the loop that keeps session time."""

from __future__ import annotations

import ast
import asyncio
import os
from typing import Any

import pytest

from pawflow.errors import PawflowError
from pawflow.sessions._aio import DeferredCall, Driver, asyncio_kind, awaits_external
from pawflow.sessions._protocol import Request
from pawflow.sessions._rewrite import rewrite_module
from pawflow.sessions._wire import MAX_GATHER, BadMessage, decode_request, encode_request


def _call(number: int, function: str = "lib.fetch") -> Request:
    return Request("call", number=number, function=function, args=[repr(number)])


def test_a_gather_round_trips_with_its_calls() -> None:
    gather = Request("gather", number=4, calls=[_call(4), _call(5), _call(6, "lib.other")])
    assert decode_request(encode_request(gather)) == gather
    assert gather.same_as(decode_request(encode_request(gather)))
    assert not gather.same_as(Request("gather", number=4, calls=[_call(4), _call(5)]))
    assert gather.describe() == "concurrent call #4 lib.fetch, call #5 lib.fetch, call #6 lib.other"


@pytest.mark.parametrize(
    ("calls", "message"),
    [
        ([_call(1)], "without 2 to"),
        ([_call(1)] * (MAX_GATHER + 1), "without 2 to"),
        ([_call(1), _call(3)], "not numbered in order"),
        ([_call(2), _call(3)], "not numbered in order"),  # the gather says it starts at 1
        ([_call(1), Request("sleep", number=2, key=1.0)], "not numbered in order"),
    ],
)
def test_a_malformed_gather_is_refused(calls: list[Request], message: str) -> None:
    raw = encode_request(Request("gather", number=1, calls=calls))
    with pytest.raises(BadMessage, match=message):
        decode_request(raw)


def test_only_a_gather_carries_calls() -> None:
    raw = encode_request(Request("call", number=1, function="f"))
    raw["calls"] = [encode_request(_call(1)), encode_request(_call(2))]
    with pytest.raises(BadMessage, match="a call request with calls"):
        decode_request(raw)
    raw = encode_request(Request("gather", number=1, calls=[_call(1), _call(2)]))
    raw["calls"][0]["calls"] = raw["calls"][1:]  # nested: refused, not followed
    with pytest.raises(BadMessage):
        decode_request(raw)


def test_asyncio_machinery_runs_inline_and_its_io_is_external() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert asyncio_kind(asyncio.gather) == "inline"
        assert asyncio_kind(asyncio.sleep) == "inline"
        assert asyncio_kind(asyncio.Event().wait) == "inline"
        assert asyncio_kind(loop.create_task) == "inline"
        assert asyncio_kind(asyncio.run) == "run"
        assert asyncio_kind(asyncio.to_thread) is None
        assert awaits_external(asyncio.to_thread)
        assert awaits_external(loop.run_in_executor)
        assert asyncio_kind(os.getpid) is None
        assert not awaits_external(os.getpid)
    finally:
        loop.close()


class _Worker:
    """Answers a driver's waits as a worker would: calls get ``fn(*args)``
    computed at once (no real I/O here), timers are noted."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.timers: list[float] = []
        self.driver: Driver | None = None

    def run_calls(self, calls: list[DeferredCall]) -> None:
        self.batches.append([c.args[0] for c in calls])
        for call in calls:
            call.future.set_result(call.fn(*call.args))

    def sleep(self, seconds: float) -> None:
        self.timers.append(round(seconds, 6))


def _drive(program: Any) -> tuple[Any, _Worker]:
    worker = _Worker()
    driver = Driver(worker.run_calls, worker.sleep, max_calls=2)
    worker.driver = driver
    return driver.run(program(driver)), worker


def test_calls_that_tasks_wait_on_together_go_as_one_batch_in_order() -> None:
    async def program(driver: Driver) -> list[str]:
        async def fetch(name: str) -> str:
            first = await driver.call(str.upper, (name,), {})
            return await driver.call(str.lower, (first + "!",), {})

        return await asyncio.gather(fetch("a"), fetch("b"), fetch("c"))

    result, worker = _drive(program)
    assert result == ["a!", "b!", "c!"]
    # At most max_calls at once, in the order the tasks asked; the rest wait their turn.
    assert worker.batches == [["a", "b"], ["c", "A!"], ["B!", "C!"]]


def test_asyncio_time_is_session_time_moved_only_by_durable_timers() -> None:
    woke: list[tuple[str, float]] = []

    async def program(driver: Driver) -> float:
        loop = asyncio.get_running_loop()

        async def nap(seconds: float, name: str) -> None:
            await asyncio.sleep(seconds)
            woke.append((name, loop.time()))

        await asyncio.gather(nap(3, "late"), nap(1, "early"), nap(0, "at once"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), 0.5)
        return loop.time()

    result, worker = _drive(program)
    assert woke == [("at once", 0.0), ("early", 1.0), ("late", 3.0)]
    assert worker.timers == [1.0, 2.0, 0.5]
    assert result == 3.5


def test_tasks_left_running_are_cancelled_when_the_handler_returns() -> None:
    cleaned: list[str] = []

    async def program(driver: Driver) -> str:
        async def forever() -> None:
            try:
                await asyncio.sleep(3600)
            finally:
                cleaned.append(await driver.call(str.upper, ("bye",), {}))

        asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)
        return "done"

    result, worker = _drive(program)
    assert (result, cleaned, worker.timers) == ("done", ["BYE"], [])


def test_tasks_that_can_never_wake_end_the_program_with_a_clear_error() -> None:
    async def program(driver: Driver) -> None:
        await asyncio.Event().wait()

    with pytest.raises(PawflowError, match="every task waits, and no call, timer or I/O"):
        _drive(program)


def test_awaited_calls_in_async_bodies_go_through_the_hook() -> None:
    source = "async def handler(event):\n    async with x() as y:\n        return await f(1)\n"
    text = ast.unparse(rewrite_module(source, "program.py"))
    assert "return await __pawflow_call__(f, 1)" in text
    assert "async with __pawflow_call__(x) as y" in text
