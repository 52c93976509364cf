"""The messages between a worker and a session's runner, as framed JSON.

A runner runs a user's program, so everything it sends is hostile until
checked: nothing it sends is unpickled by the worker (which hosts many
sessions). Each message is one frame of JSON -- an array whose first item
names the message -- and, for the messages that carry a recorded outcome, a
second frame with the outcome's raw bytes. The worker validates every field
and bounds every size; a runner that breaks the format is ended.

  runner → worker: ["print", text] | ["request", {Request}] |
                   ["outcome", attempts, ms, {shown}] + outcome bytes |
                   ["outcome", attempts, ms, {shown}, number] + outcome bytes
  worker → runner: ["execute"] | ["result"] + outcome bytes | ["resume", value] |
                   ["stop", reason]

Each message is a frozen dataclass here (:class:`Print`, :class:`Asked`,
:class:`Outcome`; :class:`Execute`, :class:`Result`, :class:`Resume`,
:class:`Stop`): :func:`send` writes one, :func:`receive_from_runner` and
:func:`receive_from_worker` read one, checked.

A "gather" request is answered with one "execute" or "result" per call, in
order (or one "stop"); the runner then runs the calls to execute at once and
sends each one's outcome, with its number, as it completes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, ClassVar, get_args

from ..sdk._durable import MAX_ID_LENGTH, MAX_WAIT_SOURCES
from ..textsafe import clean_json
from ._protocol import Exchange, Request, RequestKind

__all__ = [
    "Asked",
    "BadMessage",
    "Execute",
    "FromRunner",
    "Outcome",
    "Print",
    "Result",
    "Resume",
    "Stop",
    "ToRunner",
    "decode_exchange",
    "decode_request",
    "encode_exchange",
    "encode_request",
    "receive_from_runner",
    "receive_from_worker",
    "send",
]

# A frame from a runner: a print (capped at 64 KiB of text, at most 6 bytes a
# character once escaped), a request with its reprs, or an outcome header. An
# outcome itself is capped where it is recorded (``_outcome``).
MAX_FRAME = 1 << 20
MAX_OUTCOME = 8 << 20
_REQUEST_KINDS = frozenset(get_args(RequestKind))
# The most calls one "gather" runs at once (more wait for the next one).
MAX_GATHER = 100
# A JSON escape of a UTF-16 surrogate: what a lone surrogate is sent as.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class BadMessage(Exception):
    """A message that breaks the format (from a runner: the program's doing)."""


# -- runner → worker ----------------------------------------------------------------------
@dataclass(frozen=True)
class Print:
    """Text the program printed, sent as it is printed."""

    kind: ClassVar[str] = "print"
    text: str


@dataclass(frozen=True)
class Asked:
    """The program's next durable request; it waits for the answer."""

    kind: ClassVar[str] = "request"
    request: Request


@dataclass(frozen=True)
class Outcome:
    """A call the runner executed (after :class:`Execute`), with its retries:
    ``outcome`` is its pickled outcome (to the worker: opaque bytes to seal and
    record), ``shown`` what its call_end record shows (``result`` or ``error``,
    rendered by the runner), ``number`` the call's number for a call of a
    gather (their outcomes come as they complete), else None."""

    kind: ClassVar[str] = "outcome"
    attempts: int
    duration_ms: float
    shown: dict[str, Any]
    outcome: bytes
    number: int | None = None


# -- worker → runner ----------------------------------------------------------------------
@dataclass(frozen=True)
class Execute:
    """Run the call asked for (of a gather: the next one in order)."""

    kind: ClassVar[str] = "execute"


@dataclass(frozen=True)
class Result:
    """The call asked for does not run: this is its recorded outcome."""

    kind: ClassVar[str] = "result"
    outcome: bytes


@dataclass(frozen=True)
class Resume:
    """What a wait produced (an event, a signal, a session's result; None for a sleep)."""

    kind: ClassVar[str] = "resume"
    value: Any


@dataclass(frozen=True)
class Stop:
    """The session is stopped: the request is answered with ``SessionStopped``."""

    kind: ClassVar[str] = "stop"
    reason: str


FromRunner = Print | Asked | Outcome
ToRunner = Execute | Result | Resume | Stop


def send(
    conn: Connection,
    message: FromRunner | ToRunner,
    redact: Callable[[list[Any]], list[Any]] | None = None,
) -> None:
    """Write ``message``; ``redact`` is applied to its JSON fields (a runner cuts
    secrets out of all the text it sends; an outcome's bytes are sealed instead)."""
    fields: list[Any]
    blob: bytes | None = None
    match message:
        case Print(text):
            fields = [text]
        case Asked(request):
            fields = [encode_request(request)]
        case Outcome(attempts, duration_ms, shown, outcome, number):
            fields = [attempts, duration_ms, shown]
            if number is not None:
                fields.append(number)
            blob = outcome
        case Execute():
            fields = []
        case Result(outcome):
            fields, blob = [], outcome
        case Resume(value):
            fields = [value]
        case Stop(reason):
            fields = [reason]
    if redact is not None:
        fields = redact(fields)
    conn.send_bytes(json.dumps([message.kind, *fields], separators=(",", ":")).encode())
    if blob is not None:
        conn.send_bytes(blob)


def receive_from_runner(conn: Connection) -> FromRunner:
    """The runner's next message, every field checked and every size bounded.
    Raises :class:`BadMessage` for anything else, and whatever the connection
    raises when the runner is gone."""
    message = _receive(conn, blob_kinds=("outcome",))
    match message:
        case ["print", str(text)]:
            return Print(text)
        case ["print", *_]:
            raise BadMessage("a print that is not text")
        case ["request", raw]:
            return Asked(decode_request(raw))
        case ["request", *_]:
            raise BadMessage("a request that is not an object")
        case ["outcome", *header, outcome]:
            return _outcome_message(header, outcome)
    raise BadMessage(f"a message of unknown kind {message[0][:40]!r}")


def receive_from_worker(conn: Connection) -> ToRunner:
    """The worker's next message (the worker is trusted: checked for shape only)."""
    message = _receive(conn, blob_kinds=("result",))
    match message:
        case ["execute"]:
            return Execute()
        case ["result", outcome]:
            return Result(outcome)
        case ["resume", value]:
            return Resume(value)
        case ["stop", str(reason)]:
            return Stop(reason)
    raise BadMessage(f"a {message[0][:40]!r} message of the wrong shape")


def _receive(conn: Connection, blob_kinds: tuple[str, ...]) -> list[Any]:
    """One message as a list, its outcome's bytes last (for ``blob_kinds``)."""
    frame = _frame(conn, MAX_FRAME)
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError):
        raise BadMessage("a message that is not JSON") from None
    if not isinstance(message, list) or not message or not isinstance(message[0], str):
        raise BadMessage("a message of the wrong shape")
    if _SURROGATE_ESCAPE.search(frame):
        # Lone surrogates (a print of badly decoded text) become U+FFFD:
        # nothing after the runner could encode them.
        try:
            message = clean_json(message)
        except ValueError:
            raise BadMessage("a message nested too deeply") from None
    if message[0] in blob_kinds:
        message.append(_frame(conn, MAX_OUTCOME))
    return message


def _outcome_message(header: list[Any], outcome: bytes) -> Outcome:
    """An outcome from its header: (attempts, ms, shown) and, of a gather's call, its number."""
    if len(header) in (3, 4):
        attempts, duration, shown, *number = header
        if (
            type(attempts) is int
            and attempts >= 0
            and type(duration) in (int, float)
            and isinstance(shown, dict)
            and all(type(n) is int for n in number)
        ):
            # Only what a call_end record shows: the program picks nothing else.
            kept = {k: shown[k] for k in ("result", "error") if k in shown}
            return Outcome(attempts, float(duration), kept, outcome, *number)
    raise BadMessage("an outcome of the wrong shape")


def _frame(conn: Connection, limit: int) -> bytes:
    try:
        return conn.recv_bytes(limit)
    except OSError as exc:
        if "too long" in str(exc) or "bad message length" in str(exc):
            raise BadMessage(f"a message larger than {limit} bytes") from None
        raise


def _text(raw: dict[str, Any], name: str, limit: int) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str):
        raise BadMessage(f"a request whose {name} is not text")
    return value[:limit]


def _seconds(raw: dict[str, Any], name: str) -> float | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadMessage(f"a request whose {name} is not a number of seconds")
    if value < 0:
        raise BadMessage(f"a request whose {name} is negative")
    return float(value)


def decode_request(raw: Any) -> Request:
    """A :class:`Request` from its JSON form, every field checked."""
    if not isinstance(raw, dict):
        raise BadMessage("a request that is not an object")
    kind = raw.get("kind")
    if kind not in _REQUEST_KINDS:
        raise BadMessage(f"a request of unknown kind {str(kind)[:40]!r}")
    number = raw.get("number", 0)
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < 1 << 53:
        raise BadMessage("a request whose number is not a call number")
    args = raw.get("args", [])
    kwargs = raw.get("kwargs", {})
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise BadMessage("a request whose args are not a list of text")
    if not isinstance(kwargs, dict) or not all(isinstance(v, str) for v in kwargs.values()):
        raise BadMessage("a request whose kwargs are not text by name")
    calls = _calls(kind, number, raw.get("calls"))
    return Request(
        kind,  # type: ignore[arg-type]  # checked against RequestKind above
        number=number,
        function=_text(raw, "function", 1000),
        args=[a[:1000] for a in args[:200]],
        kwargs={k[:200]: v[:1000] for k, v in list(kwargs.items())[:200]},
        timeout=_seconds(raw, "timeout"),
        budget=_seconds(raw, "budget"),
        key=_key(kind, raw.get("key")),
        result=raw.get("result"),
        error=_text(raw, "error", 256 * 1024),
        message=_text(raw, "message", 4096),
        calls=calls,
        compensation=_flag(raw, "compensation"),
    )


def _flag(raw: dict[str, Any], name: str) -> bool:
    # Absent in what older runners sent and older transcripts hold: false.
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise BadMessage(f"a request whose {name} is not true or false")
    return value


def _calls(kind: Any, number: int, raw: Any) -> list[Request]:
    """A gather's calls: two or more, numbered on from ``number``."""
    if kind != "gather":
        if raw:
            raise BadMessage(f"a {kind} request with calls")
        return []
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_GATHER:
        raise BadMessage(f"a gather request without 2 to {MAX_GATHER} calls")
    calls = [decode_request(c) for c in raw]
    for offset, call in enumerate(calls):
        if call.kind != "call" or call.number != number + offset or number == 0:
            raise BadMessage("a gather request whose calls are not numbered in order")
    return calls


def _key(kind: Any, key: Any) -> Any:
    """What a wait waits for, in the type the workflow uses it as."""
    if kind == "sleep":
        if isinstance(key, bool) or not isinstance(key, int | float) or not math.isfinite(key):
            raise BadMessage("a sleep whose length is not a number")
        return float(key)
    if kind == "next_event" and isinstance(key, list):  # several subscriptions at once
        if not 0 < len(key) <= MAX_WAIT_SOURCES or not all(
            isinstance(k, str) and len(k) <= MAX_ID_LENGTH for k in key
        ):
            raise BadMessage("a next_event request whose subscriptions are not a list of ids")
        return key
    if kind in ("next_event", "result"):
        if not isinstance(key, str) or len(key) > MAX_ID_LENGTH:
            raise BadMessage(f"a {kind} request without an id")
        return key
    if kind == "next_signal":
        if not isinstance(key, list) or not all(isinstance(k, str) for k in key) or len(key) > 100:
            raise BadMessage("a next_signal request whose names are not a list of text")
        return key
    return None


def encode_request(request: Request) -> dict[str, Any]:
    """The JSON form of ``request`` (the inverse of :func:`decode_request`)."""
    out: dict[str, Any] = {"kind": request.kind}
    for name in ("number", "function", "args", "kwargs", "timeout", "budget", "key"):
        out[name] = getattr(request, name)
    for name in ("result", "error", "message"):
        value = getattr(request, name)
        if value:
            out[name] = value
    if request.calls:
        out["calls"] = [encode_request(c) for c in request.calls]
    if request.compensation:
        out["compensation"] = True
    return out


def encode_exchange(exchange: Exchange) -> dict[str, Any]:
    """The JSON form of an answered request (as the server keeps transcripts)."""
    return {
        "request": encode_request(exchange.request),
        "outcome": exchange.outcome,
        "value": exchange.value,
        "stop": exchange.stop,
    }


def decode_exchange(raw: Any) -> Exchange:
    if not isinstance(raw, dict):
        raise BadMessage("a transcript entry that is not an object")
    outcome, stop = raw.get("outcome"), raw.get("stop")
    if not isinstance(outcome, str | None) or not isinstance(stop, str | None):
        raise BadMessage("a transcript entry of the wrong shape")
    return Exchange(decode_request(raw.get("request")), outcome, raw.get("value"), stop)
