"""Each golden case's session log matches its expected log exactly."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Platform
from tests.golden.conftest import Case, all_cases, matches, render


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_golden_case(
    case: Case, golden_platform: Platform, golden_sessions: dict[str, str]
) -> None:
    session_id = golden_sessions[case.name]
    golden_platform.wait_ended(session_id, timeout=90)
    log = golden_platform.log(session_id)
    assert [r["n"] for r in log] == list(range(len(log))), "records missing or repeated"
    actual = [render(r) for r in log]
    assert matches(actual, case.expected), "\n".join(
        ["log differs; actual:", *actual, "expected:", *case.expected]
    )
