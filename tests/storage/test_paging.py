"""Newest-first listings page with ``before``: every row once, ties included."""

from __future__ import annotations

import pytest

from pawflow.errors import NotFoundError
from pawflow.storage import Store

from ._helpers import deploy, new_session, start_one


async def test_sessions_page_through_ties_once_each(store: Store) -> None:
    dep = await deploy(store)
    # The sessions of one event are created in one transaction with one timestamp:
    # only the (created_at, id) pair orders them.
    event, _ = await store.add_event(project=dep.project, trigger="hook", type="webhook", data={})
    tied = await store.match_event(event.id, [new_session(dep) for _ in range(25)])
    assert len({s.created_at for s in tied}) == 1
    singles = [await start_one(store, dep) for _ in range(10)]
    everyone = {s.id for s in tied} | set(singles)

    seen: list[str] = []
    before = None
    while True:
        page = await store.list_sessions(project=dep.project, limit=7, before=before)
        seen += [s.id for s in page]
        if len(page) < 7:
            break
        before = page[-1].id
    assert len(seen) == len(everyone) == 35
    assert set(seen) == everyone
    assert [s.id for s in await store.list_sessions(project=dep.project, limit=100)] == seen


async def test_events_deployments_projects_page(store: Store) -> None:
    deps = [await deploy(store, f"proj{i}") for i in range(3)]
    for dep in deps:
        await start_one(store, dep)
    events = await store.list_events(limit=100)
    assert [e.id for e in await store.list_events(limit=2, before=events[0].id)] == [
        e.id for e in events[1:3]
    ]
    assert await store.list_events(limit=5, before=events[-1].id) == []
    assert [e.id for e in await store.list_events("proj1", before=events[0].id)] == [
        e.id for e in events if e.project == "proj1" and e.id != events[0].id
    ]

    newest_first = await store.list_deployments()
    assert [d.id for d in newest_first] == [d.id for d in reversed(deps)]
    assert await store.list_deployments(limit=1, before=newest_first[0].id) == [newest_first[1]]

    projects = [p.name for p in await store.list_projects()]
    assert projects == ["proj2", "proj1", "proj0"]
    assert [p.name for p in await store.list_projects(limit=1, before="proj2")] == ["proj1"]
    assert [p.name for p in await store.list_projects(before="proj1")] == ["proj0"]


async def test_before_an_unknown_row_is_refused(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no session 'ses_nope'"):
        await store.list_sessions(before="ses_nope")
    with pytest.raises(NotFoundError, match="no project 'nope'"):
        await store.list_projects(before="nope")
