"""How a server is configured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """Everything a Pawflow server needs; the CLI builds it from flags and env."""

    data_dir: Path
    token: str  # the admin token
    temporal_address: str  # "127.0.0.1:7233"
    host: str = "127.0.0.1"
    port: int = 9980  # 0 = pick a free port
    namespace: str = "default"
    task_queue: str = "pawflow-sessions"
    public_url: str | None = None  # base URL printed in webhook URLs
    max_body_bytes: int = 1 << 20  # plain webhook bodies (paw up --max-body-mb)
    # Deliveries of connections' services: GitHub sends payloads of up to 25 MB.
    max_connection_body_bytes: int = 25 << 20
    # Workers' credential (and the key of session credentials); "" lets no
    # worker or session in, only the admin token.
    worker_token: str = ""
