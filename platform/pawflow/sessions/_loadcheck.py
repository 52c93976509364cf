"""Does a deployment's code load? Each ``call`` target imported as a runner would.

The manifest's checks read the user's files with :mod:`ast` and never run
them; what only importing shows -- a package that is not installed, a module
that raises, a function that is gone or that a decorator gave another
signature once the module has run -- is found by loading the code for real
before a deploy activates it. The server never imports user code itself: it
starts ``python -m pawflow.sessions._loadcheck``, a short-lived process that
confines itself exactly as a runner does (``_confine``: the data dir covered,
the code read-only, a neutral environment, another user or namespaces), puts
the project's own packages first on its import path, limits its memory, and
loads the modules through the runner's import machinery (``_code``: the same
namespacing and call rewriting). Module-level code runs, bounded in time, and
what it prints goes nowhere. The process answers with one JSON line on its
standard output: the problems, each a line fit for the deploy's 400 reply
(``program.py:3: cannot import module 'program': No module named 'x'``).

Module-level code that needs a running session (a connection's client, the
key-value store) cannot be checked this way: the platform's own "only inside
a session" error is not counted as a problem.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import logging
import math
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ..errors import PawflowError
from ..manifest import CallTarget
from ..sdk._scope import Scope, ScopedGreenlet
from ._capture import module_output
from ._code import DeploymentCode, handler_arguments, user_names
from ._confine import ConfinementFailed, confine, neutral_environment, packages_seen_at
from ._confine import plan_confinement as _plan
from ._envs import use_packages

__all__ = ["DEFAULT_LOAD_SECONDS", "LoadChecker"]

log = logging.getLogger(__name__)

DEFAULT_LOAD_SECONDS = 5.0  # for module-level code, all modules together
DEFAULT_MEMORY_MB = 512
# Starting Python and Pawflow, and confining, before the modules load.
_STARTUP_SECONDS = 30.0
_MAX_ANSWER_BYTES = 64 << 10
_MAX_REQUEST_BYTES = 4 << 20
_REASON_CHARS = 300
_SDK_FILES = str(Path(__file__).resolve().parents[1] / "sdk") + os.sep


class LoadChecker:
    """Loads deployments' code in a confined process of its own, one per check.

    ``data_dir`` is covered from the code's sight, as from a runner's;
    ``temporal_address``: Temporal's ports, which the code cannot connect to
    where the kernel allows that rule."""

    def __init__(
        self,
        data_dir: Path,
        temporal_address: str = "",
        *,
        seconds: float = DEFAULT_LOAD_SECONDS,
        memory_mb: int = DEFAULT_MEMORY_MB,
    ) -> None:
        self._data_dir = data_dir
        self._temporal_address = temporal_address
        self._seconds = seconds
        self._memory_mb = memory_mb

    def problems(
        self,
        code_root: Path,
        calls: Sequence[str],
        *,
        packages: str = "",
        vars: Mapping[str, str] | None = None,
        memory_mb: int | None = None,
    ) -> list[str]:
        """What keeps ``calls`` (``program.py:on_x``) of the code at ``code_root``
        from loading, one line each (empty: they all load). Blocks until known."""
        if not calls:
            return []
        request = {
            "data_dir": str(self._data_dir),
            "temporal_address": self._temporal_address,
            "code_root": str(code_root.resolve()),
            "packages": packages,
            "calls": list(calls),
            "vars": dict(vars or {}),
            "seconds": self._seconds,
            "memory_mb": memory_mb or self._memory_mb,
        }
        answer = self._run(json.dumps(request).encode())
        if "error" in answer:
            return [f"the code could not be checked: {answer['error']}"]
        return [str(p) for p in answer.get("problems", ())]

    def _run(self, request: bytes) -> dict[str, Any]:
        with tempfile.TemporaryFile() as errors:
            # A neutral environment: the process's memory must hold nothing of
            # the server's (tokens, the database's URL), as a runner's fork server.
            # A session of its own: whatever the code starts ends with it.
            process = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=neutral_environment(os.environ),
                cwd="/",
                start_new_session=True,
            )
            assert process.stdin is not None and process.stdout is not None
            try:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.write(request)
                    process.stdin.close()
                line = _read_line(process.stdout.fileno(), self._seconds + _STARTUP_SECONDS)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                process.stdout.close()
            if line is None:
                return {"error": f"loading the code took more than {self._seconds:g} s"}
            try:
                answer = json.loads(line)
            except ValueError:
                answer = None
            if isinstance(answer, dict):
                return answer
            # What the process wrote here, it wrote before the code loaded
            # (Python or Pawflow could not start): the operator's to fix.
            errors.seek(0)
            said = errors.read(_MAX_ANSWER_BYTES).decode(errors="replace").strip()
            if said:
                log.warning("the load check process failed: %s", said)
            # Imported here: the checking process itself has no use for runners.
            from ._runners import describe_exit

            return {"error": describe_exit(process.returncode)}


def _read_line(fd: int, seconds: float) -> bytes | None:
    """The first line of ``fd`` (what there is when it ends first, at most the
    answer's limit), or None when none comes within ``seconds``."""
    deadline = time.monotonic() + seconds
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    out = bytearray()
    while b"\n" not in out and len(out) <= _MAX_ANSWER_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if not poller.poll(left * 1000):
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        out += chunk
    return bytes(out).partition(b"\n")[0]


# -- in the checking process -----------------------------------------------------------
class _Overrun(BaseException):
    """Module-level code ran past its time (a BaseException: ``except
    Exception`` in the user's code does not swallow it)."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Overrun


def main() -> int:
    answers = os.fdopen(os.dup(1), "w")
    try:
        request = json.loads(sys.stdin.buffer.read(_MAX_REQUEST_BYTES))
        # What the code prints, and whatever it reads, is nobody's.
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        answer = _check(request)
    except BaseException as exc:  # ours, not the user's: they are caught in _check
        answer = {"error": "".join(traceback.format_exception_only(exc)).strip()}
    answers.write(json.dumps(answer) + "\n")
    answers.flush()
    # Not a normal exit: the user's atexit handlers and threads are not ours to wait for.
    os._exit(0)


def _check(request: dict[str, Any]) -> dict[str, Any]:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server ends this process itself
    plan = _plan(Path(request["data_dir"]), None, request["temporal_address"])
    variables = {str(k): str(v) for k, v in request["vars"].items()}
    try:
        root = confine(plan, request["code_root"], variables, request["packages"])
    except (ConfinementFailed, OSError) as exc:
        return {"error": f"the checking process could not be confined: {exc}"}
    use_packages(packages_seen_at(plan, request["packages"]))
    seconds = float(request["seconds"])
    memory_mb = int(request["memory_mb"])
    # As a runner's backstop (see ``_runner._apply_limits``).
    size = max(4 * memory_mb, memory_mb + 2048) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size, size))
    # Code stuck in C, where the alarm cannot interrupt it, is the server's to kill.
    cpu = math.ceil(seconds) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        problems = check_calls(Path(root), request["calls"], variables, seconds)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return {"problems": problems}


def check_calls(
    root: Path, calls: Sequence[str], variables: Mapping[str, str], seconds: float
) -> list[str]:
    """Load each call target of the code at ``root``; the problems, one line each."""

    def run_module_code(execute: Callable[[], None]) -> None:
        # As in a runner: the vars in scope, no session, prints captured (and dropped).
        with module_output(lambda text: None):
            ScopedGreenlet(lambda: execute(), Scope(variables)).switch()

    code = DeploymentCode("loadcheck", root, _direct_call, run_module_code)
    problems: list[str] = []
    for call in calls:
        target = CallTarget.parse(call)
        try:
            problem = _check_one(code, root, target)
        except _Overrun as exc:
            # The time is for all modules together: nothing more is checked.
            module = _module_name(target)
            took = f"loading module {module!r} took more than {seconds:g} s"
            problems.append(f"{_where(exc, root, target.file)}: {took}")
            break
        if problem is not None and problem not in problems:
            problems.append(problem)
    return problems


def _module_name(target: CallTarget) -> str:
    return target.file.removesuffix(".py").replace("/", ".").removesuffix(".__init__")


def _direct_call(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def _check_one(code: DeploymentCode, root: Path, target: CallTarget) -> str | None:
    module_name = _module_name(target)
    try:
        module = code.import_module(module_name)
    except _Overrun:
        raise
    except BaseException as exc:
        if isinstance(exc, PawflowError) and _raised_by_sdk(exc):
            return None  # needs a session: not something a check can tell
        where = _where(exc, root, target.file)
        return f"{where}: cannot import module {module_name!r}: {_reason(exc)}"
    name = target.function
    where = f"{target.file}:{_def_line(root / target.file, name)}"
    fn = getattr(module, name, None)
    if fn is None:
        return f"{where}: module {module_name!r} has no function {name!r} once it has loaded"
    if not callable(fn):
        kind = type(fn).__name__
        return (
            f"{where}: {name!r} is not a function once module {module_name!r} has loaded ({kind})"
        )
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # nothing to read: the runner calls it with the event
    args, kwargs = handler_arguments(fn, object(), "session")
    try:
        signature.bind(*args, **kwargs)
    except TypeError as err:
        return (
            f"{where}: function {name!r} cannot be called with the event ({err}); a handler "
            "is def handler(event), or def handler(event, session_id)"
        )
    return None


def _where(exc: BaseException, root: Path, fallback: str) -> str:
    """``file:line`` of the user's code where ``exc`` was raised (the innermost
    frame in the project), or the call's file."""
    prefix = str(root) + os.sep
    if isinstance(exc, SyntaxError):
        file = exc.filename or ""
        if file.startswith(prefix):
            return f"{file[len(prefix) :]}:{exc.lineno or 1}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(prefix):
            return f"{frame.filename[len(prefix) :]}:{frame.lineno}"
    return fallback


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        text = f"it called sys.exit({exc.code!r})"
    elif isinstance(exc, SyntaxError):
        text = f"SyntaxError: {exc.msg}"
    elif isinstance(exc, ImportError):
        text = str(exc)  # "No module named 'x'" says it all
    else:
        text = "".join(traceback.format_exception_only(exc)).strip()
    text = user_names(" ".join(text.split()))
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def _raised_by_sdk(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(_SDK_FILES)


def _def_line(path: Path, name: str) -> int:
    """The line of ``def name`` at the top level of ``path`` (1 when there is none)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return 1
    lines = [
        node.lineno
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
    ]
    return lines[-1] if lines else 1


if __name__ == "__main__":
    main()
