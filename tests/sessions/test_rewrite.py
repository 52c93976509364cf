"""The call rewrite: which calls go through the hook, and which are left alone."""

from __future__ import annotations

import ast

from pawflow.sessions._rewrite import CALL_HOOK, rewrite_module


def hooked_calls(source: str) -> list[str]:
    """The source text of every call the rewrite routed through the hook."""
    tree = rewrite_module(source, "program.py")
    return [
        ast.unparse(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == CALL_HOOK
    ]


def test_calls_in_function_bodies_are_hooked() -> None:
    source = "def f(x):\n    return g(h(x), key=k())\n"
    assert sorted(hooked_calls(source)) == ["g", "h", "k"]


def test_module_and_class_level_code_is_not_rewritten() -> None:
    source = (
        "import os\n"
        "CLIENT = make_client(os.getenv('X'))\n"
        "class A:\n"
        "    ITEMS = list(range(3))\n"
        "    def m(self):\n"
        "        return fetch()\n"
    )
    assert hooked_calls(source) == ["fetch"]


def test_decorators_and_defaults_of_top_level_functions_run_at_import() -> None:
    source = "@decorate(1)\ndef f(x=default()):\n    return body()\n"
    assert hooked_calls(source) == ["body"]


def test_nested_functions_and_lambdas_are_rewritten() -> None:
    source = (
        "def outer():\n"
        "    @deco()\n"
        "    def inner(y=dflt()):\n"
        "        return deep()\n"
        "    return lambda: lam()\n"
    )
    assert sorted(hooked_calls(source)) == ["deco", "deep", "dflt", "lam"]


def test_frame_sensitive_builtins_are_left_alone() -> None:
    source = (
        "class B(A):\n"
        "    def m(self):\n"
        "        super().m()\n"
        "        return locals(), vars(), len(x)\n"
    )
    assert hooked_calls(source) == ["super().m", "len"]


def test_line_numbers_are_kept_for_tracebacks() -> None:
    tree = rewrite_module("def f():\n\n    boom()\n", "program.py")
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    assert call.lineno == 3
