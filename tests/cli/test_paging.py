"""Every listing pages: ``--limit`` and ``--before``/``--after`` through a real server."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from pawflow.storage import Store
from tests.storage._helpers import deploy, new_session

from ._inproc import paw, server

__all__ = ["paw", "server"]  # the fixtures these tests use


async def test_250_sessions_page_once_each(store: Store, paw: Any) -> None:
    dep = await deploy(store)
    made: set[str] = set()
    for _ in range(10):
        # 25 sessions of one event share one timestamp: pages must split ties well.
        event, _ = await store.add_event(
            project=dep.project, trigger="hook", type="webhook", data={}
        )
        made |= {
            s.id for s in await store.match_event(event.id, [new_session(dep) for _ in range(25)])
        }
    assert len(made) == 250

    seen: list[str] = []
    argv = ["session", "list", "--limit", "100", "--json"]
    pages = 0
    while True:
        code, out, err = await paw(*argv)
        assert code == 0, err
        seen += [s["id"] for s in json.loads(out)]
        pages += 1
        if not err:
            break
        assert err.startswith("more: paw session list "), err
        argv = shlex.split(err.removeprefix("more: "))[1:]
    assert pages == 3
    assert len(seen) == 250 and set(seen) == made

    code, out, _ = await paw("session", "list", "--limit", "100")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 1 + 100 + 1
    assert lines[-1] == f"(100 shown, more: paw session list --limit 100 --before {seen[99]})"
    code, out, _ = await paw("session", "list", "--before", seen[199])
    assert code == 0 and len(out.splitlines()) == 1 + 50 and "more" not in out


async def test_other_listings_page(store: Store, paw: Any) -> None:
    deps = [await deploy(store, f"proj{i}") for i in range(3)]
    for dep in deps:
        await store.add_event(project=dep.project, trigger="hook", type="webhook", data={})
    for i in range(5):
        await store.kv_set("proj0", f"k{i}", i)

    for command, key in (("project", "name"), ("deployment", "id"), ("event", "id")):
        code, out, err = await paw(command, "list", "--limit", "2", "--json")
        first = [item[key] for item in json.loads(out)]
        assert code == 0 and len(first) == 2
        assert err.strip().endswith(f"--before {first[-1]}"), err
        code, out, err = await paw(command, "list", "--before", first[-1], "--json")
        assert code == 0 and len(json.loads(out)) == 1 and err == ""

    code, out, err = await paw("store", "list", "--project", "proj0", "--limit", "3")
    assert (
        out.splitlines()[-1]
        == "(3 shown, more: paw store list --project proj0 --limit 3 --after k2)"
    )
    code, out, err = await paw("store", "list", "--project", "proj0", "--after", "k2", "--json")
    assert [e["key"] for e in json.loads(out)] == ["k3", "k4"] and err == ""


async def test_paging_mistakes_are_one_line(store: Store, paw: Any) -> None:
    code, _, err = await paw("session", "list", "--before", "ses_nope")
    assert code == 1 and err.strip() == "error: no session 'ses_nope' to list from"
    with pytest.raises(SystemExit) as exit_:
        await paw("session", "list", "--limit", "0")
    assert exit_.value.code == 2
