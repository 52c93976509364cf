"""Day-2 operations through the API: rollback, deactivation and redispatch.

- ``POST /api/v1/deployments/{id}/activate``: make a deployment the project's
  active one (activating an older one is the rollback); the one it replaces
  drains: its running sessions finish on its code, new events go to this one.
- ``POST /api/v1/deployments/{id}/deactivate``: take the active deployment out
  of service; the project then takes no webhook until one is activated.
- ``POST /api/v1/events/{id}/redispatch``: a new event with the old one's data
  (``replay_of`` it), matched against the triggers active now.
- ``DELETE /api/v1/projects/{project}[?force=true]``: the project and all it
  holds, refused (409) while a session of it runs unless ``force`` stops them.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from ..manifest import Manifest
from ..storage import MANUAL_EVENT_TYPE, DeploymentRecord, SessionRecord, Store
from ._control import stop_at_once
from ._http import ApiError
from ._json import deployment_json
from ._schedules import converge_deploy_schedules, sync_deploy_schedules
from ._state import DISPATCHER, STORE

__all__ = ["add_operation_routes"]

log = logging.getLogger(__name__)


def add_operation_routes(app: web.Application) -> None:
    """Register activate, deactivate, redispatch and project deletion on ``app``."""
    app.router.add_post("/api/v1/deployments/{id}/activate", activate_deployment)
    app.router.add_post("/api/v1/deployments/{id}/deactivate", deactivate_deployment)
    app.router.add_post("/api/v1/events/{id}/redispatch", redispatch_event)
    app.router.add_delete("/api/v1/projects/{project}", delete_project)


async def _deployment(request: web.Request) -> DeploymentRecord:
    deployment_id = request.match_info["id"]
    deployment = await request.app[STORE].get_deployment(deployment_id)
    if deployment is None:
        raise ApiError(404, f"no deployment {deployment_id!r}")
    return deployment


async def activate_deployment(request: web.Request) -> web.Response:
    store = request.app[STORE]
    target = await _deployment(request)
    previous = await store.active_deployment(target.project)
    if target.state != "active":
        if await store.get_deployment_code(target.id) is None:
            raise ApiError(
                409, f"deployment {target.id} cannot run any more: retention removed its code"
            )
        # As a deploy does: schedules first, so that Temporal being unreachable
        # changes nothing; then the switch; then settle any race with another.
        await sync_deploy_schedules(request, Manifest.from_dict(target.manifest))
        await store.activate_deployment(target.id)
        await converge_deploy_schedules(request, target.project)
        log.info("deployment %s of %s activated by hand", target.id, target.project)
    replaced = None
    if previous is not None and previous.id != target.id:
        replaced = await store.get_deployment(previous.id)
    active = await store.get_deployment(target.id)
    assert active is not None
    return web.json_response(
        {
            **deployment_json(active),
            "replaced": None if replaced is None else deployment_json(replaced),
        }
    )


async def deactivate_deployment(request: web.Request) -> web.Response:
    store = request.app[STORE]
    target = await _deployment(request)
    if target.state == "active":
        target = await store.deactivate_deployment(target.id)
        await converge_deploy_schedules(request, target.project)
        log.info("deployment %s of %s deactivated by hand", target.id, target.project)
    return web.json_response(deployment_json(target))


async def redispatch_event(request: web.Request) -> web.Response:
    store = request.app[STORE]
    event_id = request.match_info["id"]
    old = await store.get_event(event_id)
    if old is None:
        raise ApiError(404, f"no event {event_id!r}")
    deployment_id = None
    if old.type == MANUAL_EVENT_TYPE:
        # A manual start names its call itself: it runs again on the active code.
        active = await store.active_deployment(old.project)
        if active is None:
            raise ApiError(404, f"project {old.project!r} has no active deployment")
        deployment_id = active.id
    try:
        new = await store.redispatch_event(event_id, deployment_id)
    except ValueError as err:
        raise ApiError(409, str(err)) from None
    request.app[DISPATCHER].wake()
    log.info("event %s dispatched again as %s", event_id, new.id)
    return web.json_response({"event_id": new.id, "replay_of": event_id}, status=201)


async def delete_project(request: web.Request) -> web.Response:
    store = request.app[STORE]
    project = request.match_info["project"]
    force = request.query.get("force", "false").lower()
    if force not in ("true", "false"):
        raise ApiError(400, "force must be true or false")
    unfinished = await _unfinished(store, project)
    if unfinished and force != "true":
        raise ApiError(
            409,
            f"project {project!r} has {_count(unfinished)} sessions that have not ended; "
            "stop them first, or delete with force to stop them",
        )
    # Out of service first: no webhook or schedule starts anything meanwhile.
    active = await store.active_deployment(project)
    if active is not None:
        await store.deactivate_deployment(active.id)
        await converge_deploy_schedules(request, project)
    stopped = 0
    for _ in range(_MAX_STOP_ROUNDS):
        unfinished = await _unfinished(store, project)
        if not unfinished:
            break
        for session in unfinished:
            await stop_at_once(request, session.id, "the project was deleted")
        stopped += len(unfinished)
    # The bulk in short transactions, so that nobody else waits on the store long.
    while True:
        counts = await store.purge(project, cutoff=time.time() + 1)
        if counts.busy:
            await asyncio.sleep(_BUSY_PAUSE)
        elif not counts.more:
            break
    try:
        deleted = await store.delete_project(project)
    except ValueError as err:
        raise ApiError(409, f"{err}; try again") from None
    if not deleted:
        raise ApiError(404, f"no project {project!r}")
    log.info("project %s deleted (%d sessions stopped)", project, stopped)
    return web.json_response({"project": project, "deleted": True, "stopped": stopped})


_MAX_STOP_ROUNDS = 100
_BUSY_PAUSE = 0.05  # seconds: another server is purging (PostgreSQL)
_PAGE = 100


async def _unfinished(store: Store, project: str) -> list[SessionRecord]:
    found: list[SessionRecord] = []
    for state in ("created", "running"):
        found.extend(await store.list_sessions(project=project, state=state, limit=_PAGE))
    return found


def _count(sessions: list[SessionRecord]) -> str:
    return f"{_PAGE}+" if len(sessions) >= _PAGE else str(len(sessions))
