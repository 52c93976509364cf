"""``paw var ...``, ``paw connection ...`` and ``paw integration ...``.

Secret values only travel from the user to the server: they are read from
stdin (never taken from the command line, where shell history would keep
them), and no command ever prints one.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import config
from ..errors import ConfigError, ServerError
from ._client import ApiClient
from ._output import format_table, short_time
from ._paging import paging_params, print_more

__all__ = [
    "cmd_connection_list",
    "cmd_connection_test",
    "cmd_integration_list",
    "cmd_var_delete",
    "cmd_var_list",
    "cmd_var_set",
]

HIDDEN = "***"

Params = Mapping[str, str | int | None]


class _Client(ApiClient):
    """The API client with the PUT and DELETE these commands need."""

    def send(
        self, method: str, path: str, payload: Any = None, params: Params | None = None
    ) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        content_type = None if body is None else "application/json"
        return self._json(self._request(method, path, params, body, content_type))


def _client(args: argparse.Namespace) -> _Client:
    return _Client(config.resolve_server(args.server), config.find_token(args.data_dir))


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _project(args: argparse.Namespace) -> str:
    """``--project``, else the project of ``pawflow.yaml`` in the current directory."""
    if args.project:
        return str(args.project)
    from ..manifest import MANIFEST_FILE, load_manifest

    path = Path(MANIFEST_FILE)
    if not path.is_file():
        raise ConfigError(f"give --project, or run this in a project directory (with {path})")
    return load_manifest(path, check_calls=False).project.name


def _read_secret(name: str) -> str:
    if sys.stdin.isatty():
        value = getpass.getpass(f"value of {name} (input hidden): ")
    else:
        value = sys.stdin.read()
        # One trailing newline comes from `echo` or the terminal, not from the secret.
        if value.endswith("\r\n"):
            value = value[:-2]
        elif value.endswith("\n"):
            value = value[:-1]
    if not value:
        raise ConfigError(f"no value for {name} on stdin")
    return value


def _scope_text(connection: str | None, project: str) -> str:
    if connection:
        return f"connection {connection} of project {project}"
    return f"project {project}"


def cmd_var_set(args: argparse.Namespace) -> int:
    """``paw var set [--project P] [--connection C] NAME``: the value is read from
    stdin and stored as a secret (encrypted); ``--value V`` stores a plain value."""
    project = _project(args)
    secret = args.value is None
    value = _read_secret(args.name) if secret else args.value
    params = {"connection": args.connection}
    _client(args).send(
        "PUT",
        f"/api/v1/projects/{_q(project)}/vars/{_q(args.name)}",
        {"value": value, "secret": secret},
        params,
    )
    kind = "secret var" if secret else "var"
    print(f"Set {kind} {args.name} of {_scope_text(args.connection, project)}.")
    return 0


def cmd_var_delete(args: argparse.Namespace) -> int:
    """``paw var delete [--project P] [--connection C] NAME``."""
    project = _project(args)
    _client(args).send(
        "DELETE",
        f"/api/v1/projects/{_q(project)}/vars/{_q(args.name)}",
        params={"connection": args.connection},
    )
    print(f"Deleted var {args.name} of {_scope_text(args.connection, project)}.")
    return 0


def cmd_var_list(args: argparse.Namespace) -> int:
    """``paw var list [--project P] [--connection C]``: secret values show as ``***``."""
    project = _project(args)
    answer = _client(args).get(
        f"/api/v1/projects/{_q(project)}/vars",
        {"connection": args.connection, **paging_params(args)},
    )
    items = answer.get("vars") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise ServerError("the server's answer has no 'vars' list")
    shown = [
        {
            "project": v.get("project"),
            "connection": v.get("connection"),
            "name": v.get("name"),
            "secret": bool(v.get("secret")),
            # The server never sends a secret's value; *** says one is set.
            "value": HIDDEN if v.get("secret") else v.get("value"),
            "updated_at": v.get("updated_at"),
        }
        for v in items
        if isinstance(v, dict)
    ]
    if args.json:
        print(json.dumps(shown, indent=2))
    elif not shown:
        print(f"No vars set for {_scope_text(args.connection, project)}.")
    else:
        rows = [
            [v["connection"] or "(project)", v["name"], v["value"], short_time(v["updated_at"])]
            for v in shown
        ]
        print(format_table(["SCOPE", "NAME", "VALUE", "UPDATED"], rows))
    print_more(args, answer, len(shown))
    return 0


def cmd_connection_list(args: argparse.Namespace) -> int:
    """``paw connection list [--project P]``: connections of active deployments."""
    answer = _client(args).get(
        "/api/v1/connections", {"project": args.project, **paging_params(args)}
    )
    items = answer.get("connections") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise ServerError("the server's answer has no 'connections' list")
    if args.json:
        print(json.dumps(items, indent=2))
        print_more(args, answer, len(items))
        return 0
    if not items:
        print("No connections. Declare them under project.connections in pawflow.yaml.")
        return 0
    rows = []
    for c in items:
        if not c.get("installed", True):
            status = "integration not installed"
        elif c.get("missing"):
            status = "needs " + ", ".join(c["missing"])
        else:
            status = "ready"
        rows.append([c.get("project"), c.get("name"), c.get("integration"), status,
                     c.get("webhook_url") or "-"])  # fmt: skip
    print(format_table(["PROJECT", "NAME", "INTEGRATION", "STATUS", "WEBHOOK URL"], rows))
    print_more(args, answer, len(items))
    return 0


def cmd_connection_test(args: argparse.Namespace) -> int:
    """``paw connection test NAME``: check the credentials against the service."""
    project = _project(args)
    answer = _client(args).post(
        f"/api/v1/projects/{_q(project)}/connections/{_q(args.name)}/test",
        b"{}",
        "application/json",
        timeout=60.0,
    )
    if not isinstance(answer, dict):
        raise ServerError("the server's answer is not a test result")
    message = str(answer.get("message", ""))
    if args.json:
        print(json.dumps({"connection": args.name, "project": project, **answer}, indent=2))
    if answer.get("ok"):
        if not args.json:
            print(f"{args.name}: ok, {message}")
        return 0
    if not args.json:
        print(f"error: connection {args.name}: {message}", file=sys.stderr)
    return 1


def cmd_integration_list(args: argparse.Namespace) -> int:
    """``paw integration list``: the integrations the server has installed."""
    answer = _client(args).get("/api/v1/integrations", paging_params(args))
    items = answer.get("integrations") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise ServerError("the server's answer has no 'integrations' list")
    if args.json:
        print(json.dumps(items, indent=2))
        print_more(args, answer, len(items))
        return 0
    if not items:
        print("No integrations installed.")
        return 0
    rows = []
    for i in items:
        names = [v["name"] + (" (secret)" if v.get("secret") else "") for v in i.get("vars", [])]
        rows.append([i.get("name"), "yes" if i.get("webhooks") else "no", ", ".join(names),
                     i.get("description")])  # fmt: skip
    print(format_table(["NAME", "WEBHOOKS", "VARS", "DESCRIPTION"], rows))
    print_more(args, answer, len(items))
    return 0
