"""``paw up``: embedded Temporal, the server and supervised workers in one foreground command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from .. import config
from ..config import EffectiveConfig
from ..errors import ConfigError
from ..processes import make_undumpable, raise_open_files_limit
from ._lock import DataDirLock
from ._ports import PORTS_FILE, temporal_ports
from ._process import run_until_signalled
from ._supervisor import WorkerSupervisor, child_environment, worker_command
from ._temporal import (
    TEMPORAL_DB_FILE,
    EmbeddedTemporal,
    TemporalStartError,
    find_temporal_binary,
)

if TYPE_CHECKING:
    from ..server import RunningServer

__all__ = ["UpOptions", "run_up"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpOptions:
    """What ``paw up`` runs: the effective configuration (no Temporal address
    means the embedded one) and how many workers to supervise."""

    config: EffectiveConfig
    workers: int = 1


def run_up(options: UpOptions, *, out: TextIO | None = None) -> None:
    """Run the platform in the foreground until SIGINT or SIGTERM, then stop it all.

    Raises a :class:`~pawflow.errors.PawflowError` when something cannot start;
    whatever was already started is stopped first.
    """
    # Everything the platform writes (databases, logs, code) is for its own
    # users only: sessions' programs among them must not read it.
    os.umask(0o077)
    make_undumpable()  # it holds the admin token: no runner may read its memory
    # Its server takes a keep-alive connection from every worker thread running
    # a session's call.
    raise_open_files_limit()
    settings = options.config
    try:
        config.ensure_data_dir(settings.data_dir)
    except OSError as err:
        raise ConfigError(
            f"cannot use the data dir {settings.data_dir}: {err.strerror or err}"
        ) from None
    # First: a second platform on this data dir must change nothing in it. The
    # embedded Temporal lives there even when the store is PostgreSQL.
    # A PostgreSQL store with an outside Temporal is shared on purpose: no lock.
    lock = DataDirLock(settings.data_dir, "paw up")
    if settings.database_url is None or settings.temporal_address is None:
        lock.acquire()
    try:
        asyncio.run(run_until_signalled(_up(options, out or sys.stdout, lock), "the platform"))
    finally:
        lock.release()


async def _up(options: UpOptions, out: TextIO, lock: DataDirLock) -> None:
    # Imported here: the server pulls in aiohttp and temporalio, which other
    # commands never need.
    from ..server import serve, server_config

    settings = options.config
    data_dir = settings.data_dir
    logs = data_dir / "logs"
    try:
        logs.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot use the data dir {data_dir}: {err.strerror or err}") from None

    async with contextlib.AsyncExitStack() as stack:
        ui_url = None
        if settings.temporal_address is None:
            ports = temporal_ports(data_dir)
            temporal = EmbeddedTemporal(
                find_temporal_binary(),
                data_dir / TEMPORAL_DB_FILE,
                logs / "temporal.log",
                port=ports.port,
                ui_port=ports.ui_port,
                namespace=settings.namespace,
                progress=sys.stderr,
                # Killed with paw up, it still ends after it: the data dir stays
                # locked until then.
                pass_fds=(lock.fileno(),) if lock.held else (),
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
            address = settings.temporal_address
            temporal_note = f"{address} ({settings.temporal_access.kind})"

        # Ctrl-C should not wait long for in-flight requests on a laptop.
        server_settings = server_config(settings, temporal_address=address, shutdown_seconds=5.0)
        server = await stack.enter_async_context(serve(server_settings))
        url: str = server.url
        lock.announce(url)

        worker_env = child_environment(server_settings.worker_token)
        in_calls_env = config.setting_env("max_sessions_in_calls")
        if options.workers > 1 and not worker_env.get(in_calls_env, "").strip():
            # The workers share this machine's memory: each gets its part.
            from ..sessions._worker import available_memory, default_sessions_in_calls

            share = default_sessions_in_calls(available_memory()) // options.workers
            worker_env[in_calls_env] = str(max(1, share))
        supervisor = WorkerSupervisor(
            worker_command(url, data_dir, address, settings.task_queue),
            count=options.workers,
            log_dir=logs,
            env=worker_env,
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
    data_dir = options.config.data_dir
    if data_dir != config.resolve_data_dir():
        flags.append(f"--data-dir {data_dir}")
    extra = (" " + " ".join(flags)) if flags else ""
    workers = f"{options.workers} (logs: {data_dir / 'logs'}/worker-N.log)"
    if options.workers == 0:
        workers = "0 (start some with 'paw worker')"
    lines = [
        "Pawflow is up.",
        f"  server    {url}",
        # The page asks for a login; paw ui opens it logged in (a one-time link).
        f"  dashboard {url}/ui/  (log in: paw ui{extra})",
        f"  data dir  {data_dir}",
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
