"""The long-running commands: ``paw up`` and ``paw worker``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from .. import config
from ..errors import ConfigError, ServerError
from ._client import ApiClient

__all__ = ["cmd_up", "cmd_worker"]

logger = logging.getLogger(__name__)


def cmd_up(args: argparse.Namespace) -> int:
    """``paw up``: the whole platform in the foreground."""
    from ..up import UpOptions, run_up

    run_up(
        UpOptions(
            data_dir=config.resolve_data_dir(args.data_dir),
            host=args.host,
            port=args.port,
            temporal_address=args.temporal,
            workers=args.workers,
            task_queue=args.task_queue,
            max_body_bytes=_megabytes(args.max_body_mb, "PAWFLOW_MAX_BODY_MB", default=1),
        )
    )
    return 0


def _megabytes(flag: int | None, variable: str, *, default: int) -> int:
    raw = flag if flag is not None else os.environ.get(variable) or default
    try:
        megabytes = int(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be a whole number of megabytes, not {raw!r}") from None
    if not 0 < megabytes <= 1024:
        raise ConfigError(f"{variable} must be between 1 and 1024 megabytes, not {megabytes}")
    return megabytes << 20


def cmd_worker(args: argparse.Namespace) -> int:
    """``paw worker``: run sessions for the server until SIGTERM or SIGINT."""
    server = config.resolve_server(args.server)
    token = config.find_worker_token(args.data_dir)
    info = ApiClient(server, token).get("/api/v1/info")
    if not isinstance(info, dict):
        raise ServerError(f"the server at {server} sent an unexpected /api/v1/info answer")

    from ..sessions import WorkerConfig

    worker_config = WorkerConfig(
        server_url=server,
        token=token,
        temporal_address=args.temporal or str(info.get("temporal_address") or ""),
        namespace=str(info.get("namespace") or "default"),
        task_queue=args.task_queue or str(info.get("task_queue") or ""),
        data_dir=config.resolve_data_dir(args.data_dir),
        max_cached_sessions=args.max_cached_sessions,
        max_history_events=max(args.max_history_events, 100),
        runner_user=args.runner_user or os.environ.get("PAWFLOW_RUNNER_USER") or None,
    )
    if not worker_config.temporal_address or not worker_config.task_queue:
        raise ServerError(f"the server at {server} did not say where Temporal is")
    logger.info(
        "worker for %s: Temporal %s, namespace %s, task queue %s",
        server,
        worker_config.temporal_address,
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
