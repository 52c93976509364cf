"""The worker's limit on sessions inside calls: --max-sessions-in-calls,
PAWFLOW_MAX_SESSIONS_IN_CALLS, 0 (from memory) when unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from pawflow.config import resolve_config
from pawflow.errors import ConfigError
from tests.helpers import free_port, paw_env, run_paw


def test_unset_means_from_memory_and_the_flag_beats_the_environment(tmp_path: Path) -> None:
    env = {"PAWFLOW_HOME": str(tmp_path)}
    assert resolve_config({}, "worker", env).max_sessions_in_calls == 0
    from_env = {**env, "PAWFLOW_MAX_SESSIONS_IN_CALLS": "300"}
    assert resolve_config({}, "worker", from_env).max_sessions_in_calls == 300
    flagged = resolve_config({"max_sessions_in_calls": 40}, "worker", from_env)
    assert flagged.max_sessions_in_calls == 40


@pytest.mark.parametrize("value", ["many", "-1", "1e3", str(2**40)])
def test_a_bad_value_is_one_line_naming_the_variable(tmp_path: Path, value: str) -> None:
    env = {"PAWFLOW_HOME": str(tmp_path), "PAWFLOW_MAX_SESSIONS_IN_CALLS": value}
    with pytest.raises(ConfigError, match=r"^PAWFLOW_MAX_SESSIONS_IN_CALLS must be"):
        resolve_config({}, "worker", env)


def test_paw_worker_refuses_a_bad_value_before_reaching_anything(tmp_path: Path) -> None:
    refused = run_paw(
        "worker",
        "--server",
        f"http://127.0.0.1:{free_port()}",
        env=paw_env(PAWFLOW_HOME=str(tmp_path), PAWFLOW_MAX_SESSIONS_IN_CALLS="lots"),
    )
    assert refused.returncode == 1
    assert refused.stderr == (
        "error: PAWFLOW_MAX_SESSIONS_IN_CALLS must be a whole number (0: from memory), not 'lots'\n"
    )
    flag = run_paw(
        "worker", "--max-sessions-in-calls", "-5", env=paw_env(PAWFLOW_HOME=str(tmp_path))
    )
    assert flag.returncode == 2
    assert "--max-sessions-in-calls" in flag.stderr and "Traceback" not in flag.stderr
