"""``python -m bench._baseline_worker HOST:PORT QUEUE``: the raw temporalio worker.

temporalio's defaults throughout (sandbox, cache size, pollers), so the
baseline is what a user of the SDK gets without tuning.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from bench._baseline import Calls, Sleep, noop


async def _serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    worker = Worker(client, task_queue=task_queue, workflows=[Calls, Sleep], activities=[noop])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench._baseline_worker HOST:PORT TASK_QUEUE", file=sys.stderr)
        return 2
    asyncio.run(_serve(argv[0], argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
