"""One misbehaving program ends only its own session.

Each case runs next to a well-behaved session on the same worker, which must
complete: user code lives in its own runner process, with limits.
"""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest

from tests.e2e.conftest import Platform
from tests.fakes.bank import FakeBank
from tests.helpers import child_pids, pid_alive, wait_for

PROGRAM = """
import ctypes
import json
import os
import signal
import sys
import threading
import time
import urllib.request

import pawflow


def normal(event):
    time.sleep(1)
    return deposit()


@pawflow.activity
def deposit():
    request = urllib.request.Request(
        pawflow.vars["BANK_URL"] + "/deposit",
        data=b"{}",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def spin(event):
    while True:
        pass


def spin_on(event):
    while True:
        pass


def exit_process(event):
    os._exit(3)


def exit_interpreter(event):
    sys.exit(4)


def segfault(event):
    ctypes.string_at(0)


def hog_memory(event):
    hoard = []
    while True:
        hoard.append(bytearray(50 * 1024 * 1024))


def block(event):
    wait_forever()


@pawflow.activity(timeout=1, retry=pawflow.Retry(max_attempts=2, initial_interval=0.1))
def wait_forever():
    threading.Event().wait()


def block_deaf(event):
    wait_deaf()


@pawflow.activity(timeout=1, retry=pawflow.Retry(max_attempts=1))
def wait_deaf():
    # Deaf to the alarm that ends a call at its timeout: the worker steps in.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    threading.Event().wait()
"""

# handler → (what the session's error must say, the project's limits)
MISBEHAVIOURS = {
    "spin": ("CPU time limit", "cpu_seconds: 2"),
    "spin_on": ("without reaching a durable point", "wall_seconds: 3"),
    "exit_process": ("exit status 3", "memory_mb: 400"),
    "exit_interpreter": ("sys.exit(4)", "memory_mb: 400"),
    "segfault": ("segmentation fault", "memory_mb: 400"),
    # The worker's watchdog, or the address-space backstop (MemoryError) if faster.
    "hog_memory": ("memory", "memory_mb: 400"),
    "block": ("wait_forever did not finish within 1 s", "memory_mb: 400"),
    "block_deaf": ("wait_deaf did not finish within its 1 s", "memory_mb: 400"),
}


def make_project(root: Path, bank: FakeBank, limits: str) -> Path:
    root.mkdir()
    triggers = "".join(
        f"    - name: {name.replace('_', '-')}\n"
        f"      webhook: {{}}\n      call: program.py:{name}\n"
        for name in ["normal", *MISBEHAVIOURS]
    )
    (root / "pawflow.yaml").write_text(
        "version: 1\nproject:\n  name: misbehave\n"
        f"  vars:\n    - name: BANK_URL\n      value: {bank.url}\n"
        f"  limits:\n    {limits}\n"
        f"  triggers:\n{triggers}"
    )
    (root / "program.py").write_text(textwrap.dedent(PROGRAM))
    return root


@pytest.mark.parametrize("misbehaviour", sorted(MISBEHAVIOURS))
def test_a_misbehaving_program_ends_only_its_own_session(
    platform: Platform, bank: FakeBank, tmp_path: Path, misbehaviour: str
) -> None:
    reason, limits = MISBEHAVIOURS[misbehaviour]
    webhooks = platform.deploy(make_project(tmp_path / "misbehave", bank, limits))["webhooks"]
    platform.start_worker()
    normal = platform.session_for(platform.post(webhooks["normal"], {})[1]["event_id"])
    bad_url = webhooks[misbehaviour.replace("_", "-")]
    bad = platform.session_for(platform.post(bad_url, {})[1]["event_id"])

    ended = platform.wait_ended(bad["id"], timeout=60)
    assert ended["state"] == "error"
    final = [r for r in platform.log(bad["id"]) if r["type"] == "state"][-1]
    assert reason.lower() in final["error"].lower(), final
    assert platform.wait_ended(normal["id"], timeout=60)["state"] == "completed"
    assert bank.count("deposit") == 1


STUCK = """
import threading


def handler(event):
    threading.Event().wait()  # an external call that never returns
"""


def test_a_stuck_program_does_not_outlive_its_worker(platform: Platform, tmp_path: Path) -> None:
    root = tmp_path / "stuck"
    root.mkdir()
    (root / "pawflow.yaml").write_text(
        "version: 1\nproject:\n  name: stuck\n"
        "  triggers:\n    - name: run\n      webhook: {}\n      call: program.py:handler\n"
    )
    (root / "program.py").write_text(STUCK)
    url = platform.deploy(root)["webhooks"]["run"]
    worker = platform.start_worker()
    platform.post(url, {})

    def tree() -> list[int] | None:
        """The fork server and its runner, once the runner exists."""
        servers = list(child_pids(worker.pid))
        runners = [pid for server in servers for pid in child_pids(server)]
        return servers + runners if runners else None

    processes = wait_for(tree, 30, 0.05, "the runner")
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    wait_for(lambda: not any(pid_alive(pid) for pid in processes), 30, 0.05, "the runner to end")
