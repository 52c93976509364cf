"""A small blocking client for the Pawflow HTTP API (stdlib only, for a fast start-up)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ServerError

__all__ = ["ApiClient", "EventStream", "Progress", "ServerEvent", "ServerUnavailable"]

_Params = Mapping[str, str | int | None]
Progress = Callable[[int, int], None]
"""Told (bytes sent, bytes in all) as a request body goes out."""
_CHUNK = 64 * 1024
_AWAY = frozenset({502, 503, 504})


class ServerUnavailable(ServerError):
    """The server cannot be reached (refused, unresolvable, cut off, too slow)
    or a proxy in front of it answers that it is away (502, 503, 504), as
    opposed to an answer that is wrong: trying again may help."""

    def __init__(self, message: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.reason = reason
        """What went wrong, in a few words ("connection refused")."""


class ApiClient:
    """Talks to one Pawflow server with a bearer token. Every failure is a ServerError."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        # Straight to the server, like the event stream (http.client) does: an
        # http_proxy meant for the internet must not capture 127.0.0.1.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(self, path: str, params: _Params | None = None) -> Any:
        """GET a JSON document."""
        return self._json(self._request("GET", path, params))

    def post(
        self,
        path: str,
        body: bytes,
        content_type: str,
        *,
        timeout: float | None = None,
        progress: Progress | None = None,
    ) -> Any:
        """POST ``body`` and return the JSON answer; ``progress(sent, total)`` is
        called as the body goes out, when given."""
        request = self._request("POST", path, None, body, content_type)
        if progress is not None:
            # An iterable body is sent chunk by chunk; its length must be told.
            request.data = _chunks(body, progress)
            request.add_header("Content-Length", str(len(body)))
        return self._json(request, timeout)

    def delete(
        self, path: str, params: _Params | None = None, *, timeout: float | None = None
    ) -> Any:
        """DELETE and return the JSON answer."""
        return self._json(self._request("DELETE", path, params), timeout)

    def stream(self, path: str, params: _Params | None = None) -> EventStream:
        """Open a server-sent-events stream (raises ServerError for an error status)."""
        url = urllib.parse.urlsplit(self._url(path, params))
        conn_type = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_type(url.netloc, timeout=self._timeout)
        target = url.path + (f"?{url.query}" if url.query else "")
        try:
            conn.request("GET", target, headers={**self._headers(), "Accept": "text/event-stream"})
            sock = conn.sock
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            raise self._unreachable(err) from None
        if response.status != 200:
            body = response.read()
            conn.close()
            raise _error_from_status(response.status, body)
        assert sock is not None
        return EventStream(conn, response, sock)

    def _url(self, path: str, params: _Params | None) -> str:
        url = self.base_url + path
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return url

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "User-Agent": "paw"}

    def _request(
        self,
        method: str,
        path: str,
        params: _Params | None,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> urllib.request.Request:
        headers = self._headers()
        if content_type is not None:
            headers["Content-Type"] = content_type
        return urllib.request.Request(
            self._url(path, params), data=body, headers=headers, method=method
        )

    def get_bytes(self, path: str) -> bytes:
        """GET a document as it is (a deployment's code)."""
        return self._body(self._request("GET", path, None))

    def _body(self, request: urllib.request.Request, timeout: float | None = None) -> bytes:
        try:
            with self._opener.open(request, timeout=timeout or self._timeout) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as err:
            with err:
                raise _error_from_status(err.code, err.read()) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            raise self._unreachable(reason) from None

    def _json(self, request: urllib.request.Request, timeout: float | None = None) -> Any:
        body = self._body(request, timeout)
        try:
            return json.loads(body)
        except ValueError:
            raise ServerError(
                f"the server at {self.base_url} answered with something that is not JSON"
            ) from None

    def _unreachable(self, reason: object) -> ServerError:
        # A certificate or protocol mismatch stays until someone fixes it; a
        # handshake cut short (EOF) is the network's doing.
        if isinstance(reason, ssl.SSLError) and not isinstance(reason, ssl.SSLEOFError):
            return ServerError(f"TLS with the Pawflow server at {self.base_url} failed: {reason}")
        if isinstance(reason, TimeoutError | socket.timeout):
            return ServerUnavailable(
                f"the Pawflow server at {self.base_url} did not answer in time "
                f"(waited {self._timeout:.0f} s)",
                f"no answer in {self._timeout:.0f} s",
            )
        # An OSError's own words ("Connection refused"), without its errno.
        words = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        return ServerUnavailable(
            f"cannot reach the Pawflow server at {self.base_url} (is 'paw up' running?)",
            words[:1].lower() + words[1:],
        )


@dataclass(frozen=True)
class ServerEvent:
    """One server-sent event: its name, its data and its ``id`` field (None if absent)."""

    name: str
    data: str
    id: str | None = None


class EventStream:
    """An open ``text/event-stream`` response, read one event at a time."""

    def __init__(
        self,
        conn: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        sock: socket.socket,
    ) -> None:
        self._conn = conn
        self._response = response
        self._sock = sock

    def next_event(self, timeout: float) -> ServerEvent | None:
        """The next event; None when the server ended the response.

        Raises TimeoutError when no byte arrived for ``timeout`` seconds, OSError
        or HTTPException when the connection broke.
        """
        name = "message"
        data: list[str] = []
        event_id: str | None = None
        while True:
            # Set per line so a deadline holds even while keep-alive comments arrive.
            self._sock.settimeout(max(timeout, 0.001))
            raw = self._response.readline()
            if not raw:
                return None
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                if data:
                    return ServerEvent(name, "\n".join(data), event_id)
                name, event_id = "message", None
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value

    def close(self) -> None:
        """Close the connection."""
        self._response.close()
        self._conn.close()

    def abort(self) -> None:
        """Make a read blocked in another thread return at once, as if the
        server had closed the stream (closing alone does not wake it)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


def _chunks(body: bytes, progress: Progress) -> Iterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(body), _CHUNK):
        chunk = view[start : start + _CHUNK]
        yield bytes(chunk)
        progress(start + len(chunk), len(body))


def _error_from_status(status: int, body: bytes) -> ServerError:
    if status in _AWAY:
        away = ServerError.from_reply(status, body)
        return ServerUnavailable(str(away), str(away), status=status)
    if status == 401:
        return ServerError(
            "the server rejected the API token: set PAWFLOW_TOKEN to the token in the "
            "server's data dir (the file 'token' there), or pass --data-dir",
            status=status,
        )
    return ServerError.from_reply(status, body)
