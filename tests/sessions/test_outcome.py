"""Recorded outcomes: pickled once, loadable everywhere, never holding a secret."""

from __future__ import annotations

import pytest
from github import Auth, Github

from pawflow.errors import PawflowError, UnrecordableResult
from pawflow.sessions._outcome import decode_outcome, encode_outcome

SECRETS = {"connection gh: token": "ghp-SECRET-123"}


def test_a_value_round_trips() -> None:
    data = encode_outcome("f", {"a": [1, 2]}, None)
    assert decode_outcome(data) == ("f", {"a": [1, 2]}, None)


def test_an_exception_round_trips() -> None:
    _, value, exc = decode_outcome(encode_outcome("f", None, KeyError("k")))
    assert value is None and isinstance(exc, KeyError) and exc.args == ("k",)


def test_what_cannot_be_recorded_becomes_an_error_naming_function_and_type() -> None:
    _, _, exc = decode_outcome(encode_outcome("make", (i for i in ()), None))
    assert isinstance(exc, UnrecordableResult)
    assert "make returned a builtins.generator" in str(exc)


def test_a_client_holding_a_token_is_recorded_without_it() -> None:
    client = Github(auth=Auth.Token("ghp-SECRET-123"), base_url="http://127.0.0.1:1")
    data = encode_outcome("get_client", client, None, SECRETS)
    assert b"ghp-SECRET-123" not in data
    _, loaded, _ = decode_outcome(data, SECRETS)
    assert loaded._Github__requester._Requester__auth.token == "ghp-SECRET-123"


def test_a_result_needing_a_secret_this_session_has_not_loaded_fails_clearly() -> None:
    data = encode_outcome("f", {"token": "ghp-SECRET-123"}, None, SECRETS)
    with pytest.raises(PawflowError, match="refers to the secret 'connection gh: token'"):
        decode_outcome(data, {})
