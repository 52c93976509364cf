"""Production topology under faults: one Temporal, one PostgreSQL, two ``paw server``
and two ``paw worker`` processes; 500 webhooks spread over both servers, with
duplicate deliveries sent to the other server, one worker and one server SIGKILLed
mid-run.

Worker ``w1`` talks to server ``two`` and worker ``w2`` to server ``one``. The
load comes in two phases so that each kill lands mid-run: ``w1`` is killed
(not restarted) while the first phase's sessions run, and server ``two`` while
the second phase is being posted; what it failed to answer is sent again to
``one`` (as a load balancer would), then ``two`` is started again on its port.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import psycopg
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from tests.faults._load import EffectService, Poster, PostOutcome, post_all
from tests.faults._repeats import call_numbers, tally_effects
from tests.faults._verdict import tally_logs
from tests.helpers import http_json, run_coroutine, wait_for
from tests.production._cluster import Cluster
from tests.production._recorded import recorded_calls, watch_calls

PROJECT = "cluster"
EVENTS = 500
FIRST_PHASE = 200

MANIFEST = """\
version: 1
project:
  name: cluster
  vars:
    - name: EFFECT_URL
      value: {effect_url}
  triggers:
    - name: run
      webhook: {{}}
      call: program.py:handler
    - name: chat
      webhook: {{}}
      call: program.py:chat
    - name: release
      webhook: {{}}
"""

PROGRAM = """\
import json
import urllib.request

import pawflow


def handler(event):
    effect(pawflow.session_id(), 0, event.id)


@pawflow.activity
def effect(session, n, event_id):
    request = urllib.request.Request(
        pawflow.vars["EFFECT_URL"] + "/effect",
        data=json.dumps({"session": session, "n": n, "event": event_id}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def chat(event):
    release = pawflow.subscribe("release")
    print("waiting for the release")
    answer = pawflow.next_event(release, timeout=120)
    print("released" if answer is not None else "never released")
"""


def spread(indices: range) -> tuple[list[int], list[int]]:
    """Even indices to server one, odd ones to two; every fifth index is also
    delivered to the other server (the same Idempotency-Key)."""
    one = [i for i in indices if i % 2 == 0 or i % 10 == 1]
    two = [i for i in indices if i % 2 == 1 or i % 10 == 0]
    return one, two


def post_phase(cluster: Cluster, hook: str, indices: range) -> tuple[Poster, Poster]:
    one, two = spread(indices)
    options = {"steps": 1, "nap": 0.0, "concurrency": 6}
    return (
        Poster(cluster.url("one") + hook, one, **options).start(),
        Poster(cluster.url("two") + hook, two, **options).start(),
    )


def only_accepted_or_cut(outcomes: Sequence[PostOutcome]) -> None:
    """Every request was answered 202 or failed to connect (a killed server)."""
    odd = [o for o in outcomes if not o.accepted and o.status is not None]
    assert not odd, odd[:5]


async def pollers(address: str, task_queue: str) -> set[int]:
    """Pids of the workers polling ``task_queue`` (identities are ``pid@host``)."""
    client = await Client.connect(address)
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {int(p.identity.split("@", 1)[0]) for p in answer.pollers}


async def workers_of(address: str, session_ids: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Each session's workflow: the pids of the workers that took its workflow tasks,
    in order (identities are ``pid@host``)."""
    client = await Client.connect(address)
    limit = asyncio.Semaphore(16)

    async def one(session_id: str) -> tuple[int, ...]:
        async with limit:
            history = await client.get_workflow_handle(session_id).fetch_history()
        return tuple(
            int(e.workflow_task_started_event_attributes.identity.split("@", 1)[0])
            for e in history.events
            if e.HasField("workflow_task_started_event_attributes")
        )

    found = await asyncio.gather(*(one(s) for s in session_ids))
    return dict(zip(session_ids, found, strict=True))


def claimed_by(cluster: Cluster, event_ids: Sequence[str]) -> Counter[str]:
    """Which dispatcher claimed each event (``events.claimed_by``), counted."""
    with psycopg.connect(cluster.database_url) as conn:
        rows = conn.execute(
            "SELECT claimed_by FROM events WHERE id = ANY(%s)", (list(event_ids),)
        ).fetchall()
    assert len(rows) == len(event_ids)
    return Counter(str(r[0]) for r in rows)


@pytest.mark.timeout(300)
def test_two_servers_two_workers_under_kills(
    cluster: Cluster, effects: EffectService, tmp_path: Path
) -> None:
    started = time.monotonic()
    watch_calls(cluster.database_url)
    cluster.start_server("one", wait=False)
    cluster.start_server("two", wait=False)
    cluster.wait_ready("one")
    cluster.wait_ready("two")
    w1 = cluster.start_worker("w1", server="two")
    w2 = cluster.start_worker("w2", server="one")
    address, queue = cluster.temporal_address, cluster.task_queue
    wait_for(
        lambda: w1.running() and w2.running()
        and {w1.pid, w2.pid} <= run_coroutine(pollers(address, queue)),
        60, 0.2, "both workers polling",
    )  # fmt: skip

    project = tmp_path / "project"
    project.mkdir()
    (project / "pawflow.yaml").write_text(MANIFEST.format(effect_url=json.dumps(effects.url)))
    (project / "program.py").write_text(PROGRAM)
    hooks = cluster.deploy(project, via="one")

    # Phase 1: both servers take webhooks, both workers run sessions; w1 dies
    # while they run (its in-flight calls are taken over by w2).
    first = post_phase(cluster, hooks["run"], range(FIRST_PHASE))
    wait_for(lambda: effects.reached(100), 60, 0.01, "sessions running on both workers")
    kill_worker_at = time.time()
    cluster.kill(w1)
    outcomes = [o for poster in first for o in poster.join()]

    # Phase 2: server two dies while it takes webhooks.
    one_poster, two_poster = post_phase(cluster, hooks["run"], range(FIRST_PHASE, EVENTS))
    wait_for(lambda: two_poster.accepted_so_far() >= 60, 60, 0.005, "webhooks on server two")
    cluster.kill(cluster.servers["two"].proc)
    second = one_poster.join() + two_poster.join()
    cut = [o.index for o in second if o.status is None]
    assert cut, "the kill landed after server two's last webhook"
    outcomes += second
    only_accepted_or_cut(outcomes)
    # What a sender (or a load balancer) does with a delivery that failed: send
    # it again, to the server that is up, with the same key.
    resent = run_coroutine(post_all(cluster.url("one") + hooks["run"], sorted(set(cut)), steps=1))
    assert all(o.accepted for o in resent), [o for o in resent if not o.accepted][:5]
    outcomes += resent

    # Every 2xx of an index names the same event, whichever server answered it.
    by_index: dict[int, set[str]] = {}
    for o in outcomes:
        if o.accepted and o.event_id is not None:
            by_index.setdefault(o.index, set()).add(o.event_id)
    assert sorted(by_index) == list(range(EVENTS)), "some webhooks were never accepted"
    split = {i: ids for i, ids in by_index.items() if len(ids) != 1}
    assert not split, f"one delivery, several events: {list(split.items())[:5]}"
    accepted = {next(iter(ids)) for ids in by_index.values()}
    duplicates = sum(1 for o in outcomes if o.duplicate)
    assert duplicates >= 50, f"only {duplicates} deliveries were answered as duplicates"

    sessions = cluster.wait_sessions_ended(PROJECT, accepted, timeout=180)
    # While only server one ran, it alone dispatched: that names its dispatcher.
    resent_owner = claimed_by(cluster, [o.event_id for o in resent if o.event_id])
    assert len(resent_owner) == 1, resent_owner
    (owner_one,) = resent_owner

    # A session for the watch below, dispatched by server one (the only server
    # up): it prints, then waits for a "release" webhook before printing again.
    status, body = http_json(cluster.url("one") + hooks["chat"], method="POST", body={})
    assert status == 202, body
    chat_event = body["event_id"]

    def chat_session() -> str | None:
        found = [s for s in cluster.sessions(PROJECT) if s["event_id"] == chat_event]
        return found[0]["id"] if found else None

    chat_id = wait_for(chat_session, 30, 0.05, "the chat session")
    assert claimed_by(cluster, [chat_event]) == {owner_one: 1}
    cluster.start_server("two", port=cluster.servers["two"].port)

    # --- one event and one completed session per accepted webhook, none lost
    stored = {e["id"] for e in cluster.events(PROJECT)} - {chat_event}
    assert stored == accepted, (len(stored - accepted), len(accepted - stored))
    by_event = Counter(s["event_id"] for s in sessions)
    assert set(by_event) == accepted and set(by_event.values()) == {1}, by_event.most_common(3)
    states = Counter(s["state"] for s in sessions)
    assert states == {"completed": EVENTS}, states

    # --- each event's call reached the fake, and no completed call ran again
    receipts = effects.receipts()
    assert {r.session for r in receipts} == {s["id"] for s in sessions}
    logs = cluster.logs([s["id"] for s in sessions])
    recorded = [r for r in recorded_calls(cluster.database_url) if r.session in logs]
    calls = tally_effects(receipts, recorded, call_numbers(logs), [kill_worker_at])
    assert calls.completed_repeats == 0, f"completed calls repeated: {calls.repeated_calls[:5]}"
    assert calls.unexplained_reruns == (), calls.unexplained_reruns[:5]
    problems = tally_logs(logs, sessions, receipts, steps=1).problems
    assert problems == (), problems[:5]

    # --- both workers ran sessions (who completed their workflow tasks, per history)
    ran = run_coroutine(workers_of(address, [s["id"] for s in sessions]))
    per_worker = Counter(pid for pids in ran.values() for pid in set(pids))
    assert per_worker[w1.pid] > 0 and per_worker[w2.pid] > 0, per_worker
    assert set(per_worker) == {w1.pid, w2.pid}, per_worker
    # Started on w1, finished on w2: what w1 was running when it died.
    taken_over = sum(1 for pids in ran.values() if pids[0] == w1.pid and pids[-1] == w2.pid)
    assert taken_over > 0, "w2 took over none of w1's sessions"

    # --- a watch on server two (restarted) streams, live, the session server one
    # dispatched, whose records w2 ships to server one: "released" is printed
    # only after the watch is connected.
    watch_log = tmp_path / "watch.out"
    with open(watch_log, "wb") as out:
        watch = subprocess.Popen(
            [sys.executable, "-m", "pawflow.cli", "session", "watch", chat_id, "--timeout", "60"],
            stdout=out, stderr=subprocess.STDOUT, env=cluster.cli_env("two"),
        )  # fmt: skip
    try:
        wait_for(
            lambda: "waiting for the release" in watch_log.read_text(errors="replace"),
            60, 0.05, "the first print, streamed by server two",
        )  # fmt: skip
        # Live: the session has not ended, it waits for the release.
        assert cluster.api(f"sessions/{chat_id}", via="two")[1]["state"] == "running"
        status, body = http_json(cluster.url("one") + hooks["release"], method="POST", body={})
        assert status == 202, body
        assert watch.wait(60) == 0, watch_log.read_text()
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    watched = watch_log.read_text()
    assert "never released" not in watched and re.search(r"\breleased$", watched, re.M), watched

    print(
        "\ncluster report: "
        + json.dumps(
            {
                "events": EVENTS,
                "deliveries": len(outcomes),
                "answered_as_duplicates": duplicates,
                "cut_by_server_kill": len(cut),
                "side_effects": calls.side_effects,
                "interrupted_reruns": calls.interrupted_reruns,
                "sessions_by_worker": {"w1": per_worker[w1.pid], "w2": per_worker[w2.pid]},
                "taken_over_from_w1": taken_over,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )
