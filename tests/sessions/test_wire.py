"""The runner ↔ worker messages: nothing a runner sends is trusted or unpickled."""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection

import pytest

from pawflow.sessions._protocol import Request
from pawflow.sessions._seal import OutcomeSeal, TamperedOutcome
from pawflow.sessions._wire import (
    MAX_FRAME,
    BadMessage,
    decode_request,
    encode_request,
    read,
    write,
)


class _Boom:
    def __reduce__(self) -> tuple[object, ...]:
        return (exec, ("raise SystemExit('unpickled!')",))


@pytest.fixture
def pipe() -> Iterator[tuple[Connection, Connection]]:
    a, b = multiprocessing.Pipe(duplex=True)
    yield a, b
    a.close()
    b.close()


def test_messages_round_trip_with_their_outcome_bytes(pipe: tuple[Connection, Connection]) -> None:
    runner, worker = pipe
    request = Request("call", number=3, function="requests.get", args=["'x'"], budget=5.0)
    write(runner, "request", encode_request(request))
    write(runner, "outcome", 1, 2.5, {"result": 1}, blob=b"\x80\x05raw")
    kind, raw = read(worker)
    assert (kind, decode_request(raw)) == ("request", request)
    assert read(worker) == ("outcome", 1, 2.5, {"result": 1}, b"\x80\x05raw")


def test_a_pickle_from_a_runner_is_refused_not_loaded(pipe: tuple[Connection, Connection]) -> None:
    runner, worker = pipe
    runner.send_bytes(pickle.dumps(("request", _Boom())))
    with pytest.raises(BadMessage, match="not JSON"):
        read(worker)


def test_an_oversized_frame_is_refused(pipe: tuple[Connection, Connection]) -> None:
    runner, worker = pipe

    # From a thread: the pipe holds less than the frame, and nobody reads it whole.
    def send() -> None:
        # The reader hangs up on it: the write then fails, as it should.
        with contextlib.suppress(OSError, TypeError, ValueError):
            runner.send_bytes(b"[" + b" " * MAX_FRAME + b"]")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    with pytest.raises(BadMessage, match="larger than"):
        read(worker)
    worker.close()
    sender.join(10)


def test_lone_surrogates_arrive_as_replacement_characters(
    pipe: tuple[Connection, Connection],
) -> None:
    runner, worker = pipe
    write(runner, "print", "bad \ud83d decode")
    assert read(worker) == ("print", "bad \ufffd decode")


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "exec"},
        {"kind": "call", "number": -1},
        {"kind": "call", "number": True},
        {"kind": "call", "args": [1]},
        {"kind": "sleep", "key": "forever"},
        {"kind": "sleep", "key": float("nan")},
        {"kind": "next_event", "key": []},
        {"kind": "next_event", "key": ["a", 1]},
        {"kind": "next_signal", "key": "go"},
        {"kind": "call", "timeout": -5},
        "a string",
    ],
)
def test_a_malformed_request_is_refused(raw: object) -> None:
    with pytest.raises(BadMessage):
        decode_request(raw)


def test_a_sealed_outcome_opens_only_for_its_own_session_and_call() -> None:
    seal = OutcomeSeal(b"k" * 32)
    sealed = seal.seal("ses_a", 1, b"outcome")
    assert seal.open("ses_a", 1, sealed) == b"outcome"
    assert b"outcome" not in sealed
    for session, number in (("ses_b", 1), ("ses_a", 2)):
        with pytest.raises(TamperedOutcome):
            seal.open(session, number, sealed)
    with pytest.raises(TamperedOutcome):
        OutcomeSeal(b"o" * 32).open("ses_a", 1, sealed)
    with pytest.raises(TamperedOutcome, match="not sealed"):
        seal.open("ses_a", 1, pickle.dumps(_Boom()))


def test_a_deeply_nested_message_with_lone_surrogates_is_refused(
    pipe: tuple[Connection, Connection],
) -> None:
    runner, worker = pipe
    nested: object = "\ud83d"
    for _ in range(100):
        nested = [nested]
    write(runner, "print", nested)
    with pytest.raises(BadMessage, match="nested too deeply"):
        read(worker)
