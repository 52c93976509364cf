"""A deploy loads each ``call`` target in a confined process before activating it,
and installs the project's ``requirements.txt`` (once per content)."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.server import ServerConfig
from pawflow.sessions._confine import plan_confinement
from pawflow.sessions._envs import env_key
from pawflow.sessions._loadcheck import LoadChecker
from pawflow.storage import Store

from ._helpers import AUTH, MANIFEST, PROGRAM, deploy, make_zip

# A small pure-Python package the platform does not ship.
PACKAGE = "humanize"


def _project(program: str, **more: str) -> bytes:
    return make_zip({"pawflow.yaml": MANIFEST, "program.py": textwrap.dedent(program), **more})


async def _post(client: TestClient[Any, Any], body: bytes) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        "/api/v1/deployments", data=body, headers={**AUTH, "Content-Type": "application/zip"}
    )
    return resp.status, await resp.json()


async def _refused(client: TestClient[Any, Any], store: Store, body: bytes) -> str:
    """Deploy ``body`` over a good deployment: it must be refused and change nothing."""
    good = await deploy(client)
    status, answer = await _post(client, body)
    assert status == 400, answer
    active = await store.active_deployment("hello")
    assert active is not None and active.id == good["deployment_id"]
    assert len(await store.list_deployments("hello")) == 1
    message: str = answer["error"]
    assert "\n" not in message and "Traceback" not in message
    return message


async def test_a_missing_package_is_refused_with_the_line_of_its_import(
    client: TestClient[Any, Any], store: Store
) -> None:
    program = """\
        import os

        import nosuchpkg


        def on_greet(event):
            pass


        def on_items(event):
            pass
        """
    message = await _refused(client, store, _project(program))
    assert message == "program.py:3: cannot import module 'program': No module named 'nosuchpkg'"


async def test_a_failing_import_deeper_in_the_project_names_that_file(
    client: TestClient[Any, Any], store: Store
) -> None:
    program = "from lib import helper\n" + PROGRAM
    message = await _refused(
        client,
        store,
        _project(program, **{"lib/__init__.py": "", "lib/helper.py": "X = 1\nY = 1 / 0\n"}),
    )
    assert message == (
        "lib/helper.py:2: cannot import module 'program': ZeroDivisionError: division by zero"
    )


async def test_a_function_gone_once_the_module_ran_is_refused(
    client: TestClient[Any, Any], store: Store
) -> None:
    # The manifest's check reads the file and sees the def; only running it shows the del.
    message = await _refused(client, store, _project(PROGRAM + "\ndel on_items\n"))
    assert message == "program.py:5: module 'program' has no function 'on_items' once it has loaded"


async def test_a_handler_a_decorator_made_unable_to_take_the_event_is_refused(
    client: TestClient[Any, Any], store: Store
) -> None:
    program = """\
        def no_arguments(fn):
            def wrapper():
                return fn(None)
            return wrapper


        def on_greet(event):
            pass


        @no_arguments
        def on_items(event):
            pass
        """
    message = await _refused(client, store, _project(program))
    assert message.startswith(
        "program.py:12: function 'on_items' cannot be called with the event (too many "
        "positional arguments)"
    ), message


async def test_module_code_runs_with_the_projects_vars_and_its_prints_go_nowhere(
    client: TestClient[Any, Any], store: Store
) -> None:
    await store.set_var("hello", None, "API_URL", "https://example.invalid", secret=False)
    program = """\
        import os

        print("loading")
        GREETING = os.environ["GREETING"]  # the manifest's
        API_URL = os.environ["API_URL"]  # set with paw var set


        def on_greet(event):
            pass


        def on_items(event):
            pass
        """
    status, answer = await _post(client, _project(program))
    assert status == 201, answer


async def test_module_code_cannot_read_the_data_dir(
    client: TestClient[Any, Any], store: Store, config: ServerConfig
) -> None:
    if plan_confinement(config.data_dir).mode == "none":
        pytest.skip("this machine offers no confinement")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / "token").write_text("secret")
    program = f"TOKEN = open({str(config.data_dir / 'token')!r}).read()\n" + PROGRAM
    message = await _refused(client, store, _project(program))
    assert message.startswith("program.py:1: cannot import module 'program': FileNotFoundError")


def test_module_code_that_runs_too_long_is_stopped(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "program.py").write_text("import time\n\nwhile True:\n    time.sleep(0.01)\n")
    checker = LoadChecker(tmp_path / "data", seconds=0.5)
    problems = checker.problems(code, ["program.py:on_x"])
    assert len(problems) == 1
    assert problems[0].startswith("program.py:")
    assert problems[0].endswith(": loading module 'program' took more than 0.5 s")


def test_module_code_that_eats_memory_is_refused(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "program.py").write_text("BIG = bytearray(8 << 30)\n\ndef on_x(event):\n    pass\n")
    problems = LoadChecker(tmp_path / "data", memory_mb=256).problems(code, ["program.py:on_x"])
    assert problems == ["program.py:1: cannot import module 'program': MemoryError"]


# -- requirements.txt --------------------------------------------------------------------
PROGRAM_WITH_PACKAGE = f"""\
import {PACKAGE}


def on_greet(event):
    print({PACKAGE}.intcomma(1234567))


def on_items(event):
    pass
"""


async def test_requirements_are_installed_once_and_imported_by_the_check(
    client: TestClient[Any, Any],
    store: Store,
    config: ServerConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    requirements = f"# what the program imports\n{PACKAGE}\n"
    body = make_zip(
        {
            "pawflow.yaml": MANIFEST,
            "program.py": PROGRAM_WITH_PACKAGE,
            "requirements.txt": requirements,
        }
    )
    caplog.set_level(logging.INFO, logger="pawflow.sessions._envs")
    first = await deploy(client, body)
    env = config.data_dir / "envs" / env_key(requirements.encode())
    assert (env / PACKAGE / "__init__.py").is_file()
    installs = [r for r in caplog.records if r.getMessage().startswith("installed requirements")]
    assert len(installs) == 1
    # Same requirements, other code: the environment is reused, pip does not run.
    second = await deploy(client, body.replace(b"1234567", b"7654321"))
    assert second["deployment_id"] != first["deployment_id"]
    installs = [r for r in caplog.records if r.getMessage().startswith("installed requirements")]
    assert len(installs) == 1
    # Without it, the same program does not load.
    status, answer = await _post(client, _project(PROGRAM_WITH_PACKAGE))
    assert status == 400
    assert answer["error"] == (
        f"program.py:1: cannot import module 'program': No module named '{PACKAGE}'"
    )


async def test_an_unresolvable_requirement_fails_the_deploy_with_pips_reason(
    client: TestClient[Any, Any], store: Store, config: ServerConfig
) -> None:
    body = make_zip(
        {
            "pawflow.yaml": MANIFEST,
            "program.py": PROGRAM,
            "requirements.txt": "pawflow-no-such-package-xyz==1.0\n",
        }
    )
    message = await _refused(client, store, body)
    assert message.startswith("requirements.txt: pip could not install the requirements: ")
    assert "No matching distribution found for pawflow-no-such-package-xyz" in message
    # Nothing half-installed is left to be taken for an environment.
    assert [
        p.name for p in (config.data_dir / "envs").iterdir() if not p.name.startswith(".")
    ] == []


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        ("humanize\n--index-url http://x/\n", "requirements.txt:2: options such as '--index-url'"),
        ("-r /etc/passwd\n", "requirements.txt:1: options such as '-r'"),
        ("humanize @ https://example.invalid/h.whl\n", "requirements.txt:1: 'humanize @ https://"),
        ("./local/package\n", "requirements.txt:1: './local/package' is not a plain requirement"),
        ("humanize >= \n", "requirements.txt:1: 'humanize >=' is not a requirement"),
    ],
)  # fmt: skip
async def test_requirements_the_platform_does_not_install_are_refused_by_line(
    client: TestClient[Any, Any], store: Store, requirements: str, expected: str
) -> None:
    body = make_zip(
        {"pawflow.yaml": MANIFEST, "program.py": PROGRAM, "requirements.txt": requirements}
    )
    message = await _refused(client, store, body)
    assert message.startswith(expected), message


def test_module_code_that_ends_the_process_is_refused(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "program.py").write_text("import os\n\nos._exit(3)\n")
    problems = LoadChecker(tmp_path / "data").problems(code, ["program.py:on_x"])
    assert problems == [
        "the code could not be checked: "
        "the program ended its process with exit status 3 (os._exit?)"
    ]


def test_module_code_sees_none_of_the_servers_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAWFLOW_TOKEN", "admin-token")
    code = tmp_path / "code"
    code.mkdir()
    (code / "program.py").write_text(
        "import os\n\nLEAKED = [k for k in os.environ if k.startswith('PAWFLOW')]\n"
        "assert not LEAKED, LEAKED\n\ndef on_x(event):\n    pass\n"
    )
    checker = LoadChecker(tmp_path / "data")
    assert checker.problems(code, ["program.py:on_x"], vars={"NAME": "x"}) == []
    # The same module fails where the variable is set: the assertion can fail.
    problems = checker.problems(code, ["program.py:on_x"], vars={"PAWFLOW_X": "x"})
    assert problems == [
        "program.py:4: cannot import module 'program': AssertionError: ['PAWFLOW_X']"
    ]


def test_module_code_that_needs_a_session_is_not_held_against_the_code(tmp_path: Path) -> None:
    # A module's code runs in a session at run time; the check has none to give it.
    code = tmp_path / "code"
    code.mkdir()
    (code / "program.py").write_text(
        "import pawflow\n\nSTARTED_BY = pawflow.session_id()\n\ndef on_x(event):\n    pass\n"
    )
    assert LoadChecker(tmp_path / "data").problems(code, ["program.py:on_x"]) == []
