"""``pawflow.textsafe``: text that can always be stored, and printed harmlessly."""

from __future__ import annotations

import json

import pytest

from pawflow.textsafe import clean_json, clean_text, terminal_safe


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("plain ascii", "plain ascii"),
        ("déjà vu 😀", "déjà vu 😀"),
        ("\ud83d", "\ufffd"),
        ("a\ud83db", "a\ufffdb"),
        ("\ude00 low first", "\ufffd low first"),
        ("\ude00\ud83d", "\ufffd\ufffd"),  # the wrong way round: two lone halves
        ("\ud83d\ude00", "😀"),  # a pair split into code units is joined
        ("x\ud83d\ud83d\ude00y", "x\ufffd😀y"),
        ("bad byte \udcff", "bad byte \ufffd"),  # what surrogateescape decoding leaves
        ("", ""),
    ],
)
def test_clean_text_replaces_only_lone_surrogates(given: str, expected: str) -> None:
    cleaned = clean_text(given)
    assert cleaned == expected
    cleaned.encode("utf-8")  # always encodable


def test_clean_text_returns_clean_strings_themselves() -> None:
    text = "no surrogate here: é ☃ 😀" * 100
    assert clean_text(text) is text


def test_clean_json_cleans_keys_and_values_at_every_depth() -> None:
    value = {
        "a\ud800": ["\udfff", {"k": "v\ud83d"}, 1, 2.5, None, True],
        "ok": ("t\ud800",),
        7: "seven",
    }
    cleaned = clean_json(value)
    assert cleaned == {
        "a\ufffd": ["\ufffd", {"k": "v\ufffd"}, 1, 2.5, None, True],
        "ok": ["t\ufffd"],
        7: "seven",
    }
    json.dumps(cleaned, ensure_ascii=False).encode("utf-8")


def test_clean_json_refuses_data_nested_deeper_than_its_bound() -> None:
    deep: list[object] = ["x"]
    for _ in range(30):
        deep = [deep]
    assert clean_json(deep, max_depth=31) == deep
    with pytest.raises(ValueError, match="nested too deeply"):
        clean_json(deep, max_depth=30)
    # Far deeper than the interpreter's recursion limit: refused, not a crash.
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deeply"):
        clean_json(deep)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("plain\ttext\nnext line", "plain\ttext\nnext line"),
        ("\x1b[2J", "\\x1b[2J"),  # clear screen
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # set window title
        ("over\rwrite", "over\\x0dwrite"),
        ("back\x08space\x00nul", "back\\x08space\\x00nul"),
        ("del\x7f", "del\\x7f"),
        ("c1 csi \x9b2J and nel \x85", "c1 csi \\x9b2J and nel \\x85"),
        ("é ☃ 😀 \u00a0", "é ☃ 😀 \u00a0"),  # printable text beyond C1 is left alone
    ],
)
def test_terminal_safe_shows_control_characters_escaped(given: str, expected: str) -> None:
    shown = terminal_safe(given)
    assert shown == expected
    assert not any(c in shown for c in "\x1b\x07\r\x9b\x00\x7f")


def test_terminal_safe_returns_harmless_strings_themselves() -> None:
    text = "nothing to escape\n\tat all"
    assert terminal_safe(text) is text
