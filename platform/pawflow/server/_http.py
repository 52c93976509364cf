"""Small HTTP helpers shared by the route modules: errors, bounded bodies,
parameters, and the session a route is about."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from ..config import listen_url
from ..storage import TERMINAL_SESSION_STATES, SessionRecord, Store
from ._config import ServerConfig

__all__ = [
    "ApiError",
    "base_url",
    "clean_text",
    "find_session",
    "int_param",
    "live_session",
    "read_body",
    "request_headers",
]

_CHUNK = 64 * 1024


class ApiError(Exception):
    """An error reply: the error middleware turns it into ``{"error": message}``."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole request body, or a 413 as soon as it is known to exceed ``limit``.

    Content-Length is checked first; the count while reading covers chunked
    bodies and clients that lie about the length.
    """
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body is larger than the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"request body is larger than the limit of {limit} bytes")
    return bytes(body)


def int_param(request: web.Request, name: str, default: int, *, lo: int, hi: int) -> int:
    """Query parameter ``name`` as an int in [lo, hi]; a bad value is a 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise ApiError(400, f"query parameter {name!r} must be an integer from {lo} to {hi}")
    return value


def base_url(request: web.Request, config: ServerConfig) -> str:
    """The public base URL: the configured one, else this server's host and actual port."""
    if config.public_url:
        return config.public_url.rstrip("/")
    port = config.port
    # The socket the request arrived on knows the real port when port 0 was asked for.
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        port = int(sockname[1])
    return listen_url(config.host, port)


async def find_session(store: Store, session_id: str) -> SessionRecord:
    """The session, or a 404."""
    session = await store.get_session(session_id)
    if session is None:
        raise ApiError(404, f"no session {session_id!r}")
    return session


async def live_session(store: Store, session_id: str) -> SessionRecord:
    """The session, or a 404, or a 409 once it has ended."""
    session = await find_session(store, session_id)
    if session.state in TERMINAL_SESSION_STATES:
        raise ApiError(409, f"session {session_id!r} has ended ({session.state})")
    return session


def request_headers(request: web.Request) -> dict[str, str]:
    """The request's headers by lower-case name, each :func:`clean_text`."""
    out: dict[str, str] = {}
    for name, raw in request.headers.items():
        key, value = clean_text(name).lower(), clean_text(raw)
        # A repeated header means the same as one with the values comma-joined
        # (RFC 9110 5.3).
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def clean_text(text: str) -> str:
    """``text`` in a form the store can encode: aiohttp decodes request bytes that are
    not UTF-8 (in header values, say) to lone surrogates ("surrogateescape"); like an
    undecodable text body, they become U+FFFD. So does NUL (``%00`` in a path),
    which PostgreSQL's text cannot hold."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if text.isascii():
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that surrogateescape did not make
        raw = text.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")
