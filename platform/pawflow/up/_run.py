"""``paw up``: embedded Temporal, the server and supervised workers in one foreground command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .. import config
from ..errors import ConfigError
from ._process import make_undumpable, run_until_signalled
from ._supervisor import WorkerSupervisor, child_environment, worker_command
from ._temporal import EmbeddedTemporal, find_temporal_binary

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
        token = config.ensure_token(data_dir)
        worker_token = config.ensure_worker_token(data_dir)
    except OSError as err:
        raise ConfigError(f"cannot use the data dir {data_dir}: {err.strerror or err}") from None

    async with contextlib.AsyncExitStack() as stack:
        if options.temporal_address is None:
            temporal = EmbeddedTemporal(
                find_temporal_binary(),
                data_dir / "temporal.db",
                logs / "temporal.log",
                namespace=options.namespace,
            )
            address = await temporal.start()
            stack.push_async_callback(temporal.stop)
            temporal_note = f"{address} (embedded, log: {temporal.log_file})"
        else:
            address = options.temporal_address
            temporal_note = address

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

        _banner(out, options, url, temporal_note)
        await asyncio.Event().wait()


def _banner(out: TextIO, options: UpOptions, url: str, temporal_note: str) -> None:
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
        f"  workers   {workers}",
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
