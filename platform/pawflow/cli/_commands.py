"""The client-side commands: deploy, validate, listings and session logs."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from .. import config
from ..errors import ConfigError, ServerError
from ._archive import MAX_ARCHIVE_BYTES, zip_project
from ._client import ApiClient
from ._output import format_record, format_table, short_time
from ._watch import EXIT_TIMEOUT, watch_session

__all__ = [
    "cmd_deploy",
    "cmd_deployment_list",
    "cmd_event_list",
    "cmd_manifest_validate",
    "cmd_project_list",
    "cmd_session_list",
    "cmd_session_log",
    "cmd_session_watch",
]

PROJECT_FIELDS = ("name", "created_at", "active_deployment_id")
DEPLOYMENT_FIELDS = ("id", "project", "state", "created_at")
EVENT_FIELDS = ("id", "project", "trigger", "type", "idempotency_key", "state", "created_at")
SESSION_FIELDS = (
    "id",
    "project",
    "deployment_id",
    "trigger",
    "event_id",
    "state",
    "created_at",
    "ended_at",
)


def client_for(args: argparse.Namespace) -> ApiClient:
    """The API client for the server and token the flags and environment name."""
    return ApiClient(config.resolve_server(args.server), config.find_token(args.data_dir))


def cmd_manifest_validate(args: argparse.Namespace) -> int:
    """``paw manifest validate FILE``: check a manifest offline."""
    from ..manifest import load_manifest

    load_manifest(Path(args.file))
    print(f"{args.file}: ok")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    """``paw deploy DIR``: validate locally, then upload the directory as a zip."""
    from ..manifest import load_project

    directory = Path(args.dir)
    # Local validation first: a broken project is reported without a server round trip.
    manifest = load_project(directory)
    payload = zip_project(directory)
    if len(payload) > MAX_ARCHIVE_BYTES:
        raise ConfigError(
            f"{args.dir} is {len(payload) / (1 << 20):.1f} MiB zipped; the server accepts "
            f"at most {MAX_ARCHIVE_BYTES >> 20} MiB"
        )
    answer = client_for(args).post("/api/v1/deployments", payload, "application/zip", timeout=120.0)
    result = {
        "project": answer.get("project"),
        "deployment_id": answer.get("deployment_id"),
        "webhooks": dict(answer.get("webhooks") or {}),
    }
    if args.json:
        _print_json(result)
        return 0
    print(f"Deployed {result['project']} ({result['deployment_id']})")
    webhooks = result["webhooks"]
    width = max((len(t) for t in webhooks), default=0)
    for trigger, url in webhooks.items():
        spec = manifest.project.trigger(trigger)
        methods = spec.webhook.methods if spec is not None and spec.webhook is not None else ()
        print(f"  {trigger.ljust(width)}  {','.join(methods) or '-'} {url}")
    if not webhooks:
        print("  (no webhook triggers)")
    return 0


def cmd_project_list(args: argparse.Namespace) -> int:
    """``paw project list``."""
    items = _pick(client_for(args).get("/api/v1/projects"), "projects", PROJECT_FIELDS)
    if args.json:
        _print_json(items)
    elif not items:
        print("No projects yet. Deploy one with: paw deploy DIR")
    else:
        rows = [[p["name"], p["active_deployment_id"], short_time(p["created_at"])] for p in items]
        print(format_table(["NAME", "ACTIVE DEPLOYMENT", "CREATED"], rows))
    return 0


def cmd_deployment_list(args: argparse.Namespace) -> int:
    """``paw deployment list``."""
    answer = client_for(args).get("/api/v1/deployments", {"project": args.project})
    items = _pick(answer, "deployments", DEPLOYMENT_FIELDS)
    if args.json:
        _print_json(items)
    elif not items:
        print(_nothing("deployments", args.project))
    else:
        rows = [[d["id"], d["project"], d["state"], short_time(d["created_at"])] for d in items]
        print(format_table(["ID", "PROJECT", "STATE", "CREATED"], rows))
    return 0


def cmd_event_list(args: argparse.Namespace) -> int:
    """``paw event list``."""
    answer = client_for(args).get("/api/v1/events", {"project": args.project})
    items = _pick(answer, "events", EVENT_FIELDS)
    if args.json:
        _print_json(items)
    elif not items:
        print(_nothing("events", args.project))
    else:
        rows = [
            [
                e["id"],
                e["project"],
                e["trigger"],
                e["type"],
                e["state"],
                short_time(e["created_at"]),
            ]
            for e in items
        ]
        print(format_table(["ID", "PROJECT", "TRIGGER", "TYPE", "STATE", "CREATED"], rows))
    return 0


def cmd_session_list(args: argparse.Namespace) -> int:
    """``paw session list``."""
    params = {"project": args.project, "event": args.event, "state": args.state}
    items = _pick(client_for(args).get("/api/v1/sessions", params), "sessions", SESSION_FIELDS)
    if args.json:
        _print_json(items)
    elif not items:
        filtered = any(v is not None for v in params.values())
        print("No sessions match." if filtered else "No sessions yet.")
    else:
        rows = [
            [
                s["id"],
                s["project"],
                s["trigger"],
                s["state"],
                short_time(s["created_at"]),
                short_time(s["ended_at"]),
            ]
            for s in items
        ]
        print(format_table(["ID", "PROJECT", "TRIGGER", "STATE", "CREATED", "ENDED"], rows))
    return 0


def cmd_session_log(args: argparse.Namespace) -> int:
    """``paw session log ID``: the records stored so far."""
    answer = client_for(args).get(f"/api/v1/sessions/{_quote(args.id)}/log")
    records = answer.get("records") if isinstance(answer, dict) else None
    if not isinstance(records, list):
        raise ServerError("the server's answer has no 'records' list")
    if args.json:
        _print_json(records)
    elif not records:
        print(f"Session {args.id} has no log records yet.")
    else:
        for record in records:
            for line in format_record(record):
                print(line)
    return 0


def cmd_session_watch(args: argparse.Namespace) -> int:
    """``paw session watch ID``: print records live; the exit code tells how it ended."""
    result = watch_session(client_for(args), args.id, sys.stdout, timeout=args.timeout)
    if result.exit_code == EXIT_TIMEOUT:
        print(
            f"error: gave up after {args.timeout:g} s: session {args.id} has not ended yet",
            file=sys.stderr,
        )
    return result.exit_code


def _pick(answer: Any, key: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    items = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise ServerError(f"the server's answer has no {key!r} list")
    return [{f: item.get(f) for f in fields} for item in items if isinstance(item, dict)]


def _nothing(what: str, project: str | None) -> str:
    return f"No {what} for project {project}." if project else f"No {what} yet."


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2))
