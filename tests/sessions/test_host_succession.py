"""A session whose workflow left the worker's cache while one of its calls still
ran (its task timed out under load) is replayed by a new host: that host waits
for the call to end and finds its outcome in the journal, instead of running
the call a second time."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from pawflow.sessions._driver import RunnerDriver, SessionHosts
from pawflow.sessions._protocol import Step
from pawflow.sessions._runner import RunnerSpec
from pawflow.sessions._runners import RunnerFactory
from pawflow.sessions._seal import OutcomeSeal
from pawflow.sessions._transcript import Transcript
from tests.helpers import wait_for

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


class _Journal:
    """The server's call journal, in memory."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], tuple[bytes, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str, number: int) -> tuple[bytes, dict[str, Any]] | None:
        with self._lock:
            return self._entries.get((session_id, number))

    def put(self, session_id: str, number: int, outcome: bytes, shown: dict[str, Any]) -> None:
        with self._lock:
            self._entries.setdefault((session_id, number), (outcome, shown))

    def put_soon(
        self, session_id: str, number: int, outcome: bytes, shown: dict[str, Any]
    ) -> Future[None]:
        self.put(session_id, number, outcome, shown)
        done: Future[None] = Future()
        done.set_result(None)
        return done


@pytest.fixture
def factory() -> Iterator[RunnerFactory]:
    made = RunnerFactory()
    made.warm_up()
    try:
        yield made
    finally:
        made.close()


def test_a_replaying_host_waits_for_the_call_its_predecessor_still_runs(
    tmp_path: Path, factory: RunnerFactory
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "program.py").write_text(_PROGRAM)
    log, release = tmp_path / "effects.log", tmp_path / "release"
    spec = RunnerSpec(
        session_id="ses_00000000000000000000000001",
        project="succession",
        deployment_id="dep_00000000000000000000000001",
        code_root=str(code),
        call="program.py:handler",
        event={"id": "evt_1", "type": "post", "data": {"log": str(log), "release": str(release)}},
        vars={},
        server_url="http://127.0.0.1:1",
        credential="credential",
    )
    journal = _Journal()
    seal = OutcomeSeal(os.urandom(32))
    hosts = SessionHosts()

    def host() -> RunnerDriver:
        return RunnerDriver(
            spec.session_id, Transcript(), lambda: spec, factory, journal, seal, 30.0
        )  # type: ignore[arg-type]

    def effects() -> int:
        return len(log.read_text().splitlines()) if log.exists() else 0

    steps: dict[str, Step] = {}

    def advance(name: str, runner_host: RunnerDriver) -> threading.Thread:
        thread = threading.Thread(
            target=lambda: steps.__setitem__(name, runner_host.advance("start")), daemon=True
        )
        thread.start()
        return thread

    first = host()
    hosts.open("run", first)
    first_thread = advance("first", first)
    wait_for(lambda: effects() == 1, 20, 0.01, "the first host's call to start")

    # The workflow is evicted from the cache mid-call, then replayed here.
    hosts.close("run", first)
    second = host()
    second.resumed = True
    hosts.open("run", second)
    second_thread = advance("second", second)

    # Without waiting for its predecessor, the new host would run the call again now.
    with pytest.raises(AssertionError):
        wait_for(lambda: effects() > 1, 2, 0.02, "a second run of the call")
    release.touch()
    first_thread.join(20)
    second_thread.join(20)

    assert effects() == 1
    [call] = steps["second"].calls
    assert call.from_journal
    assert steps["second"].request.kind == "finished"
    assert steps["second"].request.result == "done"
    hosts.close("run", second)
