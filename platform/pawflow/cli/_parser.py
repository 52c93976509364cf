"""The ``paw`` command line: every command, flag and the handler it runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from . import _commands as c
from . import _daemons as d
from . import _integrations_cmd as i
from ._backup_cmd import add_backup_command
from ._check_cmd import DEFAULT_CHECKED
from ._completion import SHELLS, VersionAction, cmd_completion
from ._config_cmd import cmd_config_show
from ._dev_cmd import add_dev_command
from ._event_cmd import add_event_commands
from ._init_cmd import add_init_command
from ._ops_cmd import add_ops_commands
from ._paging import add_paging
from ._replay_cmd import add_replay_command
from ._session_cmd import add_session_control_commands
from ._status_cmd import cmd_status
from ._store_cmd import add_store_commands
from ._ui_cmd import add_ui_command

__all__ = ["build_parser"]

Handler = Callable[[argparse.Namespace], int]

_SESSION_STATES = ("created", "running", "completed", "error", "stopped")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``paw``; each command stores its handler as ``func``."""
    parser = argparse.ArgumentParser(
        prog="paw",
        description="Pawflow: plain Python functions run as durable sessions.",
    )
    parser.add_argument("--version", action=VersionAction, help="print paw's version and exit")
    _add_globals(parser, top=True)
    # The same flags after the command name; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_globals(common, top=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def leaf(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        handler: Handler,
        help: str,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(func=handler)
        return sub

    def grouped(name: str, help: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        sub = commands.add_parser(name, help=help, description=help)
        return sub.add_subparsers(dest="action", metavar="ACTION", required=True)

    up = leaf(commands, "up", d.cmd_up, "run the platform here: Temporal, server and workers")
    _add_listen_flags(up)
    up.add_argument(
        "--temporal",
        metavar="HOST:PORT",
        help="use this Temporal server instead of embedding one (PAWFLOW_TEMPORAL_ADDRESS)",
    )
    up.add_argument(
        "--workers", type=_count, default=1, metavar="N", help="worker processes to run (1)"
    )
    _add_temporal_flags(up)

    server = leaf(
        commands, "server", d.cmd_server, "run a server: API, webhooks and dispatcher (no workers)"
    )
    _add_listen_flags(server)
    server.add_argument(
        "--temporal",
        metavar="HOST:PORT",
        help="the Temporal frontend (PAWFLOW_TEMPORAL_ADDRESS; 127.0.0.1:7233)",
    )
    server.add_argument(
        "--database-url",
        metavar="URL",
        help="postgresql://... (PAWFLOW_DATABASE_URL; unset: SQLite in the data dir)",
    )
    _add_temporal_flags(server)

    worker = leaf(commands, "worker", d.cmd_worker, "run one worker against the server")
    worker.add_argument(
        "--temporal",
        metavar="HOST:PORT",
        help="PAWFLOW_TEMPORAL_ADDRESS; default: what the server says",
    )
    _add_temporal_flags(worker, queue_help="default: what the server says")
    worker.add_argument(
        "--metrics-port",
        type=_port,
        metavar="P",
        help="serve Temporal's worker metrics (Prometheus) on 127.0.0.1:P",
    )
    worker.add_argument(
        "--max-cached-sessions",
        type=_count,
        metavar="N",
        help="sessions kept in memory between steps; others are replayed from history "
        "(1000, or as many as may be inside calls if more)",
    )
    worker.add_argument(
        "--max-sessions-in-calls",
        type=_count,
        metavar="N",
        help="sessions inside calls at once, each with its own process "
        "(PAWFLOW_MAX_SESSIONS_IN_CALLS; 0 or unset: as many as memory allows, at most 2000)",
    )
    worker.add_argument(
        "--max-history-events",
        type=_count,
        default=10_000,
        metavar="N",
        help="history events a session's run may reach before it continues as new (10000)",
    )
    worker.add_argument(
        "--wait-seconds",
        type=_wait_seconds,
        default=120,
        metavar="S",
        help="at start, wait up to S seconds each for the server and Temporal to answer "
        "(120; 0: fail at once)",
    )
    worker.add_argument(
        "--runner-user",
        metavar="USER",
        help="as root: the user sessions' programs run as (PAWFLOW_RUNNER_USER; nobody)",
    )

    config_group = grouped("config", "the configuration of servers and workers")
    show = leaf(
        config_group,
        "show",
        cmd_config_show,
        "print the effective configuration and where each value comes from (secrets masked)",
    )
    _add_json(show)

    status = leaf(
        commands,
        "status",
        cmd_status,
        "the platform at a glance: server, store, Temporal, workers, sessions, waiting events",
    )
    _add_json(status)

    deploy = leaf(commands, "deploy", c.cmd_deploy, "validate and deploy a project directory")
    deploy.add_argument("dir", metavar="DIR")
    deploy.add_argument(
        "--check",
        action="store_true",
        help="deploy nothing: replay the active deployment's running and last completed "
        "sessions against this code and list any that would diverge",
    )
    deploy.add_argument(
        "--check-last",
        type=_count,
        default=DEFAULT_CHECKED,
        metavar="N",
        help=f"with --check: how many completed sessions to replay ({DEFAULT_CHECKED})",
    )
    _add_json(deploy)

    manifest = grouped("manifest", "work with manifest files")
    validate = leaf(manifest, "validate", c.cmd_manifest_validate, "check a manifest offline")
    validate.add_argument("file", metavar="FILE")

    project = grouped("project", "projects")
    projects = leaf(project, "list", c.cmd_project_list, "list projects, newest first")
    add_paging(projects)
    _add_json(projects)

    deployment = grouped("deployment", "deployments")
    deployments = leaf(deployment, "list", c.cmd_deployment_list, "list deployments")
    deployments.add_argument("--project", metavar="P")
    add_paging(deployments)
    _add_json(deployments)

    event = grouped("event", "received events")
    events = leaf(event, "list", c.cmd_event_list, "list events, newest first")
    events.add_argument("--project", metavar="P")
    add_paging(events)
    _add_json(events)

    session = grouped("session", "sessions and their logs")
    sessions = leaf(session, "list", c.cmd_session_list, "list sessions, newest first")
    sessions.add_argument("--project", metavar="P")
    sessions.add_argument("--event", metavar="EVENT_ID")
    sessions.add_argument("--state", metavar="S", choices=_SESSION_STATES)
    add_paging(sessions)
    _add_json(sessions)

    log = leaf(session, "log", c.cmd_session_log, "show the log of a session")
    log.add_argument("id", metavar="ID")
    _add_json(log)

    watch = leaf(session, "watch", c.cmd_session_watch, "follow a session's log until it ends")
    watch.add_argument("id", metavar="ID")
    watch.add_argument(
        "--timeout", type=_seconds, metavar="S", help="give up after S seconds (exit code 124)"
    )
    add_session_control_commands(session, leaf)
    add_event_commands(event, leaf)
    add_ops_commands(project, deployment, event, leaf)
    add_replay_command(session, leaf)
    add_init_command(commands, leaf)
    add_dev_command(commands, leaf)
    add_ui_command(commands, leaf)
    add_backup_command(commands, leaf)
    add_store_commands(grouped, leaf)
    _add_integration_commands(grouped, leaf)
    completion = leaf(
        commands, "completion", cmd_completion, "print a shell completion script (bash or zsh)"
    )
    completion.add_argument("shell", metavar="SHELL", choices=SHELLS, help="bash or zsh")
    return parser


def _add_integration_commands(grouped: Callable[..., Any], leaf: Callable[..., Any]) -> None:
    """``paw var``, ``paw connection`` and ``paw integration``."""
    project_help = "project (default: the one of ./pawflow.yaml)"
    var = grouped("var", "vars of projects and connections; secrets are stored encrypted")
    var_set = leaf(
        var, "set", i.cmd_var_set, "set a var: a secret read from stdin, or --value for a plain one"
    )
    var_set.add_argument("name", metavar="NAME")
    var_set.add_argument("--project", metavar="P", help=project_help)
    var_set.add_argument("--connection", metavar="C", help="a var of this connection")
    var_set.add_argument(
        "--value", metavar="V", help="store V as a plain (non-secret) value instead"
    )
    var_list = leaf(var, "list", i.cmd_var_list, "list vars (secret values show as ***)")
    var_list.add_argument("--project", metavar="P", help=project_help)
    var_list.add_argument("--connection", metavar="C", help="only this connection's vars")
    add_paging(var_list, "after")
    _add_json(var_list)
    var_delete = leaf(var, "delete", i.cmd_var_delete, "delete a var")
    var_delete.add_argument("name", metavar="NAME")
    var_delete.add_argument("--project", metavar="P", help=project_help)
    var_delete.add_argument("--connection", metavar="C")

    connection = grouped("connection", "connections of deployed projects")
    connections = leaf(connection, "list", i.cmd_connection_list, "list connections")
    connections.add_argument("--project", metavar="P")
    add_paging(connections, "after")
    _add_json(connections)
    test = leaf(connection, "test", i.cmd_connection_test, "check a connection's credentials")
    test.add_argument("name", metavar="NAME")
    test.add_argument("--project", metavar="P", help=project_help)
    _add_json(test)

    integration = grouped("integration", "installed integrations")
    integrations = leaf(integration, "list", i.cmd_integration_list, "list integrations")
    add_paging(integrations, "after")
    _add_json(integrations)


def _add_globals(parser: argparse.ArgumentParser, *, top: bool) -> None:
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--server",
        metavar="URL",
        default=default,
        help="Pawflow server (else $PAWFLOW_SERVER, else http://127.0.0.1:9980)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help="data dir with the API token (else $PAWFLOW_HOME, else ~/.pawflow)",
    )


def _add_listen_flags(parser: argparse.ArgumentParser) -> None:
    """Where a server listens and what it serves; None = not given (see pawflow.config)."""
    parser.add_argument("--host", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=_port, help="port to listen on (9980)")
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="base of webhook URLs, as the outside world reaches this server (PAWFLOW_PUBLIC_URL)",
    )
    parser.add_argument(
        "--max-body-mb",
        type=_count,
        metavar="MB",
        help="largest webhook body accepted (PAWFLOW_MAX_BODY_MB; 1); connections take 25",
    )
    parser.add_argument(
        "--metrics-port",
        type=_port,
        metavar="P",
        help="also serve /metrics without a token on 127.0.0.1:P",
    )
    parser.add_argument(
        "--retention-days",
        type=_count,
        metavar="DAYS",
        help="delete finished sessions, their logs and events after DAYS "
        "(PAWFLOW_RETENTION_DAYS; 30; 0 keeps them forever)",
    )


def _add_temporal_flags(
    parser: argparse.ArgumentParser, queue_help: str = "task queue of sessions (pawflow-sessions)"
) -> None:
    parser.add_argument(
        "--namespace", metavar="NS", help="Temporal namespace (PAWFLOW_TEMPORAL_NAMESPACE; default)"
    )
    parser.add_argument("--task-queue", metavar="Q", help=queue_help)


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _port(text: str) -> int:
    value = _count(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text}")
    return value


# About 31 years: as good as for ever, and still a time the clock can add.
_MAX_WAIT_SECONDS = 10**9


def _wait_seconds(text: str) -> int:
    value = _count(text)
    if value > _MAX_WAIT_SECONDS:
        raise argparse.ArgumentTypeError(f"at most {_MAX_WAIT_SECONDS} seconds: {text[:40]}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value
