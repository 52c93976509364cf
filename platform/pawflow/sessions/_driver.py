"""A session's runner as the worker holds it, and how it is advanced.

The workflow owns the session's *transcript* (``_transcript``): every request
the program made and the answer it got (an external call's recorded outcome,
what a wait produced). The runner process holds the program's live state; a
:class:`RunnerDriver` drives it through the transcript. While they agree --
the runner has consumed exactly the transcript's answers -- each activity
just answers the runner's current request. When they do not (the runner died,
the workflow was evicted and replayed on this or another worker, or the runner
was let go during a long wait) a fresh runner is started and driven through
the transcript with the recorded answers, checking that it makes the same
requests; then the activity goes on.

External calls run inside the activity that advances the program -- several
back to back while the program asks for nothing else (see ``Step``) -- and
local-activity results reach history only when the workflow task completes.
So that a crash in between never runs a completed call twice, each outcome is
also written to the server's call journal -- while the program goes on to its
next request, but always before its next call runs -- and a fresh runner's
first calls are looked up there before anything is executed. The calls of a
gather (an async program's tasks waiting on several at once) run together:
each is journaled as it completes, and after a crash each one is looked up,
so only the interrupted ones run again.
"""

from __future__ import annotations

import base64
import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ..errors import ServerError
from ._protocol import CallDone, Exchange, Request, Step, StepAction
from ._runner import RunnerSpec
from ._runners import Runner, RunnerFactory, RunnerGone
from ._seal import OutcomeSeal, TamperedOutcome
from ._serverlink import ServerLink
from ._transcript import Transcript
from ._wire import (
    Asked,
    BadMessage,
    Execute,
    Outcome,
    Print,
    Result,
    Resume,
    Stop,
    decode_exchange,
    encode_exchange,
)

__all__ = ["CallJournal", "RunnerDriver", "SessionEnded", "SessionHosts"]

_JOURNAL_PATIENCE = 60.0  # seconds to keep trying to journal a completed call
# One advance runs calls back to back for at most this long (then its results
# reach the workflow, the log and ``paw session watch``), this many calls or
# this much recorded outcome (history events have a size limit).
_BATCH_SECONDS = 0.25
_BATCH_CALLS = 500
_BATCH_BYTES = 256 * 1024
_TRANSCRIPT_CHUNK = 200  # answered requests per request to the server
# Calls whose outcome belongs to the session that made them: a session restarted
# from another's failure makes them again rather than reuse that one's.
_RUN_AGAIN_ON_REUSE = frozenset({"pawflow.subscribe"})
# What the driver waits for from a runner (prints aside).
_Expected = TypeVar("_Expected", Asked, Outcome)


class CallJournal:
    """Outcomes of a session's completed external calls, kept by the server."""

    def __init__(self, link: ServerLink) -> None:
        self._link = link
        self._writers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="pawflow-journal")

    def get(self, session_id: str, number: int) -> tuple[bytes, dict[str, Any]] | None:
        try:
            entry = self._link.get_json(f"/api/v1/sessions/{session_id}/calls/{number}")
        except ServerError as exc:
            if exc.status == 404:
                return None
            raise
        return base64.b64decode(entry["outcome"]), entry.get("shown") or {}

    def put_soon(
        self, session_id: str, number: int, outcome: bytes, shown: dict[str, Any]
    ) -> Future[None]:
        """:meth:`put` on the journal's own threads."""
        return self._writers.submit(self.put, session_id, number, outcome, shown)

    def close(self) -> None:
        self._writers.shutdown(wait=True)

    def save_transcript(self, session_id: str, start: int, exchanges: list[Exchange]) -> None:
        """Keep ``exchanges`` (answered requests ``start``...) on the server."""
        for at in range(0, len(exchanges), _TRANSCRIPT_CHUNK):
            chunk = [encode_exchange(e) for e in exchanges[at : at + _TRANSCRIPT_CHUNK]]
            self._link.post_json(
                f"/api/v1/sessions/{session_id}/transcript",
                {"start": start + at, "exchanges": chunk},
            )

    def load_transcript(self, session_id: str, count: int) -> list[Exchange]:
        """The first ``count`` answered requests kept on the server."""
        out: list[Exchange] = []
        while len(out) < count:
            page = self._link.get_json(f"/api/v1/sessions/{session_id}/transcript?start={len(out)}")
            out.extend(decode_exchange(e) for e in page["exchanges"])
            if not page["more"]:
                break
        if len(out) < count:
            raise TranscriptLost(
                f"the server kept {len(out)} of the session's {count} earlier answers"
            )
        return out[:count]

    def put(self, session_id: str, number: int, outcome: bytes, shown: dict[str, Any]) -> None:
        payload = {"outcome": base64.b64encode(outcome).decode(), "shown": shown}
        deadline = time.monotonic() + _JOURNAL_PATIENCE
        delay = 0.05
        while True:
            try:
                self._link.post_json(f"/api/v1/sessions/{session_id}/calls/{number}", payload)
                return
            except ServerError as exc:
                # The call has run: giving up now could run it again, so insist.
                if (exc.status is not None and exc.status < 500) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)  # back off while the server is unreachable
            delay = min(delay * 2, 2.0)


class TranscriptLost(Exception):
    """What a session saved when it continued as new is not all there."""


class SessionEnded(Exception):
    """The server ended the session already: a workflow task that got that far
    was lost (its worker died, or it timed out) after its last records were
    shipped. ``request`` is how the program ended; it does not run again."""

    def __init__(self, request: Request) -> None:
        super().__init__(request.message)
        self.request = request


class _Diverged(Exception):
    def __init__(self, expected: Request, actual: Request) -> None:
        super().__init__(
            "the session's code no longer matches its history: "
            f"{expected.describe()} came next when the session first ran, "
            f"but now it is {actual.describe()}"
        )
        self.expected = expected
        self.actual = actual


class _ReuseDiverged(Exception):
    """A session restarted from another's failure asks something else than that
    one did before it failed: its recorded answers cannot be reused."""

    def __init__(self, origin: str, expected: Request, actual: Request, how: str = "") -> None:
        super().__init__(
            f"restarted from the failure of session {origin}, the new code diverges before "
            f"the point of failure: {expected.describe()} came next when {origin} ran, "
            f"but now it is {actual.describe()}{how}"
        )


def _failed(reason: str) -> Request:
    return Request("failed", error=reason, message=reason)


class RunnerDriver:
    """Drives one session's runner (in its activities) through the session's
    :class:`Transcript` (written by its workflow). The workflow awaits each
    activity, so they never overlap."""

    def __init__(
        self,
        session_id: str,
        transcript: Transcript,
        make_spec: Callable[[], RunnerSpec],
        factory: RunnerFactory,
        journal: CallJournal,
        seal: OutcomeSeal,
        wall_seconds: float,
    ) -> None:
        self.session_id = session_id
        self._seal = seal
        self.transcript = transcript
        self._make_spec = make_spec
        self._factory = factory
        self._journal = journal
        self._wall = wall_seconds
        self._runner: Runner | None = None
        self._consumed = 0  # answers the runner has been given
        self._in_sync = False
        self._check_journal = False
        self.resumed = False  # set by the workflow when its history shows earlier work
        # (session, count): restarted from that session's failure, the program's
        # first ``count`` requests are answered from its transcript.
        self.reuse: tuple[str, int] | None = None
        self._journaling: list[Future[None]] = []  # outcomes being journaled
        self._lock = threading.Lock()  # held by an advance
        # Eviction (below) may come while an advance runs on another thread.
        self._state = threading.Lock()
        self._busy = False
        self._retired = False
        self._predecessor: RunnerDriver | None = None

    # -- the workflow's side -------------------------------------------------------------
    def save_transcript(self) -> int:
        """Keep the whole transcript on the server; returns its length."""
        with self._lock:  # never while an advance runs (the workflow awaits each)
            kept = self.transcript
            self._journal.save_transcript(self.session_id, kept.saved, kept.exchanges)
            return kept.total

    def retire(self) -> None:
        """The workflow left this worker's cache: let the runner go, but only
        once a running advance has ended (never blocks). Killing the runner in
        the middle of a call would lose a completed call's outcome, and run it
        again in the replay that follows."""
        with self._state:
            self._retired = True
            busy = self._busy
        if not busy:
            self.release()

    def succeed(self, predecessor: RunnerDriver) -> None:
        """Take over from the driver of the same run that was retired: this one's
        first advance waits until that one's last advance and journal write are
        done, so that its journal lookups see every call that completed."""
        self._predecessor = predecessor

    @property
    def settled(self) -> bool:
        """No advance runs and every outcome it handed to the journal is stored.
        Until then a replay of the session must wait for this driver: the
        workflow task that carried the outcomes may have failed after the
        advance returned, and then only the journal has them."""
        with self._state:
            if self._busy:
                return False
        return all(write.done() for write in list(self._journaling))

    def _wait_settled(self) -> None:
        """Wait until no advance runs and the last outcome is journaled."""
        with self._lock:
            self._journaled()

    def release(self) -> None:
        """Let the runner go (a long wait, or the session left this worker)."""
        runner, self._runner = self._runner, None
        self._in_sync = False
        if runner is not None:
            # Not waited for: this may run on the workflow thread, and the next
            # runner started collects finished ones.
            runner.kill()

    # -- the activity's side ---------------------------------------------------------------
    def advance(self, action: StepAction, value: Any = None) -> Step:
        """Answer the pending request (``execute`` it when it is a call), then run on."""
        predecessor, self._predecessor = self._predecessor, None
        if predecessor is not None:
            predecessor._wait_settled()
        with self._state:
            self._busy = True
        try:
            with self._lock:
                return self._advance(action, value)
        finally:
            with self._state:
                self._busy = False
                retired = self._retired
            if retired:
                self.release()

    def _advance(self, action: StepAction, value: Any) -> Step:
        in_sync = self._in_sync and self._runner is not None
        self._in_sync = False  # until this advance completes
        printed = _Printed()
        calls: list[CallDone] = []
        reused: list[Exchange] = []
        live: list[CallDone] = []
        try:
            if action == "start":
                runner = self._spawn()
                # A first run may have got further before a crash: only the
                # workflow knows (``resumed``), and then its calls are looked up too.
                self._check_journal = self.resumed
                request = self._next_request(runner, printed)
                if self.reuse is not None:
                    request = self._reuse_answers(runner, request, printed, reused, live)
            else:
                runner = self._ensure(in_sync)
                assert self.transcript.current is not None
                request = self.transcript.current
                if action != "execute":
                    runner.send(Resume(value) if action == "resume" else Stop(value))
                    self._consumed += 1
                    request = self._next_request(runner, printed)
            request = self._run_calls(runner, request, calls)
        except (
            RunnerGone,
            _Diverged,
            _ReuseDiverged,
            TamperedOutcome,
            TranscriptLost,
            BadMessage,
        ) as exc:
            self.release()
            # The calls that completed before are kept: they happened.
            request = _failed(str(exc))
        except SessionEnded as ended:
            request = ended.request
        if request.ended:
            self.release()
            # Stored before the session's end is, which clears its journal.
            self._journaled()
        else:
            self._in_sync = True
        return Step(request, printed.texts, calls, printed.times, reused, live)

    def _spawn(self) -> Runner:
        self.release()
        self._runner = self._factory.spawn(self._make_spec())
        self._consumed = 0
        return self._runner

    def _ensure(self, in_sync: bool) -> Runner:
        kept = self.transcript
        if in_sync and self._runner is not None and self._consumed == kept.total:
            return self._runner
        earlier = self._journal.load_transcript(self.session_id, kept.saved) if kept.saved else []
        runner = self._spawn()
        request = self._next_request(runner, None)
        exchanges = [*earlier, *kept.exchanges]
        at = 0
        while at < len(exchanges):
            replies = _answered_by(request, exchanges, at)
            for exchange in replies:
                self._answer(runner, exchange)
            self._consumed += len(replies)
            at += len(replies)
            request = self._next_request(runner, None)
        if kept.current is not None and not request.same_as(kept.current):
            raise _Diverged(kept.current, request)
        # Calls after the recorded ones may have completed before a crash.
        self._check_journal = True
        return runner

    def _reuse_answers(
        self,
        runner: Runner,
        request: Request,
        printed: _Printed,
        reused: list[Exchange],
        live: list[CallDone],
    ) -> Request:
        """Answer the program's first requests from the transcript of the failed
        session it restarts, as long as it asks the same (calls: with the same
        arguments); each answer becomes this session's own (``reused``). A call
        that made something of the failed session's own runs again instead
        (``live``): a subscription must be this session's to receive events."""
        assert self.reuse is not None
        origin, count = self.reuse
        recorded = self._journal.load_transcript(origin, count)
        at = 0
        while at < len(recorded) and recorded[at].stop is None and not request.ended:
            try:
                replies = _answered_by(request, recorded, at)
            except _Diverged as exc:
                raise _ReuseDiverged(origin, exc.expected, exc.actual) from None
            asked = request.calls if request.kind == "gather" else [request]
            for exchange, call in zip(replies, asked, strict=True):
                if (exchange.request.args, exchange.request.kwargs) != (call.args, call.kwargs):
                    raise _ReuseDiverged(origin, exchange.request, call, " with other arguments")
            if request.kind == "call" and request.function in _RUN_AGAIN_ON_REUSE:
                done = self._execute(runner, request)
                live.append(done)
                reused.append(Exchange(request, outcome=done.outcome))
                at += 1
                request = self._next_request(runner, printed)
                continue
            for exchange in replies:
                own = self._adopt(origin, exchange)
                self._answer(runner, own)
                reused.append(own)
            self._consumed += len(replies)
            at += len(replies)
            request = self._next_request(runner, printed)
        if at < len(recorded) and request.ended:
            raise _ReuseDiverged(origin, recorded[at].request, request)
        return request

    def _adopt(self, origin: str, exchange: Exchange) -> Exchange:
        """``exchange`` of session ``origin``, its outcome sealed for this session."""
        if exchange.request.kind != "call":
            return exchange
        number = exchange.request.number
        outcome = self._seal.open(origin, number, base64.b64decode(exchange.outcome or ""))
        sealed = self._seal.seal(self.session_id, number, outcome)
        return dataclasses.replace(exchange, outcome=base64.b64encode(sealed).decode())

    def _answer(self, runner: Runner, exchange: Exchange) -> None:
        """Give a replaying runner the recorded answer to ``exchange``."""
        if exchange.stop is not None:
            runner.send(Stop(exchange.stop))
        elif exchange.request.kind == "call":
            sealed = base64.b64decode(exchange.outcome or "")
            runner.send(Result(self._seal.open(self.session_id, exchange.request.number, sealed)))
        else:
            runner.send(Resume(exchange.value))

    def _run_calls(self, runner: Runner, request: Request, calls: list[CallDone]) -> Request:
        """Run calls while the program asks for nothing else, within the batch's bounds."""
        until = time.monotonic() + _BATCH_SECONDS
        size = 0
        while request.kind in ("call", "gather"):
            if calls and (
                time.monotonic() >= until or len(calls) >= _BATCH_CALLS or size >= _BATCH_BYTES
            ):
                break
            if request.kind == "call":
                done = [self._execute(runner, request)]
            else:
                done = self._execute_gather(runner, request)
            calls.extend(done)
            size += sum(len(d.outcome) for d in done)
            request = self._next_request(runner, _Printed(done[-1].prints, done[-1].printed_at))
        return request

    def _execute_gather(self, runner: Runner, request: Request) -> list[CallDone]:
        """Run a gather's calls at once in the runner; each outcome is journaled
        as it arrives. Calls found in the journal (they completed before a
        crash) get their outcome instead, whatever became of the others."""
        journaled: dict[int, tuple[bytes, dict[str, Any]]] = {}
        if self._check_journal:
            for call in request.calls:
                found = self._journal.get(self.session_id, call.number)
                if found is not None:
                    journaled[call.number] = found
            # A later call can only have run once every call of this one completed.
            self._check_journal = len(journaled) == len(request.calls)
        if len(journaled) < len(request.calls):
            self._journaled()  # earlier outcomes are safe before any of these runs
        started = time.time()
        for call in request.calls:
            if call.number in journaled:
                sealed = self._seal.open(self.session_id, call.number, journaled[call.number][0])
                runner.send(Result(sealed))
            else:
                runner.send(Execute())
        waiting = {c.number: c for c in request.calls if c.number not in journaled}
        ran: dict[int, tuple[Outcome, bytes]] = {}  # with the outcome sealed
        printed = _Printed()
        if waiting:
            budget = max(_call_deadline(c)[0] for c in waiting.values())
            end = time.monotonic() + budget
            overdue = (
                f"calls #{min(waiting)} to #{max(waiting)} did not finish within "
                f"{budget - _CALL_GRACE:g} s (all attempts) and could not be interrupted"
            )
        while waiting:
            left = max(0.0, end - time.monotonic())
            message = self._receive(runner, printed, Outcome, (left, overdue))
            number = message.number
            if number is None or not waiting.pop(number, None):
                runner.kill()
                raise RunnerGone("the program's process sent an outcome for no call it was running")
            sealed = self._seal.seal(self.session_id, number, message.outcome)
            self._journaling.append(
                self._journal.put_soon(self.session_id, number, sealed, message.shown)
            )
            ran[number] = (message, sealed)
        self._consumed += len(request.calls)
        done: list[CallDone] = []
        for call in request.calls:
            if call.number in ran:
                message, sealed = ran[call.number]
                attempts, duration, shown = message.attempts, message.duration_ms, message.shown
            else:
                sealed, shown = journaled[call.number]
                attempts, duration = 0, 0.0
            done.append(
                CallDone(
                    call,
                    base64.b64encode(sealed).decode(),
                    shown,
                    attempts=attempts,
                    duration_ms=duration,
                    from_journal=call.number in journaled,
                    started_at=started,
                    group=request.number,
                )
            )
        # What was printed while the calls ran shows after them all.
        done[-1] = dataclasses.replace(done[-1], prints=printed.texts, printed_at=printed.times)
        return done

    def _execute(self, runner: Runner, request: Request) -> CallDone:
        journaled = None
        if self._check_journal:
            journaled = self._journal.get(self.session_id, request.number)
            self._check_journal = journaled is not None
        printed = _Printed()
        started = time.time()
        if journaled is not None:
            sealed, shown = journaled
            runner.send(Result(self._seal.open(self.session_id, request.number, sealed)))
            attempts, duration = 0, 0.0
        else:
            self._journaled()  # the previous call's outcome is safe before this one runs
            runner.send(Execute())
            message = self._receive(runner, printed, Outcome, _call_deadline(request))
            if message.number is not None:  # a number is for a call of a gather
                raise RunnerGone("the program's process sent an outcome of the wrong shape")
            attempts, duration, shown = message.attempts, message.duration_ms, message.shown
            sealed = self._seal.seal(self.session_id, request.number, message.outcome)
            self._journaling.append(
                self._journal.put_soon(self.session_id, request.number, sealed, shown)
            )
        self._consumed += 1
        return CallDone(
            request,
            base64.b64encode(sealed).decode(),
            shown,
            attempts=attempts,
            duration_ms=duration,
            from_journal=journaled is not None,
            started_at=started,
            prints=printed.texts,
            printed_at=printed.times,
        )

    def _journaled(self) -> None:
        """Wait until the last outcome handed to the journal is stored."""
        pending, self._journaling = self._journaling, []
        for write in pending:
            write.result()

    def _next_request(self, runner: Runner, printed: _Printed | None) -> Request:
        overdue = (
            f"the program ran for more than {self._wall:g} s without reaching a durable "
            "point (limits.wall_seconds)"
        )
        return self._receive(runner, printed, Asked, (self._wall, overdue)).request

    @staticmethod
    def _receive(
        runner: Runner,
        printed: _Printed | None,
        expected: type[_Expected],
        deadline: tuple[float, str],
    ) -> _Expected:
        """The runner's next message other than a print, which must be an ``expected``."""
        seconds, overdue = deadline
        end = time.monotonic() + seconds
        while True:
            message = runner.recv(max(0.0, end - time.monotonic()), overdue)
            if isinstance(message, Print):
                if printed is not None:  # None: a replay, printed already
                    printed.add(message.text)
            elif isinstance(message, expected):
                return message
            else:
                raise RunnerGone(f"the program's process sent {message.kind!r} out of turn")


@dataclasses.dataclass
class _Printed:
    """What the program printed, and when: the runner sends each print as it
    happens, so the moment it arrives is the moment it was printed (the log
    shows prints in between the calls they came between, at their own time)."""

    texts: list[str] = dataclasses.field(default_factory=list)
    times: list[float] = dataclasses.field(default_factory=list)

    def add(self, text: str) -> None:
        self.texts.append(text)
        self.times.append(time.time())


def _answered_by(request: Request, exchanges: list[Exchange], at: int) -> list[Exchange]:
    """The recorded exchanges (from ``at``) that answer a replaying runner's
    ``request``: one, or one per call of a gather. Raises :class:`_Diverged`
    unless they are what the program asks now."""
    first = exchanges[at]
    if request.kind != "gather" or first.stop is not None:
        if not request.same_as(first.request):
            raise _Diverged(first.request, request)
        return [first]
    group = exchanges[at : at + len(request.calls)]
    for call, exchange in zip(request.calls, group, strict=False):
        if not call.same_as(exchange.request):
            raise _Diverged(exchange.request, call)
    if len(group) < len(request.calls):
        raise _Diverged(Request("finished"), request.calls[len(group)])
    return group


_CALL_GRACE = 10.0  # seconds past a call's budget before the worker steps in


def _call_deadline(request: Request) -> tuple[float, str]:
    # The runner times out each attempt itself; this is the backstop for a call
    # stuck where Python cannot interrupt it (e.g. inside C code).
    budget = request.budget if request.budget is not None else 4 * 3600.0
    return (
        budget + _CALL_GRACE,
        f"{request.function} did not finish within its {request.budget or budget:g} s "
        "(all attempts) and could not be interrupted",
    )


class SessionHosts:
    """The sessions this worker hosts: their drivers, by workflow run id."""

    def __init__(self) -> None:
        self._drivers: dict[str, RunnerDriver] = {}
        # Closed before they settled: the workflow left the cache (e.g. its
        # task timed out under load) while a call may still be running, or
        # its outcomes were still on their way to the journal. The run's next
        # driver waits for it (see ``RunnerDriver.succeed``), or its replay
        # would not find those calls in the journal and run them again.
        self._leaving: dict[str, RunnerDriver] = {}
        self._lock = threading.Lock()

    def open(self, run_id: str, driver: RunnerDriver) -> None:
        with self._lock:
            old = self._drivers.pop(run_id, None) or self._leaving.pop(run_id, None)
            self._drivers[run_id] = driver
        if old is not None:
            old.retire()
            driver.succeed(old)

    def get(self, run_id: str) -> RunnerDriver | None:
        with self._lock:
            return self._drivers.get(run_id)

    def count(self) -> int:
        """Sessions hosted now (reported in heartbeats)."""
        with self._lock:
            return len(self._drivers)

    def release_all(self) -> None:
        """Let every runner go (the worker is stopping)."""
        with self._lock:
            drivers = list(self._drivers.values())
        for driver in drivers:
            driver.release()

    def close(self, run_id: str, driver: RunnerDriver) -> None:
        with self._lock:
            if self._drivers.get(run_id) is driver:
                del self._drivers[run_id]
                if not driver.settled:
                    self._leaving[run_id] = driver
            # Those settled meanwhile have nothing left to wait for.
            for gone in [r for r, h in self._leaving.items() if h.settled]:
                del self._leaving[gone]
        driver.retire()
