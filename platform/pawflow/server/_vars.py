"""Vars set through the API (``paw var set``), and the secret box that seals them.

Routes (token required):

- ``GET    /api/v1/projects/{project}/vars[?connection=C]``
- ``PUT    /api/v1/projects/{project}/vars/{name}[?connection=C]``
  with ``{"value": str, "secret": bool}``
- ``DELETE /api/v1/projects/{project}/vars/{name}[?connection=C]``
- ``GET    /api/v1/sessions/{id}/vars``: the project vars a running session
  sees (secrets decrypted), read by its runner when it starts

A secret value is sealed before it reaches the store and never leaves the
server again except to a session of its project (see ``_connections``);
listings show it as ``null`` and logs name vars, never values.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from ..manifest import Manifest
from ..storage import SessionRecord, Store, VarRecord
from ._body import parse_json
from ._http import ApiError, live_session, read_body
from ._json import iso_time
from ._keys import INTEGRATIONS, SECRETS, SecretKeeper
from ._paging import after_page, paging
from ._state import STORE

__all__ = [
    "MAX_VAR_BYTES",
    "add_var_routes",
    "check_name",
    "stored_values",
    "var_json",
]

log = logging.getLogger(__name__)

MAX_VAR_BYTES = 64 * 1024
_PROJECT_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def add_var_routes(app: web.Application) -> None:
    """Register the var routes."""
    app.router.add_get("/api/v1/projects/{project}/vars", list_vars)
    app.router.add_put("/api/v1/projects/{project}/vars/{name}", put_var)
    app.router.add_delete("/api/v1/projects/{project}/vars/{name}", delete_var)
    app.router.add_get("/api/v1/sessions/{id}/vars", session_vars)


async def session_vars(request: web.Request) -> web.Response:
    session_id = request.match_info["id"]
    store = request.app[STORE]
    session = await live_session(store, session_id)
    values = await stored_values(store, request.app[SECRETS], session.project, None)
    secret = sorted(
        v.name for v in await store.list_vars(session.project) if v.connection is None and v.secret
    )
    deployment = await store.get_deployment(session.deployment_id)
    # What the server recorded of the session: the worker runs nothing whose
    # workflow input disagrees (anyone who reaches Temporal can start workflows).
    facts = {
        "project": session.project,
        "deployment_id": session.deployment_id,
        "trigger": session.trigger,
        "call": session.call,
        "event_id": session.event_id,
        "code_sha256": deployment.code_sha256 if deployment is not None else None,
        "reuse": _reuse(session),
    }
    return web.json_response({"vars": values, "secret": secret, "session": facts})


def _reuse(session: SessionRecord) -> dict[str, Any] | None:
    """What a session restarted from a failure reuses (None: nothing)."""
    if session.reuse_from is None:
        return None
    return {"session_id": session.reuse_from, "count": session.reuse_count}


def check_name(kind: str, value: str) -> str:
    """``value`` if it is a valid project, connection or var name, else a 400."""
    pattern = _VAR_NAME if kind == "var" else _PROJECT_NAME
    if not pattern.fullmatch(value):
        hint = (
            "letters, digits and '_', not starting with a digit"
            if kind == "var"
            else "lower-case letters, digits, '-' and '_', starting with a letter"
        )
        raise ApiError(400, f"invalid {kind} name {value!r}: use {hint}")
    return value


def var_json(v: VarRecord) -> dict[str, Any]:
    """A var in API shape; a secret's value is null."""
    return {
        "project": v.project,
        "connection": v.connection,
        "name": v.name,
        "secret": v.secret,
        "value": None if v.secret else v.value,
        "updated_at": iso_time(v.updated_at),
    }


async def stored_values(
    store: Store, keeper: SecretKeeper, project: str, connection: str | None
) -> dict[str, str]:
    """The vars set for the project (``connection`` None) or one of its
    connections, secrets decrypted."""
    out: dict[str, str] = {}
    for v in await store.list_vars(project):
        if v.connection != connection:
            continue
        if v.secret:
            scope = f"connection {connection!r}" if connection else f"project {project!r}"
            out[v.name] = keeper.box().open(v.value, what=f"var {v.name!r} of {scope}")
        else:
            out[v.name] = v.value
    return out


def _scope(request: web.Request) -> tuple[str, str | None]:
    project = check_name("project", request.match_info["project"])
    connection = request.query.get("connection") or None
    if connection is not None:
        check_name("connection", connection)
    return project, connection


async def list_vars(request: web.Request) -> web.Response:
    project, connection = _scope(request)
    limit, after = paging(request, "after")
    records = await request.app[STORE].list_vars(project)
    if "connection" in request.query:
        records = [v for v in records if v.connection == connection]
    # A project's vars are few: paged here, in (connection, name) order.
    shown, more, next_after = after_page(records, _var_order, limit, after)
    return web.json_response(
        {"vars": [var_json(v) for v in shown], "more": more, "next_after": next_after}
    )


def _var_order(var: VarRecord) -> tuple[str, str]:
    return (var.connection or "", var.name)


async def put_var(request: web.Request) -> web.Response:
    project, connection = _scope(request)
    name = check_name("var", request.match_info["name"])
    value, secret = _parse_var_body(await read_body(request, MAX_VAR_BYTES + 1024))
    if connection is not None:
        await _check_connection_var(request, project, connection, name, value, secret)
    if secret:
        value = (await request.app[SECRETS].sealing_box(request.app[STORE])).seal(value)
    record = await request.app[STORE].set_var(project, connection, name, value, secret=secret)
    scope = f"connection {connection}" if connection else "the project"
    log.info("var %s of %s in %s set (%s)", name, scope, project, "secret" if secret else "plain")
    return web.json_response({"var": var_json(record)})


async def delete_var(request: web.Request) -> web.Response:
    project, connection = _scope(request)
    name = check_name("var", request.match_info["name"])
    if not await request.app[STORE].delete_var(project, connection, name):
        where = f" of connection {connection!r}" if connection else ""
        raise ApiError(404, f"no var {name!r}{where} in project {project!r}")
    return web.json_response({"deleted": True})


def _parse_var_body(body: bytes) -> tuple[str, bool]:
    try:
        doc = parse_json(body)
    except (ValueError, RecursionError):
        raise ApiError(400, 'body must be JSON: {"value": "...", "secret": true|false}') from None
    if not isinstance(doc, dict) or not isinstance(doc.get("value"), str):
        raise ApiError(400, 'body must be a JSON object with a string "value"')
    secret = doc.get("secret", False)
    if not isinstance(secret, bool):
        raise ApiError(400, '"secret" must be true or false')
    value: str = doc["value"]
    if len(value.encode()) > MAX_VAR_BYTES:
        raise ApiError(400, f"the value is larger than {MAX_VAR_BYTES} bytes")
    return value, secret


async def _check_connection_var(
    request: web.Request, project: str, connection: str, name: str, value: str, secret: bool
) -> None:
    """When the connection is deployed, the var must be one its integration knows,
    and a var the integration marks secret must be set as a secret."""
    deployment = await request.app[STORE].active_deployment(project)
    if deployment is None:
        return
    spec = Manifest.from_dict(deployment.manifest).project.connection(connection)
    registry = request.app[INTEGRATIONS]
    if spec is None or spec.integration not in registry:
        return
    integration = registry.get(spec.integration)
    if name in integration.secret_vars and not secret:
        raise ApiError(
            400,
            f"var {name!r} of {integration.name} connections is a secret: "
            f"give its value on stdin, not with --value",
        )
    integration.check_vars({name: value}, complete=False)
