"""Running a recorded session's program again, in this process, from its record.

The program runs as a runner runs it (the same import machinery, the same
calls to the worker), but on this process's main thread and without
confinement, so a debugger can stop in it; a thread stands in for the worker
and answers every request from the session's transcript. Nothing is ever
executed: an external call gets its recorded outcome, a wait its recorded
answer. Where the program asks something the record does not have -- other
code, or a record that ends because the session still runs -- the program is
stopped (``pawflow.SessionStopped``) and the replay says where.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

from . import _wire as wire
from ._driver import _answered_by, _Diverged
from ._protocol import Exchange, Request
from ._runner import RunnerSpec, _Program
from ._serverlink import ServerLink
from ._workflow import call_fields, call_record_types

__all__ = ["Divergence", "ReplayResult", "replay_session"]

Record = dict[str, Any]  # shaped like a session log record (see storage.LogRecord)

# Nothing in a replay may reach a server: a link to a port nobody listens on.
_NOWHERE = "http://127.0.0.1:9"


@dataclass(frozen=True)
class Divergence:
    """Where the program stopped matching its record."""

    index: int  # of the answered request where it happened
    recorded: str
    now: str

    def __str__(self) -> str:
        return (
            f"request #{self.index + 1}: the record has {self.recorded}, the program now asks "
            f"for {self.now}"
        )


@dataclass(frozen=True)
class ReplayResult:
    """How a replay ended: the program's end (None if it was stopped), where it
    diverged from the record (None: nowhere), how many recorded answers it used,
    and whether it ran past the end of an incomplete record."""

    end: Request | None
    divergence: Divergence | None
    answered: int
    past_record: bool = False


def replay_session(
    spec: RunnerSpec,
    exchanges: list[Exchange],
    *,
    complete: bool,
    show: Callable[[Record], None],
    recorded_calls: dict[int, Record] | None = None,
    debug: Callable[[Callable[[], None]], None] | None = None,
) -> ReplayResult:
    """Run ``spec``'s program against ``exchanges`` (outcomes opened: plain
    pickles in base64); ``complete``: the record holds everything the session
    did (it ended). ``show`` gets each print and call as a log record;
    ``recorded_calls`` the ``call_end`` records of the session's log by call
    number (what its calls returned, as the log shows it). ``debug`` runs the
    program (e.g. under pdb) instead of calling it directly."""
    ours, theirs = Pipe()
    answerer = _Answerer(ours, exchanges, complete, show, recorded_calls or {})
    thread = threading.Thread(target=answerer.serve, name="pawflow-replay", daemon=True)
    thread.start()
    link = ServerLink(_NOWHERE, "")
    try:
        program = _Program(theirs, spec, link)
        with _closing(theirs):
            if debug is None:
                program.run()
            else:
                debug(program.run)
    finally:
        link.close()
    thread.join()
    return answerer.result()


@contextmanager
def _closing(conn: Connection) -> Iterator[None]:
    try:
        yield
    finally:
        conn.close()


class _Answerer:
    """Plays the worker's part: answers the program from the record."""

    def __init__(
        self,
        conn: Connection,
        exchanges: list[Exchange],
        complete: bool,
        show: Callable[[Record], None],
        recorded_calls: dict[int, Record],
    ) -> None:
        self._conn = conn
        self._exchanges = exchanges
        self._complete = complete
        self._show = show
        self._recorded = recorded_calls
        self._at = 0
        self._end: Request | None = None
        self._divergence: Divergence | None = None
        self._past_record = False
        self._stopping = False

    def result(self) -> ReplayResult:
        return ReplayResult(self._end, self._divergence, self._at, self._past_record)

    def serve(self) -> None:
        try:
            while True:
                message = wire.receive_from_runner(self._conn)
                if isinstance(message, wire.Print):
                    self._show({"type": "print", "text": message.text})
                elif isinstance(message, wire.Asked):
                    request = message.request
                    if request.ended:
                        self._ended(request)
                        return
                    self._answer(request)
        except (EOFError, OSError):
            return  # the program's side is closed: it ended
        finally:
            self._conn.close()

    def _ended(self, request: Request) -> None:
        if self._stopping:
            return  # the end of a program stopped here says nothing new
        self._end = request
        if self._at < len(self._exchanges):
            self._diverged(self._exchanges[self._at].request, request)
        if request.kind == "finished":
            self._show({"type": "state", "state": "completed", "result": request.result})
        else:
            self._show({"type": "state", "state": "error", "error": request.error})

    def _answer(self, request: Request) -> None:
        if self._stopping:
            self._stop("the replay has stopped")
            return
        if self._at >= len(self._exchanges):
            if self._complete:
                self._diverged(Request("finished"), request)
            else:
                self._past_record = True
                self._stop("the record ends here: the session had got no further")
            return
        try:
            replies = _answered_by(request, self._exchanges, self._at)
        except _Diverged as exc:
            self._diverged(exc.expected, exc.actual)
            return
        asked = request.calls if request.kind == "gather" else [request]
        if replies[0].stop is None:
            for exchange, call in zip(replies, asked, strict=True):
                if (exchange.request.args, exchange.request.kwargs) != (call.args, call.kwargs):
                    self._diverged(exchange.request, call)
                    return
        for exchange, call in zip(replies, asked, strict=False):
            self._give(exchange, call)
        self._at += len(replies)

    def _give(self, exchange: Exchange, asked: Request) -> None:
        if exchange.stop is not None:
            wire.send(self._conn, wire.Stop(exchange.stop))
        elif exchange.request.kind == "call":
            start, ended = call_record_types(asked)
            self._show({"type": start, **call_fields(asked)})
            recorded = self._recorded.get(asked.number, {})
            shown = {k: recorded[k] for k in ("result", "error") if k in recorded}
            end: Record = {"type": ended, "seq": asked.number, "attempt": 0}
            end.update(duration_ms=0.0, note="answered from the record", **shown)
            self._show(end)
            wire.send(self._conn, wire.Result(base64.b64decode(exchange.outcome or "")))
        else:
            wire.send(self._conn, wire.Resume(exchange.value))

    def _diverged(self, recorded: Request, now: Request) -> None:
        if self._divergence is None:
            self._divergence = Divergence(self._at, _described(recorded), _described(now))
        if not now.ended:
            self._stop("the program diverged from its record")

    def _stop(self, reason: str) -> None:
        # The program gets SessionStopped and asks nothing more (``_Program._ask``).
        self._stopping = True
        wire.send(self._conn, wire.Stop(f"replay: {reason}"))


def _described(request: Request) -> str:
    if request.kind == "call":
        arguments = [*request.args, *(f"{k}={v}" for k, v in request.kwargs.items())]
        return f"{request.describe()}({', '.join(arguments)})"
    if request.kind == "gather":
        return "concurrent " + ", ".join(_described(c) for c in request.calls)
    return request.describe()
