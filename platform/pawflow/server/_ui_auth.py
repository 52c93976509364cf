"""Who may see the dashboard: one-time login codes, session cookies and CSRF tokens.

The admin token never travels in a URL. ``paw ui`` asks the server, with the
token, for a login code (``POST /api/v1/ui/login-codes``): random, valid for a
minute, good for one login. ``/ui/login?code=...`` trades it for a session
cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` when the public URL is
HTTPS) and a per-session CSRF token that every state-changing request must
carry (``X-CSRF-Token`` header or a ``csrf`` form field).

Codes and sessions live in this server's memory: a restart logs everyone out,
and behind a load balancer with several servers a browser must keep reaching
the server that logged it in (sticky sessions), or log in again.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from ._http import base_url
from ._state import CONFIG

__all__ = [
    "COOKIE_NAME",
    "CSRF_HEADER",
    "UI_SESSION",
    "UI_SESSIONS",
    "UiSession",
    "UiSessions",
    "add_login_code_route",
    "login_url",
    "ui_auth_middleware",
]

COOKIE_NAME = "pawflow_ui"
CSRF_HEADER = "X-CSRF-Token"
UI_PREFIX = "/ui/"
# Pages anyone may reach: the login itself and the static files it needs.
_OPEN_PATHS = ("/ui/login", "/ui/static/")
# JSON and event streams that pages' scripts read: a 401, not a redirect.
_DATA_PREFIX = "/ui/data/"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_PENDING_CODES = 100
_MAX_SESSIONS = 1000


@dataclass(frozen=True)
class UiSession:
    """A browser that logged in: its cookie value, its CSRF token, when it ends."""

    cookie: str = field(repr=False)
    csrf: str = field(repr=False)
    expires: float


@dataclass
class UiSessions:
    """This server's login codes and dashboard sessions (in memory)."""

    code_seconds: float = 60.0
    session_seconds: float = 12 * 3600.0
    _codes: dict[str, float] = field(default_factory=dict)
    _sessions: dict[str, UiSession] = field(default_factory=dict)

    def new_code(self) -> str:
        now = time.time()
        self._codes = {c: t for c, t in self._codes.items() if t > now}
        if len(self._codes) >= _MAX_PENDING_CODES:
            # The oldest goes: codes are asked for by the admin, never in bulk.
            del self._codes[min(self._codes, key=self._codes.__getitem__)]
        code = secrets.token_urlsafe(32)
        self._codes[code] = now + self.code_seconds
        return code

    def redeem(self, code: str) -> UiSession | None:
        """A new session for a valid code (which is then spent), else None."""
        expires = self._codes.pop(code, None) if len(code) < 100 else None
        now = time.time()
        if expires is None or expires <= now:
            return None
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
        if len(self._sessions) >= _MAX_SESSIONS:
            del self._sessions[min(self._sessions, key=lambda k: self._sessions[k].expires)]
        session = UiSession(
            cookie=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            expires=now + self.session_seconds,
        )
        self._sessions[session.cookie] = session
        return session

    def find(self, cookie: str) -> UiSession | None:
        session = self._sessions.get(cookie)
        if session is None or session.expires <= time.time():
            return None
        return session

    def end(self, cookie: str) -> None:
        self._sessions.pop(cookie, None)


UI_SESSIONS = web.AppKey("ui_sessions", UiSessions)
UI_SESSION = web.RequestKey("ui_session", UiSession)


def login_url(base: str, code: str) -> str:
    """The one-time login link for ``code`` on the server at ``base``."""
    return f"{base.rstrip('/')}/ui/login?code={quote(code)}"


def add_login_code_route(app: web.Application) -> None:
    """``POST /api/v1/ui/login-codes`` (admin token, see ``_auth``): a one-time login link."""
    app.router.add_post("/api/v1/ui/login-codes", new_login_code)


async def new_login_code(request: web.Request) -> web.Response:
    code = request.app[UI_SESSIONS].new_code()
    base = base_url(request, request.app[CONFIG])
    return web.json_response(
        {
            "url": login_url(base, code),
            "expires_in": int(request.app[UI_SESSIONS].code_seconds),
        },
        status=201,
    )


def is_https(request: web.Request) -> bool:
    """Whether browsers reach this server over HTTPS (the public URL says so)."""
    public = request.app[CONFIG].public_url
    return request.secure or (public is not None and public.lower().startswith("https://"))


def set_session_cookie(request: web.Request, response: web.StreamResponse, s: UiSession) -> None:
    response.set_cookie(
        COOKIE_NAME,
        s.cookie,
        max_age=int(s.expires - time.time()),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=is_https(request),
    )


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


async def _csrf_given(request: web.Request) -> str:
    header = request.headers.get(CSRF_HEADER, "")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get("csrf", "")
        return value if isinstance(value, str) else ""
    return ""


def _is_open(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in _OPEN_PATHS)


@web.middleware
async def ui_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything under ``/ui/`` but the login needs a dashboard session; pages
    without one redirect to the login page, data answers 401; any request that
    changes something must carry the session's CSRF token (403 otherwise)."""
    path = request.path
    if not path.startswith(UI_PREFIX) or _is_open(path):
        return await handler(request)
    session = request.app[UI_SESSIONS].find(request.cookies.get(COOKIE_NAME, ""))
    if session is None:
        if request.method in _SAFE_METHODS and not path.startswith(_DATA_PREFIX):
            raise web.HTTPSeeOther(f"/ui/login?next={quote(request.rel_url.raw_path_qs)}")
        return web.json_response(
            {"error": "not logged in to the dashboard (run paw ui)"}, status=401
        )
    if request.method not in _SAFE_METHODS and not _same(await _csrf_given(request), session.csrf):
        return web.json_response(
            {"error": "missing or wrong CSRF token (reload the page)"}, status=403
        )
    request[UI_SESSION] = session
    return await handler(request)
