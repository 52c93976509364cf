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
    Asked,
    BadMessage,
    Execute,
    Outcome,
    Print,
    Result,
    Resume,
    Stop,
    decode_request,
    receive_from_runner,
    receive_from_worker,
    send,
)

pytestmark = pytest.mark.timeout(30)


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
    sent: list[Print | Asked | Outcome] = [
        Print("hello"),
        Asked(request),
        Outcome(1, 2.5, {"result": 1}, b"\x80\x05raw"),
        Outcome(2, 7.0, {"error": "ValueError: x"}, b"", number=4),
    ]
    for message in sent:
        send(runner, message)
    assert [receive_from_runner(worker) for _ in sent] == sent

    answers: list[Execute | Result | Resume | Stop] = [
        Execute(),
        Result(b"\x80\x05raw"),
        Resume({"id": "evt_1"}),
        Stop("stopped by alice"),
    ]
    for answer in answers:
        send(worker, answer)
    assert [receive_from_worker(runner) for _ in answers] == answers


def test_the_frames_are_the_documented_json_arrays(
    pipe: tuple[Connection, Connection],
) -> None:
    runner, worker = pipe
    send(runner, Outcome(1, 2.5, {"result": "1"}, b"raw", number=4))
    send(worker, Result(b"raw"))
    send(worker, Resume(None))
    assert worker.recv_bytes() == b'["outcome",1,2.5,{"result":"1"},4]'
    assert worker.recv_bytes() == b"raw"
    assert runner.recv_bytes() == b'["result"]'
    assert runner.recv_bytes() == b"raw"
    assert runner.recv_bytes() == b'["resume",null]'


def test_a_runner_redacts_the_fields_not_the_kind_nor_the_outcome(
    pipe: tuple[Connection, Connection],
) -> None:
    runner, worker = pipe

    def redact(fields: list[object]) -> list[object]:
        return [str(f).replace("s3cret", "[secret]") for f in fields]

    send(runner, Outcome(1, 2.0, {}, b"s3cret outcome"), redact=redact)
    assert worker.recv_bytes() == b'["outcome","1","2.0","{}"]'
    assert worker.recv_bytes() == b"s3cret outcome"


def test_only_what_a_call_end_record_shows_of_an_outcome_is_kept(
    pipe: tuple[Connection, Connection],
) -> None:
    runner, worker = pipe
    runner.send_bytes(b'["outcome",1,3,{"result":"1","other":"x"}]')
    runner.send_bytes(b"raw")
    assert receive_from_runner(worker) == Outcome(1, 3.0, {"result": "1"}, b"raw")


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b'["print",3]', "a print that is not text"),
        (b'["print"]', "a print that is not text"),
        (b'["print","a","b"]', "a print that is not text"),
        (b'["request"]', "a request that is not an object"),
        (b'["request",{"kind":"exec"}]', "a request of unknown kind 'exec'"),
        (b'["outcome",1,2.0]', "an outcome of the wrong shape"),
        (b'["outcome",1,2.0,{},3,4]', "an outcome of the wrong shape"),
        (b'["outcome","one",2.0,{}]', "an outcome of the wrong shape"),
        (b'["outcome",-1,2.0,{}]', "an outcome of the wrong shape"),
        (b'["outcome",true,2.0,{}]', "an outcome of the wrong shape"),
        (b'["outcome",1,"2",{}]', "an outcome of the wrong shape"),
        (b'["outcome",1,2.0,[]]', "an outcome of the wrong shape"),
        (b'["outcome",1,2.0,{},"4"]', "an outcome of the wrong shape"),
        (b'["outcome",1,2.0,{},4.0]', "an outcome of the wrong shape"),
        (b'["outcome",1,2.0,{},true]', "an outcome of the wrong shape"),
        (b'["execute"]', "a message of unknown kind 'execute'"),
        (b'["' + b"x" * 1000 + b'"]', "a message of unknown kind '" + "x" * 40 + "'"),
        (b"[]", "a message of the wrong shape"),
        (b'{"kind":"print"}', "a message of the wrong shape"),
        (b"[3]", "a message of the wrong shape"),
    ],
)
def test_a_malformed_message_from_a_runner_is_refused(
    pipe: tuple[Connection, Connection], frame: bytes, error: str
) -> None:
    runner, worker = pipe
    runner.send_bytes(frame)
    runner.send_bytes(b"outcome bytes")  # an outcome's second frame
    with pytest.raises(BadMessage) as refused:
        receive_from_runner(worker)
    assert str(refused.value) == error


def test_an_oversized_outcome_is_refused(pipe: tuple[Connection, Connection]) -> None:
    runner, worker = pipe

    def send_outcome() -> None:
        with contextlib.suppress(OSError, TypeError, ValueError):
            send(runner, Outcome(1, 2.0, {}, b"x" * ((8 << 20) + 1)))

    sender = threading.Thread(target=send_outcome, daemon=True)
    sender.start()
    with pytest.raises(BadMessage, match="larger than"):
        receive_from_runner(worker)
    worker.close()
    sender.join(10)


def test_a_pickle_from_a_runner_is_refused_not_loaded(pipe: tuple[Connection, Connection]) -> None:
    runner, worker = pipe
    runner.send_bytes(pickle.dumps(("request", _Boom())))
    with pytest.raises(BadMessage, match="not JSON"):
        receive_from_runner(worker)


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
        receive_from_runner(worker)
    worker.close()
    sender.join(10)


def test_lone_surrogates_arrive_as_replacement_characters(
    pipe: tuple[Connection, Connection],
) -> None:
    runner, worker = pipe
    send(runner, Print("bad \ud83d decode"))
    assert receive_from_runner(worker) == Print("bad \ufffd decode")


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
    send(runner, Print(nested))  # type: ignore[arg-type]  # what a hostile runner may send
    with pytest.raises(BadMessage, match="nested too deeply"):
        receive_from_runner(worker)
