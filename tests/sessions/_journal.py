"""The server's call journal and saved transcripts, in memory, for tests that
drive a :class:`~pawflow.sessions._driver.RunnerDriver` without a server."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from pawflow.sessions._protocol import Exchange


class MemoryJournal:
    """What a ``CallJournal`` keeps, in memory. While ``held`` is clear, outcomes
    handed to :meth:`put_soon` are stored only once it is set (a slow server)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, int], tuple[bytes, dict[str, Any]]] = {}
        self.transcripts: dict[str, list[Exchange]] = {}
        self.held = threading.Event()
        self.held.set()
        self._lock = threading.Lock()

    def get(self, session_id: str, number: int) -> tuple[bytes, dict[str, Any]] | None:
        with self._lock:
            return self.entries.get((session_id, number))

    def put(self, session_id: str, number: int, outcome: bytes, shown: dict[str, Any]) -> None:
        with self._lock:
            self.entries.setdefault((session_id, number), (outcome, shown))

    def put_soon(
        self, session_id: str, number: int, outcome: bytes, shown: dict[str, Any]
    ) -> Future[None]:
        done: Future[None] = Future()

        def store() -> None:
            self.held.wait(20)
            self.put(session_id, number, outcome, shown)
            done.set_result(None)

        if self.held.is_set():
            store()
        else:
            threading.Thread(target=store, daemon=True).start()
        return done

    def save_transcript(self, session_id: str, start: int, exchanges: list[Exchange]) -> None:
        with self._lock:
            kept = self.transcripts.setdefault(session_id, [])
            kept[start:] = exchanges

    def load_transcript(self, session_id: str, count: int) -> list[Exchange]:
        with self._lock:
            return list(self.transcripts.get(session_id, []))[:count]
