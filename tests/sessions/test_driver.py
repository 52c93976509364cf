"""A RunnerDriver drives a runner through a session's transcript: it runs the
program's calls, takes a call's outcome from the journal when the call already
completed, replays a fresh runner from the transcript, and fails the session
when the program no longer asks what the transcript says it asked.

The runner here is a fake that speaks the runner's side of the wire protocol
(``Asked``, ``Print`` and ``Outcome`` messages, framed as a runner frames them;
``Execute``, ``Result``, ``Resume`` and ``Stop`` from the driver) for a
scripted program, so these tests need no runner processes.
"""

from __future__ import annotations

import base64
import os
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, cast

import pytest

from pawflow.sessions._driver import RunnerDriver
from pawflow.sessions._protocol import Exchange, Request, Step
from pawflow.sessions._runner import RunnerSpec
from pawflow.sessions._runners import RunnerGone
from pawflow.sessions._seal import OutcomeSeal
from pawflow.sessions._transcript import Transcript
from pawflow.sessions._wire import (
    Asked,
    BadMessage,
    Execute,
    FromRunner,
    Outcome,
    Print,
    Result,
    Resume,
    Stop,
    ToRunner,
    receive_from_runner,
    send,
)
from tests.sessions._journal import MemoryJournal

pytestmark = pytest.mark.timeout(30)

_SESSION = "ses_00000000000000000000000001"

# A scripted program: yields the requests it makes (or a text it prints) and
# is sent each answer (a call's outcome bytes, a wait's value, a stop reason).
Program = Callable[[], Generator[Request | str, Any, None]]


def _fetch() -> Request:
    return Request("call", number=1, function="api.fetch", args=["'a'"], budget=5.0)


def _sleep() -> Request:
    return Request("sleep", key=60.0, timeout=60.0)


def _fetch_then_sleep() -> Generator[Request | str, Any, None]:
    """Prints, calls ``api.fetch``, sleeps, then returns the call's outcome."""
    yield "starting"
    outcome = yield _fetch()
    yield _sleep()
    yield Request("finished", result=repr(outcome))


class _Frames:
    """The runner's end of its pipe, in memory: the frames it sent, in order."""

    def __init__(self) -> None:
        self.frames: deque[bytes] = deque()

    def send_bytes(self, frame: bytes) -> None:
        self.frames.append(frame)

    def recv_bytes(self, maxlength: int | None = None) -> bytes:
        return self.frames.popleft()


class _FakeRunner:
    """A runner process running a scripted program, in memory."""

    def __init__(self, program: Program, executed: list[Request]) -> None:
        self._program = program()
        self._executed = executed
        self._outbox = _Frames()
        self._asked: Request | None = None
        self.killed = False
        self._run(None)

    def _say(self, message: FromRunner) -> None:
        send(cast(Any, self._outbox), message)

    def _run(self, answer: Any) -> None:
        """Run the program on with ``answer`` until its next request."""
        item = self._program.send(answer)
        while isinstance(item, str):
            self._say(Print(item))
            item = self._program.send(None)
        self._asked = item
        self._say(Asked(item))

    def send(self, message: ToRunner) -> None:
        if self.killed:
            raise RunnerGone("the program's process was killed")
        asked = self._asked
        assert asked is not None
        match message:
            case Execute():
                assert asked.kind == "call", f"execute sent for a {asked.kind}"
                self._executed.append(asked)
                outcome = f"outcome of {asked.function} #{asked.number}".encode()
                shown = {"result": repr(outcome), "other": "not shown"}
                self._say(Print(f"running {asked.function}"))
                self._say(Outcome(1, 3.0, shown, outcome))
                self._run(outcome)
            case Result(outcome):
                assert asked.kind == "call", f"a result sent for a {asked.kind}"
                self._run(outcome)
            case Resume(value) | Stop(value):
                self._run(value)

    def recv(self, timeout: float | None, overdue: str) -> FromRunner:
        if self.killed or not self._outbox.frames:
            # A real runner that sends nothing is killed once ``timeout`` passes.
            self.killed = True
            raise RunnerGone(overdue)
        try:
            return receive_from_runner(cast(Any, self._outbox))
        except BadMessage as exc:  # as a real runner's: it is killed
            self.killed = True
            raise RunnerGone(f"the program's process sent {exc}") from None

    def kill(self) -> None:
        self.killed = True


class _FakeFactory:
    """Spawns fake runners of ``program`` (which a test may swap for another
    version), and counts what they executed."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.spawned: list[_FakeRunner] = []
        self.executed: list[Request] = []

    def spawn(self, spec: RunnerSpec) -> _FakeRunner:
        runner = _FakeRunner(self.program, self.executed)
        self.spawned.append(runner)
        return runner


class _Session:
    """A driver with its transcript, journal, seal and fake runners."""

    def __init__(self, program: Program) -> None:
        self.factory = _FakeFactory(program)
        self.journal = MemoryJournal()
        self.seal = OutcomeSeal(os.urandom(32))
        self.transcript = Transcript()
        self.driver = self.new_driver()

    def new_driver(self) -> RunnerDriver:
        """Another driver of the same session (the workflow was replayed)."""
        spec = cast(RunnerSpec, None)  # the fake factory does not look at it
        return RunnerDriver(
            _SESSION,
            self.transcript,
            lambda: spec,
            cast(Any, self.factory),
            cast(Any, self.journal),
            self.seal,
            30.0,
        )

    def take(self, answered: Exchange | None, step: Step) -> Request:
        """What the workflow records of ``step`` (see ``_workflow._Session._take``)."""
        exchanges = [answered] if answered is not None else []
        exchanges.extend(Exchange(c.request, outcome=c.outcome) for c in step.calls)
        self.transcript.record(exchanges, step.request)
        return step.request

    def opened(self, outcome: str) -> bytes:
        """A recorded call outcome (sealed, in base64), as the program gets it."""
        return self.seal.open(_SESSION, 1, base64.b64decode(outcome))


def test_a_start_runs_the_first_call_and_journals_its_outcome() -> None:
    s = _Session(_fetch_then_sleep)
    step = s.driver.advance("start")

    assert step.prints == ["starting"]
    [call] = step.calls
    assert call.request == _fetch()
    assert not call.from_journal
    assert call.attempts == 1
    assert call.duration_ms == 3.0
    assert call.prints == ["running api.fetch"]
    # Only what a call_end record shows is kept.
    assert call.shown == {"result": repr(b"outcome of api.fetch #1")}
    assert s.opened(call.outcome) == b"outcome of api.fetch #1"
    assert step.request.kind == "sleep"
    assert s.factory.executed == [_fetch()]
    # The outcome is in the journal, sealed as the step records it.
    sealed, shown = s.journal.entries[(_SESSION, 1)]
    assert s.seal.open(_SESSION, 1, sealed) == b"outcome of api.fetch #1"
    assert shown == call.shown

    # The runner is in step with the transcript: the sleep's end goes to it.
    s.take(None, step)
    step = s.driver.advance("resume", None)
    assert step.request == Request("finished", result=repr(b"outcome of api.fetch #1"))
    assert len(s.factory.spawned) == 1
    assert s.factory.spawned[0].killed  # let go once the program ended
    assert s.factory.executed == [_fetch()]


def test_a_resumed_start_takes_a_completed_call_from_the_journal() -> None:
    s = _Session(_fetch_then_sleep)
    # An earlier attempt ran the call, and journaled it, before it was lost.
    s.journal.put(
        _SESSION, 1, s.seal.seal(_SESSION, 1, b"the first run's outcome"), {"result": "x"}
    )
    s.driver.resumed = True

    step = s.driver.advance("start")

    [call] = step.calls
    assert call.from_journal
    assert call.attempts == 0
    assert call.shown == {"result": "x"}
    assert s.opened(call.outcome) == b"the first run's outcome"
    assert s.factory.executed == []  # not run again
    s.take(None, step)
    step = s.driver.advance("resume", None)
    assert step.request.result == repr(b"the first run's outcome")


def test_a_start_not_resumed_runs_the_call_whatever_the_journal_holds() -> None:
    s = _Session(_fetch_then_sleep)
    s.journal.put(_SESSION, 1, s.seal.seal(_SESSION, 1, b"stale"), {})

    [call] = s.driver.advance("start").calls

    assert not call.from_journal
    assert s.factory.executed == [_fetch()]


def test_a_released_runner_is_replayed_from_the_transcript() -> None:
    s = _Session(_fetch_then_sleep)
    s.take(None, s.driver.advance("start"))
    s.driver.release()  # a long sleep: the runner is let go
    assert s.factory.spawned[0].killed

    step = s.driver.advance("resume", None)

    # A fresh runner got the call's recorded outcome instead of running it again.
    assert len(s.factory.spawned) == 2
    assert s.factory.executed == [_fetch()]
    assert step.request == Request("finished", result=repr(b"outcome of api.fetch #1"))
    assert step.prints == []  # printed the first time; a replay prints nothing again


def test_a_replayed_driver_takes_an_unrecorded_call_from_the_journal() -> None:
    s = _Session(_fetch_then_sleep)
    s.driver.advance("start")  # its result never reached the workflow's history
    # The workflow was replayed: a new driver, a transcript without the call.
    s.driver.release()
    s.transcript = Transcript()
    s.driver = s.new_driver()
    s.driver.resumed = True

    step = s.driver.advance("start")

    assert step.calls[0].from_journal
    assert s.opened(step.calls[0].outcome) == b"outcome of api.fetch #1"
    assert s.factory.executed == [_fetch()]
    assert len(s.factory.spawned) == 2


def test_a_program_that_asks_something_else_on_replay_fails_the_session() -> None:
    s = _Session(_fetch_then_sleep)
    s.take(None, s.driver.advance("start"))
    s.driver.release()

    def changed() -> Generator[Request | str, Any, None]:
        yield Request("call", number=1, function="api.other")
        yield Request("finished")

    s.factory.program = changed

    step = s.driver.advance("resume", None)

    assert step.request.kind == "failed"
    assert step.request.message == (
        "the session's code no longer matches its history: call #1 api.fetch came next "
        "when the session first ran, but now it is call #1 api.other"
    )
    assert s.factory.executed == [_fetch()]  # nothing of the new code ran
    assert s.factory.spawned[-1].killed


def test_a_program_that_ends_early_on_replay_fails_the_session() -> None:
    s = _Session(_fetch_then_sleep)
    s.take(None, s.driver.advance("start"))
    s.driver.release()

    def shorter() -> Generator[Request | str, Any, None]:
        yield _fetch()
        yield Request("finished")

    s.factory.program = shorter

    step = s.driver.advance("resume", None)

    assert step.request.kind == "failed"
    assert "sleep came next when the session first ran" in step.request.message
    assert "now it is the end of the program" in step.request.message


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ([b'["outcome","one",3.0,{}]', b""], "an outcome of the wrong shape"),
        # A number is for a call of a gather only.
        ([b'["outcome",1,3.0,{},1]', b""], "an outcome of the wrong shape"),
        ([b'["request",{"kind":"finished"}]'], "'request' out of turn"),
    ],
)
def test_a_runner_that_answers_a_call_with_something_else_fails_the_session(
    frames: list[bytes], reason: str
) -> None:
    class Broken(_FakeRunner):
        def send(self, message: ToRunner) -> None:
            if isinstance(message, Execute):
                for frame in frames:
                    self._outbox.send_bytes(frame)
                return
            super().send(message)

    s = _Session(_fetch_then_sleep)
    s.factory.spawn = lambda spec: Broken(s.factory.program, s.factory.executed)  # type: ignore[method-assign]

    step = s.driver.advance("start")

    assert step.request.kind == "failed"
    assert step.request.message == f"the program's process sent {reason}"
    assert (_SESSION, 1) not in s.journal.entries


def test_the_transcript_is_saved_and_a_continued_session_replays_from_it() -> None:
    s = _Session(_fetch_then_sleep)
    s.take(None, s.driver.advance("start"))
    assert s.driver.save_transcript() == 1
    # The session continued as new: the new run has only the pending request.
    s.driver.release()
    pending = s.transcript.current
    assert pending is not None
    s.transcript = Transcript()
    s.transcript.saved = 1
    s.transcript.record([], pending)
    s.driver = s.new_driver()

    step = s.driver.advance("resume", None)

    assert step.request == Request("finished", result=repr(b"outcome of api.fetch #1"))
    assert s.factory.executed == [_fetch()]
