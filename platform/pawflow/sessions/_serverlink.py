"""The worker's connection to the Pawflow server: deployment code and session logs.

Blocking (``http.client``) on purpose: it is used from the log shipper's
thread and from activity threads, never from an event loop. One persistent
connection per thread.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any

from ..credentials import SESSION_CREDENTIAL_PREFIX
from ..errors import ServerError

__all__ = ["ServerLink"]


class ServerLink:
    def __init__(
        self,
        server_url: str,
        token: str,
        timeout: float = 30.0,
        *,
        name_requests: bool | None = None,
    ) -> None:
        """``name_requests``: whether errors start with the request they answer
        (``GET /api/v1/...: ``). Yes for the worker's own link, where that helps
        whoever runs it; not for a session's (the default with a session
        credential), whose errors reach user code and its log: the SDK names the
        call the user made instead."""
        parsed = urllib.parse.urlsplit(server_url)
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port
        self._base = parsed.path.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        if name_requests is None:
            name_requests = not token.startswith(SESSION_CREDENTIAL_PREFIX)
        self._name_requests = name_requests
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, self._base + path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                # A kept-alive connection the server closed fails once; retry on a new one.
                if attempt == 2:
                    raise ServerError(f"cannot reach the Pawflow server: {exc}") from exc
                continue
            if response.status >= 400:
                context = f"{method} {path}: " if self._name_requests else ""
                raise ServerError.from_reply(response.status, data, context)
            return data
        raise AssertionError("unreachable")

    def get_json(self, path: str) -> Any:
        return json.loads(self.request("GET", path))

    def post_json(self, path: str, payload: Any) -> Any:
        return json.loads(self.request("POST", path, json.dumps(payload).encode()))

    def deployment_code(self, deployment_id: str) -> bytes:
        return self.request("GET", f"/api/v1/deployments/{urllib.parse.quote(deployment_id)}/code")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
