"""``call`` targets: the path's shape, and the function checked by parsing the source."""

from __future__ import annotations

import pytest

from ._support import BASE, ProjectDir, where

CALL_LINE = 10
CALL_KEY = "project.triggers[0].call"


def _calling(target: str) -> str:
    return BASE.replace("program.py:on_greet", target)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "program:on_greet",
            "invalid value 'program:on_greet': expected FILE.py:FUNCTION, e.g. program.py:on_event",
        ),
        (
            "program.py",
            "invalid value 'program.py': expected FILE.py:FUNCTION, e.g. program.py:on_event",
        ),
        (
            "program.py:on-greet",
            "invalid value 'program.py:on-greet': expected FILE.py:FUNCTION, "
            "e.g. program.py:on_event",
        ),
        (
            "C:/code/program.py:on_greet",
            "invalid value 'C:/code/program.py:on_greet': expected "
            "FILE.py:FUNCTION, e.g. program.py:on_event",
        ),
        ("/srv/program.py:on_greet", "'/srv/program.py' must be relative to the project directory"),
        ("../program.py:on_greet", "'../program.py' is outside the project directory"),
        (
            "lib/../../program.py:on_greet",
            "'lib/../../program.py' is outside the project directory",
        ),
        (
            "my-code.py:on_greet",
            "'my-code.py' cannot be imported as a module: use Python identifiers "
            "(letters, digits, '_') for its folders and file name",
        ),
        (
            "lib/v1.2/program.py:on_greet",
            "'lib/v1.2/program.py' cannot be imported as a module: use Python identifiers "
            "(letters, digits, '_') for its folders and file name",
        ),
        ("lib\\program.py:on_greet", "use '/' instead of '\\' in the path 'lib\\program.py'"),
    ],
)
@pytest.mark.parametrize("check_calls", [True, False])
def test_malformed_call(project: ProjectDir, target: str, message: str, check_calls: bool) -> None:
    err = project.error(_calling(target), check_calls=check_calls)
    assert where(err) == ("proj/pawflow.yaml", CALL_LINE, CALL_KEY)
    assert err.message == message


@pytest.mark.parametrize(
    ("target", "normal"),
    [
        ("./program.py:on_greet", "program.py"),
        ("lib//program.py:on_greet", "lib/program.py"),
        ("lib/../program.py:on_greet", "program.py"),
    ],
)
def test_path_must_be_in_normal_form(project: ProjectDir, target: str, normal: str) -> None:
    err = project.error(_calling(target))
    assert where(err) == ("proj/pawflow.yaml", CALL_LINE, CALL_KEY)
    assert err.message == f"write the path {target.split(':')[0]!r} as {normal!r}"


def test_missing_file(project: ProjectDir) -> None:
    err = project.error(_calling("handlers.py:on_greet"))
    assert where(err) == ("proj/pawflow.yaml", CALL_LINE, CALL_KEY)
    assert err.message == "'handlers.py' does not exist in the project directory"


def test_missing_file_is_not_checked_without_check_calls(project: ProjectDir) -> None:
    manifest = project.load(_calling("handlers.py:on_greet"), check_calls=False)
    assert str(manifest.project.triggers[0].call) == "handlers.py:on_greet"


def test_directory_instead_of_file(project: ProjectDir) -> None:
    (project.root / "pkg.py").mkdir()
    err = project.error(_calling("pkg.py:on_greet"))
    assert err.message == "'pkg.py' is not a file in the project directory"


def test_symlink_leaving_the_project(
    project: ProjectDir, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "evil.py"
    outside.write_text("def on_greet(event):\n    pass\n")
    (project.root / "evil.py").symlink_to(outside)
    err = project.error(_calling("evil.py:on_greet"))
    assert where(err) == ("proj/pawflow.yaml", CALL_LINE, CALL_KEY)
    assert err.message == "'evil.py' resolves to a file outside the project directory"


def test_syntax_error_points_into_the_user_file(project: ProjectDir) -> None:
    project.write("program.py", "def on_greet(event):\n    print(event\n\nx = 1\n")
    err = project.error()
    assert where(err) == ("proj/program.py", 2, CALL_KEY)
    assert err.message == "syntax error in the called file: '(' was never closed"


def test_syntax_error_in_a_subdirectory(project: ProjectDir) -> None:
    project.write("lib/hooks.py", "def on_greet(event)\n    pass\n")
    err = project.error(_calling("lib/hooks.py:on_greet"))
    assert where(err) == ("proj/lib/hooks.py", 1, CALL_KEY)
    assert err.message == "syntax error in the called file: expected ':'"


def test_null_byte_in_source(project: ProjectDir) -> None:
    project.write("program.py", b"def on_greet(event):\n    pass\x00\n")
    err = project.error()
    assert err.file == "proj/program.py"
    assert err.key == CALL_KEY


def test_source_is_parsed_never_imported(project: ProjectDir) -> None:
    marker = project.root / "imported"
    project.write(
        "program.py",
        f"""\
        open({str(marker)!r}, "w").close()
        raise SystemExit("must not run")

        def on_greet(event):
            pass
        """,
    )
    project.load()
    assert not marker.exists()


def test_compile_warnings_in_user_source_are_not_errors(project: ProjectDir) -> None:
    project.write(
        "program.py", 'import re\n\ndef on_greet(event):\n    return re.match("\\d", "1")\n'
    )
    assert project.load().project.triggers[0].call.function == "on_greet"


def test_async_handlers_are_accepted(project: ProjectDir) -> None:
    # A yield inside a nested function does not make the handler a generator.
    source = (
        "import asyncio\n\nasync def on_greet(event):\n    def numbers():\n        yield 1\n"
        "    await asyncio.sleep(0)\n    return list(numbers())\n"
    )
    project.write("program.py", source)
    assert project.load().project.triggers[0].call.function == "on_greet"


def test_encoding_declaration_is_honoured(project: ProjectDir) -> None:
    source = "# -*- coding: latin-1 -*-\ndef on_greet(event):\n    return 'caf\xe9'\n"
    project.write("program.py", source.encode("latin-1"))
    assert project.load().project.triggers[0].call.function == "on_greet"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(
            "def other(event):\n    pass\n",
            "no function 'on_greet' in program.py",
            id="missing",
        ),
        pytest.param(
            "async def on_greet(event):\n    async def inner():\n        yield 1\n"
            "    for x in [1]:\n        yield x\n",
            "function 'on_greet' (program.py:1) is an async generator ('async def' with "
            "'yield'); a handler is a function or a coroutine ('def' or 'async def' "
            "without 'yield')",
            id="async-generator",
        ),
        pytest.param(
            "class Handlers:\n    def on_greet(self, event):\n        pass\n",
            "function 'on_greet' (program.py:2) is not defined at the top level of its module; "
            "handlers must be module-level functions",
            id="method",
        ),
        pytest.param(
            "def outer():\n    def on_greet(event):\n        pass\n    return on_greet\n",
            "function 'on_greet' (program.py:2) is not defined at the top level of its module; "
            "handlers must be module-level functions",
            id="inner-function",
        ),
        pytest.param(
            "import sys\n\nif sys.argv:\n    def on_greet(event):\n        pass\n",
            "function 'on_greet' (program.py:4) is not defined at the top level of its module; "
            "handlers must be module-level functions",
            id="conditional-def",
        ),
        pytest.param(
            "on_greet = print\n",
            "'on_greet' (program.py:1) is not a function defined with 'def' or 'async def'",
            id="assignment",
        ),
        pytest.param(
            "from os import getcwd as on_greet\n",
            "'on_greet' (program.py:1) is not a function defined with 'def' or 'async def'",
            id="import",
        ),
        pytest.param(
            "class on_greet:\n    def __init__(self, event):\n        pass\n",
            "'on_greet' (program.py:1) is not a function defined with 'def' or 'async def'",
            id="class",
        ),
        pytest.param(
            "def on_greet(event):\n    pass\n\non_greet = None\n",
            "'on_greet' (program.py:4) is not a function defined with 'def' or 'async def'",
            id="rebound-after-def",
        ),
        pytest.param(
            "def on_greet():\n    pass\n",
            "function 'on_greet' (program.py:1) takes no arguments; a handler takes one, "
            "the event: def handler(event)",
            id="no-argument",
        ),
        pytest.param(
            "def on_greet(event, context):\n    pass\n",
            "function 'on_greet' (program.py:1) requires 2 arguments (event, context); "
            "a handler is called with the event, and with the session id if it asks for it: "
            "def handler(event) or def handler(event, session_id)",
            id="two-arguments",
        ),
        pytest.param(
            "def on_greet(session_id, event):\n    pass\n",
            "function 'on_greet' (program.py:1) requires 2 arguments (session_id, event); "
            "a handler is called with the event, and with the session id if it asks for it: "
            "def handler(event) or def handler(event, session_id)",
            id="session-id-first",
        ),
        pytest.param(
            "def on_greet(event, session_id, extra):\n    pass\n",
            "function 'on_greet' (program.py:1) requires 3 arguments (event, session_id, "
            "extra); a handler is called with the event, and with the session id if it asks "
            "for it: def handler(event) or def handler(event, session_id)",
            id="session-id-and-more",
        ),
        pytest.param(
            "def on_greet(event, *, token):\n    pass\n",
            "function 'on_greet' (program.py:1) has a required keyword-only argument "
            "'token'; a handler is called with the event only (and session_id if it asks for it)",
            id="keyword-only",
        ),
        pytest.param(
            "def on_greet(*, event):\n    pass\n",
            "function 'on_greet' (program.py:1) takes no arguments; a handler takes one, "
            "the event: def handler(event)",
            id="event-keyword-only",
        ),
    ],
)
def test_bad_function(project: ProjectDir, source: str, message: str) -> None:
    project.write("program.py", source)
    err = project.error()
    assert where(err) == ("proj/pawflow.yaml", CALL_LINE, CALL_KEY)
    assert err.message == message


@pytest.mark.parametrize(
    "source",
    [
        "def on_greet(event):\n    pass\n",
        "def on_greet(event, /):\n    pass\n",
        "def on_greet(event=None, retries=3):\n    pass\n",
        "def on_greet(*args, **kwargs):\n    pass\n",
        "def on_greet(event, *, verbose=False):\n    pass\n",
        "def on_greet(event, session_id):\n    pass\n",
        "def on_greet(event, session_id, /):\n    pass\n",
        "def on_greet(event, *, session_id):\n    pass\n",
        "def on_greet(event, retries=3, session_id=None):\n    pass\n",
        "import functools\n\n@functools.cache\ndef on_greet(event):\n    pass\n",
        "async def on_greet(event):\n    pass\n\ndef on_greet(event):\n    pass\n",
    ],
)
def test_good_function(project: ProjectDir, source: str) -> None:
    project.write("program.py", source)
    assert project.load().project.triggers[0].call.function == "on_greet"


def test_each_trigger_is_checked(project: ProjectDir) -> None:
    second = "    - name: bye\n      webhook: {}\n      call: program.py:on_bye\n"
    err = project.error(BASE + second)
    assert where(err) == ("proj/pawflow.yaml", 13, "project.triggers[1].call")
    assert err.message == "no function 'on_bye' in program.py"
