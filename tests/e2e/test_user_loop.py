"""The user's loop, end to end: deploy → webhook → session → watch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Platform, copy_project, make_project
from tests.helpers import wait_for


def test_hello_from_deploy_to_watch(platform: Platform, tmp_path: Path) -> None:
    platform.start_worker()
    deployed = platform.deploy(copy_project("hello", tmp_path))
    assert deployed["project"] == "hello"
    assert deployed["deployment_id"].startswith("dep_")
    url = deployed["webhooks"]["greet"]
    assert url.startswith(platform.url + "/webhooks/")

    status, body = platform.post(url, {"name": "Ada"})
    assert status == 202
    event_id = body["event_id"]
    session = platform.session_for(event_id)
    assert session["project"] == "hello"
    assert session["trigger"] == "greet"
    assert session["deployment_id"] == deployed["deployment_id"]

    watch = platform.paw("session", "watch", session["id"], "--timeout", "60")
    assert watch.returncode == 0, watch.stdout + watch.stderr
    assert "Hello, Ada!" in watch.stdout
    assert "Goodbye, Ada." in watch.stdout

    log = platform.log(session["id"])
    kinds = [r["type"] for r in log]
    assert kinds == ["state", "call_start", "call_end", "print", "print", "state"], log
    assert [r["state"] for r in log if r["type"] == "state"] == ["running", "completed"]
    start, end = log[1], log[2]
    assert start["function"] == "datetime.now" and start["seq"] == end["seq"] == 1
    assert "result" in end
    assert all({"time", "type"} <= set(r) for r in log)

    (ended,) = [s for s in platform.sessions("--project", "hello") if s["id"] == session["id"]]
    assert ended["state"] == "completed" and ended["ended_at"] is not None
    events = platform.paw_json("event", "list")
    assert [e["id"] for e in events] == [event_id]


def test_watch_streams_prints_while_the_session_runs(platform: Platform, tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "slow",
        "slow",
        """
        import time

        def handler(event):
            print("first")
            time.sleep(3)
            print("second")
        """,
    )
    platform.start_worker()
    url = platform.deploy(project)["webhooks"]["run"]
    session = platform.session_for(platform.post(url, {})[1]["event_id"])
    with subprocess.Popen(
        [sys.executable, "-m", "pawflow.cli", "session", "watch", session["id"]],
        stdout=subprocess.PIPE, text=True, env=platform.env,
    ) as watch:  # fmt: skip
        assert watch.stdout is not None
        lines = []
        for line in watch.stdout:
            lines.append(line)
            if "first" in line:
                break
        # The print arrived while the session still sleeps: it was streamed live.
        assert platform.sessions("--state", "running")[0]["id"] == session["id"]
        assert platform.wait_ended(session["id"])["state"] == "completed"
        rest = watch.stdout.read()
        assert watch.wait(30) == 0
    assert any("first" in line for line in lines)
    assert "second" in rest


def test_user_error_ends_the_session_in_error_with_the_users_traceback(
    platform: Platform, tmp_path: Path
) -> None:
    project = make_project(
        tmp_path / "oops",
        "oops",
        """
        def handler(event):
            return helper(event.data.body.json["n"])

        def helper(n):
            return 10 // n
        """,
    )
    platform.start_worker()
    url = platform.deploy(project)["webhooks"]["run"]
    session = platform.session_for(platform.post(url, {"n": 0})[1]["event_id"])
    watch = platform.paw("session", "watch", session["id"], "--timeout", "60")
    assert watch.returncode == 1
    assert "ZeroDivisionError" in watch.stdout + watch.stderr
    final = platform.log(session["id"])[-1]
    assert final["type"] == "state" and final["state"] == "error"
    error = final["error"]
    assert 'File "program.py", line 3, in handler' in error
    assert 'File "program.py", line 6, in helper' in error
    assert error.endswith("ZeroDivisionError: integer division or modulo by zero")
    assert "pawflow" not in error  # the platform's own frames are not shown


def test_vars_reach_code_as_pawflow_vars_and_environment(
    platform: Platform, tmp_path: Path
) -> None:
    project = make_project(
        tmp_path / "vars",
        "vars",
        """
        import os
        import pawflow

        def handler(event):
            print(pawflow.vars["COLOR"], os.environ.get("COLOR"), sorted(pawflow.vars))
        """,
        vars={"COLOR": "teal", "SIZE": "xl"},
    )
    platform.start_worker()
    url = platform.deploy(project)["webhooks"]["run"]
    session = platform.session_for(platform.post(url, {})[1]["event_id"])
    assert platform.wait_ended(session["id"])["state"] == "completed"
    prints = [r["text"] for r in platform.log(session["id"]) if r["type"] == "print"]
    assert prints == ["teal teal ['COLOR', 'SIZE']"]


def test_two_projects_with_the_same_module_names_run_their_own_code(
    platform: Platform, tmp_path: Path
) -> None:
    urls = {}
    for name in ("alpha", "beta"):
        project = make_project(
            tmp_path / name,
            name,
            "import helpers\n\ndef handler(event):\n    print(helpers.WHO)\n",
        )
        (project / "helpers.py").write_text(f"WHO = {name!r}\n")
        urls[name] = platform.deploy(project)["webhooks"]["run"]
    platform.start_worker()
    for name, url in urls.items():
        session = platform.session_for(platform.post(url, {})[1]["event_id"])
        assert platform.wait_ended(session["id"])["state"] == "completed"
        assert [r["text"] for r in platform.log(session["id"]) if r["type"] == "print"] == [name]


def test_a_session_keeps_the_code_it_started_with_across_a_redeploy(
    platform: Platform, tmp_path: Path
) -> None:
    program = """
    import time

    def handler(event):
        print("{v} start")
        time.sleep(event.data.body.json["nap"])
        print("{v} end")
    """
    project = make_project(tmp_path / "ver", "ver", program.replace("{v}", "v1"))
    first = platform.deploy(project)
    platform.start_worker()
    old = platform.session_for(platform.post(first["webhooks"]["run"], {"nap": 3})[1]["event_id"])
    wait_for(lambda: len(platform.log(old["id"])) >= 2, 20, 0.05, "the v1 session to start")

    (project / "program.py").write_text(__import__("textwrap").dedent(program.replace("{v}", "v2")))
    second = platform.deploy(project)
    assert second["webhooks"]["run"] == first["webhooks"]["run"]  # URLs survive redeploys
    new = platform.session_for(platform.post(second["webhooks"]["run"], {"nap": 0})[1]["event_id"])
    assert new["deployment_id"] == second["deployment_id"]

    for session, version in ((old, "v1"), (new, "v2")):
        assert platform.wait_ended(session["id"])["state"] == "completed"
        prints = [r["text"] for r in platform.log(session["id"]) if r["type"] == "print"]
        assert prints == [f"{version} start", f"{version} end"]
    states = {d["id"]: d["state"] for d in platform.paw_json("deployment", "list")}
    assert states[second["deployment_id"]] == "active"
    assert states[first["deployment_id"]] == "inactive"  # drained once its session ended


def test_a_bad_manifest_is_refused_with_one_line_and_changes_nothing(
    platform: Platform, tmp_path: Path
) -> None:
    good = make_project(tmp_path / "p", "proj", "def handler(event):\n    pass\n")
    first = platform.deploy(good)
    manifest = good / "pawflow.yaml"
    manifest.write_text(manifest.read_text().replace("program.py:handler", "program.py:missing"))

    result = platform.paw("deploy", str(good))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert f"{good}/pawflow.yaml:" in line and "missing" in line
    assert [d["id"] for d in platform.paw_json("deployment", "list")] == [first["deployment_id"]]
