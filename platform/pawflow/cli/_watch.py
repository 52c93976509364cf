"""``paw session watch``: follow a session's log live over server-sent events."""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, TextIO

from ..errors import ServerError
from ..textsafe import terminal_safe
from ._client import ApiClient
from ._output import format_record

__all__ = ["EXIT_TIMEOUT", "WatchResult", "watch_session"]

logger = logging.getLogger(__name__)

# As GNU timeout(1): 2 is argparse's usage error.
EXIT_TIMEOUT = 124
# The server sends a keep-alive every 15 s; silence for much longer means a dead link.
_IDLE_TIMEOUT = 40.0
_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class WatchResult:
    """How a watch ended: the final state (None on timeout) and its error text."""

    state: str | None
    error: str | None = None

    @property
    def exit_code(self) -> int:
        """0 completed, 1 error or stopped, 124 gave up waiting."""
        if self.state is None:
            return EXIT_TIMEOUT
        return 0 if self.state == "completed" else 1


class _Deadline(Exception):
    pass


def watch_session(
    client: ApiClient, session_id: str, out: TextIO, *, timeout: float | None = None
) -> WatchResult:
    """Print the session's records as they arrive until it ends or ``timeout`` passes.

    A dropped stream is reopened after the last record seen, a bounded number of
    times in a row; a record is never printed twice.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        return _follow(client, session_id, out, deadline)
    except _Deadline:
        return WatchResult(None)


def _follow(client: ApiClient, session_id: str, out: TextIO, deadline: float | None) -> WatchResult:
    path = f"/api/v1/sessions/{urllib.parse.quote(session_id, safe='')}/log/stream"
    last_seq: int | None = None
    printed_error = False
    failures = 0
    connected_once = False
    while True:
        _check(deadline)
        try:
            stream = client.stream(path, {"after": last_seq})
        except ServerError as err:
            # An error status is an answer, not a broken link; and the first
            # connection failing means there is no server to wait for.
            if err.status is not None or not connected_once:
                raise
            failures = _retry_or_give_up(failures, session_id, deadline, err)
            continue
        connected_once = True
        try:
            while True:
                event = stream.next_event(_wait_time(deadline))
                if event is None:
                    raise ConnectionResetError("the server closed the stream")
                if event.name == "record":
                    record: dict[str, Any] = json.loads(event.data)
                    seq = _position(record, event.id)
                    if last_seq is not None and seq <= last_seq:
                        continue
                    for line in format_record(record):
                        out.write(line + "\n")
                    out.flush()
                    last_seq = seq
                    failures = 0
                    if record.get("type") == "state" and record.get("error"):
                        printed_error = True
                elif event.name == "end":
                    end = json.loads(event.data)
                    state = str(end.get("state"))
                    error = end.get("error")
                    if error and not printed_error:
                        for line in str(error).rstrip("\n").split("\n"):
                            out.write("    " + terminal_safe(line) + "\n")
                        out.flush()
                    return WatchResult(state, error)
        except TimeoutError as err:
            _check(deadline)
            failures = _retry_or_give_up(failures, session_id, deadline, err)
        except (OSError, http.client.HTTPException, ValueError, KeyError) as err:
            failures = _retry_or_give_up(failures, session_id, deadline, err)
        finally:
            stream.close()


def _position(record: dict[str, Any], event_id: str | None) -> int:
    """Where the record sits in the log: the event id the server sent (what
    ``after`` refers to), else the record's number ``n``."""
    if event_id is not None and event_id.strip().lstrip("-").isdigit():
        return int(event_id)
    return int(record["n"])


def _wait_time(deadline: float | None) -> float:
    if deadline is None:
        return _IDLE_TIMEOUT
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _Deadline
    return min(_IDLE_TIMEOUT, remaining)


def _check(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise _Deadline


def _retry_or_give_up(
    failures: int, session_id: str, deadline: float | None, err: BaseException
) -> int:
    if failures >= len(_RETRY_DELAYS):
        raise ServerError(
            f"lost the log stream of session {session_id} and could not reconnect "
            f"({len(_RETRY_DELAYS)} attempts; last problem: {err})"
        )
    delay = _RETRY_DELAYS[failures]
    logger.info("log stream dropped (%s); reconnecting in %.1f s", err, delay)
    if deadline is not None:
        delay = min(delay, max(deadline - time.monotonic(), 0.0))
    time.sleep(delay)
    return failures + 1
