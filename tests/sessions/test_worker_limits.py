"""How many sessions a worker runs inside calls at once, and how it takes on new ones."""

from __future__ import annotations

import asyncio
import resource
import threading
from typing import Any, cast

import pytest

from pawflow.processes import raise_open_files_limit
from pawflow.sessions._worker import (
    MAX_SESSIONS_IN_CALLS,
    RUNNER_ESTIMATE_MB,
    StepPool,
    WorkflowTaskGate,
    default_sessions_in_calls,
)
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(30)
CTX = cast(Any, None)  # the gate never looks at the SDK's context


def test_the_default_follows_memory_within_bounds() -> None:
    gib = 1 << 30
    # 3/4 of the available memory, one runner estimate each.
    assert default_sessions_in_calls(4 * gib) == 3 * 1024 // RUNNER_ESTIMATE_MB
    assert default_sessions_in_calls(64 * gib) == MAX_SESSIONS_IN_CALLS
    assert 0 < default_sessions_in_calls(0) < default_sessions_in_calls(2 * gib)
    assert 0 < default_sessions_in_calls(None) < MAX_SESSIONS_IN_CALLS


def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if before[1] != resource.RLIM_INFINITY:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, before[1]), before[1]))
        got = raise_open_files_limit()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert got == soft and soft >= min(before[1], 1 << 20) and hard == before[1]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


async def test_the_gate_holds_back_new_workflow_tasks_not_those_waiting_on_steps() -> None:
    gate = WorkflowTaskGate(limit=5, outside_steps=2)
    await asyncio.wait_for(gate.reserve_slot(CTX), 5)
    await asyncio.wait_for(gate.reserve_slot(CTX), 5)
    third = asyncio.ensure_future(gate.reserve_slot(CTX))
    await asyncio.sleep(0)  # let it find the gate shut
    assert not third.done()
    # One of the two goes into a step (from a step thread): the third may start.
    threading.Thread(target=gate.step, args=(1,)).start()
    await asyncio.wait_for(third, 5)
    gate.step(1)
    gate.step(1)
    await asyncio.wait_for(gate.reserve_slot(CTX), 5)
    await asyncio.wait_for(gate.reserve_slot(CTX), 5)
    # The overall limit (5) holds even for tasks waiting on steps, and for eager ones.
    assert gate.try_reserve_slot(CTX) is None
    sixth = asyncio.ensure_future(gate.reserve_slot(CTX))
    gate.step(1)
    await asyncio.sleep(0)
    assert not sixth.done()
    gate.release_slot(CTX)
    await asyncio.wait_for(sixth, 5)


def test_the_step_pool_counts_running_steps() -> None:
    gate = WorkflowTaskGate(limit=10, outside_steps=1)
    seen: list[int] = []
    release = threading.Event()

    def step() -> int:
        seen.append(gate.running_steps())
        assert release.wait(10)
        return 7

    with StepPool(4, gate) as pool:
        futures = [pool.submit(step) for _ in range(3)]
        wait_for(lambda: gate.running_steps() == 3, 10, 0.01, "three running steps")
        release.set()
        assert [f.result(10) for f in futures] == [7, 7, 7]
    assert gate.running_steps() == 0
    assert max(seen) <= 3
