"""How a server is configured."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import EffectiveConfig, TemporalAccess, server_credentials

__all__ = ["ServerConfig", "server_config"]


@dataclass(frozen=True)
class ServerConfig:
    """Everything a Pawflow server needs; the CLI builds it from flags and env.
    Its ``repr`` shows no credential (it may end up in a log)."""

    data_dir: Path
    token: str = field(repr=False)  # the admin token
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
    worker_token: str = field(default="", repr=False)
    # TLS or an API key for Temporal (plaintext when empty).
    temporal_access: TemporalAccess = field(default_factory=TemporalAccess)
    # postgresql://...; None: SQLite in the data dir.
    database_url: str | None = field(default=None, repr=False)
    # Also serve /metrics without a token on 127.0.0.1:metrics_port.
    metrics_port: int | None = None
    # How long in-flight requests may take to finish once the server stops.
    shutdown_seconds: float = 5.0
    # The key of secret vars as configured; None: PAWFLOW_SECRET_KEY, else the
    # data dir's secret.key, made when first needed.
    secret_key: str | None = field(default=None, repr=False)
    # Finished sessions are deleted after this many days (0: never), unless
    # their project's manifest says otherwise; a pass runs this often (seconds).
    retention_days: int = 30
    retention_interval: float = 300.0


def server_config(
    effective: EffectiveConfig,
    *,
    temporal_address: str | None = None,
    shutdown_seconds: float = 10.0,
) -> ServerConfig:
    """The configuration of a server (``paw server``, ``paw up``'s): the admin and
    worker tokens and the secret key come from the environment, else from the
    data dir (with SQLite, tokens are made there on first start; with
    PostgreSQL all three must be given: see
    :func:`~pawflow.config.server_credentials`). ``temporal_address`` overrides
    the configured one (``paw up`` embeds its own)."""
    address = temporal_address or effective.temporal_address
    if address is None:
        raise AssertionError("resolve_config(role='server') always sets the Temporal address")
    credentials = server_credentials(effective)
    return ServerConfig(
        data_dir=effective.data_dir,
        token=credentials.token,
        worker_token=credentials.worker_token,
        secret_key=credentials.secret_key,
        temporal_address=address,
        host=effective.host,
        port=effective.port,
        namespace=effective.namespace,
        task_queue=effective.task_queue,
        public_url=effective.public_url,
        max_body_bytes=effective.max_body_bytes,
        temporal_access=effective.temporal_access,
        database_url=effective.database_url,
        metrics_port=effective.metrics_port,
        shutdown_seconds=shutdown_seconds,
        retention_days=effective.retention_days,
    )
