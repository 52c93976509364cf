"""The worker process: polls Temporal for sessions and runs them."""

from __future__ import annotations

from ._config import WorkerConfig


async def run_worker(config: WorkerConfig) -> None:
    """Run one worker until cancelled."""
    raise NotImplementedError
