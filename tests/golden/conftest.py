"""The golden session cases: one small fixture each, run through the real platform.

A case is a ``.txtar`` file: a comment saying what it shows, then files, each
introduced by a ``-- NAME --`` line. ``program.py`` (and any other project
file) makes up the project; ``pawflow.yaml`` is optional (default: one webhook
trigger ``run`` calling ``program.py:handler``); ``event.json`` is the body
posted to the webhook (default ``{}``); ``stop``, if present, is a log line
(as ``expected.log`` has them) after which the session is stopped with
``paw session stop`` (its test triggers it, to be there in time);
``expected.log`` is the session log, one line per record (see
:func:`render`), where ``*`` matches anything.

Every case runs on one shared platform whose worker keeps no session in
memory, so each durable step also replays the session in a fresh runner.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Platform
from tests.helpers import PawUp

CASES = Path(__file__).parent / "cases"

_DEFAULT_MANIFEST = """\
version: 1
project:
  name: {name}
  triggers:
    - name: run
      webhook: {{}}
      call: program.py:handler
"""


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str]

    @property
    def project(self) -> str:
        return "golden-" + self.name.replace("_", "-")

    @property
    def expected(self) -> list[str]:
        return [line for line in self.files["expected.log"].splitlines() if line.strip()]

    @property
    def event(self) -> Any:
        return json.loads(self.files.get("event.json") or "{}")

    def write(self, root: Path) -> Path:
        root.mkdir(parents=True)
        files = {"pawflow.yaml": _DEFAULT_MANIFEST.format(name=self.project), **self.files}
        for name, text in files.items():
            if name in ("expected.log", "event.json", "stop"):
                continue
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.replace("{project}", self.project))
        return root


def parse_txtar(path: Path) -> Case:
    files: dict[str, str] = {}
    current: str | None = None
    for line in path.read_text().splitlines(keepends=True):
        header = re.fullmatch(r"-- (.+) --\n?", line)
        if header:
            current = header.group(1).strip()
            files[current] = ""
        elif current is not None:
            files[current] += line
    assert "program.py" in files and "expected.log" in files, f"{path}: incomplete case"
    return Case(path.stem, files)


def all_cases() -> list[Case]:
    return [parse_txtar(p) for p in sorted(CASES.glob("*.txtar"))]


def render(record: dict[str, Any]) -> str:
    """One log record as one comparable line, without times and durations."""
    kind = record["type"]
    if kind == "state":
        if record["state"] == "completed":
            return f"state completed {json.dumps(record.get('result'), sort_keys=True)}"
        if record["state"] in ("error", "stopped"):
            lines = str(record.get("error") or "").strip().splitlines()
            return f"state {record['state']} {lines[-1] if lines else ''}"
        return f"state {record['state']}"
    if kind == "print":
        return f"print {record['text']}"
    if kind in ("call_start", "compensate_start"):
        verb = "call" if kind == "call_start" else "undo"
        args = list(record.get("args") or [])
        args += [f"{k}={v}" for k, v in (record.get("kwargs") or {}).items()]
        return f"{verb} #{record['seq']} {record['function']}({', '.join(args)})"
    if kind in ("call_end", "compensate_end"):
        attempt = record.get("attempt", 1)
        suffix = f" [attempt {attempt}]" if attempt and attempt > 1 else ""
        if "error" in record:
            return f"raise #{record['seq']} {record['error']}{suffix}"
        result = json.dumps(record.get("result"), sort_keys=True)
        verb = "return" if kind == "call_end" else "undone"
        return f"{verb} #{record['seq']} {result}{suffix}"
    if kind == "compensation_failed":
        undone, kept = (", ".join(record[k]) or "-" for k in ("undone", "not_undone"))
        return f"undo failed {record['failed']}: {record['error']} | undone {undone} | not {kept}"
    if kind == "stop_request":
        return f"stop_request {record.get('reason')}"
    return f"{kind} {json.dumps(record, sort_keys=True)}"


def pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in line.split("*")), re.DOTALL)


def matches(actual: list[str], expected: list[str]) -> bool:
    """Line by line; ``*`` in an expected line matches any text."""
    return len(actual) == len(expected) and all(
        pattern(e).fullmatch(a) for a, e in zip(actual, expected, strict=True)
    )


@pytest.fixture(scope="session")
def golden_platform(
    temporal_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    task_queue = f"golden-{uuid.uuid4().hex[:12]}"
    data = tmp_path_factory.mktemp("golden") / "data"
    up = PawUp(
        data, args=["--workers", "0", "--temporal", temporal_address, "--task-queue", task_queue]
    )
    up.start()
    platform = Platform(up, temporal_address, task_queue)
    platform.start_worker("--max-cached-sessions", "0")
    try:
        yield platform
    finally:
        platform.stop_workers()
        up.stop()


# Cases whose sessions run at once. All at once, the worker (which replays
# every step in a fresh runner) slows until its steps outlast a workflow task,
# which with nothing cached restarts them.
AHEAD = 8


def trigger(platform: Platform, case: Case, url: str) -> str:
    """Post ``case``'s event to its webhook; returns the event id."""
    status, reply = platform.post(url, case.event)
    assert status == 202, (case.name, status, reply)
    event_id: str = reply["event_id"]
    return event_id


class GoldenRuns:
    """Deploys and triggers the selected cases a few ahead of the tests that
    check them, in the order those tests run."""

    def __init__(self, platform: Platform, root: Path, order: list[Case]) -> None:
        self._platform = platform
        self._root = root
        self._order = order
        self._events: dict[str, str] = {}

    def _trigger(self, case: Case) -> None:
        if case.name not in self._events:
            deployed = self._platform.deploy(case.write(self._root / case.name))
            url = next(iter(deployed["webhooks"].values()))
            self._events[case.name] = trigger(self._platform, case, url)

    def start(self, case: Case) -> str:
        """Deploy and trigger ``case`` now; returns its session id."""
        self._trigger(case)
        return self._platform.session_for(self._events[case.name])["id"]

    def session(self, case: Case) -> str:
        """The session id of ``case``, the next few cases started meanwhile (not
        those stopped from outside: their test starts them, to be there in time)."""
        at = [c.name for c in self._order].index(case.name)
        for ahead in self._order[at : at + AHEAD]:
            if "stop" not in ahead.files:
                self._trigger(ahead)
        return self.start(case)


@pytest.fixture(scope="session")
def golden_runs(
    golden_platform: Platform, tmp_path_factory: pytest.TempPathFactory, request: Any
) -> GoldenRuns:
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if "case" in getattr(getattr(item, "callspec", None), "params", {})
    ]
    return GoldenRuns(golden_platform, tmp_path_factory.mktemp("projects"), selected)
