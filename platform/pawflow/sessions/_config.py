"""How a worker finds Temporal and the server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["WorkerConfig"]


@dataclass(frozen=True)
class WorkerConfig:
    server_url: str
    token: str
    temporal_address: str
    namespace: str
    task_queue: str
    data_dir: Path  # code of deployments is cached under data_dir / "code"
