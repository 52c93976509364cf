"""Schedule triggers on the server: syncing Temporal Schedules on deploy, and
``POST /api/v1/schedules/ticks``, where each tick becomes an event.

Deploy syncs the schedules *before* the deployment is stored and activated.
When Temporal cannot be reached the deploy fails with 503 and the store is
untouched: the previous deployment stays active, with its schedules. Temporal
failing half-way can leave some schedules already created or updated; that is
harmless because a tick is matched against the deployment active when it
arrives (a schedule whose trigger is not active starts nothing), and deploying
again finishes the job. Deploys that involve no schedule (neither the new nor
the active manifest has one) never contact Temporal.

Once the deployment is active, :func:`converge_deploy_schedules` syncs again,
against whatever deployment is active by then: another server may have
deployed the same project at the same moment, and its sync may have landed
after this one (see ``pawflow.schedules``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from aiohttp import web
from temporalio.service import RPCError

from ..errors import TemporalUnavailable
from ..manifest import Manifest
from ..schedules import (
    SCHEDULE_EVENT_TYPE,
    TICKS_PATH,
    converge_schedules,
    format_time,
    sync_schedules,
)
from ..storage import schedule_source
from ..temporal_errors import is_unavailable
from ._body import parse_json
from ._http import ApiError, read_body
from ._state import CONFIG, DISPATCHER, STORE
from ._temporal import TEMPORAL

__all__ = [
    "add_schedule_routes",
    "converge_deploy_schedules",
    "post_tick",
    "sync_deploy_schedules",
]

log = logging.getLogger(__name__)

_MAX_TICK_BYTES = 4096
# Deployments of a project whose schedules may still be in Temporal after a
# race (written by a deploy that lost it): the newest this many.
_RECENT_DEPLOYMENTS = 20


def add_schedule_routes(app: web.Application) -> None:
    """Register ``POST /api/v1/schedules/ticks`` on ``app``."""
    app.router.add_post(TICKS_PATH, post_tick)


async def sync_deploy_schedules(request: web.Request, manifest: Manifest) -> None:
    """Bring the project's Temporal Schedules in line with ``manifest``, which is
    about to become the active deployment. Raises ``ApiError(503)`` when Temporal
    cannot be reached."""
    project = manifest.project.name
    active = await request.app[STORE].active_deployment(project)
    previous = Manifest.from_dict(active.manifest) if active is not None else None
    if not _has_schedules(manifest) and not _has_schedules(previous):
        return
    config = request.app[CONFIG]
    try:
        client = await request.app[TEMPORAL].client()
        await sync_schedules(client, project, manifest, config.task_queue, previous=previous)
    except (TemporalUnavailable, RPCError) as err:
        if not is_unavailable(err):
            # Not an outage: Temporal refused a request; its reason is the message.
            log.error("Temporal refused a schedule of %s: %s", project, err)
            raise ApiError(
                502, f"Temporal refused to update the project's schedules: {err}"
            ) from None
        raise _unavailable(config.temporal_address, err) from None


async def converge_deploy_schedules(request: web.Request, project: str) -> None:
    """Make the project's schedules those of its active deployment, whatever
    other deploys raced this one. Called once this deploy's deployment is
    active, so it changes nothing the reply says: when Temporal fails now, the
    failure is logged (the schedules were synced before activation; only a race
    in this very moment is left unsettled, until the next deploy)."""
    store = request.app[STORE]
    recent = await store.list_deployments(project, limit=_RECENT_DEPLOYMENTS)
    manifests = [Manifest.from_dict(d.manifest) for d in recent]
    if not any(_has_schedules(m) for m in manifests):
        return  # no schedule in play: Temporal is not needed
    config = request.app[CONFIG]
    try:
        client = await request.app[TEMPORAL].client()
        await converge_schedules(client, store, project, config.task_queue, previous=manifests)
    except (TemporalUnavailable, RPCError) as err:
        log.error("schedules of %s may lag behind its active deployment: %s", project, err)


def _has_schedules(manifest: Manifest | None) -> bool:
    return manifest is not None and any(t.schedule for t in manifest.project.triggers)


def _unavailable(address: str, err: BaseException) -> ApiError:
    log.warning("cannot sync schedules with Temporal at %s: %s", address, err)
    return ApiError(
        503,
        f"cannot reach Temporal at {address} to update the project's schedules "
        "(the deployment was not changed; try again)",
    )


async def post_tick(request: web.Request) -> web.Response:
    """``{"project", "trigger", "scheduled_time"}`` → a ``schedule`` event → 202.

    The idempotency key is made of the three, so a tick posted again (an
    activity retry) is the same event and starts at most one session.
    """
    body = _json_object(await read_body(request, _MAX_TICK_BYTES))
    project = _string(body, "project")
    trigger = _string(body, "trigger")
    scheduled = format_time(_timestamp(_string(body, "scheduled_time")))
    event, created = await request.app[STORE].add_event(
        project=project,
        trigger=trigger,
        type=SCHEDULE_EVENT_TYPE,
        data={"scheduled_time": scheduled},
        idempotency_key=f"schedule:{project}:{trigger}:{scheduled}",
        # Only ticks claim keys here: a webhook sent this key claims it in its own
        # namespace, so it cannot cancel the run.
        idempotency_source=schedule_source(trigger),
    )
    if created:
        request.app[DISPATCHER].wake()
        log.debug("tick of %s/%s at %s: event %s", project, trigger, scheduled, event.id)
    return web.json_response({"event_id": event.id, "duplicate": not created}, status=202)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        doc = parse_json(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ApiError(400, "body must be a JSON object")
    return doc


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{key!r} must be a non-empty string")
    return value


def _timestamp(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"'scheduled_time' is not an ISO 8601 time: {text[:40]!r}") from None
