"""How a handler is called, and what modules print while they load."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from pawflow.sessions._capture import module_output
from pawflow.sessions._code import handler_arguments, user_names


def on_plain(event: Any) -> None: ...
def on_session(event: Any, session_id: str) -> None: ...
def on_positional_only(event: Any, session_id: str, /) -> None: ...
def on_keyword(event: Any, *, session_id: str) -> None: ...
def on_later(event: Any, retries: int = 3, session_id: str | None = None) -> None: ...
def on_anything(*args: Any, **kwargs: Any) -> None: ...


def logged(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


def test_the_session_id_goes_to_a_handler_that_asks_for_it() -> None:
    e, s = object(), "ses_1"
    assert handler_arguments(on_plain, e, s) == ((e,), {})
    assert handler_arguments(on_session, e, s) == ((e, s), {})
    assert handler_arguments(on_positional_only, e, s) == ((e, s), {})
    assert handler_arguments(on_keyword, e, s) == ((e,), {"session_id": s})
    assert handler_arguments(on_later, e, s) == ((e,), {"session_id": s})
    assert handler_arguments(on_anything, e, s) == ((e,), {})
    assert handler_arguments(logged(on_session), e, s) == ((e, s), {})
    assert handler_arguments(print, e, s) == ((e,), {})


def test_prints_while_loading_are_handed_on_one_print_at_a_time_in_order() -> None:
    sent: list[str] = []
    before = sys.stdout, sys.stderr
    with module_output(sent.append):
        print("a", "b")
        print("two\nlines", file=sys.stderr)
        with module_output(sent.append):  # a module imported by the loading one
            sys.stdout.write("partial ")
            print("line")
        sys.stdout.write("unfinished")
    assert (sys.stdout, sys.stderr) == before
    assert sent == ["a b", "two\nlines", "partial line", "unfinished"]


def test_user_names_cut_only_the_deployment_namespace() -> None:
    text = "<class 'pawflow_dep_dep_01ab.program.Box'> pawflow_dep_x.pkg.mod.f pawflow.errors"
    assert user_names(text) == "<class 'program.Box'> pkg.mod.f pawflow.errors"
