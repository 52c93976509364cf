"""A local fake bank: the external service sessions call in end-to-end tests.

It counts every request it receives per (operation, transaction id), so tests
can assert that a completed external call happened exactly once.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeBank:
    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        # Requests to /hold wait for this (or 30 s): a call that is "still running".
        self.gate = threading.Event()
        # Operations answered 409 (refused for good), e.g. {"deposit"}.
        self.refuse: set[str] = set()
        self.keys: list[tuple[str, str | None]] = []  # (operation, Idempotency-Key header)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def count(self, operation: str) -> int:
        with self._lock:
            return sum(n for (op, _), n in self.calls.items() if op == operation)

    def _record(self, operation: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self.calls[(operation, str(payload.get("transaction_id")))] += 1
            self.requests.append((operation, payload))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bank = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                operation = self.path.strip("/")
                bank._record(operation, payload)
                with bank._lock:
                    bank.keys.append((operation, self.headers.get("Idempotency-Key")))
                if operation == "hold":
                    bank.gate.wait(30)
                refused = operation in bank.refuse
                body = json.dumps({"ok": not refused, "operation": operation}).encode()
                self.send_response(409 if refused else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    @contextmanager
    def running(self) -> Iterator[FakeBank]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(5)
