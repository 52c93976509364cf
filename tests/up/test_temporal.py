"""The embedded Temporal server: start, persist, fail clearly."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pawflow.up import EmbeddedTemporal, TemporalStartError, find_temporal_binary
from tests.helpers import pid_alive


def test_binary_is_found_next_to_python() -> None:
    binary = find_temporal_binary()
    assert binary.name == "temporal" and binary.is_file()


async def test_start_and_stop(tmp_path: Path) -> None:
    temporal = EmbeddedTemporal(find_temporal_binary(), tmp_path / "t.db", tmp_path / "logs/t.log")
    address = await temporal.start()
    pid = temporal.pid
    assert pid is not None and pid_alive(pid)
    host, port = address.rsplit(":", 1)
    assert host == "127.0.0.1"
    with socket.create_connection((host, int(port)), timeout=5):
        pass
    assert temporal.address == address
    await temporal.stop()
    assert not pid_alive(pid)
    assert temporal.pid is None
    assert (tmp_path / "t.db").exists()
    await temporal.stop()  # a second stop is harmless


async def test_a_taken_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        temporal = EmbeddedTemporal(
            find_temporal_binary(), tmp_path / "t.db", tmp_path / "t.log", port=port
        )
        with pytest.raises(TemporalStartError) as exc:
            await temporal.start()
    message = str(exc.value)
    assert "\n" not in message and str(port) in message and str(tmp_path / "t.log") in message
    assert temporal.pid is None


async def test_an_early_exit_shows_the_log_tail(tmp_path: Path) -> None:
    # A directory where the database file should be: the server cannot open it.
    (tmp_path / "t.db").mkdir()
    temporal = EmbeddedTemporal(find_temporal_binary(), tmp_path / "t.db", tmp_path / "t.log")
    with pytest.raises(TemporalStartError) as exc:
        await temporal.start()
    message = str(exc.value)
    assert message.startswith("the embedded Temporal server exited with code")
    assert "\n" not in message and "no output" not in message
