"""pawflow.saga / compensate / call_key in plain Python (no session): undos run
directly, in reverse, and the errors users see are one clear line. In a
session they are durable calls: see the golden cases saga_* and
tests/faults/test_saga_kills.py."""

from __future__ import annotations

import pytest

import pawflow
from pawflow.sessions._protocol import Request
from pawflow.sessions._wire import BadMessage, decode_request, encode_request


def test_a_failed_saga_undoes_in_reverse_and_reraises() -> None:
    undone: list[str] = []
    with pytest.raises(ValueError, match="boom"), pawflow.saga():
        for step in "abc":
            pawflow.compensate(undone.append, step)
        raise ValueError("boom")
    assert undone == ["c", "b", "a"]


def test_a_successful_inner_saga_hands_its_undos_to_the_outer_one() -> None:
    undone: list[str] = []

    @pawflow.saga()
    def inner(step: str) -> None:
        pawflow.compensate(undone.append, step)

    with pytest.raises(KeyError), pawflow.saga():
        pawflow.compensate(undone.append, "a")
        inner("b")
        with pytest.raises(RuntimeError), pawflow.saga():
            pawflow.compensate(undone.append, "c")
            raise RuntimeError("inner only")
        assert undone == ["c"]
        raise KeyError("outer")
    assert undone == ["c", "b", "a"]


def test_nothing_is_undone_when_the_saga_succeeds() -> None:
    undone: list[str] = []
    with pawflow.saga():
        pawflow.compensate(undone.append, "a")
    assert undone == []


def test_a_failing_undo_names_both_errors_and_what_was_not_undone() -> None:
    undone: list[str] = []

    def stuck(step: str) -> None:
        raise OSError("ledger locked")

    with pytest.raises(pawflow.CompensationFailed) as caught, pawflow.saga():
        pawflow.compensate(undone.append, "a")
        with pawflow.saga():
            pawflow.compensate(stuck, "b")
            pawflow.compensate(undone.append, "c")
            raise ValueError("boom")
    failure = caught.value
    assert str(failure) == (
        "undoing after ValueError: boom: "
        "test_a_failing_undo_names_both_errors_and_what_was_not_undone.<locals>.stuck "
        "failed: OSError: ledger locked"
    )
    assert undone == ["c"]  # the outer saga's undo does not run after a failed one
    assert [c.args for c in failure.undone] == [("c",)]
    assert failure.failed.args == ("b",)
    assert [c.args for c in failure.not_undone] == [("a",)]
    assert isinstance(failure.original, ValueError) and isinstance(failure.error, OSError)


def test_compensate_outside_a_saga_is_a_clear_error() -> None:
    with pytest.raises(pawflow.PawflowError, match=r"only inside `with pawflow.saga\(\):`"):
        pawflow.compensate(print, "x")


def test_an_async_compensation_is_refused() -> None:
    async def undo() -> None:
        pass

    with pytest.raises(pawflow.PawflowError, match="is an async function"), pawflow.saga():
        pawflow.compensate(undo)


def test_call_key_outside_a_call_is_a_clear_error() -> None:
    with pytest.raises(pawflow.PawflowError) as caught:
        pawflow.call_key()
    assert str(caught.value) == (
        "pawflow.call_key() works only inside an external call or an @pawflow.activity function"
    )


def test_the_compensation_flag_travels_and_defaults_to_false() -> None:
    undo = Request("call", number=3, function="program.refund", compensation=True)
    assert decode_request(encode_request(undo)) == undo
    plain = encode_request(Request("call", number=3, function="program.refund"))
    assert "compensation" not in plain  # what older runners sent and transcripts hold
    assert decode_request(plain).compensation is False
    assert not undo.same_as(decode_request(plain))
    with pytest.raises(BadMessage, match="compensation is not true or false"):
        decode_request({**plain, "compensation": "yes"})
