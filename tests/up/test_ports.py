"""``paw up`` keeps its embedded Temporal on fixed ports and shows the Web UI."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from pawflow.errors import ConfigError
from pawflow.up._ports import PORTS_FILE, temporal_ports
from tests.helpers import PawUp, http_json, wait_for


def test_ports_are_chosen_once_and_kept(tmp_path: Path) -> None:
    first = temporal_ports(tmp_path)
    assert first.port != first.ui_port
    assert json.loads((tmp_path / PORTS_FILE).read_text()) == {
        "port": first.port,
        "ui_port": first.ui_port,
    }
    assert temporal_ports(tmp_path) == first


def test_a_damaged_ports_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / PORTS_FILE).write_text('{"port": "x"}')
    with pytest.raises(ConfigError, match="delete it to choose new ones"):
        temporal_ports(tmp_path)


def _ui_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _banner_value(up: PawUp, label: str) -> str:
    found = re.search(rf"^  {label}\s+(\S+)", up.stdout_path.read_text(), re.MULTILINE)
    assert found, up.stdout_path.read_text()
    return found.group(1)


def test_up_reuses_its_temporal_port_and_serves_the_web_ui_and_metrics(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    addresses = []
    for _ in range(2):
        with PawUp(data_dir, args=["--workers", "0"]) as up:
            wait_for(lambda: up.stdout_path.read_text(), 10, 0.05, "the banner")
            addresses.append(_banner_value(up, "temporal"))
            ui = _banner_value(up, "web UI")
            assert ui.startswith("http://127.0.0.1:")
            wait_for(lambda: _ui_answers(ui), 30, 0.2, "the Temporal Web UI")  # noqa: B023
            assert http_json(up.url + "/metrics")[0] == 401
            request = urllib.request.Request(
                up.url + "/metrics", headers={"Authorization": f"Bearer {up.token}"}
            )
            with urllib.request.urlopen(request, timeout=10) as reply:
                assert "pawflow_webhooks" in reply.read().decode()
    ports = json.loads((data_dir / PORTS_FILE).read_text())
    assert addresses == [f"127.0.0.1:{ports['port']}"] * 2
