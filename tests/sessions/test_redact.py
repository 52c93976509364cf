"""Secrets are cut out of every text a runner sends, wherever they appear inside."""

from __future__ import annotations

from pawflow.sessions._redact import Redactor


def test_a_secret_is_redacted_inside_text_and_reprs() -> None:
    secrets = {"var API_KEY": "tok-123456"}
    redact = Redactor(secrets)
    assert redact.text("Authorization: Bearer tok-123456!") == (
        "Authorization: Bearer [secret var API_KEY]!"
    )
    assert "tok-123456" not in redact.text(repr(b"header=tok-123456"))
    assert redact.data({"args": ["'tok-123456'", 3], "k": ("x tok-123456",)}) == {
        "args": ["'[secret var API_KEY]'", 3],
        "k": ["x [secret var API_KEY]"],
    }


def test_secrets_loaded_later_and_escaped_forms_are_redacted() -> None:
    secrets: dict[str, str] = {}
    redact = Redactor(secrets)
    assert redact.text("nothing yet") == "nothing yet"
    secrets["connection gh: token"] = 'quo"te\\slash'
    assert redact.text(repr('a quo"te\\slash b')) == "'a [secret connection gh: token] b'"
    secrets["connection gh: token"] = "rotated-value"
    assert redact.text("rotated-value") == "[secret connection gh: token]"


def test_short_values_are_not_treated_as_secrets() -> None:
    assert Redactor({"var PIN": "123"}).text("call 123") == "call 123"
