"""Each golden case's session log matches its expected log exactly."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Platform
from tests.golden.conftest import Case, GoldenRuns, all_cases, matches, pattern, render
from tests.helpers import wait_for


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_golden_case(case: Case, golden_platform: Platform, golden_runs: GoldenRuns) -> None:
    if "stop" in case.files:
        session_id = golden_runs.start(case)
        stop_after = pattern(case.files["stop"].strip())
        wait_for(
            lambda: any(stop_after.fullmatch(render(r)) for r in golden_platform.log(session_id)),
            90, 0.1, f"{case.name} to reach {case.files['stop'].strip()!r}",
        )  # fmt: skip
        stopped = golden_platform.paw("session", "stop", session_id)
        assert stopped.returncode == 0, stopped.stderr
    else:
        session_id = golden_runs.session(case)
    golden_platform.wait_ended(session_id, timeout=90)
    log = golden_platform.log(session_id)
    assert [r["n"] for r in log] == list(range(len(log))), "records missing or repeated"
    actual = [render(r) for r in log]
    assert matches(actual, case.expected), "\n".join(
        ["log differs; actual:", *actual, "expected:", *case.expected]
    )
