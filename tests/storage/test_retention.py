"""Retention in the store: what a purge deletes and what it keeps, on both back ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pawflow.storage import (
    ROLLBACK_TARGETS,
    DeploymentRecord,
    HttpOutcome,
    PurgeCounts,
    Store,
)
from tests.storage._helpers import MANIFEST, deploy, printed, start_one, state

LONG_AGO = 1000.0  # ended in 1970: older than any cutoff


async def end(store: Store, session_id: str, at: float, logs: int = 3) -> None:
    """Give the session ``logs`` print records and end it (completed) at ``at``."""
    records = [printed(session_id, n, f"line {n}", at) for n in range(logs)]
    await store.append_log([*records, state(session_id, logs, "completed", at)])


async def purge_all(store: Store, **rule: Any) -> tuple[PurgeCounts, int]:
    """Purge until nothing is left to do; (counts added up, transactions)."""
    total = PurgeCounts()
    batches = 0
    while True:
        counts = await store.purge("demo", **rule)
        batches += 1
        total += counts
        if not counts.more:
            return total, batches


async def test_old_finished_sessions_go_with_everything_keyed_by_them(store: Store) -> None:
    dep = await deploy(store)
    old = await start_one(store, dep)
    await store.set_http_outcome(old, HttpOutcome(status=201, headers={}, body="made"))
    await store.add_subscription(old, "hook", None)
    await end(store, old, LONG_AGO, logs=4)
    recent = await start_one(store, dep)
    await end(store, recent, time.time())
    running = await start_one(store, dep)
    await store.append_log([state(running, 0, "running", LONG_AGO)])

    counts = await store.purge("demo", cutoff=time.time() - 3600)

    assert (counts.sessions, counts.log_records) == (1, 5)
    assert await store.get_session(old) is None
    assert await store.get_log(old) == []
    assert await store.get_http_outcome(old) is None
    assert await store.list_subscriptions(old) == []
    # What has not aged out, and what has not ended, stays with its log.
    for kept in (recent, running):
        assert await store.get_session(kept) is not None
        assert await store.get_log(kept)
    assert {s.id for s in await store.list_sessions(project="demo")} == {recent, running}


async def test_events_go_once_no_session_needs_them(store: Store) -> None:
    dep = await deploy(store)
    done = await start_one(store, dep)
    await end(store, done, LONG_AGO)
    running = await start_one(store, dep)
    (running_session,) = await store.list_sessions(project="demo", state="created")
    unmatched, _ = await store.add_event(project="demo", trigger="hook", type="webhook", data={})
    await store.match_event(unmatched.id, [])
    pending, _ = await store.add_event(project="demo", trigger="hook", type="webhook", data={})
    done_event = (await store.get_session(done)).event_id  # type: ignore[union-attr]

    # Everything was created before this cutoff.
    counts, _ = await purge_all(store, cutoff=time.time() + 1)

    assert counts.sessions == 1
    assert counts.events == 2  # the ended session's, and the one that matched nothing
    assert await store.get_event(done_event) is None  # type: ignore[arg-type]
    assert await store.get_event(unmatched.id) is None
    assert await store.get_event(pending.id) is not None  # still to be dispatched
    assert await store.get_event(running_session.event_id) is not None  # type: ignore[arg-type]
    assert await store.get_session(running) is not None


async def test_keep_leaves_exactly_the_newest_finished_sessions(store: Store) -> None:
    dep = await deploy(store)
    finished = []
    for _ in range(5):
        session_id = await start_one(store, dep)
        await end(store, session_id, time.time())
        finished.append(session_id)
    running = await start_one(store, dep)

    counts, _ = await purge_all(store, keep=2)

    assert counts.sessions == 3
    left = {s.id for s in await store.list_sessions(project="demo")}
    assert left == {finished[-1], finished[-2], running}
    # Their events went too; the kept sessions' did not.
    assert counts.events == 3
    for session_id in left:
        session = await store.get_session(session_id)
        assert session is not None and await store.get_event(session.event_id) is not None  # type: ignore[arg-type]
    again, _ = await purge_all(store, keep=2)
    assert again.total == 0


async def test_a_parent_stays_while_its_child_runs(store: Store) -> None:
    dep = await deploy(store)
    parent = await start_one(store, dep)
    child, _, _ = await store.start_manual_session(
        project="demo",
        deployment_id=dep.id,
        call="program.py:on_hook",
        data={},
        parent_session_id=parent,
    )
    assert child is not None
    await store.append_log([state(child.id, 0, "running", LONG_AGO)])
    await end(store, parent, LONG_AGO)

    counts, _ = await purge_all(store, cutoff=time.time())
    assert counts.sessions == 0
    assert await store.get_session(parent) is not None

    # The child ended, but its parent has not been told yet: both stay.
    await end(store, child.id, LONG_AGO)
    counts, _ = await purge_all(store, cutoff=time.time())
    assert counts.sessions == 0

    await store.mark_parent_told(child.id)
    counts, _ = await purge_all(store, cutoff=time.time())
    assert counts.sessions == 2
    assert await store.get_session(parent) is None
    assert await store.get_session(child.id) is None


async def test_code_of_old_deployments_goes_but_rollback_targets_keep_theirs(
    store: Store,
) -> None:
    deployments: list[DeploymentRecord] = []
    for n in range(ROLLBACK_TARGETS + 4):
        deployments.append(await deploy(store, code=f"zip {n}".encode()))
    # An old deployment with a session left keeps its code too.
    await start_one(store, deployments[0])

    counts, _ = await purge_all(store, cutoff=time.time() + 1)

    # 9, less the active one, the 5 newest others, and the one in use.
    assert counts.deployment_code == 2
    gone = {d.id for d in deployments[1:3]}
    for dep in deployments:
        code = await store.get_deployment_code(dep.id)
        assert (code is None) == (dep.id in gone), dep
        # The rows stay: listings and rollbacks still name them.
        assert await store.get_deployment(dep.id) is not None
    assert (await store.active_deployment("demo")).id == deployments[-1].id  # type: ignore[union-attr]


async def test_a_project_with_few_sessions_keeps_them_all(store: Store) -> None:
    dep = await deploy(store)
    only = await start_one(store, dep)
    await end(store, only, LONG_AGO)
    counts, _ = await purge_all(store, keep=3)
    assert counts.total == 0
    assert await store.get_session(only) is not None


async def test_a_pass_is_many_short_transactions(store: Store) -> None:
    dep = await deploy(store)
    ids = await asyncio.gather(*(start_one(store, dep) for _ in range(30)))
    await asyncio.gather(*(end(store, s, LONG_AGO, logs=2) for s in ids))
    # A session with a long log: its records go over several batches first.
    long_one = await start_one(store, dep)
    await end(store, long_one, LONG_AGO, logs=120)

    first = await store.purge("demo", cutoff=time.time(), limit=10)
    assert first.more and first.sessions == 10
    counts, batches = await purge_all(store, cutoff=time.time(), limit=10)

    assert counts.sessions + first.sessions == 31
    assert counts.log_records + first.log_records == 30 * 3 + 121
    assert batches >= 4
    assert await store.list_sessions(project="demo") == []


async def test_purges_of_two_servers_at_once_delete_each_row_once(
    store: Store, open_again: Callable[[], Awaitable[Store]]
) -> None:
    dep = await deploy(store)
    ids = await asyncio.gather(*(start_one(store, dep) for _ in range(40)))
    await asyncio.gather(*(end(store, s, LONG_AGO) for s in ids))
    other = await open_again()

    async def drain(s: Store) -> PurgeCounts:
        total = PurgeCounts()
        while True:
            counts = await s.purge("demo", cutoff=time.time(), limit=5)
            total += counts
            if counts.busy:
                await asyncio.sleep(0)  # the other holds the lock: let it work
            elif not counts.more:
                return total

    a, b = await asyncio.gather(drain(store), drain(other))

    assert a.sessions + b.sessions == 40
    assert a.events + b.events == 40
    assert await store.list_sessions(project="demo") == []


async def test_a_purge_takes_one_rule(store: Store) -> None:
    await store.create_deployment("demo", MANIFEST, b"zip")
    with pytest.raises(ValueError, match="either"):
        await store.purge("demo")
    with pytest.raises(ValueError, match="either"):
        await store.purge("demo", cutoff=1.0, keep=1)
    with pytest.raises(ValueError, match="at least 1"):
        await store.purge("demo", keep=0)


async def test_a_failed_session_stays_while_a_restart_reuses_its_answers(store: Store) -> None:
    dep = await deploy(store)
    failed = await start_one(store, dep)
    await store.save_transcript(failed, 0, ['{"answer": 1}'])
    await store.append_log([state(failed, 0, "error", LONG_AGO, error="boom")])
    restart = await store.restart_from_failure(failed, dep.id, "program.py:on_hook", 1)

    counts, _ = await purge_all(store, cutoff=time.time())
    assert counts.sessions == 0
    assert await store.load_transcript(failed) == ['{"answer": 1}']

    await end(store, restart.id, time.time())
    counts, _ = await purge_all(store, cutoff=time.time() - 60)
    assert counts.sessions == 1  # the failed one; the restart ended just now
    assert await store.get_session(failed) is None
    assert await store.load_transcript(failed) == []
    assert await store.get_session(restart.id) is not None
