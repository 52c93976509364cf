"""A session whose workflow left the worker's cache while one of its calls still
ran (its task timed out under load), or while the outcomes of its last calls
were still on their way to the journal, is replayed by a new host: that host
waits for its predecessor to settle and finds the outcomes in the journal,
instead of running the calls a second time."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pawflow.sessions._driver import RunnerDriver, SessionHosts
from pawflow.sessions._protocol import Step
from pawflow.sessions._runner import RunnerSpec
from pawflow.sessions._runners import RunnerFactory
from pawflow.sessions._seal import OutcomeSeal
from pawflow.sessions._transcript import Transcript
from tests.helpers import wait_for
from tests.sessions._journal import MemoryJournal

pytestmark = pytest.mark.timeout(60)

_PROGRAM = """\
import os
import time

import pawflow


@pawflow.activity
def effect(log, release):
    with open(log, "a") as f:
        f.write("ran\\n")
    while not os.path.exists(release):
        time.sleep(0.01)  # the test's gate; a call may poll what it waits for
    return "done"


def handler(event):
    return effect(event.data["log"], event.data["release"])
"""


_GATHER = """\
import asyncio

import pawflow


@pawflow.activity
async def effect(log, name):
    with open(log, "a") as f:
        f.write(name + "\\n")
    return name


async def handler(event):
    log = event.data["log"]
    names = await asyncio.gather(effect(log, "a"), effect(log, "b"), effect(log, "c"))
    await asyncio.sleep(60)  # a durable timer: the advance returns here
    return names
"""


@pytest.fixture
def factory() -> Iterator[RunnerFactory]:
    made = RunnerFactory()
    made.warm_up()
    try:
        yield made
    finally:
        made.close()


class _Session:
    """One session of ``program`` (in ``tmp``), its journal and its hosts."""

    def __init__(self, tmp: Path, program: str, factory: RunnerFactory) -> None:
        code = tmp / "code"
        code.mkdir()
        (code / "program.py").write_text(program)
        self.log, self.release = tmp / "effects.log", tmp / "release"
        self.spec = RunnerSpec(
            session_id="ses_00000000000000000000000001",
            project="succession",
            deployment_id="dep_00000000000000000000000001",
            code_root=str(code),
            call="program.py:handler",
            event={
                "id": "evt_1",
                "type": "post",
                "data": {"log": str(self.log), "release": str(self.release)},
            },
            vars={},
            server_url="http://127.0.0.1:1",
            credential="credential",
        )
        self.journal = MemoryJournal()
        self._seal = OutcomeSeal(os.urandom(32))
        self._factory = factory
        self.hosts = SessionHosts()
        self.steps: dict[str, Step] = {}

    def host(self) -> RunnerDriver:
        return RunnerDriver(
            self.spec.session_id,
            Transcript(),
            lambda: self.spec,
            self._factory,
            self.journal,  # type: ignore[arg-type]
            self._seal,
            30.0,
        )

    def effects(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0

    def advance(self, name: str, host: RunnerDriver) -> threading.Thread:
        """``host``'s first advance, on an activity thread; its step is ``steps[name]``."""
        thread = threading.Thread(
            target=lambda: self.steps.__setitem__(name, host.advance("start")), daemon=True
        )
        thread.start()
        return thread

    def replay(self, first: RunnerDriver) -> RunnerDriver:
        """The workflow leaves the cache (``first`` closed), then replays here."""
        self.hosts.close("run", first)
        second = self.host()
        second.resumed = True
        self.hosts.open("run", second)
        return second


def test_a_replaying_host_waits_for_the_call_its_predecessor_still_runs(
    tmp_path: Path, factory: RunnerFactory
) -> None:
    session = _Session(tmp_path, _PROGRAM, factory)
    first = session.host()
    session.hosts.open("run", first)
    first_thread = session.advance("first", first)
    wait_for(lambda: session.effects() == 1, 20, 0.01, "the first host's call to start")

    # The workflow is evicted from the cache mid-call, then replayed here.
    second = session.replay(first)
    second_thread = session.advance("second", second)

    # Without waiting for its predecessor, the new host would run the call again now.
    with pytest.raises(AssertionError):
        wait_for(lambda: session.effects() > 1, 2, 0.02, "a second run of the call")
    session.release.touch()
    first_thread.join(20)
    second_thread.join(20)

    assert session.effects() == 1
    [call] = session.steps["second"].calls
    assert call.from_journal
    assert session.steps["second"].request.kind == "finished"
    assert session.steps["second"].request.result == "done"
    session.hosts.close("run", second)


def test_a_replaying_host_waits_for_outcomes_still_on_their_way_to_the_journal(
    tmp_path: Path, factory: RunnerFactory
) -> None:
    """The advance ran a gather and returned, but the workflow task carrying its
    outcomes failed: only the journal will have them, once the writes land."""
    session = _Session(tmp_path, _GATHER, factory)
    session.journal.held.clear()
    first = session.host()
    session.hosts.open("run", first)
    first_thread = session.advance("first", first)
    first_thread.join(20)
    assert not first_thread.is_alive()
    assert session.steps["first"].request.kind == "sleep"
    assert session.effects() == 3
    assert not first.settled

    second = session.replay(first)
    second_thread = session.advance("second", second)
    # Without waiting for the writes, the new host would run the three calls again now.
    with pytest.raises(AssertionError):
        wait_for(lambda: session.effects() > 3, 2, 0.02, "a second run of the calls")
    session.journal.held.set()
    second_thread.join(20)

    assert session.effects() == 3
    step = session.steps["second"]
    assert [call.from_journal for call in step.calls] == [True, True, True]
    assert step.request.kind == "sleep"
    session.hosts.close("run", second)
