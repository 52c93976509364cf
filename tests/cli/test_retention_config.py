"""The retention setting: --retention-days, PAWFLOW_RETENTION_DAYS, 30 by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pawflow.config import resolve_config
from pawflow.errors import ConfigError
from pawflow.server import server_config
from tests.helpers import paw_env, run_paw


def test_thirty_days_unless_a_flag_or_the_environment_says_otherwise(tmp_path: Path) -> None:
    env = {"PAWFLOW_HOME": str(tmp_path)}
    default = resolve_config({}, "server", env)
    assert default.retention_days == 30
    assert default.setting("retention_days").source == "default"
    from_env = resolve_config({}, "up", {**env, "PAWFLOW_RETENTION_DAYS": "7"})
    assert from_env.retention_days == 7
    flagged = resolve_config(
        {"retention_days": 0}, "server", {**env, "PAWFLOW_RETENTION_DAYS": "7"}
    )
    assert flagged.retention_days == 0  # keep forever
    assert flagged.setting("retention_days").source == "flag --retention-days"
    (tmp_path / "token").write_text("t")
    (tmp_path / "worker-token").write_text("w")
    assert server_config(from_env, temporal_address="127.0.0.1:7233").retention_days == 7


@pytest.mark.parametrize("value", ["soon", "-1", "99999999"])
def test_a_bad_value_is_one_line_naming_the_variable(tmp_path: Path, value: str) -> None:
    env = {"PAWFLOW_HOME": str(tmp_path), "PAWFLOW_RETENTION_DAYS": value}
    with pytest.raises(ConfigError, match=r"^PAWFLOW_RETENTION_DAYS must be"):
        resolve_config({}, "server", env)


def test_config_show_and_the_flag(tmp_path: Path) -> None:
    shown = run_paw(
        "config",
        "show",
        "--json",
        env=paw_env(PAWFLOW_HOME=str(tmp_path), PAWFLOW_RETENTION_DAYS="9"),
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["retention_days"] == {
        "value": "9",
        "source": "env PAWFLOW_RETENTION_DAYS",
    }
    refused = run_paw("server", "--retention-days", "-3", env=paw_env(PAWFLOW_HOME=str(tmp_path)))
    assert refused.returncode == 2
    assert "--retention-days" in refused.stderr and "Traceback" not in refused.stderr
