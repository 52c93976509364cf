"""The fault suite's tools: a platform rig, a webhook load driver, a side-effect fake, counts.

The rig runs ``paw up`` as the server only (``--workers 0``) plus worker
subprocesses, so a test can SIGKILL either one. Sessions run :data:`PROGRAM`,
which makes a few external calls to :class:`EffectService` with durable sleeps
between them; the service numbers every receipt, which is what lets a test tell
an interrupted call that ran again (allowed) from a completed call that ran
again (a broken guarantee).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes._service import FakeService
from tests.helpers import PawUp, child_pids, http_json, paw_env, pid_alive, run_paw, wait_for

__all__ = [
    "PROGRAM",
    "EffectService",
    "EffectTally",
    "FaultReport",
    "LoadRig",
    "LogTally",
    "PostOutcome",
    "Poster",
    "Receipt",
    "SessionTally",
    "conclude",
    "descendants",
    "make_load_project",
    "peak_in_flight",
    "peak_open",
    "post_all",
    "tally_effects",
    "tally_logs",
    "tally_sessions",
]

TERMINAL = ("completed", "error", "stopped")
_PAGE = 1000  # the API's largest page

# Each session: `steps` calls, each followed by a durable sleep of `nap` seconds.
PROGRAM = """
import json
import time
import urllib.request

import pawflow


def handler(event):
    order = event.data.body.json
    sid = pawflow.session_id()
    for n in range(order["steps"]):
        effect(sid, n)
        time.sleep(order["nap"])


@pawflow.activity
def effect(session, n):
    request = urllib.request.Request(
        pawflow.vars["EFFECT_URL"] + "/effect",
        data=json.dumps({"session": session, "n": n}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())
"""


def make_load_project(root: Path, name: str, effect_url: str) -> Path:
    """A project ``name`` whose webhook trigger ``run`` starts a :data:`PROGRAM` session."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pawflow.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: 1
            project:
              name: {name}
              vars:
                - name: EFFECT_URL
                  value: {json.dumps(effect_url)}
              triggers:
                - name: run
                  webhook:
                    methods: [POST]
                  call: program.py:handler
            """
        )
    )
    (root / "program.py").write_text(PROGRAM)
    return root


# --- the side-effect fake -------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """One request that reached the fake: the ``seq``-th overall."""

    seq: int
    session: str
    n: int
    at: float  # wall-clock arrival time


class EffectService(FakeService):
    """``POST /effect {"session", "n"}``: records each receipt with a sequence number.

    A receipt is recorded on arrival (the side effect happened) and answered
    ``delay`` seconds later, so a process killed meanwhile leaves a call in flight.
    """

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self._receipts: list[Receipt] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/effect", self._effect)

    async def _effect(self, request: web.Request) -> web.Response:
        payload = await request.json()
        with self._lock:
            receipt = Receipt(
                len(self._receipts), str(payload["session"]), int(payload["n"]), time.time()
            )
            self._receipts.append(receipt)
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response({"ok": True, "seq": receipt.seq})

    def receipts(self) -> list[Receipt]:
        with self._lock:
            return list(self._receipts)

    def reached(self, count: int) -> bool:
        """True once at least ``count`` calls have arrived."""
        with self._lock:
            return len(self._receipts) >= count


@dataclass(frozen=True)
class EffectTally:
    side_effects: int
    duplicates: int
    interrupted_reruns: int
    completed_repeats: int
    # (session, n) pairs whose call ran again after the session had moved past it.
    repeated_calls: tuple[tuple[str, int], ...]


def tally_effects(
    receipts: Sequence[Receipt], ended_at: Mapping[str, float] | None = None
) -> EffectTally:
    """Count duplicates and split them into interrupted re-runs and completed repeats.

    A session journals a call's outcome before its next call starts, so call n
    was complete once call n+1 of the same session reached the fake, and every
    call was complete once the session ended (``ended_at``: session id → wall
    clock). A second receipt of n after that is a completed call executed
    again; one before it is the re-run of a call that was in flight when a
    process died.
    """
    ended_at = ended_at or {}
    first: dict[tuple[str, int], int] = {}
    duplicates = interrupted = 0
    repeated: list[tuple[str, int]] = []
    for r in sorted(receipts, key=lambda r: r.seq):
        key = (r.session, r.n)
        if key not in first:
            first[key] = r.seq
            continue
        duplicates += 1
        successor = first.get((r.session, r.n + 1))
        after_successor = successor is not None and successor < r.seq
        if after_successor or r.at > ended_at.get(r.session, float("inf")):
            repeated.append(key)
        else:
            interrupted += 1
    return EffectTally(len(receipts), duplicates, interrupted, len(repeated), tuple(repeated))


def peak_in_flight(receipts: Sequence[Receipt], steps: int) -> int:
    """The most sessions at once that had made their first call but not yet their last."""
    open_sessions: set[str] = set()
    peak = 0
    for r in sorted(receipts, key=lambda r: r.seq):
        if r.n == 0:
            open_sessions.add(r.session)
        if r.n == steps - 1:
            open_sessions.discard(r.session)
        peak = max(peak, len(open_sessions))
    return peak


def peak_open(outcomes: Sequence[PostOutcome], sessions: Sequence[dict[str, Any]]) -> int:
    """The most accepted events at once whose session had not ended yet.

    Exact, from the client's accept times and the sessions' end times (both
    wall clock on this machine), so no sampling can miss the peak.
    """
    ends = {s["event_id"]: _parse_time(s["ended_at"]) for s in sessions if s.get("ended_at")}
    marks: list[tuple[float, int]] = []
    for o in outcomes:
        if o.accepted and o.event_id is not None:
            marks.append((o.at, 1))
            if o.event_id in ends:
                marks.append((ends[o.event_id], -1))
    # At equal times the end counts first: never overstate the load.
    marks.sort(key=lambda m: (m[0], m[1]))
    peak = current = 0
    for _, step in marks:
        current += step
        peak = max(peak, current)
    return peak


def _parse_time(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


# --- the load driver -----------------------------------------------------------------


@dataclass(frozen=True)
class PostOutcome:
    """One webhook POST: the reply status and event id, or the connection error."""

    index: int
    status: int | None
    event_id: str | None
    error: str | None
    at: float  # wall-clock time of the reply (or the error)
    # The server already had this event (an earlier attempt was committed).
    duplicate: bool = False
    # The "error" of an error reply.
    message: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == 202 and self.event_id is not None


def _body(index: int, steps: int, nap: float) -> dict[str, Any]:
    return {"i": index, "steps": steps, "nap": nap}


async def _post_one(
    client: aiohttp.ClientSession, url: str, index: int, steps: int, nap: float
) -> PostOutcome:
    # The same key on every attempt: a retry of a request whose reply was lost
    # must not start a second session.
    headers = {"Idempotency-Key": f"load-{index}"}
    try:
        async with client.post(url, json=_body(index, steps, nap), headers=headers) as response:
            raw = await response.read()
            event_id = message = None
            if response.status == 202:
                event_id = json.loads(raw)["event_id"]
            else:
                message = _error_message(raw)
            duplicate = response.headers.get("Pawflow-Duplicate") == "true"
            return PostOutcome(
                index, response.status, event_id, None, time.time(), duplicate, message
            )
    except (aiohttp.ClientError, TimeoutError) as err:
        return PostOutcome(index, None, None, f"{type(err).__name__}: {err}", time.time())


def _error_message(raw: bytes) -> str:
    try:
        return str(json.loads(raw)["error"])
    except (ValueError, KeyError, TypeError):
        return raw.decode("utf-8", errors="replace")[:200]


async def post_all(
    url: str,
    indices: Sequence[int],
    *,
    steps: int = 3,
    nap: float = 0.5,
    concurrency: int = 16,
    on_outcome: Any = None,
) -> list[PostOutcome]:
    """POST one webhook per index with at most ``concurrency`` in flight; never raises
    for a failed request (its outcome says what happened)."""
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in indices:
        queue.put_nowait(i)
    outcomes: list[PostOutcome] = []

    async def work(client: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            outcome = await _post_one(client, url, i, steps, nap)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        await asyncio.gather(*(work(client) for _ in range(concurrency)))
    return sorted(outcomes, key=lambda o: o.index)


class Poster:
    """:func:`post_all` on a thread of its own, so the test can inject faults meanwhile."""

    def __init__(self, url: str, indices: Sequence[int], **options: Any) -> None:
        self._lock = threading.Lock()
        self._done: list[PostOutcome] = []
        self.outcomes: list[PostOutcome] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(url, list(indices), options), daemon=True, name="poster"
        )

    def _record(self, outcome: PostOutcome) -> None:
        with self._lock:
            self._done.append(outcome)

    def _run(self, url: str, indices: list[int], options: dict[str, Any]) -> None:
        try:
            self.outcomes = asyncio.run(post_all(url, indices, on_outcome=self._record, **options))
        except BaseException as err:  # handed to join()
            self._error = err

    def start(self) -> Poster:
        self._thread.start()
        return self

    def accepted_so_far(self) -> int:
        with self._lock:
            return sum(1 for o in self._done if o.accepted)

    def join(self, timeout: float = 120.0) -> list[PostOutcome]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the webhook load did not finish in time"
        if self._error is not None:
            raise self._error
        return self.outcomes


# --- the platform --------------------------------------------------------------------


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in child_pids(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class LoadRig:
    """The server (``paw up --workers 0``) and worker processes around one data dir.

    The server can be SIGKILLed and started again on the same data dir and port;
    workers can be SIGKILLed one at a time. :meth:`close` stops whatever still runs.
    """

    def __init__(self, data_dir: Path, temporal_address: str, task_queue: str) -> None:
        self.data_dir = data_dir
        self.temporal_address = temporal_address
        self.task_queue = task_queue
        self.up = PawUp(data_dir, args=self._up_args())
        self.workers: list[subprocess.Popen[bytes]] = []
        self._worker_logs = 0
        self._server_runs = 0
        # Every process this rig started, with what ran below it, so close() can
        # make sure none outlives the test, even after a SIGKILL of its parent.
        self._started: set[int] = set()

    def _up_args(self) -> list[str]:
        return ["--workers", "0", "--temporal", self.temporal_address,
                "--task-queue", self.task_queue]  # fmt: skip

    @property
    def url(self) -> str:
        return self.up.url

    @property
    def token(self) -> str:
        return self.up.token

    @property
    def env(self) -> dict[str, str]:
        return paw_env(PAWFLOW_SERVER=self.url, PAWFLOW_HOME=str(self.data_dir))

    # server

    def start_server(self, timeout: float = 60.0) -> None:
        self.up.start(timeout)
        assert self.up.proc is not None
        self._started.add(self.up.proc.pid)

    def kill_server(self) -> None:
        """SIGKILL the server: a crash, no shutdown code runs."""
        proc = self.up.proc
        assert proc is not None and proc.poll() is None, "the server is not running"
        self._track(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def restart_server(self) -> None:
        """A new server on the same data dir and port; the old one's output is kept
        as ``up-N.stdout`` / ``up-N.stderr``."""
        self._server_runs += 1
        for path in (self.up.stdout_path, self.up.stderr_path):
            if path.exists():
                path.rename(path.with_name(f"up-{self._server_runs}{path.suffix}"))
        self.up = PawUp(self.data_dir, port=self.up.port, args=self._up_args())
        self.start_server()

    def server_log(self) -> str:
        """Everything every server run wrote to stderr, oldest first."""
        paths = [*sorted(self.data_dir.glob("up-*.stderr")), self.up.stderr_path]
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    @property
    def server_pid(self) -> int:
        assert self.up.proc is not None
        return self.up.proc.pid

    # workers

    def start_worker(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.data_dir / f"worker-{self._worker_logs}.log", "wb")  # noqa: SIM115
        self._worker_logs += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", "pawflow.cli", "worker", "--temporal", self.temporal_address,
             "--task-queue", self.task_queue, *args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env,
        )  # fmt: skip
        log.close()
        self.workers.append(proc)
        self._started.add(proc.pid)
        return proc

    def kill_worker(self, proc: subprocess.Popen[bytes]) -> None:
        self._track(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def _track(self, pid: int) -> None:
        self._started |= descendants(pid)

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                self._track(proc.pid)
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.up.proc is not None and self.up.proc.poll() is None:
            self._track(self.up.proc.pid)
            # A timeout there ends in SIGKILL; the sweep below checks the rest.
            with contextlib.suppress(AssertionError):
                self.up.stop()
        # Children of processes killed with SIGKILL are meant to follow their
        # parent; give them a moment, then end any straggler so none leaks.
        leftovers = [p for p in self._started if pid_alive(p) and _is_ours(p)]
        if leftovers:
            try:
                wait_for(lambda: not any(pid_alive(p) for p in leftovers), 10, 0.1, "children")
            except AssertionError:
                for p in leftovers:
                    if pid_alive(p):
                        os.kill(p, signal.SIGKILL)

    def leaked(self) -> list[int]:
        """Processes this rig started (or that ran below them) that are still alive."""
        return [p for p in self._started if pid_alive(p) and _is_ours(p)]

    # the API

    def api(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return http_json(self.url + "/api/v1/" + path, token=self.token, **kwargs)

    def deploy(self, project: Path) -> str:
        """Deploy ``project``; returns the URL of its ``run`` webhook."""
        result = run_paw("deploy", str(project), "--json", env=self.env)
        assert result.returncode == 0, result.stderr
        url: str = json.loads(result.stdout)["webhooks"]["run"]
        return url

    def sessions(self, project: str) -> list[dict[str, Any]]:
        status, body = self.api(f"sessions?project={project}&limit={_PAGE}")
        assert status == 200, body
        sessions: list[dict[str, Any]] = body["sessions"]
        assert len(sessions) < _PAGE, "more sessions than one page holds: use fewer"
        return sessions

    def events(self, project: str) -> list[dict[str, Any]]:
        status, body = self.api(f"events?project={project}&limit={_PAGE}")
        assert status == 200, body
        events: list[dict[str, Any]] = body["events"]
        assert len(events) < _PAGE, "more events than one page holds: use fewer"
        return events

    def log(self, session_id: str) -> list[dict[str, Any]]:
        status, body = self.api(f"sessions/{session_id}/log")
        assert status == 200, body
        records: list[dict[str, Any]] = body["records"]
        return records

    def session(self, session_id: str) -> dict[str, Any]:
        status, body = self.api(f"sessions/{session_id}")
        assert status == 200, body
        session: dict[str, Any] = body
        return session

    def wait_all_ended(
        self, project: str, event_ids: set[str], timeout: float
    ) -> list[dict[str, Any]]:
        """Wait until every event in ``event_ids`` has a session and all sessions ended."""

        def ended() -> list[dict[str, Any]] | None:
            try:
                sessions = self.sessions(project)
            except OSError:
                return None
            dispatched = {s["event_id"] for s in sessions}
            if not event_ids <= dispatched:
                return None
            if any(s["state"] not in TERMINAL for s in sessions):
                return None
            return sessions

        try:
            found: list[dict[str, Any]] = wait_for(ended, timeout, 0.5, "every session to end")
        except AssertionError:
            sessions = self.sessions(project)
            states: dict[str, int] = {}
            for s in sessions:
                states[s["state"]] = states.get(s["state"], 0) + 1
            missing = len(event_ids - {s["event_id"] for s in sessions})
            raise AssertionError(
                f"after {timeout} s: sessions by state {states}, "
                f"{missing} accepted events without a session"
            ) from None
        return found


def _is_ours(pid: int) -> bool:
    # Pids are reused; only count a process that still runs our interpreter or
    # the Temporal binary.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"pawflow" in cmdline or b"python" in cmdline or b"temporal" in cmdline


# What the server logs with the traceback of a request it answered with a 500.
_INTERNAL_ERROR = "internal error handling"


# --- counts --------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionTally:
    completed: int
    error: int
    other: int
    errors_without_reason: tuple[str, ...]
    # Accepted events with no session, or whose session ended in neither state.
    lost: tuple[str, ...]
    # Completed sessions whose calls did not all reach the fake.
    incomplete: tuple[str, ...]


def tally_sessions(
    rig: LoadRig,
    sessions: Sequence[dict[str, Any]],
    accepted: set[str],
    receipts: Sequence[Receipt],
    steps: int,
) -> SessionTally:
    """How the sessions ended, checked against the accepted events and the fake's receipts."""
    by_event = {s["event_id"]: s for s in sessions}
    calls: dict[str, set[int]] = {}
    for r in receipts:
        calls.setdefault(r.session, set()).add(r.n)
    completed = error = other = 0
    no_reason: list[str] = []
    incomplete: list[str] = []
    for s in sessions:
        if s["state"] == "completed":
            completed += 1
            if calls.get(s["id"], set()) != set(range(steps)):
                incomplete.append(s["id"])
        elif s["state"] == "error":
            error += 1
            if not (rig.session(s["id"]).get("error") or "").strip():
                no_reason.append(s["id"])
        else:
            other += 1
    lost = tuple(
        e
        for e in sorted(accepted)
        if e not in by_event or by_event[e]["state"] not in ("completed", "error")
    )
    return SessionTally(completed, error, other, tuple(no_reason), lost, tuple(incomplete))


@dataclass(frozen=True)
class LogTally:
    # Calls a resumed session took from the call journal instead of running them.
    journal_saves: int
    # "session: what is wrong" for logs with gaps, repeated records or calls.
    problems: tuple[str, ...]


def tally_logs(rig: LoadRig, sessions: Sequence[dict[str, Any]], steps: int) -> LogTally:
    """Read every session's log: numbered without gaps, each call ended once."""
    ids = [s["id"] for s in sessions]
    with ThreadPoolExecutor(max_workers=8) as pool:
        logs = dict(zip(ids, pool.map(rig.log, ids), strict=True))
    saves = 0
    problems: list[str] = []
    for s in sessions:
        records = logs[s["id"]]
        if [r["n"] for r in records] != list(range(len(records))):
            problems.append(f"{s['id']}: records are not numbered 0..{len(records) - 1}")
        ends = [r["seq"] for r in records if r["type"] == "call_end"]
        saves += sum(1 for r in records if r["type"] == "call_end" and r.get("note"))
        if len(ends) != len(set(ends)):
            problems.append(f"{s['id']}: a call ended twice: {ends}")
        if s["state"] == "completed" and len(ends) != steps:
            problems.append(f"{s['id']}: {len(ends)} calls ended, not {steps}")
    return LogTally(saves, tuple(problems))


@dataclass(frozen=True)
class FaultReport:
    """The figures one scenario reports (printed, and appended to $PAWFLOW_FAULTS_REPORT)."""

    scenario: str
    events_posted: int
    events_accepted: int
    sessions_completed: int
    sessions_error: int
    side_effects: int
    duplicates: int
    interrupted_reruns: int
    completed_repeats: int
    lost: int
    # Most accepted events at once whose session had not ended (the load).
    peak_open: int
    # Most sessions at once between their first and their last call.
    peak_calling: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("extra"))
        return out

    def emit(self) -> None:
        line = json.dumps(self.as_dict())
        print(f"\nfault report: {line}")
        target = os.environ.get("PAWFLOW_FAULTS_REPORT")
        if target:
            with open(target, "a", encoding="utf-8") as f:
                f.write(line + "\n")


def conclude(
    scenario: str,
    rig: LoadRig,
    effects: EffectService,
    *,
    project: str,
    posted: int,
    outcomes: Sequence[PostOutcome],
    steps: int,
    started: float,
    timeout: float = 240.0,
    min_open: int = 200,
    internal_errors_allowed: bool = False,
    **extra: Any,
) -> FaultReport:
    """Wait for every accepted event's session to end, report the figures and check
    the guarantees: nothing accepted is lost, no completed call ran again, every
    session completed or ended in ``error`` with a reason, one event and one
    session per accepted webhook, and no 500 from the server (unless allowed)."""
    accepted = {o.event_id for o in outcomes if o.accepted and o.event_id is not None}
    sessions = rig.wait_all_ended(project, accepted, timeout)
    stored = {e["id"] for e in rig.events(project)}
    receipts = effects.receipts()
    internal_errors = rig.server_log().count(_INTERNAL_ERROR)
    ended = tally_sessions(rig, sessions, accepted, receipts, steps)
    ended_at = {s["id"]: _parse_time(s["ended_at"]) for s in sessions if s.get("ended_at")}
    calls = tally_effects(receipts, ended_at)
    logs = tally_logs(rig, sessions, steps)
    times = [o.at for o in outcomes if o.accepted]
    report = FaultReport(
        scenario=scenario,
        events_posted=posted,
        events_accepted=len(accepted),
        sessions_completed=ended.completed,
        sessions_error=ended.error,
        side_effects=calls.side_effects,
        duplicates=calls.duplicates,
        interrupted_reruns=calls.interrupted_reruns,
        completed_repeats=calls.completed_repeats,
        lost=len(ended.lost),
        peak_open=peak_open(outcomes, sessions),
        peak_calling=peak_in_flight(receipts, steps),
        seconds=round(time.monotonic() - started, 1),
        extra={
            "ingest_seconds": round(max(times) - min(times), 1) if times else 0.0,
            "journal_saves": logs.journal_saves,
            "server_internal_errors": internal_errors,
            **extra,
        },
    )
    report.emit()
    assert report.peak_open >= min_open, f"the scenario ran under too little load: {report}"
    assert ended.lost == (), f"accepted events lost: {ended.lost[:5]}"
    assert calls.completed_repeats == 0, f"completed calls repeated: {calls.repeated_calls[:5]}"
    assert ended.other == 0, "sessions ended neither completed nor in error"
    assert ended.errors_without_reason == (), ended.errors_without_reason[:5]
    assert ended.incomplete == (), f"completed sessions missing a call: {ended.incomplete[:5]}"
    assert len(sessions) == len(accepted), f"{len(sessions)} sessions for {len(accepted)} events"
    assert logs.problems == (), logs.problems[:5]
    assert stored == accepted, (
        f"{len(stored - accepted)} stored events were never accepted, "
        f"{len(accepted - stored)} accepted ones are not stored"
    )
    if not internal_errors_allowed:
        assert internal_errors == 0, f"the server answered {internal_errors} requests with a 500"
    return report
