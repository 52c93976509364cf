"""``paw up``: embedded Temporal, the server and supervised workers in one foreground command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .. import config
from ..config import TemporalAccess
from ..errors import ConfigError
from ._ports import PORTS_FILE, temporal_ports
from ._process import make_undumpable, run_until_signalled
from ._supervisor import WorkerSupervisor, child_environment, worker_command
from ._temporal import EmbeddedTemporal, TemporalStartError, find_temporal_binary

if TYPE_CHECKING:
    from ..server import RunningServer

__all__ = ["UpOptions", "run_up"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpOptions:
    """What ``paw up`` runs. ``temporal_address=None`` starts the embedded Temporal."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 9980
    temporal_address: str | None = None
    workers: int = 1
    task_queue: str = "pawflow-sessions"
    namespace: str = "default"
    max_body_bytes: int = 1 << 20  # plain webhook bodies
    public_url: str | None = None  # base of webhook URLs (PAWFLOW_PUBLIC_URL)
    metrics_port: int | None = None  # also /metrics without a token on 127.0.0.1
    database_url: str | None = field(default=None, repr=False)
    # TLS or an API key for an external Temporal (temporal_address given).
    temporal_access: TemporalAccess = field(default_factory=TemporalAccess)


def run_up(options: UpOptions, *, out: TextIO | None = None) -> None:
    """Run the platform in the foreground until SIGINT or SIGTERM, then stop it all.

    Raises a :class:`~pawflow.errors.PawflowError` when something cannot start;
    whatever was already started is stopped first.
    """
    # Everything the platform writes (databases, logs, code) is for its own
    # users only: sessions' programs among them must not read it.
    os.umask(0o077)
    make_undumpable()  # it holds the admin token: no runner may read its memory
    asyncio.run(run_until_signalled(_up(options, out or sys.stdout), "the platform"))


async def _up(options: UpOptions, out: TextIO) -> None:
    # Imported here: the server pulls in aiohttp and temporalio, which other
    # commands never need.
    from ..server import ServerConfig, serve

    data_dir = options.data_dir
    logs = data_dir / "logs"
    try:
        config.ensure_data_dir(data_dir)
        logs.mkdir(parents=True, exist_ok=True)
        token = config.ensure_admin_token(data_dir)
        worker_token = config.ensure_worker_token(data_dir)
    except OSError as err:
        raise ConfigError(f"cannot use the data dir {data_dir}: {err.strerror or err}") from None

    async with contextlib.AsyncExitStack() as stack:
        ui_url = None
        if options.temporal_address is None:
            ports = temporal_ports(data_dir)
            temporal = EmbeddedTemporal(
                find_temporal_binary(),
                data_dir / "temporal.db",
                logs / "temporal.log",
                port=ports.port,
                ui_port=ports.ui_port,
                namespace=options.namespace,
            )
            try:
                address = await temporal.start()
            except TemporalStartError as err:
                raise TemporalStartError(
                    f"{err}; its ports are kept in {data_dir / PORTS_FILE}: "
                    "delete that file to choose new ones"
                ) from None
            stack.push_async_callback(temporal.stop)
            temporal_note = f"{address} (embedded, log: {temporal.log_file})"
            ui_url = temporal.ui_url
        else:
            address = options.temporal_address
            temporal_note = f"{address} ({options.temporal_access.kind})"

        server = await stack.enter_async_context(
            serve(
                ServerConfig(
                    data_dir=data_dir,
                    token=token,
                    worker_token=worker_token,
                    temporal_address=address,
                    host=options.host,
                    port=options.port,
                    namespace=options.namespace,
                    task_queue=options.task_queue,
                    max_body_bytes=options.max_body_bytes,
                    public_url=options.public_url,
                    metrics_port=options.metrics_port,
                    database_url=options.database_url,
                    temporal_access=options.temporal_access,
                )
            )
        )
        url: str = server.url

        supervisor = WorkerSupervisor(
            worker_command(url, data_dir, address, options.task_queue),
            count=options.workers,
            log_dir=logs,
            env=child_environment(worker_token),
        )
        # Registered before start: a failure halfway must still stop the ones spawned.
        stack.push_async_callback(supervisor.stop)
        await supervisor.start()

        _banner(out, options, server, temporal_note, ui_url)
        await asyncio.Event().wait()


def _banner(
    out: TextIO,
    options: UpOptions,
    server: RunningServer,
    temporal_note: str,
    ui_url: str | None,
) -> None:
    url = server.url
    flags = []
    if url.rstrip("/") != config.DEFAULT_SERVER:
        flags.append(f"--server {url}")
    if options.data_dir != config.resolve_data_dir():
        flags.append(f"--data-dir {options.data_dir}")
    extra = (" " + " ".join(flags)) if flags else ""
    workers = f"{options.workers} (logs: {options.data_dir / 'logs'}/worker-N.log)"
    if options.workers == 0:
        workers = "0 (start some with 'paw worker')"
    lines = [
        "Pawflow is up.",
        f"  server    {url}",
        f"  data dir  {options.data_dir}",
        f"  temporal  {temporal_note}",
        *([f"  web UI    {ui_url}"] if ui_url else []),
        f"  workers   {workers}",
        f"  metrics   {server.metrics_url or url + '/metrics (admin token)'}",
        *([f"  note      {server.public_url_hint}"] if server.public_url_hint else []),
        "",
        "Next:",
        f"  paw deploy projects/hello{extra}",
        "  curl -X POST <webhook URL> -H 'content-type: application/json' -d '{\"name\": \"Ada\"}'",
        f"  paw session list{extra}",
        f"  paw session watch SESSION_ID{extra}",
        "",
        "Press Ctrl-C to stop.",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()
