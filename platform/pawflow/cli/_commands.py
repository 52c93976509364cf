"""The client-side commands: deploy, validate, listings and session logs."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import config
from ..errors import ConfigError, ServerError
from ..terminal import StatusLine
from ._archive import MAX_ARCHIVE_BYTES, zip_project
from ._client import ApiClient
from ._output import format_record, format_table, short_time
from ._paging import paging_params, print_more
from ._watch import EXIT_TIMEOUT, watch_session

if TYPE_CHECKING:
    from ..manifest import Manifest

__all__ = [
    "Deployed",
    "cmd_deploy",
    "cmd_deployment_list",
    "cmd_event_list",
    "cmd_manifest_validate",
    "cmd_project_list",
    "cmd_session_list",
    "cmd_session_log",
    "cmd_session_watch",
    "deploy_project",
    "endpoint_lines",
]

PROJECT_FIELDS = ("name", "created_at", "active_deployment_id")
DEPLOYMENT_FIELDS = ("id", "project", "state", "created_at")
EVENT_FIELDS = (
    "id", "project", "trigger", "connection", "type", "idempotency_key", "state", "created_at",
    "matches",
)  # fmt: skip
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


@dataclass(frozen=True)
class Deployed:
    """What the server answered a deploy: the project, its new deployment, where it listens."""

    project: str | None
    deployment_id: str | None
    webhooks: dict[str, str]
    connections: dict[str, Any]
    manifest: Manifest


def deploy_project(connect: Callable[[], ApiClient], directory: Path, shown_as: str) -> Deployed:
    """Validate ``directory`` locally, zip it and upload it as a new deployment.

    Prints nothing but the upload's progress line (on a terminal, for a large
    project); ``shown_as`` names the directory in errors. ``connect`` gives the
    client once the project checks out, so a broken project needs no token.
    Problems raise PawflowError: a ManifestError (file:line) before anything is sent.
    """
    from ..manifest import load_project

    # Local validation first: a broken project is reported without a server round trip.
    manifest = load_project(directory)
    payload = zip_project(directory)
    if len(payload) > MAX_ARCHIVE_BYTES:
        raise ConfigError(
            f"{shown_as} is {len(payload) / (1 << 20):.1f} MiB zipped; the server accepts "
            f"at most {MAX_ARCHIVE_BYTES >> 20} MiB"
        )
    shown = _upload_progress(len(payload))
    try:
        answer = connect().post(
            "/api/v1/deployments", payload, "application/zip", timeout=120.0, progress=shown
        )
    finally:
        if shown is not None:
            shown.done()
    return Deployed(
        project=answer.get("project"),
        deployment_id=answer.get("deployment_id"),
        webhooks=dict(answer.get("webhooks") or {}),
        connections=dict(answer.get("connections") or {}),
        manifest=manifest,
    )


def cmd_deploy(args: argparse.Namespace) -> int:
    """``paw deploy DIR``: validate locally, then upload the directory as a zip."""
    if args.check:
        from ._check_cmd import check_deploy

        return check_deploy(args)
    deployed = deploy_project(lambda: client_for(args), Path(args.dir), args.dir)
    if args.json:
        _print_json(
            {
                "project": deployed.project,
                "deployment_id": deployed.deployment_id,
                "webhooks": deployed.webhooks,
                "connections": deployed.connections,
            }
        )
        return 0
    print(f"Deployed {deployed.project} ({deployed.deployment_id})")
    for line in endpoint_lines(deployed):
        print(line)
    return 0


def endpoint_lines(deployed: Deployed) -> list[str]:
    """Where a deployment listens, one indented line per webhook trigger and connection."""
    lines: list[str] = []
    webhooks = deployed.webhooks
    width = max((len(t) for t in webhooks), default=0)
    for trigger, url in webhooks.items():
        spec = deployed.manifest.project.trigger(trigger)
        methods = spec.webhook.methods if spec is not None and spec.webhook is not None else ()
        lines.append(f"  {trigger.ljust(width)}  {','.join(methods) or '-'} {url}")
    if not webhooks:
        lines.append("  (no webhook triggers)")
    connections = deployed.connections
    width = max((len(n) for n in connections), default=0)
    for name, info in connections.items():
        hook = info.get("webhook_url") if isinstance(info, dict) else None
        kind = info.get("integration") if isinstance(info, dict) else "?"
        lines.append(f"  connection {name.ljust(width)}  {kind}  {hook or '(no webhook)'}")
    return lines


class _UploadBar:
    """``uploading 3.1 / 7.9 MiB (39%)`` on one line of a terminal, redrawn in place."""

    def __init__(self, line: StatusLine) -> None:
        self._line = line
        self._shown = -1

    def __call__(self, sent: int, total: int) -> None:
        percent = sent * 100 // max(total, 1)
        if percent == self._shown:
            return  # a redraw per chunk would flood a slow terminal
        self._shown = percent
        mib = 1 << 20
        self._line.show(f"uploading {sent / mib:.1f} / {total / mib:.1f} MiB ({percent}%)")

    def done(self) -> None:
        self._line.clear(keep=True)


def _upload_progress(size: int) -> _UploadBar | None:
    """A progress line for an upload worth watching, on a terminal only: piped
    output (a CI log, a script) stays free of carriage returns."""
    line = StatusLine(sys.stderr)
    if size <= _PROGRESS_FROM_BYTES or not line.active:
        return None
    return _UploadBar(line)


_PROGRESS_FROM_BYTES = 1 << 20


@dataclass(frozen=True)
class _Listing:
    """One listing command: where its items come from and how its table looks."""

    path: str
    key: str
    fields: tuple[str, ...]  # what --json prints, in order
    columns: tuple[tuple[str, str], ...]  # (header, field) of the text table

    def show(self, args: argparse.Namespace, params: dict[str, str | None], empty: str) -> int:
        answer = client_for(args).get(self.path, {**params, **paging_params(args)})
        items = answer.get(self.key) if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise ServerError(f"the server's answer has no {self.key!r} list")
        picked = [{f: item.get(f) for f in self.fields} for item in items if isinstance(item, dict)]
        if args.json:
            _print_json(picked)
        elif not picked:
            print(empty)
        else:
            rows = [[_cell(field, item.get(field)) for _, field in self.columns] for item in picked]
            print(format_table([header for header, _ in self.columns], rows))
        print_more(args, answer, len(picked))
        return 0


def _cell(field: str, value: Any) -> str | None:
    return short_time(value) if field.endswith("_at") else value


_PROJECTS = _Listing(
    "/api/v1/projects",
    "projects",
    PROJECT_FIELDS,
    (("NAME", "name"), ("ACTIVE DEPLOYMENT", "active_deployment_id"), ("CREATED", "created_at")),
)
_DEPLOYMENTS = _Listing(
    "/api/v1/deployments",
    "deployments",
    DEPLOYMENT_FIELDS,
    (("ID", "id"), ("PROJECT", "project"), ("STATE", "state"), ("CREATED", "created_at")),
)
_EVENTS = _Listing(
    "/api/v1/events",
    "events",
    EVENT_FIELDS,
    (("ID", "id"), ("PROJECT", "project"), ("TRIGGER", "trigger"), ("TYPE", "type"),
     ("STATE", "state"), ("CREATED", "created_at")),
)  # fmt: skip
_SESSIONS = _Listing(
    "/api/v1/sessions",
    "sessions",
    SESSION_FIELDS,
    (("ID", "id"), ("PROJECT", "project"), ("TRIGGER", "trigger"), ("STATE", "state"),
     ("CREATED", "created_at"), ("ENDED", "ended_at")),
)  # fmt: skip


def cmd_project_list(args: argparse.Namespace) -> int:
    """``paw project list``."""
    return _PROJECTS.show(args, {}, "No projects yet. Deploy one with: paw deploy DIR")


def cmd_deployment_list(args: argparse.Namespace) -> int:
    """``paw deployment list``."""
    return _DEPLOYMENTS.show(args, {"project": args.project}, _nothing("deployments", args.project))


def cmd_event_list(args: argparse.Namespace) -> int:
    """``paw event list``."""
    return _EVENTS.show(args, {"project": args.project}, _nothing("events", args.project))


def cmd_session_list(args: argparse.Namespace) -> int:
    """``paw session list``."""
    params = {"project": args.project, "event": args.event, "state": args.state}
    filtered = any(v is not None for v in params.values())
    return _SESSIONS.show(args, params, "No sessions match." if filtered else "No sessions yet.")


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


def _nothing(what: str, project: str | None) -> str:
    return f"No {what} for project {project}." if project else f"No {what} yet."


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2))
