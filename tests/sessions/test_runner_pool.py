"""Runners forked ahead of need: each one serves one session, holding nothing
of any before its own; the pool stays within its bound, replaces runners that
died while waiting, and leaves no process behind when the worker stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pawflow.sessions import _runners
from pawflow.sessions._runner import POOLED_NAME, RUNNER_NAME, RunnerSpec
from pawflow.sessions._runners import Runner, RunnerFactory
from pawflow.sessions._wire import Asked
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(90)

_PROGRAM = """\
import os
import sys


def report(event):
    return {
        "pid": os.getpid(),
        "vars": sorted(k for k in os.environ if k.startswith("T_")),
        "modules": sorted(m for m in sys.modules if m.startswith("pawflow_dep_")),
    }


def wait(event):
    import pawflow

    pawflow.sleep(3600)
"""


@pytest.fixture
def code(tmp_path: Path) -> Path:
    root = tmp_path / "code"
    root.mkdir()
    (root / "program.py").write_text(_PROGRAM)
    return root


@pytest.fixture
def factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunnerFactory]:
    monkeypatch.setattr(_runners, "_POOL_LOOK", 0.1)
    made = RunnerFactory(pool=1, pool_max=3)
    made.warm_up()
    try:
        yield made
    finally:
        made.close()


def _spec(code: Path, session: str, call: str = "report", **vars: str) -> RunnerSpec:
    return RunnerSpec(
        session_id=session,
        project="pool",
        deployment_id=f"dep_{session}",
        code_root=str(code),
        call=f"program.py:{call}",
        event={"id": f"evt_{session}", "type": "webhook", "data": {}},
        vars=dict(vars),
        server_url="http://127.0.0.1:1",
        credential=f"credential-of-{session}",
        # Not durable: os.getpid and the like run as they are, not as calls.
        durable=call == "wait",
    )


def _finish(runner: Runner) -> Any:
    try:
        message = runner.recv(30, "the runner did not answer")
    finally:
        runner.kill()
    assert isinstance(message, Asked)
    assert message.request.kind == "finished", message
    return message.request.result


def _name(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_a_session_gets_a_pooled_runner_that_held_nothing_of_another_session(
    factory: RunnerFactory, code: Path
) -> None:
    first_pooled = wait_for(factory.pooled, message="a runner in the pool")
    # Named so that a look at the processes tells them from runners in a session.
    wait_for(lambda: _name(first_pooled[0]) == POOLED_NAME, message="the pooled runner named")
    runner = factory.spawn(_spec(code, "ses_a", "wait"))
    try:
        message = runner.recv(30, "the runner did not answer")
        assert isinstance(message, Asked)
        assert message.request.kind == "sleep"
        assert runner.pid in first_pooled
        assert _name(first_pooled[0]) == RUNNER_NAME
    finally:
        runner.kill()
    first_pooled = wait_for(factory.pooled, message="the pool refilled")
    first = _finish(factory.spawn(_spec(code, "ses_a", T_ALPHA="secret-a")))
    assert first["pid"] in first_pooled
    assert first["vars"] == ["T_ALPHA"]
    assert first["modules"] == ["pawflow_dep_dep_ses_a", "pawflow_dep_dep_ses_a.program"]

    second_pooled = wait_for(factory.pooled, message="the pool refilled")
    second = _finish(factory.spawn(_spec(code, "ses_b", T_BETA="b")))
    assert second["pid"] in second_pooled
    assert second["pid"] != first["pid"]
    # Nothing of the first session: neither its vars nor its code.
    assert second["vars"] == ["T_BETA"]
    assert second["modules"] == ["pawflow_dep_dep_ses_b", "pawflow_dep_dep_ses_b.program"]


def test_the_pool_grows_under_load_but_never_past_its_bound(
    factory: RunnerFactory, code: Path
) -> None:
    runners = [factory.spawn(_spec(code, f"ses_{n}")) for n in range(8)]
    try:
        # Sessions that found it empty grew it to its bound, and no further.
        wait_for(lambda: len(factory.pooled()) == 3, message="the pool at its bound")
        for _ in range(20):
            assert len(factory.pooled()) <= 3
    finally:
        for runner in runners:
            _finish(runner)
    assert len(factory.pooled()) <= 3


def test_a_pooled_runner_that_died_is_replaced(factory: RunnerFactory, code: Path) -> None:
    (victim,) = wait_for(factory.pooled, message="a runner in the pool")
    os.kill(victim, 9)
    replaced = wait_for(
        lambda: [p for p in factory.pooled() if p != victim], message="a replacement"
    )
    assert victim not in factory.pooled()
    result = _finish(factory.spawn(_spec(code, "ses_after")))
    assert result["pid"] != victim
    assert result["pid"] in replaced


def test_a_session_that_finds_its_pooled_runner_dead_gets_another(
    code: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_runners, "_POOL_LOOK", 3600.0)  # no pruning: the session finds it
    made = RunnerFactory(pool=1, pool_max=1)
    made.warm_up()
    try:
        (victim,) = wait_for(made.pooled, message="a runner in the pool")
        os.kill(victim, 9)
        wait_for(lambda: _gone(victim), message="the pooled runner dead")
        result = _finish(made.spawn(_spec(code, "ses_x")))
        assert result["pid"] != victim
    finally:
        made.close()


def test_closing_ends_the_pooled_runners(code: Path) -> None:
    made = RunnerFactory(pool=2, pool_max=2)
    made.warm_up()
    pooled = wait_for(lambda: len(made.pooled()) == 2 and made.pooled(), message="a full pool")
    made.close()
    assert made.pooled() == []
    wait_for(lambda: all(_gone(pid) for pid in pooled), message="the pooled runners gone")


_WORKER = textwrap.dedent(
    """
    import json, sys
    from multiprocessing import forkserver
    from pawflow.sessions._runner import POOLED_NAME, RUNNER_NAME, RunnerSpec
    from pawflow.sessions._runners import RunnerFactory
    from tests.helpers import wait_for

    factory = RunnerFactory(pool=2, pool_max=2)
    factory.warm_up()
    spec = RunnerSpec(
        session_id="ses_held", project="pool", deployment_id="dep_held",
        code_root=sys.argv[1], call="program.py:wait",
        event={"id": "evt", "type": "webhook", "data": {}}, vars={},
        server_url="http://127.0.0.1:1", credential="c",
    )
    runner = factory.spawn(spec)
    message = runner.recv(30, "no request")
    assert message.request.kind == "sleep", message
    wait_for(lambda: len(factory.pooled()) == 2, message="a full pool")
    pids = [forkserver._forkserver._forkserver_pid, runner.pid, *factory.pooled()]
    print(json.dumps(pids), flush=True)
    sys.stdin.readline()
    """
)


def test_a_worker_that_stops_leaves_no_runner_behind(code: Path) -> None:
    """Neither the one in a session nor the pooled ones (the process exits
    without closing anything, as a killed or stopping worker does)."""
    root = Path(__file__).resolve().parents[2]
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert worker.stdout is not None and worker.stdin is not None
        pids = json.loads(worker.stdout.readline())
        assert len(pids) == 4 and all(not _gone(pid) for pid in pids)
        worker.stdin.close()  # it exits
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()
    wait_for(lambda: all(_gone(pid) for pid in pids), timeout=20, message="no runner left")
