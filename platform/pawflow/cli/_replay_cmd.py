"""``paw session replay``: a recorded session run again locally, from its record.

The session's program runs in this process against the answers it got (see
``pawflow.sessions._replay``): no external call is made, nothing is waited
for, nothing reaches the server. With ``--code DIR`` it runs edited code
against the same record and reports where that code asks something else.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import resolve_data_dir
from ..errors import ConfigError, ServerError
from ..manifest import CallTarget
from ._client import ApiClient
from ._commands import client_for
from ._output import format_record

__all__ = ["add_replay_command", "cmd_session_replay", "fetch_record", "replay_record"]

# Records of the replay: what is done. Exit codes: 0 the program did what its
# record says (or what there is of it), 1 it diverged (or could not be replayed).
EXIT_DIVERGED = 1


def add_replay_command(session: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw session replay`` in the ``paw session`` group."""
    replay = leaf(
        session,
        "replay",
        cmd_session_replay,
        "run a session's program again here, every call answered from its record "
        "(nothing is executed)",
    )
    replay.add_argument("id", metavar="ID")
    replay.add_argument(
        "--code",
        metavar="DIR",
        help="run this project directory's code instead of the session's own, and report "
        "the first divergence from the record",
    )
    replay.add_argument(
        "--pdb", action="store_true", help="stop in the debugger at the handler's first line"
    )


def cmd_session_replay(args: argparse.Namespace) -> int:
    """``paw session replay ID [--code DIR] [--pdb]``."""
    client = client_for(args)
    record = fetch_record(client, args.id)
    with _code(client, record, args.code) as root:
        _use_requirements(root, args.data_dir)
        outcome = replay_record(record, root, show=_print_record, pdb=args.pdb)
    print(outcome.summary)
    return 0 if outcome.divergence is None else EXIT_DIVERGED


def fetch_record(client: ApiClient, session_id: str) -> dict[str, Any]:
    """The session's record (``GET /api/v1/sessions/{id}/record``), with the
    ``call_end`` (and ``compensate_end``) records of its log by call number under
    ``"calls"``."""
    quoted = urllib.parse.quote(session_id, safe="")
    record = client.get(f"/api/v1/sessions/{quoted}/record")
    if not isinstance(record, dict) or not isinstance(record.get("exchanges"), list):
        raise ServerError("the server's answer is not a session's record")
    log = client.get(f"/api/v1/sessions/{quoted}/log")
    records = log.get("records") if isinstance(log, dict) else None
    record["calls"] = {
        r["seq"]: r
        for r in records or []
        if isinstance(r, dict)
        and r.get("type") in ("call_end", "compensate_end")
        and isinstance(r.get("seq"), int)
    }
    return record


class ReplayOutcome:
    """What a replay found, and the line that says so."""

    def __init__(self, result: Any, total: int, complete: bool) -> None:
        self.divergence = result.divergence
        if result.divergence is not None:
            self.summary = f"diverges at {result.divergence}"
        elif result.past_record:
            self.summary = (
                f"no divergence in the {total} recorded answers (the record ends there: "
                "the session had got no further)"
            )
        elif not complete:
            self.summary = f"no divergence in the {total} recorded answers so far"
        else:
            self.summary = f"no divergence ({total} recorded answers)"


def replay_record(
    record: dict[str, Any],
    code_root: Path,
    *,
    show: Callable[[dict[str, Any]], None],
    pdb: bool = False,
) -> ReplayOutcome:
    """Replay ``record`` with the code in ``code_root``."""
    from ..sessions._replay import replay_session
    from ..sessions._runner import RunnerSpec
    from ..sessions._wire import decode_exchange

    session = record["session"]
    secret = [str(name) for name in record.get("secret_vars") or []]
    spec = RunnerSpec(
        session_id=str(session["id"]),
        project=str(session["project"]),
        deployment_id=str(session["deployment_id"]),
        code_root=str(code_root),
        call=str(record["call"]),
        event=dict(record["event"]),
        # A secret's value never leaves the server: the program sees a stand-in.
        vars={**record.get("vars", {}), **{name: "***" for name in secret}},
        server_url="",
        credential="",
        secret_vars=tuple(secret),
    )
    exchanges = [decode_exchange(e) for e in record["exchanges"]]
    debug = _debugger(code_root, spec.call) if pdb else None
    result = replay_session(
        spec,
        exchanges,
        complete=bool(record.get("complete")),
        show=show,
        recorded_calls=record.get("calls") or {},
        debug=debug,
    )
    return ReplayOutcome(result, len(exchanges), bool(record.get("complete")))


def _use_requirements(code_root: Path, data_dir: str | None) -> None:
    """The project's ``requirements.txt`` packages first on this process's
    import path, installed as a deploy installs them (once per content, in the
    data dir's ``envs``)."""
    from ..sessions._envs import REQUIREMENTS_FILE, PackageEnvs, use_packages

    requirements = code_root / REQUIREMENTS_FILE
    if not requirements.is_file():
        return

    installed = PackageEnvs(resolve_data_dir(data_dir) / "envs").ensure(requirements.read_bytes())
    if installed is not None:
        use_packages(str(installed))


def _print_record(record: dict[str, Any]) -> None:
    record.setdefault("time", datetime.now(UTC).isoformat())
    for line in format_record(record):
        print(line)
    sys.stdout.flush()


@contextlib.contextmanager
def _code(client: ApiClient, record: dict[str, Any], code: str | None) -> Iterator[Path]:
    """The directory of the code to replay: ``code``, or the session's own."""
    if code is not None:
        from ..manifest import load_project

        root = Path(code)
        load_project(root)  # a broken project is reported as a deploy would
        yield root.resolve()
        return
    from ..server._deploy import ZipProblem, extract_zip

    deployment = record["session"]["deployment_id"]
    archive = client.get_bytes(f"/api/v1/deployments/{urllib.parse.quote(deployment)}/code")
    with tempfile.TemporaryDirectory(prefix="pawflow-replay-") as tmp:
        try:
            extract_zip(archive, Path(tmp))
        except ZipProblem as err:
            raise ServerError(f"the code of deployment {deployment}: {err}") from None
        yield Path(tmp)


def _debugger(code_root: Path, call: str) -> Callable[[Callable[[], None]], None]:
    """Runs the program under pdb, stopped first at the handler's first line."""
    target = CallTarget.parse(call)
    path = code_root / target.file
    line = _first_line(path, target.function)

    def run(program: Callable[[], None]) -> None:
        import pdb

        debugger = pdb.Pdb()
        if debugger.set_break(str(path), line):
            raise ConfigError(f"{path}:{line}: pdb cannot stop there")
        # The first stop is in the platform's code: go on to the handler.
        debugger.rcLines.append("continue")
        debugger.runcall(program)

    return run


def _first_line(path: Path, function: str) -> int:
    """The line of the first statement of ``function`` in ``path`` (after its docstring)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read the handler: {err}") from None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
            body = node.body
            if (
                len(body) > 1
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                body = body[1:]
            return body[0].lineno
    raise ConfigError(f"{path}: no function {function!r} at its top level")
