"""Every command and flag of ``paw`` parses to the right handler and values."""

from __future__ import annotations

import argparse

import pytest

from pawflow.cli import _commands as commands
from pawflow.cli import _daemons as daemons
from pawflow.cli import build_parser
from pawflow.config import resolve_config


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_up_defaults() -> None:
    args = parse("up")
    assert args.func is daemons.cmd_up
    assert args.server is None and args.data_dir is None and args.workers == 1
    # Flags not given stay None: the effective configuration fills them in.
    effective = resolve_config(vars(args), "up", env={})
    assert (
        effective.host,
        effective.port,
        effective.temporal_address,
        effective.task_queue,
    ) == ("127.0.0.1", 9980, None, "pawflow-sessions")


def test_up_flags() -> None:
    args = parse(
        "up",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--temporal",
        "127.0.0.1:7233",
        "--workers",
        "0",
        "--task-queue",
        "q1",
        "--data-dir",
        "/tmp/d",
    )
    assert (args.host, args.port, args.temporal, args.workers, args.task_queue) == (
        "0.0.0.0",
        8000,
        "127.0.0.1:7233",
        0,
        "q1",
    )
    assert args.data_dir == "/tmp/d"


def test_worker_flags() -> None:
    args = parse("worker")
    assert args.func is daemons.cmd_worker
    assert args.temporal is None and args.task_queue is None
    args = parse("worker", "--temporal", "h:1", "--task-queue", "q", "--server", "http://s:1")
    assert (args.temporal, args.task_queue, args.server) == ("h:1", "q", "http://s:1")


def test_deploy() -> None:
    args = parse("deploy", "projects/hello")
    assert args.func is commands.cmd_deploy
    assert args.dir == "projects/hello" and args.json is False
    assert parse("deploy", "d", "--json").json is True


def test_manifest_validate() -> None:
    args = parse("manifest", "validate", "x/pawflow.yaml")
    assert args.func is commands.cmd_manifest_validate
    assert args.file == "x/pawflow.yaml"


@pytest.mark.parametrize(
    ("argv", "handler"),
    [
        (["project", "list"], commands.cmd_project_list),
        (["deployment", "list"], commands.cmd_deployment_list),
        (["event", "list"], commands.cmd_event_list),
        (["session", "list"], commands.cmd_session_list),
    ],
)
def test_listings_take_json(argv: list[str], handler: object) -> None:
    args = parse(*argv)
    assert args.func is handler and args.json is False
    assert parse(*argv, "--json").json is True


def test_project_filters() -> None:
    assert parse("deployment", "list", "--project", "p").project == "p"
    assert parse("event", "list", "--project", "p").project == "p"
    assert parse("deployment", "list").project is None


def test_session_list_filters() -> None:
    args = parse(
        "session", "list", "--project", "p", "--event", "evt_1", "--state", "running", "--json"
    )
    assert (args.project, args.event, args.state, args.json) == ("p", "evt_1", "running", True)


def test_session_log_and_watch() -> None:
    log = parse("session", "log", "ses_1", "--json")
    assert log.func is commands.cmd_session_log and (log.id, log.json) == ("ses_1", True)
    watch = parse("session", "watch", "ses_1")
    assert watch.func is commands.cmd_session_watch and watch.timeout is None
    assert parse("session", "watch", "ses_1", "--timeout", "2.5").timeout == 2.5


def test_global_flags_before_or_after_the_command() -> None:
    before = parse("--server", "http://a:1", "--data-dir", "/d", "project", "list")
    after = parse("project", "list", "--server", "http://a:1", "--data-dir", "/d")
    for args in (before, after):
        assert (args.server, args.data_dir) == ("http://a:1", "/d")
    # A flag after the command wins over the same flag before it.
    assert parse("--server", "http://a:1", "project", "list", "--server", "http://b:2").server == (
        "http://b:2"
    )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["session"],
        ["session", "watch"],
        ["session", "list", "--state", "bogus"],
        ["session", "watch", "s", "--timeout", "0"],
        ["session", "watch", "s", "--timeout", "soon"],
        ["up", "--port", "70000"],
        ["up", "--workers", "-1"],
        ["deploy"],
        ["project", "list", "--unknown"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err
