"""``paw deploy DIR --check``: would the new code take over the sessions of the
active deployment? Nothing is deployed.

Each running session of the project's active deployment, and its last
completed ones, is replayed against the new code (``paw session replay ID
--code DIR``, each in a process of its own: a program's modules are imported
fresh for every session, and one that hangs or crashes costs only itself).
A session whose program would now ask something else than its record says
diverges: a running one could not continue on the new code after a restart
of its worker, a completed one shows behaviour that changed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._client import ApiClient
from ._commands import client_for
from ._output import format_table

__all__ = ["DEFAULT_CHECKED", "check_deploy"]

DEFAULT_CHECKED = 20  # completed sessions replayed besides the running ones
_MAX_RUNNING = 200  # running sessions replayed at most
_PAGE = 100
_MAX_PAGES = 10  # of the project's sessions scanned for the deployment's
_REPLAY_SECONDS = 120.0
_AT_ONCE = 2


@dataclass(frozen=True)
class _Checked:
    session_id: str
    state: str
    verdict: str
    diverged: bool


def check_deploy(args: argparse.Namespace) -> int:
    """Replay the active deployment's sessions against ``args.dir``; 0 when none
    would diverge, 1 otherwise."""
    from ..manifest import load_project

    directory = Path(args.dir)
    project = load_project(directory).project.name
    client = client_for(args)
    active = _active_deployment(client, project)
    if active is None:
        print(f"Nothing to check: project {project} has no active deployment.")
        return 0
    sessions = _sessions(client, project, active, "running", _MAX_RUNNING)
    sessions += _sessions(client, project, active, "completed", args.check_last)
    if not sessions:
        print(f"Nothing to check: deployment {active} has no running or completed session.")
        return 0
    with ThreadPoolExecutor(_AT_ONCE) as pool:
        checked = list(pool.map(lambda s: _replay(args, s, directory), sessions))
    rows = [[c.session_id, c.state, c.verdict] for c in checked]
    print(format_table(["SESSION", "STATE", "REPLAYED ON THE NEW CODE"], rows))
    diverging = sum(1 for c in checked if c.diverged)
    print(
        f"{len(checked)} sessions of deployment {active} checked against {args.dir}: "
        + (f"{diverging} would diverge." if diverging else "none would diverge.")
        + " Nothing was deployed."
    )
    return 1 if diverging else 0


def _active_deployment(client: ApiClient, project: str) -> str | None:
    answer = client.get("/api/v1/deployments", {"project": project, "limit": _PAGE})
    for deployment in answer.get("deployments") or []:
        if deployment.get("state") == "active":
            return str(deployment["id"])
    return None


def _sessions(
    client: ApiClient, project: str, deployment: str, state: str, wanted: int
) -> list[dict[str, Any]]:
    """Up to ``wanted`` of the project's sessions in ``state`` that ran on
    ``deployment``, newest first."""
    found: list[dict[str, Any]] = []
    before: str | None = None
    for _ in range(_MAX_PAGES):
        if len(found) >= wanted:
            break
        params: dict[str, Any] = {"project": project, "state": state, "limit": _PAGE}
        if before is not None:
            params["before"] = before
        answer = client.get("/api/v1/sessions", params)
        page = answer.get("sessions") or []
        found += [s for s in page if s.get("deployment_id") == deployment]
        if not answer.get("more") or not page:
            break
        before = str(page[-1]["id"])
    return found[:wanted]


def _replay(args: argparse.Namespace, session: dict[str, Any], directory: Path) -> _Checked:
    command = [sys.executable, "-m", "pawflow.cli"]
    for flag, value in (("--server", args.server), ("--data-dir", args.data_dir)):
        if value:
            command += [flag, value]
    command += ["session", "replay", str(session["id"]), "--code", str(directory)]
    state = str(session.get("state"))
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_REPLAY_SECONDS,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        verdict = f"could not be replayed: took more than {_REPLAY_SECONDS:g} s"
        return _Checked(str(session["id"]), state, verdict, True)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    if done.returncode == 0:
        return _Checked(str(session["id"]), state, last or "no divergence", False)
    reason = last if last.startswith("diverges") else _error(done.stderr)
    return _Checked(str(session["id"]), state, reason, True)


def _error(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    text = lines[-1] if lines else "the replay failed"
    return "could not be replayed: " + text.removeprefix("error: ")
