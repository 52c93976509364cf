"""``paw event get ID``: one event whole: payload, headers, what it matched, what it started."""

from __future__ import annotations

import argparse
import json
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ServerError
from ..headers import mask_header
from ..textsafe import terminal_safe
from ._commands import client_for
from ._output import format_table, short_time

__all__ = ["add_event_commands", "cmd_event_get"]

_MAX_PAYLOAD_LINES = 200
# Far more than one event starts; the API serves at most this many in one page.
_SESSIONS_SHOWN = 1000


def add_event_commands(event: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw event get`` in the ``paw event`` group."""
    get = leaf(
        event,
        "get",
        cmd_event_get,
        "show one event: payload, headers, matched triggers and the sessions it started",
    )
    get.add_argument("id", metavar="ID")
    get.add_argument("--json", action="store_true", help="print the event and its sessions as JSON")


def cmd_event_get(args: argparse.Namespace) -> int:
    """``paw event get ID [--json]``."""
    client = client_for(args)
    event = client.get(f"/api/v1/events/{urllib.parse.quote(args.id, safe='')}")
    if not isinstance(event, dict) or "id" not in event:
        raise ServerError("the server's answer is not an event")
    answer = client.get("/api/v1/sessions", {"event": event["id"], "limit": _SESSIONS_SHOWN})
    sessions = answer.get("sessions") if isinstance(answer, dict) else None
    if not isinstance(sessions, list):
        raise ServerError("the server's answer has no 'sessions' list")
    started = [
        {"id": s.get("id"), "state": s.get("state"), "trigger": s.get("trigger")}
        for s in sessions
        if isinstance(s, dict)
    ]
    if args.json:
        shown = {**event, "data": _masked(event.get("data")), "sessions": started}
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return 0
    for line in _describe(event, started):
        print(terminal_safe(line))
    return 0


def _masked(data: Any) -> Any:
    """The event's data with its credential headers masked (JSON goes to logs too)."""
    headers = data.get("headers") if isinstance(data, dict) else None
    if not isinstance(headers, dict):
        return data
    return {**data, "headers": {k: mask_header(k, str(v)) for k, v in headers.items()}}


def _describe(event: Mapping[str, Any], sessions: list[dict[str, Any]]) -> list[str]:
    kind = " ".join(str(x) for x in (event.get("connection"), event.get("type")) if x)
    lines = [f"Event {event['id']}  ({kind or 'event'})"]
    fields = [
        ("project", event.get("project")),
        ("trigger", event.get("trigger")),
        ("state", event.get("state")),
        ("received", short_time(event.get("created_at"))),
        ("key", event.get("idempotency_key")),
        ("replay of", event.get("replay_of")),
    ]
    lines += [f"  {label:<10} {value}" for label, value in fields if value is not None]

    data = event.get("data")
    headers = data.get("headers") if isinstance(data, dict) else None
    if isinstance(headers, dict) and headers:
        lines.append("Headers:")
        lines += [f"  {name}: {mask_header(name, str(value))}" for name, value in headers.items()]
    if isinstance(data, dict) and isinstance(headers, dict):
        data = {k: v for k, v in data.items() if k != "headers"}
    lines.append("Payload:")
    payload = json.dumps(data, indent=2, ensure_ascii=False).split("\n")
    if len(payload) > _MAX_PAYLOAD_LINES:
        hidden = len(payload) - _MAX_PAYLOAD_LINES
        payload = [*payload[:_MAX_PAYLOAD_LINES], f"... ({hidden} more lines: see --json)"]
    lines += ["  " + line for line in payload]

    lines.append("Matched:")
    matches = event.get("matches")
    if matches is None:
        lines.append("  (not matched yet: the event waits to be dispatched)")
    elif not matches:
        lines.append("  (nothing: no trigger or subscription was for it)")
    else:
        rows = [_match_row(m) for m in matches if isinstance(m, dict)]
        lines += [
            "  " + row for row in format_table(["FOR", "MATCHED", "WHY NOT"], rows).split("\n")
        ]

    lines.append("Sessions:")
    if not sessions:
        lines.append("  (none started)")
    else:
        rows = [[s["id"], s["state"], s["trigger"]] for s in sessions]
        lines += ["  " + row for row in format_table(["ID", "STATE", "TRIGGER"], rows).split("\n")]
    return lines


def _match_row(match: Mapping[str, Any]) -> list[object]:
    if "trigger" in match:
        target = f"trigger {match['trigger']}"
    else:
        target = f"subscription {match.get('subscription')} (session {match.get('session')})"
    matched = match.get("matched")
    return [target, "yes" if matched else "no", None if matched else match.get("reason")]
