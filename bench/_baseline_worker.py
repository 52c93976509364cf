"""``python -m bench._baseline_worker HOST:PORT QUEUE [HTTP_PORT]``: the raw temporalio side.

Two workers on one client:

- on QUEUE, temporalio's defaults throughout (sandbox, cache size, pollers):
  what a user of the SDK gets without tuning;
- on ``QUEUE-unsandboxed`` (:func:`fast_queue`), the same workflows without the
  sandbox, and enough activity slots and pollers for the concurrent-calls
  measure (its activities are ``async``: a wait costs no thread).

With HTTP_PORT, a small aiohttp server on 127.0.0.1 as well: ``POST /transfer``
runs the transfer workflow on the unsandboxed queue with ``execute_workflow``
and answers its result; the start is eager (the worker shares the handler's
client), as the best a hand-written service on temporalio would do.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from datetime import timedelta

from aiohttp import web
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench._baseline import (
    TRANSFER_WORKFLOW,
    Calls,
    Sleep,
    SlowCall,
    Transfer,
    deposit,
    eagerly_started,
    fast_queue,
    noop,
    record,
    slow_call,
    withdraw,
)

# The concurrent-calls baseline holds up to this many activities waiting at once,
# and takes new ones from the server with more pollers than the SDK's 5.
_ACTIVITY_SLOTS = 2000
_ACTIVITY_POLLERS = 20


def _app(client: Client, task_queue: str) -> web.Application:
    async def transfer(request: web.Request) -> web.Response:
        order = await request.json()
        handle = await client.start_workflow(
            TRANSFER_WORKFLOW,
            order,
            id=f"transfer-{uuid.uuid4().hex}",
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            execution_timeout=timedelta(minutes=5),
            request_eager_start=True,
        )
        result = await handle.result()
        eager = eagerly_started(handle)
        return web.Response(
            text=json.dumps(result),
            content_type="application/json",
            headers={"Bench-Eager-Start": "1" if eager else "0"},
        )

    app = web.Application()
    app.router.add_post("/transfer", transfer)
    return app


async def _serve(address: str, task_queue: str, http_port: int | None) -> None:
    client = await Client.connect(address)
    default = Worker(client, task_queue=task_queue, workflows=[Calls, Sleep], activities=[noop])
    unsandboxed = Worker(
        client,
        task_queue=fast_queue(task_queue),
        workflows=[Calls, Transfer, SlowCall],
        activities=[noop, withdraw, deposit, record, slow_call],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_activities=_ACTIVITY_SLOTS,
        max_concurrent_activity_task_polls=_ACTIVITY_POLLERS,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = None
    if http_port is not None:
        runner = web.AppRunner(_app(client, fast_queue(task_queue)), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", http_port).start()
    try:
        async with default, unsandboxed:
            await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(
            "usage: python -m bench._baseline_worker HOST:PORT TASK_QUEUE [HTTP_PORT]",
            file=sys.stderr,
        )
        return 2
    asyncio.run(_serve(argv[0], argv[1], int(argv[2]) if len(argv) == 3 else None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
