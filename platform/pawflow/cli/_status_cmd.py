"""``paw status``: the platform at a glance (server, store, Temporal, workers, work)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from ..errors import ServerError
from ..textsafe import terminal_safe
from ._commands import client_for

__all__ = ["cmd_status", "format_status"]

_STATE_ORDER = ("created", "running", "completed", "error", "stopped")


def cmd_status(args: argparse.Namespace) -> int:
    """``paw status [--json]``."""
    answer = client_for(args).get("/api/v1/status")
    if not isinstance(answer, dict) or not isinstance(answer.get("server"), dict):
        raise ServerError("the server's answer is not a status")
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        print(terminal_safe(format_status(answer)))
    return 0


def format_status(status: Mapping[str, Any]) -> str:
    """The status as a short block of text."""
    server = status.get("server") or {}
    store = status.get("store") or {}
    temporal = status.get("temporal") or {}
    lines = [
        f"Server    {server.get('url')}  (pawflow {server.get('version')})",
        f"Store     {store.get('kind')}, {_size(store.get('size_bytes'))}",
        f"Temporal  {temporal.get('address')}, namespace {temporal.get('namespace')}: "
        + ("reachable" if temporal.get("reachable") else "NOT reachable"),
    ]
    workers = [w for w in status.get("workers") or () if isinstance(w, dict)]
    alive = sum(1 for w in workers if w.get("alive"))
    if not workers:
        lines.append("Workers   none (start one: paw worker)")
    else:
        gone = len(workers) - alive
        lines.append(f"Workers   {alive} alive" + (f", {gone} gone" if gone else ""))
        for w in workers:
            running = w.get("sessions_running")
            extra = f", {running} sessions running" if w.get("alive") and running else ""
            lines.append(
                f"  {w.get('id')}  {'alive' if w.get('alive') else 'gone '}  last heartbeat "
                f"{_ago(w.get('seconds_since_heartbeat'))}{extra}"
            )
    sessions = status.get("sessions") or {}
    states = sorted(sessions, key=lambda s: (*_STATE_ORDER, s).index(s))
    counts = ", ".join(f"{s} {sessions[s]}" for s in states) or "none yet"
    lines.append(f"Sessions  {counts}")
    lines.append(f"Events    {status.get('events_pending', 0)} waiting to be dispatched")
    oldest = status.get("oldest_running_session")
    if isinstance(oldest, dict):
        lines.append(
            f"Oldest running session  {oldest.get('id')}, started {_ago(oldest.get('age_seconds'))}"
        )
    return "\n".join(lines)


def _size(size: object) -> str:
    if not isinstance(size, int):
        return "size unknown"
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # not reached


def _ago(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "at an unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"
