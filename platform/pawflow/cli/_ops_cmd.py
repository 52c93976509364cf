"""Day-2 operations on deployments, events and projects: rollback, redispatch, delete."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from ..errors import ServerError
from ._commands import client_for
from ._session_cmd import post_object, quote_part

__all__ = [
    "add_ops_commands",
    "cmd_deployment_activate",
    "cmd_deployment_deactivate",
    "cmd_event_redispatch",
    "cmd_project_delete",
]


def add_ops_commands(project: Any, deployment: Any, event: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw deployment activate|deactivate``, ``paw event redispatch``
    and ``paw project delete`` in their groups."""
    activate = leaf(
        deployment,
        "activate",
        cmd_deployment_activate,
        "make a deployment the active one (an older one: roll back); the one it replaces drains",
    )
    activate.add_argument("id", metavar="ID")
    _json_flag(activate)
    deactivate = leaf(
        deployment,
        "deactivate",
        cmd_deployment_deactivate,
        "take the active deployment out of service (its running sessions finish)",
    )
    deactivate.add_argument("id", metavar="ID")
    _json_flag(deactivate)

    redispatch = leaf(
        event,
        "redispatch",
        cmd_event_redispatch,
        "dispatch an event again, as a new event, on the active deployment",
    )
    redispatch.add_argument("id", metavar="ID")
    _json_flag(redispatch)

    delete = leaf(
        project,
        "delete",
        cmd_project_delete,
        "delete a project with its deployments, sessions, events, vars and store",
    )
    delete.add_argument("name", metavar="NAME")
    delete.add_argument(
        "--force", action="store_true", help="stop its running sessions instead of refusing"
    )
    _json_flag(delete)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the server's reply as JSON")


def cmd_deployment_activate(args: argparse.Namespace) -> int:
    """``paw deployment activate ID``."""
    answer = _post(args, f"/api/v1/deployments/{quote_part(args.id)}/activate")
    if args.json:
        _print_json(answer)
        return 0
    replaced = answer.get("replaced")
    print(f"Deployment {args.id} of {answer.get('project')} is active.")
    if isinstance(replaced, dict):
        state = replaced.get("state")
        how = (
            "its running sessions finish on its code"
            if state == "draining"
            else "none of its sessions was running"
        )
        print(f"Deployment {replaced.get('id')} is {state} ({how}).")
    return 0


def cmd_deployment_deactivate(args: argparse.Namespace) -> int:
    """``paw deployment deactivate ID``."""
    answer = _post(args, f"/api/v1/deployments/{quote_part(args.id)}/deactivate")
    if args.json:
        _print_json(answer)
        return 0
    print(f"Deployment {args.id} is {answer.get('state')}.")
    if answer.get("state") == "draining":
        print("Its running sessions finish on its code; new events are not taken.")
    return 0


def cmd_event_redispatch(args: argparse.Namespace) -> int:
    """``paw event redispatch ID``: prints the new event's id."""
    answer = _post(args, f"/api/v1/events/{quote_part(args.id)}/redispatch")
    new = answer.get("event_id")
    if not isinstance(new, str):
        raise ServerError("the server's answer has no 'event_id'")
    if args.json:
        _print_json({"event_id": new})
    else:
        print(new)
    return 0


def cmd_project_delete(args: argparse.Namespace) -> int:
    """``paw project delete NAME [--force]``."""
    path = f"/api/v1/projects/{quote_part(args.name)}"
    params = {"force": "true"} if args.force else {}
    answer = client_for(args).delete(path, params, timeout=600.0)
    if not isinstance(answer, dict):
        raise ServerError("the server's answer is not a JSON object")
    if args.json:
        _print_json(answer)
        return 0
    stopped = answer.get("stopped") or 0
    print(f"Deleted project {args.name}" + (f" (stopped {stopped} sessions)." if stopped else "."))
    return 0


def _post(args: argparse.Namespace, path: str) -> dict[str, Any]:
    return post_object(args, path, {})


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2))
