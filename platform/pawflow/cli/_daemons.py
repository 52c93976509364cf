"""The long-running commands: ``paw up``, ``paw server`` and ``paw worker``.

All three take their configuration from :func:`pawflow.config.resolve_config`
(flags, then environment, then the data dir, then defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import config
from ..errors import ServerError
from ._client import ApiClient, ServerUnavailable

if TYPE_CHECKING:
    from ..sessions import Patience

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
    token = config.find_worker_token(args.data_dir)
    # Started with its server (systemd, compose), a worker may come up first:
    # until the event loop handles them, a signal ends the wait as it would
    # end the worker.
    try:
        with _signals_stop():
            _run_worker(effective, token, args)
    except _Stopped as stop:
        logger.info("received %s; stopping the worker", stop.signal.name)
        logger.info("the worker stopped")
    return 0


def _run_worker(effective: config.EffectiveConfig, token: str, args: argparse.Namespace) -> None:
    from ..sessions import Patience, WorkerConfig, run_worker
    from ..up import run_until_signalled

    server = effective.server
    info = _server_info(
        ApiClient(server, token), Patience(f"the server at {server}", args.wait_seconds)
    )

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
    # What the worker writes (its code cache) is for its own user only.
    os.umask(0o077)
    config.ensure_data_dir(worker_config.data_dir)

    asyncio.run(
        run_until_signalled(run_worker(worker_config, wait_seconds=args.wait_seconds), "the worker")
    )


def _server_info(client: ApiClient, patience: Patience) -> dict[str, Any]:
    """The server's ``/api/v1/info`` once it answers it and is ready, trying
    again while it is unavailable; any other error at once."""
    while True:
        try:
            info = client.get("/api/v1/info")
            if not isinstance(info, dict):
                raise ServerError(
                    f"the server at {client.base_url} sent an unexpected /api/v1/info answer"
                )
            _check_ready(client)
            return info
        except ServerUnavailable as err:
            delay = patience.next_try(err.reason)
            if delay is None:
                raise
        time.sleep(delay)


def _check_ready(client: ApiClient) -> None:
    """Raise ServerUnavailable while the server says it cannot work (its store
    or Temporal away, or it is stopping)."""
    try:
        client.get("/readyz")
    except ServerUnavailable as err:
        if err.status != 503:
            raise
        raise ServerUnavailable(
            f"the server at {client.base_url} is not ready: {err}", f"not ready: {err}", status=503
        ) from None
    except ServerError:
        pass  # a proxy that does not pass /readyz on: the worker finds out as it goes


class _Stopped(BaseException):
    """SIGINT or SIGTERM arrived while the worker was starting."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signal = signal.Signals(signum)


@contextlib.contextmanager
def _signals_stop() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`_Stopped` (the worker's event loop
    installs its own handlers while it runs)."""

    def stop(signum: int, frame: object) -> None:
        raise _Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
