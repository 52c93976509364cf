"""Bearer-token check for everything under ``/api/``."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler

from ._http import ApiError
from ._state import CONFIG

__all__ = ["auth_middleware"]

_PROTECTED_PREFIX = "/api/"


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(_PROTECTED_PREFIX):
        expected = request.app[CONFIG].token
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # compare_digest keeps the time independent of how much of the token matched.
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), expected.encode()
        )
        if not ok:
            raise ApiError(
                401, "missing or wrong API token", headers={"WWW-Authenticate": "Bearer"}
            )
    return await handler(request)
