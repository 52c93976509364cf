"""How values, texts and tracebacks appear in session logs."""

from __future__ import annotations

import datetime

from pawflow.sessions._render import clip, loggable, short_repr


def test_long_texts_are_clipped_in_the_middle() -> None:
    text = "a" * 100 + "ValueError: end"
    clipped = clip(text, limit=40)
    assert clipped.startswith("a" * 20) and clipped.endswith("ValueError: end"[-20:])
    assert "(75 characters left out)" in clipped
    assert clip("short", limit=40) == "short"


def test_small_json_data_is_logged_as_itself_and_the_rest_as_repr() -> None:
    assert loggable({"ok": True, "n": [1, 2]}) == {"ok": True, "n": [1, 2]}
    assert loggable(None) is None and loggable(3.5) == 3.5
    moment = datetime.date(2026, 11, 25)
    assert loggable(moment) == "datetime.date(2026, 11, 25)"
    assert loggable(float("nan")) == "nan" and loggable(float("-inf")) == "-inf"
    assert loggable("x" * 5000).endswith("…") and len(loggable("x" * 5000)) == 2001


def test_argument_reprs_are_short_and_never_raise() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert short_repr("http://x") == "'http://x'"
    assert short_repr(Broken()).startswith("<test_argument_reprs_are_short_and_never_raise.")
    assert len(short_repr("y" * 1000)) == 201
