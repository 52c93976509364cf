"""The embedded Temporal's ports, chosen once per data dir and kept there.

A fixed port lets a bookmark of the Web UI, a ``temporal`` CLI or a worker
started by hand find the same server after every ``paw up``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ._process import free_port

__all__ = ["PORTS_FILE", "TemporalPorts", "temporal_ports"]

PORTS_FILE = "temporal-ports.json"


@dataclass(frozen=True)
class TemporalPorts:
    """The frontend (gRPC) port and the Web UI port."""

    port: int
    ui_port: int


def temporal_ports(data_dir: Path, host: str = "127.0.0.1") -> TemporalPorts:
    """The ports kept in ``data_dir``; on first use two free ones, kept from then on."""
    path = data_dir / PORTS_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raw = None
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path} is unreadable ({err}); delete it to choose new ports") from None
    if raw is not None:
        ports = _parse(raw)
        if ports is None:
            raise ConfigError(f"{path} does not hold two TCP ports; delete it to choose new ones")
        return ports
    port = free_port(host)
    ui_port = free_port(host)
    while ui_port == port:
        ui_port = free_port(host)
    ports = TemporalPorts(port, ui_port)
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w") as f:
        json.dump({"port": port, "ui_port": ui_port}, f)
    os.replace(temporary, path)  # two paw ups at once: one file wins whole
    return ports


def _parse(raw: object) -> TemporalPorts | None:
    if not isinstance(raw, dict):
        return None
    port, ui_port = raw.get("port"), raw.get("ui_port")
    for value in (port, ui_port):
        if type(value) is not int or not 0 < value < 65536:
            return None
    assert isinstance(port, int) and isinstance(ui_port, int)
    return TemporalPorts(port, ui_port)
