"""A recorded exception comes back as its own class, even when pickle cannot rebuild it."""

from __future__ import annotations

import threading
from pathlib import Path

from pawflow.errors import ExternalCallError
from pawflow.sessions._outcome import decode_outcome, encode_outcome
from pawflow.sessions._render import user_traceback

SECRETS = {"var TOKEN": "tok-SECRET-42"}


class APIError(Exception):
    pass


class RateLimitError(APIError):
    """Like openai.RateLimitError: its constructor needs keyword-only arguments."""

    def __init__(self, message: str, *, response: dict[str, int], body: object) -> None:
        super().__init__(message)
        self.status_code = response["status"]
        self.body = body


class LockedError(APIError):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code
        self.lock = threading.Lock()  # cannot be pickled


class PickyNew(Exception):
    def __new__(cls, required: str) -> PickyNew:
        return super().__new__(cls, required)

    def __init__(self, required: str) -> None:
        super().__init__(required)
        self.required = required


def _raise_rate_limit() -> None:
    raise RateLimitError("slow down", response={"status": 429}, body={"retry": 3})


def recorded(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as raised:  # as an external call's exception is caught
        _, value, back = decode_outcome(encode_outcome("f", None, raised, SECRETS), SECRETS)
    assert value is None and back is not None
    return back


def test_a_class_whose_constructor_needs_more_comes_back_as_itself() -> None:
    try:
        _raise_rate_limit()
    except RateLimitError as exc:
        _, _, back = decode_outcome(encode_outcome("complete", None, exc))
    assert type(back) is RateLimitError and isinstance(back, APIError)
    assert str(back) == "slow down" and back.args == ("slow down",)
    assert back.status_code == 429 and back.body == {"retry": 3}
    text = back.pawflow_traceback
    assert "in _raise_rate_limit" in text and text.endswith("RateLimitError: slow down")
    assert "pawflow/sessions" not in text  # Pawflow's own frames are left out


def test_an_attribute_that_cannot_be_pickled_is_dropped_the_rest_kept() -> None:
    back = recorded(LockedError("stream broke", 7))
    assert type(back) is LockedError
    assert back.args == ("stream broke",) and back.code == 7
    assert not hasattr(back, "lock")


def test_args_that_cannot_be_pickled_survive_as_their_repr() -> None:
    lock = threading.Lock()
    back = recorded(APIError("no", lock))
    assert type(back) is APIError and back.args == ("no", repr(lock))


def test_a_class_with_its_own_new_is_rebuilt_through_a_base_new() -> None:
    exc = PickyNew("x")
    exc.extra = threading.Lock()  # forces the rebuild without the constructor
    exc.args = ("x", "y")  # and a constructor call that fails
    back = recorded(exc)
    assert type(back) is PickyNew and back.args == ("x", "y") and back.required == "x"


def test_well_behaved_exceptions_are_rebuilt_by_their_constructor() -> None:
    back = recorded(FileNotFoundError(2, "No such file", "/nope"))
    assert type(back) is FileNotFoundError and back.filename == "/nope" and back.errno == 2
    cyclic = KeyError("k")
    cyclic.me = cyclic  # type: ignore[attr-defined]
    back = recorded(cyclic)
    assert back.me is back  # type: ignore[attr-defined]


def test_secrets_in_attributes_are_recorded_as_references() -> None:
    exc = APIError("denied")
    exc.token = "tok-SECRET-42"  # type: ignore[attr-defined]
    data = encode_outcome("f", None, exc, SECRETS)
    assert b"tok-SECRET-42" not in data
    _, _, back = decode_outcome(data, SECRETS)
    assert back.token == "tok-SECRET-42"  # type: ignore[union-attr]


def test_a_class_that_cannot_be_imported_is_an_external_call_error_naming_it() -> None:
    def make() -> Exception:
        class Local(Exception):
            pass

        return Local("gone")

    _, _, back = decode_outcome(encode_outcome("pawflow_dep_d.program.f", None, make()))
    assert isinstance(back, ExternalCallError)
    assert str(back) == (
        "program.f raised tests.sessions.test_recorded_exceptions."
        "test_a_class_that_cannot_be_imported_is_an_external_call_error_naming_it."
        "<locals>.make.<locals>.Local: gone"
    )


def test_an_uncaught_recorded_exception_shows_where_it_was_raised_first(tmp_path: Path) -> None:
    try:
        _raise_rate_limit()
    except RateLimitError as exc:
        _, _, back = decode_outcome(encode_outcome("complete", None, exc))
    assert back is not None
    try:
        raise back
    except RateLimitError as raised:
        text = user_traceback(raised, tmp_path)
    assert text.index("in _raise_rate_limit") < text.index("recorded and raised here")
    assert text.splitlines()[-1] == (
        "tests.sessions.test_recorded_exceptions.RateLimitError: slow down"
    )
