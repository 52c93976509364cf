"""The fault suite's tools: a platform rig, a webhook load driver, a side-effect fake.

The rig runs ``paw up`` as the server only (``--workers 0``) plus worker
subprocesses, so a test can SIGKILL either one. Sessions run :data:`PROGRAM`,
which makes a few external calls to :class:`EffectService` with durable sleeps
between them; the service numbers every receipt, and the rig has the server's
store note when each call's outcome is recorded, which is what lets a test tell
an interrupted call that ran again (allowed) from a completed call that ran
again (a broken guarantee): see ``_repeats.py``.
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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes._service import FakeService
from tests.faults._repeats import Receipt, watch_calls
from tests.helpers import PawUp, child_pids, http_json, paw_env, pid_alive, run_paw, wait_for

__all__ = [
    "PROGRAM",
    "EffectService",
    "LoadRig",
    "PostOutcome",
    "Poster",
    "descendants",
    "make_load_project",
    "post_all",
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
    per_second: float | None = None,
) -> list[PostOutcome]:
    """POST one webhook per index with at most ``concurrency`` in flight (and at
    most ``per_second``, so that the load lasts); never raises for a failed
    request (its outcome says what happened)."""
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in indices:
        queue.put_nowait(i)
    outcomes: list[PostOutcome] = []
    loop = asyncio.get_running_loop()
    begun = loop.time()
    sent = 0

    async def work(client: aiohttp.ClientSession) -> None:
        nonlocal sent
        while not queue.empty():
            i = queue.get_nowait()
            if per_second is not None:
                # Pacing the load generator, not waiting for the platform.
                await asyncio.sleep(max(0.0, begun + sent / per_second - loop.time()))
                sent += 1
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
        # Wall-clock times of worker SIGKILLs: what may leave a call in flight.
        self.worker_kills: list[float] = []
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

    @property
    def db_path(self) -> Path:
        return self.data_dir / "pawflow.db"

    def start_server(self, timeout: float = 60.0) -> None:
        self.up.start(timeout)
        assert self.up.proc is not None
        self._started.add(self.up.proc.pid)
        # Idempotent; the schema exists once the server answers.
        watch_calls(self.db_path)

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

    def start_worker(self, *args: str, wait: bool = True) -> subprocess.Popen[bytes]:
        """Start a worker; with ``wait``, return once it has reported to the server
        (a worker waits only so long for its server at start, so a scenario that
        kills the server must not do so before its workers are in)."""
        path = self.data_dir / f"worker-{self._worker_logs}.log"
        log = open(path, "wb")  # noqa: SIM115
        self._worker_logs += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", "pawflow.cli", "worker", "--temporal", self.temporal_address,
             "--task-queue", self.task_queue, *args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env,
        )  # fmt: skip
        log.close()
        self.workers.append(proc)
        self._started.add(proc.pid)
        if wait:

            def reported() -> bool:
                assert proc.poll() is None, f"the worker exited: {path.read_text()}"
                status, body = self.api("workers")
                return status == 200 and any(w["pid"] == proc.pid for w in body["workers"])

            wait_for(reported, 60, 0.05, "the worker's first heartbeat")
        return proc

    def kill_worker(self, proc: subprocess.Popen[bytes]) -> None:
        self._track(proc.pid)
        self.worker_kills.append(time.time())
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

    def logs(self, session_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Each session's log, by session id."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(zip(session_ids, pool.map(self.log, session_ids), strict=True))

    def session(self, session_id: str) -> dict[str, Any]:
        status, body = self.api(f"sessions/{session_id}")
        assert status == 200, body
        session: dict[str, Any] = body
        return session

    def wait_all_ended(
        self, project: str, event_ids: set[str], timeout: float
    ) -> list[dict[str, Any]]:
        """Wait until every event in ``event_ids`` has a session and all sessions ended."""
        return wait_sessions_ended(lambda: self.sessions(project), event_ids, timeout)


def _is_ours(pid: int) -> bool:
    # Pids are reused; only count a process that still runs our interpreter or
    # the Temporal binary.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"pawflow" in cmdline or b"python" in cmdline or b"temporal" in cmdline


def wait_sessions_ended(
    sessions: Callable[[], list[dict[str, Any]]], event_ids: set[str], timeout: float
) -> list[dict[str, Any]]:
    """Wait until every event in ``event_ids`` has a session among ``sessions()``
    (a project's listing) and all of them ended; say how far they got if not."""

    def ended() -> list[dict[str, Any]] | None:
        try:
            found = sessions()
        except OSError:
            return None  # the server being asked is down for now
        if not event_ids <= {s["event_id"] for s in found}:
            return None
        if any(s["state"] not in TERMINAL for s in found):
            return None
        return found

    try:
        done: list[dict[str, Any]] = wait_for(ended, timeout, 0.5, "every session to end")
    except AssertionError:
        listed = sessions()
        states: dict[str, int] = {}
        for s in listed:
            states[s["state"]] = states.get(s["state"], 0) + 1
        missing = len(event_ids - {s["event_id"] for s in listed})
        raise AssertionError(
            f"after {timeout} s: sessions by state {states}, "
            f"{missing} accepted events without a session"
        ) from None
    return done
