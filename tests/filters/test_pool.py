"""The filter pool: filters evaluated in processes of their own, within budgets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pawflow.filters import FilterBudget, FilterPool, Verdict
from tests.helpers import pid_alive, wait_for

# Quadratic in the list: with 3,000 items, seconds of CPU.
EXPENSIVE = "data.l.all(x, data.l.all(y, x != -1))"
CHEAP = "data.a == 1"
BUDGET = FilterBudget(seconds=0.2, max_data_bytes=64 * 1024, processes=1)


@pytest.fixture
async def pool() -> AsyncIterator[FilterPool]:
    pool = FilterPool(BUDGET)
    try:
        yield pool
    finally:
        await pool.close()


async def _works(pool: FilterPool) -> None:
    assert await pool.evaluate("post", {"a": 1}, [CHEAP]) == [Verdict(True)]


async def test_filters_match_or_say_why_not(pool: FilterPool) -> None:
    verdicts = await pool.evaluate(
        "post", {"a": 1}, [CHEAP, "data.a == 2", "data.b == 1", 'event_type == "post"', "a ="]
    )
    assert [v.matched for v in verdicts] == [True, False, False, True, False]
    assert verdicts[1].reason == "filter is false"
    assert verdicts[2].reason == "filter fails: no such member in mapping: 'b'"
    assert verdicts[4].reason is not None
    assert verdicts[4].reason.startswith("filter does not compile: syntax error at column 3")


async def test_a_filter_over_its_time_budget_is_stopped_and_the_pool_goes_on(
    pool: FilterPool,
) -> None:
    data = {"a": 1, "l": list(range(3000))}
    slow, cheap = await pool.evaluate("post", data, [EXPENSIVE, CHEAP])
    assert slow == Verdict(False, "filter took longer than 0.2 s")
    # The other filter of the same event got its own budget.
    assert cheap == Verdict(True)
    await _works(pool)


async def test_a_process_that_stops_answering_is_killed_and_replaced() -> None:
    pool = FilterPool(FilterBudget(seconds=0.05, processes=1))
    try:
        await _works(pool)
        (pid,) = pool.pids
        # A stopped process answers nothing and uses no CPU: only the pool's
        # wall-time limit (60 x the budget per filter, plus one) ends it.
        os.kill(pid, signal.SIGSTOP)
        verdict = await asyncio.wait_for(pool.evaluate("post", {"a": 1}, [CHEAP]), 30)
        assert verdict == [Verdict(False, "filter took longer than 0.05 s")]
        await wait_for(lambda: not pid_alive(pid), message="the stuck process to be gone")
        await _works(pool)
        assert pool.pids != [pid]
    finally:
        await pool.close()


async def test_a_process_that_dies_is_replaced() -> None:
    pool = FilterPool(FilterBudget(seconds=20, processes=1))
    try:
        await _works(pool)
        (pid,) = pool.pids
        before = _cpu_seconds(pid)
        evaluating = asyncio.create_task(
            pool.evaluate("post", {"a": 1, "l": list(range(3000))}, [EXPENSIVE])
        )
        await wait_for(lambda: _cpu_seconds(pid) > before + 0.1, message="evaluation under way")
        os.kill(pid, signal.SIGKILL)
        (verdict,) = await asyncio.wait_for(evaluating, 30)
        assert verdict == Verdict(False, "filter process ended while evaluating this event")
        await _works(pool)
        assert pool.pids != [pid]
    finally:
        await pool.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # utime and stime, fields 14 and 15 of stat(5), counted from the state (field 3).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_data_over_the_size_budget_is_refused_without_a_process(pool: FilterPool) -> None:
    big = {"text": "x" * (64 * 1024)}
    verdicts = await pool.evaluate("post", big, [CHEAP, "true"])
    reason = "event data is larger than 64 KiB, the most a filter reads"
    assert verdicts == [Verdict(False, reason)] * 2
    assert pool.pids == []


async def test_hostile_data_is_a_reason_not_a_crash(pool: FilterPool) -> None:
    deep: object = []
    for _ in range(5000):
        deep = [deep]
    for data, expected in (
        ({"s": "\ud800"}, Verdict(True)),  # a lone surrogate reaches the filter as text
        ({"n": 10**30}, Verdict(True)),  # past 64 bits: a double, as CEL reads JSON
        ({"n": 10**400}, "event data cannot be read by filters: "),
        ({"n": 10**5000}, "event data cannot be read by filters: "),
        ({"deep": deep}, Verdict(False, "event data is nested too deeply for filters")),
        ({"f": float("inf")}, Verdict(True)),
    ):
        (verdict,) = await pool.evaluate("post", data, ["size(data) == 1"])
        if isinstance(expected, str):
            assert not verdict.matched and verdict.reason is not None
            assert verdict.reason.startswith(expected)
            # Reasons are stored as JSON text: nothing a store would refuse.
            json.dumps(verdict.reason).encode()
        else:
            assert verdict == expected, data
    (verdict,) = await pool.evaluate("post", {"s": "\ud800"}, ['data.s + 1 == "x"'])
    assert verdict.reason is not None and "\ud800" not in verdict.reason
    await _works(pool)


async def test_concurrent_events_share_the_processes() -> None:
    pool = FilterPool(FilterBudget(processes=2))
    try:
        results = await asyncio.gather(
            *(pool.evaluate("post", {"a": n % 2}, [CHEAP, "data.a >= 0"]) for n in range(200))
        )
        assert [r[0].matched for r in results] == [n % 2 == 1 for n in range(200)]
        assert all(r[1].matched for r in results)
        assert 1 <= len(pool.pids) <= 2
        pids = pool.pids
    finally:
        await pool.close()
    assert pool.pids == []
    await wait_for(lambda: not any(pid_alive(p) for p in pids), message="processes to end")


async def test_no_filters_start_no_process(pool: FilterPool) -> None:
    assert await pool.evaluate("post", {"a": 1}, []) == []
    assert pool.pids == []


async def test_closing_the_pool_ends_evaluations_under_way() -> None:
    pool = FilterPool(FilterBudget(seconds=20, processes=1))
    await _works(pool)
    (pid,) = pool.pids
    evaluating = asyncio.create_task(
        pool.evaluate("post", {"a": 1, "l": list(range(3000))}, [EXPENSIVE])
    )
    before = _cpu_seconds(pid)
    await wait_for(lambda: _cpu_seconds(pid) > before + 0.1, message="evaluation under way")
    await asyncio.wait_for(pool.close(), 30)
    with pytest.raises(asyncio.CancelledError):
        await evaluating
    await wait_for(lambda: not pid_alive(pid), message="the process to be gone")
