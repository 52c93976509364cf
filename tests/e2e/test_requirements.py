"""A project brings its own libraries (requirements.txt), and a deploy refuses
code that does not load while the active deployment keeps serving."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pawflow.sessions._confine import PACKAGES_MOUNT
from pawflow.sessions._envs import env_key
from tests.e2e.conftest import Platform, make_project

# A small pure-Python package the platform does not ship (checked below).
PACKAGE = "humanize"
REQUIREMENTS = f"{PACKAGE}>=4\n"

PROGRAM = f"""
import {PACKAGE}

def handler(event):
    print({PACKAGE}.intcomma(event.data.body.json["n"]))
    print("from", {PACKAGE}.__file__)
"""


def _run(platform: Platform, url: str, body: object) -> tuple[dict[str, Any], list[str]]:
    status, answer = platform.post(url, body)
    assert status == 202, answer
    session = platform.wait_ended(platform.session_for(answer["event_id"])["id"], timeout=60)
    log = platform.log(session["id"])
    assert session["state"] == "completed", [r.get("error") or r.get("text") for r in log]
    prints = [r["text"] for r in log if r["type"] == "print"]
    return session, prints


def _project_with_requirements(tmp_path: Path) -> Path:
    project = make_project(tmp_path / "numbers", "numbers", PROGRAM)
    (project / "requirements.txt").write_text(REQUIREMENTS)
    return project


def test_a_session_imports_the_package_its_requirements_name(
    platform: Platform, tmp_path: Path
) -> None:
    try:
        __import__(PACKAGE)
    except ImportError:
        pass
    else:
        raise AssertionError(f"{PACKAGE} is installed with the platform: pick another package")
    platform.start_worker()
    url = platform.deploy(_project_with_requirements(tmp_path))["webhooks"]["run"]
    session, prints = _run(platform, url, {"n": 1234567})
    assert session["state"] == "completed", session
    assert prints[0] == "1,234,567"
    # From the deployment's environment, which the runner sees read-only.
    env = platform.up.data_dir / "envs" / env_key(REQUIREMENTS.encode())
    seen = prints[1].removeprefix("from ")
    assert seen.startswith((PACKAGES_MOUNT + "/", str(env) + "/")), seen
    # A replay in the CLI finds the project's packages too.
    replayed = platform.paw("session", "replay", session["id"])
    assert replayed.returncode == 0, replayed.stderr
    assert "print     1,234,567" in replayed.stdout
    assert replayed.stdout.splitlines()[-1].startswith("no divergence")


def test_a_worker_with_its_own_data_dir_installs_the_requirements_itself(
    platform: Platform, tmp_path: Path
) -> None:
    own = tmp_path / "worker-data"
    own.mkdir(mode=0o700)
    shutil.copy(platform.up.data_dir / "worker-token", own / "worker-token")
    platform.start_worker("--data-dir", str(own))
    url = platform.deploy(_project_with_requirements(tmp_path))["webhooks"]["run"]
    session, prints = _run(platform, url, {"n": 1000})
    assert session["state"] == "completed", session
    assert prints[0] == "1,000"
    # The same requirements give the same directory name on both sides.
    assert (own / "envs" / env_key(REQUIREMENTS.encode()) / PACKAGE).is_dir()


def test_a_deploy_whose_code_does_not_load_leaves_the_old_code_serving(
    platform: Platform, tmp_path: Path
) -> None:
    project = make_project(
        tmp_path / "keep", "keep", 'def handler(event):\n    print("old code")\n'
    )
    platform.start_worker()
    url = platform.deploy(project)["webhooks"]["run"]
    (project / "program.py").write_text(
        'import json\nimport nosuchpkg\n\ndef handler(event):\n    print("new code")\n'
    )
    refused = platform.paw("deploy", str(project))
    assert refused.returncode != 0
    assert (
        "program.py:2: cannot import module 'program': No module named 'nosuchpkg'"
        in refused.stderr
    ), refused.stderr
    assert "Traceback" not in refused.stderr
    session, prints = _run(platform, url, {})
    assert session["state"] == "completed", session
    assert prints == ["old code"]
