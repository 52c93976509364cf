"""``paw session start|stop|restart``: sessions started and stopped by hand."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError, ServerError
from ._commands import client_for

__all__ = [
    "add_session_control_commands",
    "cmd_session_restart",
    "cmd_session_start",
    "cmd_session_stop",
    "post_object",
    "quote_part",
]


def add_session_control_commands(session: Any, leaf: Callable[..., Any]) -> None:
    """Register ``start``, ``stop`` and ``restart`` in the ``paw session`` group."""
    start = leaf(session, "start", cmd_session_start, "start a session of a project by hand")
    start.add_argument("--project", metavar="P", required=True)
    start.add_argument("--call", metavar="FILE.py:FUNCTION", required=True)
    start.add_argument("--data", metavar="JSON", help="the event's data (default: {})")
    start.add_argument("--json", action="store_true", help="print the server's reply as JSON")

    stop = leaf(session, "stop", cmd_session_stop, "stop a running session")
    stop.add_argument("id", metavar="ID")
    stop.add_argument("--reason", metavar="R", help="why (shown in the session's log)")
    stop.add_argument(
        "--force",
        action="store_true",
        help="terminate at once instead of stopping at the session's next durable point",
    )
    stop.add_argument("--json", action="store_true", help="print the server's reply as JSON")

    restart = leaf(
        session, "restart", cmd_session_restart, "start a new session with the same event and code"
    )
    restart.add_argument("id", metavar="ID")
    restart.add_argument(
        "--from-failure",
        action="store_true",
        help="a failed session, on the active deployment: reuse its recorded results up to "
        "the call that failed, run the rest",
    )
    restart.add_argument("--json", action="store_true", help="print the server's reply as JSON")


def cmd_session_start(args: argparse.Namespace) -> int:
    """``paw session start --project P --call file.py:fn [--data JSON]``."""
    data: Any = {}
    if args.data is not None:
        try:
            data = json.loads(args.data)
        except ValueError as err:
            raise ConfigError(f"--data is not valid JSON: {err}") from None
    body = {"project": args.project, "call": args.call, "data": data}
    answer = post_object(args, "/api/v1/sessions", body)
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        print(_field(answer, "session_id"))
    return 0


def cmd_session_stop(args: argparse.Namespace) -> int:
    """``paw session stop ID [--reason R] [--force]``."""
    body: dict[str, Any] = {"force": bool(args.force)}
    if args.reason:
        body["reason"] = args.reason
    answer = post_object(args, f"/api/v1/sessions/{quote_part(args.id)}/stop", body)
    if args.json:
        print(json.dumps(answer, indent=2))
    elif answer.get("stopping"):
        print(f"Stopping session {args.id}: it stops at its next durable point.")
    else:
        print(f"Session {args.id} {_field(answer, 'state')}.")
    return 0


def cmd_session_restart(args: argparse.Namespace) -> int:
    """``paw session restart ID [--from-failure]``: prints the new session's id."""
    body = {"from_failure": True} if args.from_failure else {}
    answer = post_object(args, f"/api/v1/sessions/{quote_part(args.id)}/restart", body)
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    print(_field(answer, "session_id"))
    if args.from_failure:
        print(
            f"(on deployment {answer.get('deployment_id')}, reusing {answer.get('reused')} "
            f"recorded answers of {args.id})",
            file=sys.stderr,
        )
    return 0


def post_object(args: argparse.Namespace, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` as JSON; the answer, which must be a JSON object."""
    answer = client_for(args).post(path, json.dumps(body).encode(), "application/json")
    if not isinstance(answer, dict):
        raise ServerError("the server's answer is not a JSON object")
    return answer


def _field(answer: dict[str, Any], name: str) -> str:
    value = answer.get(name)
    if not isinstance(value, str):
        raise ServerError(f"the server's answer has no {name!r}")
    return value


def quote_part(value: str) -> str:
    """``value`` as one path segment of a URL."""
    return urllib.parse.quote(value, safe="")
