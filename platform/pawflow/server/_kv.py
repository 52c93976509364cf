"""The per-project key-value store over HTTP: ``/api/v1/projects/{project}/store``.

- ``GET .../store?prefix=P&limit=N&after=KEY``: entries in key order (after KEY);
  ``more`` says whether there are more, ``next_after`` where they start.
- ``GET .../store/{key}``, ``PUT .../store/{key}`` with ``{"value": ...}``,
  ``DELETE .../store/{key}``.
- ``POST .../store/{key}`` with ``{"op": "add"|"append"|"merge"|"set_default",
  "operand": ...}`` or ``{"op": "check_and_set", "expected": ..., "new": ...}``:
  atomic operations, each in one store transaction.

Keys may contain ``/``; the key is everything after ``/store/`` (URL-decoded).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..storage import KV_OPS, KVEntry
from ._body import read_json_object
from ._http import ApiError, int_param
from ._json import iso_time
from ._state import STORE

__all__ = ["add_kv_routes", "entry_json"]

_MAX_BODY_BYTES = 2 << 20  # values are at most 1 MiB as JSON; room for the envelope
_DEFAULT_LIMIT = 10_000
_MAX_LIMIT = 100_000
_CHECK_AND_SET = "check_and_set"


def add_kv_routes(app: web.Application) -> None:
    """Register the key-value store routes on ``app``."""
    app.router.add_get("/api/v1/projects/{project}/store", list_entries)
    path = "/api/v1/projects/{project}/store/{key:.+}"
    app.router.add_get(path, get_entry)
    app.router.add_put(path, put_entry)
    app.router.add_delete(path, delete_entry)
    app.router.add_post(path, mutate_entry)


def entry_json(e: KVEntry) -> dict[str, Any]:
    return {"key": e.key, "value": e.value, "updated_at": iso_time(e.updated_at)}


def _target(request: web.Request) -> tuple[str, str]:
    return request.match_info["project"], request.match_info["key"]


async def list_entries(request: web.Request) -> web.Response:
    project = request.match_info["project"]
    prefix = request.query.get("prefix", "")
    limit = int_param(request, "limit", _DEFAULT_LIMIT, lo=1, hi=_MAX_LIMIT)
    after = request.query.get("after") or None
    # One more than asked tells whether there are more.
    entries = await request.app[STORE].kv_list(project, prefix, limit + 1, after)
    shown = entries[:limit]
    more = len(entries) > limit
    return web.json_response(
        {
            "project": project,
            "entries": [entry_json(e) for e in shown],
            "truncated": more,
            "more": more,
            "next_after": shown[-1].key if more and shown else None,
        }
    )


async def get_entry(request: web.Request) -> web.Response:
    project, key = _target(request)
    entry = await request.app[STORE].kv_get(project, key)
    if entry is None:
        raise ApiError(404, f"no key {key!r} in the store of project {project!r}")
    return web.json_response(entry_json(entry))


async def put_entry(request: web.Request) -> web.Response:
    project, key = _target(request)
    payload = await read_json_object(request, _MAX_BODY_BYTES, allowed=frozenset({"value"}))
    if "value" not in payload:
        raise ApiError(400, 'request body must be {"value": <any JSON>}')
    entry = await request.app[STORE].kv_set(project, key, payload["value"])
    return web.json_response(entry_json(entry))


async def delete_entry(request: web.Request) -> web.Response:
    project, key = _target(request)
    if not await request.app[STORE].kv_delete(project, key):
        raise ApiError(404, f"no key {key!r} in the store of project {project!r}")
    return web.json_response({"key": key, "deleted": True})


async def mutate_entry(request: web.Request) -> web.Response:
    project, key = _target(request)
    payload = await read_json_object(
        request, _MAX_BODY_BYTES, allowed=frozenset({"op", "operand", "expected", "new"})
    )
    op = payload.get("op")
    store = request.app[STORE]
    if op == _CHECK_AND_SET:
        if "new" not in payload:
            raise ApiError(400, "check_and_set needs 'new' (and 'expected'; null: key missing)")
        swapped, entry = await store.kv_check_and_set(
            project, key, payload.get("expected"), payload["new"]
        )
        return web.json_response(
            {
                "key": key,
                "swapped": swapped,
                "exists": entry is not None,
                "value": None if entry is None else entry.value,
            }
        )
    if op not in KV_OPS:
        ops = ", ".join((*KV_OPS, _CHECK_AND_SET))
        raise ApiError(400, f"'op' must be one of: {ops}; got {op!r}")
    if op != "add" and "operand" not in payload:
        raise ApiError(400, f"{op!r} needs an 'operand'")
    entry = await store.kv_mutate(project, key, op, payload.get("operand"))
    return web.json_response(entry_json(entry))
