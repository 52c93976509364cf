"""A session's program is hostile: it reaches only its own session.

The probe searches everything a program can read -- its environment, every
``/proc/<pid>/environ`` and command line, the data dir -- for anything that
looks like a credential and tries each on the management and worker API.
Then it uses its own session credential against another project's session.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Platform, make_project
from tests.helpers import http_json, run_paw, wait_for

pytestmark = pytest.mark.timeout(120)

PROBE = """
import hashlib
import json
import os
import re
import socket
import urllib.error
import urllib.request

import pawflow
from pawflow.sdk._scope import current_scope

_TOKENISH = re.compile(r"[A-Za-z0-9_.\\-]{24,}")


def _read(path, found):
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return
    found["readable"].append(path)
    for m in _TOKENISH.findall(data.decode("latin-1")):
        found["candidates"].add(m)


@pawflow.activity
def search(data_dir, temporal_ports):
    found = {"readable": [], "candidates": set()}
    for name, value in os.environ.items():
        found["candidates"].update(_TOKENISH.findall(value))
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    for pid in pids:
        for part in ("environ", "cmdline"):
            _read(f"/proc/{pid}/{part}", found)
    for root, dirs, files in os.walk(data_dir):
        found["readable"].append(root)
        for name in files:
            _read(os.path.join(root, name), found)
    for name in ("token", "worker-token", "secret.key", "pawflow.db", "temporal.db"):
        _read(os.path.join(data_dir, name), found)
    signalable = []
    for pid in pids:
        if int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)  # permission to signal, nothing sent
                signalable.append(pid)
            except OSError:
                pass
    temporal = []
    for port in temporal_ports:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            temporal.append(port)
        except OSError:
            pass
    return {
        "signalable": signalable,
        "temporal_reached": temporal,
        "readable": [p for p in found["readable"] if not p.startswith("/proc/")],
        "proc_environs": sum(1 for p in found["readable"] if p.endswith("/environ")),
        "candidates": sorted(hashlib.sha256(c.encode()).hexdigest() for c in found["candidates"]),
        "working": sorted(c[:6] for c in found["candidates"] if _works(c)),
        "uid": os.getuid(),
    }


def _call(method, path, token, body=None):
    url = pawflow.vars["SERVER"] + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", "Bearer " + token)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _works(candidate):
    # The management API (admin) or a worker route that reads any session.
    return _call("GET", "/api/v1/projects", candidate) == 200 or (
        _call("GET", "/api/v1/info", candidate) == 200
    )


@pawflow.activity
def trespass(victim, victim_project, victim_event):
    mine = current_scope().server._headers["Authorization"].split(" ", 1)[1]
    record = {"session_id": victim, "n": 99, "time": 0, "type": "print", "text": "forged"}
    outcome = {"outcome": "AAAA", "shown": {}}
    return {
        "credential": mine,
        "list_sessions": _call("GET", "/api/v1/sessions", mine),
        "victim_vars": _call("GET", f"/api/v1/sessions/{victim}/vars", mine),
        "victim_log": _call("POST", "/api/v1/sessions/log", mine, {"records": [record]}),
        "victim_journal": _call("POST", f"/api/v1/sessions/{victim}/calls/1", mine, outcome),
        "victim_outcome": _call(
            "POST", f"/api/v1/sessions/{victim}/http_outcome", mine, {"status": 200, "json": 1}
        ),
        "victim_connection": _call("GET", f"/api/v1/sessions/{victim}/connections/x", mine),
        "victim_session": _call("GET", f"/api/v1/sessions/{victim}", mine),
        "victim_event": _call("GET", f"/api/v1/events/{victim_event}", mine),
        "victim_signal": _call(
            "POST", f"/api/v1/sessions/{victim}/signals", mine, {"name": "go", "payload": 1}
        ),
        "victim_store": _call("GET", f"/api/v1/projects/{victim_project}/store/k", mine),
        "victim_child": _call(
            "POST", "/api/v1/sessions", mine,
            {"project": victim_project, "call": "program.py:handler", "data": {}},
        ),
        "own_store": _call("PUT", f"/api/v1/projects/{pawflow.vars['PROJECT']}/store/k", mine,
                           {"value": 1}),
    }


def handler(event):
    body = event.data.body.json
    found = search(body.data_dir, body.temporal_ports)
    tried = trespass(body.victim, body.victim_project, body.victim_event)
    return {"found": found, "tried": tried}
"""

VICTIM = """
import pawflow


def handler(event):
    return pawflow.next_signal(["go"], timeout=600)
"""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _result(platform: Platform, session_id: str) -> Any:
    (end,) = [
        r for r in platform.log(session_id) if r["type"] == "state" and r["state"] != "running"
    ]
    assert end["state"] == "completed", end
    return end["result"]


def test_a_hostile_program_reaches_only_its_own_session(platform: Platform, tmp_path: Path) -> None:
    data_dir = platform.up.data_dir
    victim_dir = make_project(tmp_path / "victim", "victim", textwrap.dedent(VICTIM))
    victim_url = platform.deploy(victim_dir)["webhooks"]["run"]
    secret = run_paw(
        "var", "set", "--project", "victim", "API_KEY", env=platform.env, input="s3cr3t-value-42\n"
    )
    assert secret.returncode == 0, secret.stderr
    probe_dir = make_project(
        tmp_path / "probe",
        "probe",
        PROBE,
        vars={"SERVER": platform.url, "PROJECT": "probe"},
    )
    probe_url = platform.deploy(probe_dir)["webhooks"]["run"]
    platform.start_worker()

    victim_event = platform.post(victim_url, {})[1]["event_id"]
    victim = platform.session_for(victim_event)
    wait_for(
        lambda: any(r["type"] == "state" for r in platform.log(victim["id"])),
        30, 0.1, "the victim to run",
    )  # fmt: skip
    body = {
        "data_dir": str(data_dir),
        "victim": victim["id"],
        "victim_project": "victim",
        "victim_event": victim_event,
        "temporal_ports": [int(platform.temporal_address.rsplit(":", 1)[1])],
    }
    probe = platform.session_for(platform.post(probe_url, body)[1]["event_id"])
    assert platform.wait_ended(probe["id"], timeout=60)["state"] == "completed"
    result = _result(platform, probe["id"])
    found, tried = result["found"], result["tried"]

    # Nothing of the platform's was readable, and no credential was found.
    assert found["uid"] != 0
    assert found["readable"] == [], found["readable"]
    assert found["working"] == []
    assert found["temporal_reached"] == []  # it could signal or end any session there
    assert found["signalable"] == []  # not its worker, not another session's runner
    for name in ("token", "worker-token", "secret.key"):
        assert _sha((data_dir / name).read_text().strip()) not in found["candidates"], name

    # Its own credential reaches its own project only.
    assert tried["own_store"] == 200
    assert tried["list_sessions"] == 403
    for route in ("victim_vars", "victim_log", "victim_journal"):
        assert tried[route] == 403, route
    for route in ("victim_outcome", "victim_connection", "victim_child"):
        assert tried[route] == 403, route
    for route in ("victim_session", "victim_event", "victim_signal"):
        assert tried[route] == 404, route
    assert tried["victim_store"] == 403
    # The victim got no signal and no forged log record.
    assert all(r.get("text") != "forged" for r in platform.log(victim["id"]))

    # The credential died with its session.
    status, answer = http_json(
        platform.url + "/api/v1/projects/probe/store/k", token=tried["credential"]
    )
    assert status == 401 and "ended" in answer["error"]
    status, _ = http_json(platform.url + "/api/v1/sessions", token=platform.up.token)
    assert status == 200
    json.dumps(result)  # the whole report is plain data
