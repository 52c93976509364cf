"""Connections: listing, credential tests, deploy checks, and their vars for sessions.

Routes (token required):

- ``GET  /api/v1/integrations``: the installed integrations and their vars.
- ``GET  /api/v1/connections[?project=P]``: connections of active deployments,
  with webhook URLs and the required vars still missing (values of secrets never).
- ``POST /api/v1/projects/{project}/connections/{name}/test``: check the
  credentials against the service (``{"ok": bool, "message": str}``).
- ``GET  /api/v1/sessions/{id}/connections/{name}``: the connection's vars with
  secrets decrypted, for the session's own code (``pawflow.connection``).

A connection's vars are, from lowest to highest precedence: the integration's
defaults, the manifest's ``vars``, then those set with ``paw var set``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web

from ..errors import ManifestError, NotFoundError, PawflowError
from ..integrations import ConnectionTestFailed, Integration, IntegrationRegistry, InvalidVars
from ..manifest import Connection, Manifest
from ..secrets import SecretBox
from ..storage import Store
from ._http import ApiError, base_url, live_session
from ._keys import INTEGRATIONS, SECRETS, WEBHOOK_PREFIX, SecretKeeper
from ._paging import after_page, paging
from ._state import CONFIG, STORE
from ._vars import add_var_routes, check_name, stored_values

__all__ = [
    "check_connections",
    "connection_missing",
    "connection_values",
    "deployed_connections",
    "install_integrations",
]

log = logging.getLogger(__name__)

_TEST_TIMEOUT = 30.0


def install_integrations(
    app: web.Application,
    integrations: IntegrationRegistry | None = None,
    *,
    secret_box: SecretBox | None = None,
) -> None:
    """Give ``app`` its integrations (default: the installed plugins) and register
    the var and connection API routes."""
    app[INTEGRATIONS] = integrations if integrations is not None else IntegrationRegistry.discover()
    app[SECRETS] = SecretKeeper(app[CONFIG].data_dir, secret_box, key=app[CONFIG].secret_key)
    add_var_routes(app)
    app.router.add_get("/api/v1/integrations", list_integrations)
    app.router.add_get("/api/v1/connections", list_connections)
    app.router.add_post("/api/v1/projects/{project}/connections/{name}/test", test_connection)
    app.router.add_get("/api/v1/sessions/{id}/connections/{name}", session_connection)


# -- values ------------------------------------------------------------------------


async def connection_values(
    store: Store, keeper: SecretKeeper, project: str, spec: Connection, integration: Integration
) -> dict[str, str]:
    """Defaults, then manifest vars, then stored vars (secrets decrypted)."""
    stored = await stored_values(store, keeper, project, spec.name)
    return {**integration.defaults(), **{v.name: v.value for v in spec.vars}, **stored}


def connection_missing(integration: Integration, values: dict[str, str]) -> list[str]:
    """Required vars without a value."""
    required = integration.vars_schema.get("required", ())
    return [name for name in required if not values.get(name)]


def _set_hint(project: str, connection: str, name: str) -> str:
    return f"paw var set --project {project} --connection {connection} {name}"


# -- deploy ------------------------------------------------------------------------


def check_connections(manifest: Manifest, registry: IntegrationRegistry, path: Path) -> None:
    """Raise ManifestError (with the line in ``path``, the manifest file) unless
    every connection names an installed integration and its manifest vars fit
    that integration's schema. Secret vars do not belong in the manifest."""
    for index, spec in enumerate(manifest.project.connections):
        base: tuple[str | int, ...] = ("project", "connections", index)
        try:
            integration = registry.get(spec.integration)
        except NotFoundError as err:
            _fail(manifest, path, (*base, "integration"), str(err))
        values = {v.name: v.value for v in spec.vars}
        for name in sorted(set(values) & integration.secret_vars):
            _fail(
                manifest,
                path,
                (*base, "vars", name),
                f"{name!r} is a secret: do not put it in the manifest; set it with "
                f"'{_set_hint(manifest.project.name, spec.name, name)}' (value on stdin)",
            )
        try:
            integration.check_vars(values, complete=False)
        except InvalidVars as err:
            key = (*base, "vars", err.var) if err.var and err.var in values else (*base, "vars")
            _fail(manifest, path, key, str(err))
    for index, trigger in enumerate(manifest.project.triggers):
        source = manifest.project.connection(trigger.connection or "")
        if source is not None and registry.get(source.integration).webhook is None:
            _fail(
                manifest,
                path,
                ("project", "triggers", index, "connection"),
                f"connection {source.name!r} ({source.integration}) receives no events",
            )


def _fail(manifest: Manifest, path: Path, key: tuple[str | int, ...], message: str) -> NoReturn:
    from ..manifest._yaml import format_key, parse_yaml

    line: int | None = None
    try:
        _, spots = parse_yaml(path.read_text(encoding="utf-8-sig"), file=manifest.source)
        line = spots.line(key)
    except (OSError, PawflowError):
        pass
    raise ManifestError(message, file=manifest.source, line=line, key=format_key(key))


async def deployed_connections(
    request: web.Request, project: str, manifest: Manifest
) -> dict[str, dict[str, Any]]:
    """``{NAME: {"integration": ..., "webhook_url": URL-or-null}}`` for a deploy
    reply; makes the webhook slugs on first deploy."""
    registry = request.app[INTEGRATIONS]
    base = base_url(request, request.app[CONFIG])
    out: dict[str, dict[str, Any]] = {}
    for spec in manifest.project.connections:
        url = None
        if spec.integration in registry and registry.get(spec.integration).webhook is not None:
            hook = await request.app[STORE].ensure_connection_webhook(project, spec.name)
            url = f"{base}{WEBHOOK_PREFIX}{hook.slug}"
        out[spec.name] = {"integration": spec.integration, "webhook_url": url}
    return out


# -- routes ------------------------------------------------------------------------


async def list_integrations(request: web.Request) -> web.Response:
    items = []
    for integration in request.app[INTEGRATIONS]:
        props = integration.vars_schema.get("properties", {})
        required = set(integration.vars_schema.get("required", ()))
        items.append(
            {
                "name": integration.name,
                "description": integration.description,
                "webhooks": integration.webhook is not None,
                "vars": [
                    {
                        "name": name,
                        "secret": name in integration.secret_vars,
                        "required": name in required,
                        "default": spec.get("default"),
                        "description": spec.get("description"),
                    }
                    for name, spec in props.items()
                ],
            }
        )
    limit, after = paging(request, "after")
    shown, more, next_after = after_page(items, lambda i: (str(i["name"]),), limit, after)
    return web.json_response(
        {
            "integrations": shown,
            "problems": list(request.app[INTEGRATIONS].problems),
            "more": more,
            "next_after": next_after,
        }
    )


async def list_connections(request: web.Request) -> web.Response:
    store = request.app[STORE]
    registry = request.app[INTEGRATIONS]
    wanted = request.query.get("project") or None
    projects = [wanted] if wanted else [p.name for p in await store.list_projects()]
    items: list[dict[str, Any]] = []
    for project in projects:
        deployment = await store.active_deployment(project)
        if deployment is None:
            continue
        manifest = Manifest.from_dict(deployment.manifest)
        urls = await deployed_connections(request, project, manifest)
        for spec in manifest.project.connections:
            item: dict[str, Any] = {
                "project": project,
                "name": spec.name,
                "integration": spec.integration,
                "webhook_url": urls[spec.name]["webhook_url"],
                "installed": spec.integration in registry,
                "vars": {},
                "missing": [],
            }
            if spec.integration in registry:
                integration = registry.get(spec.integration)
                values = await connection_values(
                    store, request.app[SECRETS], project, spec, integration
                )
                secret = integration.secret_vars
                item["vars"] = {k: (None if k in secret else v) for k, v in values.items()}
                item["missing"] = connection_missing(integration, values)
            items.append(item)
    limit, after = paging(request, "after")
    shown, more, next_after = after_page(
        items, lambda i: (str(i["project"]), str(i["name"])), limit, after
    )
    return web.json_response({"connections": shown, "more": more, "next_after": next_after})


async def _deployed_spec(
    request: web.Request, project: str, name: str, deployment_id: str | None = None
) -> tuple[Connection, Integration]:
    store = request.app[STORE]
    if deployment_id is None:
        deployment = await store.active_deployment(project)
        where = f"the active deployment of project {project!r}"
    else:
        deployment = await store.get_deployment(deployment_id)
        # A session asks: named as its program knows it, by the project.
        where = f"the manifest of project {project!r}"
    spec = (
        None
        if deployment is None
        else Manifest.from_dict(deployment.manifest).project.connection(name)
    )
    if spec is None:
        raise ApiError(404, f"no connection {name!r} in {where}")
    registry = request.app[INTEGRATIONS]
    if spec.integration not in registry:
        raise ApiError(
            503, f"connection {name!r}: integration {spec.integration!r} is not installed here"
        )
    return spec, registry.get(spec.integration)


async def test_connection(request: web.Request) -> web.Response:
    project = check_name("project", request.match_info["project"])
    name = check_name("connection", request.match_info["name"])
    spec, integration = await _deployed_spec(request, project, name)
    values = await connection_values(
        request.app[STORE], request.app[SECRETS], project, spec, integration
    )
    missing = connection_missing(integration, values)
    if missing:
        return _test_reply(
            False, f"var {missing[0]!r} is not set: {_set_hint(project, name, missing[0])}"
        )
    if integration.test is None:
        return _test_reply(True, f"{integration.name} connections have no credential test")
    try:
        message = await asyncio.wait_for(asyncio.to_thread(integration.test, values), _TEST_TIMEOUT)
    except (ConnectionTestFailed, InvalidVars) as err:
        return _test_reply(False, str(err))
    except TimeoutError:
        return _test_reply(False, f"no answer within {_TEST_TIMEOUT:g} s")
    except Exception as err:  # a plugin's check may fail in any way
        log.warning("credential test of %s/%s failed: %s", project, name, type(err).__name__)
        return _test_reply(False, f"the check failed: {type(err).__name__}")
    return _test_reply(True, message)


def _test_reply(ok: bool, message: str) -> web.Response:
    return web.json_response({"ok": ok, "message": message})


async def session_connection(request: web.Request) -> web.Response:
    session_id = request.match_info["id"]
    name = request.match_info["name"]
    session = await live_session(request.app[STORE], session_id)
    spec, integration = await _deployed_spec(request, session.project, name, session.deployment_id)
    values = await connection_values(
        request.app[STORE], request.app[SECRETS], session.project, spec, integration
    )
    missing = connection_missing(integration, values)
    if missing:
        raise ApiError(
            400,
            f"connection {name!r} has no {missing[0]!r}: "
            f"set it with '{_set_hint(session.project, name, missing[0])}'",
        )
    log.debug("session %s read the vars of connection %s", session_id, name)
    return web.json_response({"name": name, "integration": integration.name, "vars": values})
