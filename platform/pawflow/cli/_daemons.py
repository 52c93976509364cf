"""The long-running commands: ``paw up``, ``paw server`` and ``paw worker``.

All three take their configuration from :func:`pawflow.config.resolve_config`
(flags, then environment, then the data dir, then defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from .. import config
from ..errors import ServerError
from ._client import ApiClient

__all__ = ["cmd_server", "cmd_up", "cmd_worker"]

logger = logging.getLogger(__name__)


def cmd_up(args: argparse.Namespace) -> int:
    """``paw up``: the whole platform in the foreground."""
    from ..up import UpOptions, run_up

    run_up(UpOptions(config.resolve_config(vars(args), "up"), workers=args.workers))
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    """``paw server``: API, webhooks and dispatcher until SIGTERM or SIGINT."""
    from ..server import run_server, server_config
    from ..up import DataDirLock

    effective = config.resolve_config(vars(args), "server")
    # What the server writes (its SQLite store, tokens) is for its own user only.
    os.umask(0o077)
    # One server per SQLite store; servers of one PostgreSQL database share it on purpose.
    lock = DataDirLock(effective.data_dir, "paw server")
    if effective.database_url is None:
        config.ensure_data_dir(effective.data_dir)
        # Before anything is made in the data dir (tokens on a first start).
        lock.acquire()
        if effective.port:
            host = "127.0.0.1" if config.is_wildcard(effective.host) else effective.host
            lock.announce(config.listen_url(host, effective.port))
    try:
        run_server(server_config(effective), out=sys.stdout)
    finally:
        lock.release()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """``paw worker``: run sessions for the server until SIGTERM or SIGINT."""
    effective = config.resolve_config(vars(args), "worker")
    server = effective.server
    token = config.find_worker_token(args.data_dir)
    info = ApiClient(server, token).get("/api/v1/info")
    if not isinstance(info, dict):
        raise ServerError(f"the server at {server} sent an unexpected /api/v1/info answer")

    from ..sessions import WorkerConfig

    def configured(name: str) -> bool:
        return effective.setting(name).source != "default"

    worker_config = WorkerConfig(
        server_url=server,
        token=token,
        temporal_address=effective.temporal_address or str(info.get("temporal_address") or ""),
        namespace=(
            effective.namespace
            if configured("temporal_namespace")
            else str(info.get("namespace") or "default")
        ),
        task_queue=(
            effective.task_queue if configured("task_queue") else str(info.get("task_queue") or "")
        ),
        data_dir=effective.data_dir,
        max_cached_sessions=args.max_cached_sessions,
        max_history_events=max(args.max_history_events, 100),
        runner_user=args.runner_user or os.environ.get("PAWFLOW_RUNNER_USER") or None,
        temporal_access=effective.temporal_access,
        metrics_port=effective.metrics_port,
        max_sessions_in_calls=effective.max_sessions_in_calls,
    )
    if not worker_config.temporal_address or not worker_config.task_queue:
        raise ServerError(f"the server at {server} did not say where Temporal is")
    logger.info(
        "worker for %s: Temporal %s (%s), namespace %s, task queue %s",
        server,
        worker_config.temporal_address,
        worker_config.temporal_access.kind,
        worker_config.namespace,
        worker_config.task_queue,
    )
    from ..sessions import run_worker
    from ..up import run_until_signalled

    # What the worker writes (its code cache) is for its own user only.
    os.umask(0o077)
    config.ensure_data_dir(worker_config.data_dir)

    asyncio.run(run_until_signalled(run_worker(worker_config), "the worker"))
    return 0
