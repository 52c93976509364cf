"""Vars set with ``paw var set`` reach sessions, secrets included, and no log shows them."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Platform, make_project
from tests.helpers import run_paw

PROGRAM = """
import os

import pawflow


def handler(event):
    token = pawflow.vars["API_TOKEN"]
    print("token ok:", token == "s3cret-value", os.environ["API_TOKEN"] == token)
    return pawflow.vars["REGION"]
"""


def test_stored_vars_reach_the_session_and_stay_out_of_its_log(
    platform: Platform, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "p", "varsproj", PROGRAM, vars={"REGION": "manifest"})
    url = platform.deploy(project)["webhooks"]["run"]
    result = run_paw(
        "var", "set", "--project", "varsproj", "API_TOKEN", env=platform.env, input="s3cret-value\n"
    )
    assert result.returncode == 0, result.stderr
    result = run_paw(
        "var", "set", "--project", "varsproj", "REGION", "--value", "eu", env=platform.env
    )
    assert result.returncode == 0, result.stderr
    platform.start_worker()
    session = platform.session_for(platform.post(url, {})[1]["event_id"])
    assert platform.wait_ended(session["id"])["state"] == "completed"
    log = platform.log(session["id"])
    assert [r["text"] for r in log if r["type"] == "print"] == ["token ok: True True"]
    assert log[-1]["result"] == "eu"
    assert "s3cret-value" not in platform.paw("session", "log", session["id"], "--json").stdout
