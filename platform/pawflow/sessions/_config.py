"""How a worker finds Temporal and the server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import TemporalAccess

__all__ = ["WorkerConfig"]


@dataclass(frozen=True)
class WorkerConfig:
    server_url: str
    token: str  # the worker credential (never the admin token)
    temporal_address: str
    namespace: str
    task_queue: str
    data_dir: Path  # code of deployments is cached under data_dir / "code"
    # Sessions kept in memory between workflow tasks; the others are replayed
    # from their history when they next run (0 replays every step). None: 1000,
    # or more when more sessions may be inside calls (each in a call is cached).
    max_cached_sessions: int | None = None
    # Sessions that may be inside an external call (or any step of their
    # program) at once, each with its runner process; 0: as many as the
    # memory available at start allows (see default_sessions_in_calls).
    max_sessions_in_calls: int = 0
    # When the worker runs as root, runners run as this user (name or uid).
    runner_user: str | None = None
    # History events a session's run may reach before it continues as new.
    max_history_events: int = 10_000
    # TLS or an API key for Temporal (plaintext when empty).
    temporal_access: TemporalAccess = field(default_factory=TemporalAccess)
    # Serve the Temporal SDK's worker metrics (Prometheus) on 127.0.0.1:metrics_port.
    metrics_port: int | None = None
    # On SIGTERM: how long running steps may take to finish before they are cancelled.
    graceful_shutdown_seconds: float = 8.0
