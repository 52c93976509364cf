"""Ships session log records from the worker to the server.

Workflow code must never block on the network, so records are queued here and
a background thread posts them in batches. Nothing is lost by a crash: every
record has a deterministic identity (session id, record number) and is produced
again when the session is replayed; the server keeps the first copy. Before a
session completes, :meth:`LogShipper.wait_delivered` (run as an activity)
guarantees all its records reached the server.

Nothing is dropped either: while the server is away the shipper retries with
back-off, and emitters wait once too much is queued. A record the server will
not store is replaced by a small one with the same number saying why, so the
session's numbering stays whole and a refused final state still ends it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ServerError
from ..textsafe import clean_json
from ._serverlink import ServerLink

__all__ = ["LogShipper"]

log = logging.getLogger(__name__)

LOG_PATH = "/api/v1/sessions/log"
# The server cuts each record to 64 KiB, so these keep a batch far below its
# 32 MiB request limit.
_BATCH_RECORDS = 200
_BATCH_BYTES = 4 << 20
_QUEUE_BYTES = 64 << 20  # past this, emit() waits for the server to catch up
_MAX_BACKOFF = 2.0
# Refusals of the batch as a whole that another try cannot change.
_RETRYABLE_4XX = frozenset({401, 403, 408, 429})


@dataclass(frozen=True)
class _Item:
    """One encoded record and what a placeholder for it needs."""

    ticket: int
    data: bytes
    head: dict[str, Any]  # session_id, n, time, type (and state) of the record
    placeholder: bool = False


class LogShipper:
    def __init__(self, link: ServerLink, *, queue_bytes: int = _QUEUE_BYTES) -> None:
        self._link = link
        self._queue: deque[_Item] = deque()
        self._queued_bytes = 0
        self._queue_limit = queue_bytes
        self._cond = threading.Condition()
        self._emitted = 0  # number of records ever queued
        self._delivered = 0  # every record numbered below this was delivered
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="pawflow-log-shipper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def emit(self, record: dict[str, Any]) -> int:
        """Queue a record; returns a ticket for :meth:`wait_delivered`.

        Waits while more than the queue's limit is waiting to be delivered (the
        server is away): holding up sessions beats losing their records.
        """
        data, head, placeholder = _encode(record)
        with self._cond:
            self._cond.wait_for(lambda: self._queued_bytes < self._queue_limit or self._closing)
            self._emitted += 1
            self._queue.append(_Item(self._emitted, data, head, placeholder))
            self._queued_bytes += len(data)
            self._cond.notify_all()
            return self._emitted

    def backlog(self) -> int:
        """Records queued and not yet delivered (reported in heartbeats)."""
        with self._cond:
            return self._emitted - self._delivered

    def ticket(self) -> int:
        """A ticket covering everything emitted so far."""
        with self._cond:
            return self._emitted

    def wait_delivered(self, ticket: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._delivered >= ticket, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._ship()
        finally:
            self._link.close()  # this thread's connection

    def _ship(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    return
                batch = self._next_batch()
            if not self._deliver(batch):
                return  # closing while the server is away
            with self._cond:
                for item in batch:
                    self._queue.popleft()
                    self._queued_bytes -= len(item.data)
                self._delivered = batch[-1].ticket
                self._cond.notify_all()

    def _next_batch(self) -> list[_Item]:
        batch: list[_Item] = []
        size = 0
        for item in self._queue:
            if batch and (len(batch) >= _BATCH_RECORDS or size + len(item.data) > _BATCH_BYTES):
                break
            batch.append(item)
            size += len(item.data)
        return batch

    def _deliver(self, batch: list[_Item]) -> bool:
        """Post ``batch`` until the server has answered for every record in it;
        False if the shipper is closing before that."""
        todo = [batch]
        while todo:
            group = todo.pop()
            answer = self._post(group)
            if answer is None:
                return False
            if isinstance(answer, str):  # the group was refused as a whole
                if len(group) > 1:
                    # Halve it until the record that cannot be stored stands alone.
                    half = len(group) // 2
                    todo += [group[half:], group[:half]]
                    continue
                refused = [(group[0], answer)]
            else:
                refused = answer
            replacements = []
            for item, reason in refused:
                if item.placeholder:
                    log.error("session log record %s lost: %s", _name(item), reason)
                else:
                    log.error("session log record %s refused: %s", _name(item), reason)
                    replacements.append(_placeholder(item, reason))
            if replacements:
                todo.append(replacements)
        return True

    def _post(self, group: Sequence[_Item]) -> list[tuple[_Item, str]] | str | None:
        """The server's answer for ``group``: the records it refused with why,
        the reason it refused all of them, or None when closing meanwhile."""
        body = b'{"records":[' + b",".join(item.data for item in group) + b"]}"
        backoff = 0.05
        warned = False
        while True:
            try:
                reply = self._link.request("POST", LOG_PATH, body)
            except ServerError as exc:
                if _refused_whole(exc):
                    return str(exc) or f"HTTP {exc.status}"
                if not warned:
                    log.warning("cannot deliver session logs (will retry): %s", exc)
                    warned = True
                with self._cond:
                    # Back off between tries; close() ends the wait early.
                    if self._cond.wait_for(lambda: self._closing, backoff):
                        return None
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            return _refusals(reply, group)


def _refused_whole(exc: ServerError) -> bool:
    status = exc.status
    return status is not None and 400 <= status < 500 and status not in _RETRYABLE_4XX


def _refusals(reply: bytes, group: Sequence[_Item]) -> list[tuple[_Item, str]]:
    try:
        answer = json.loads(reply)
        refused = answer.get("refused") if isinstance(answer, dict) else None
        if not isinstance(refused, list):
            return []
        return [
            (group[entry["index"]], str(entry.get("error") or "refused"))
            for entry in refused
            if isinstance(entry, dict)
            and isinstance(entry.get("index"), int)
            and 0 <= entry["index"] < len(group)
        ]
    except ValueError:  # a 2xx reply that is not JSON: the records were taken
        return []


def _encode(record: dict[str, Any]) -> tuple[bytes, dict[str, Any], bool]:
    """The record as JSON (text cleaned), its head, and whether it is a placeholder
    already (the record itself could not be encoded)."""
    head = {key: record.get(key) for key in ("session_id", "n", "time", "type", "state")}
    try:
        data = json.dumps(clean_json(record), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        reason = f"cannot be encoded as JSON: {exc}"
        log.error("session log record %s/%s %s", head["session_id"], head["n"], reason)
        data = json.dumps(_placeholder_record(clean_json(head), reason), separators=(",", ":"))
        return data.encode(), head, True
    return data.encode(), head, False


def _placeholder(item: _Item, reason: str) -> _Item:
    record = _placeholder_record(item.head, f"refused by the server: {reason}")
    data = json.dumps(clean_json(record), allow_nan=False, separators=(",", ":"))
    return _Item(item.ticket, data.encode(), item.head, placeholder=True)


def _placeholder_record(head: dict[str, Any], reason: str) -> dict[str, Any]:
    """A small record standing in for one that cannot be stored, with its number."""
    text = f"log record {reason}"
    at = head.get("time")
    record: dict[str, Any] = {
        "session_id": head.get("session_id"),
        "n": head.get("n"),
        "time": at if isinstance(at, int | float) and math.isfinite(at) else time.time(),
    }
    if head.get("type") == "state":
        # A state record moves its session on: lost, the session would run for ever.
        state = head.get("state")
        record.update(type="state", state=state)
        record["error" if state in ("error", "stopped") else "note"] = text
    else:
        record.update(type="print", text=text)
    return record


def _name(item: _Item) -> str:
    return f"{item.head.get('session_id')}/{item.head.get('n')}"
