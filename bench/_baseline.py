"""The same work written directly against temporalio: the baseline of each measure.

Workflows are imported by the baseline worker process and named by the bench
when it starts them, so both sides agree on names without sharing objects.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity, workflow
from temporalio.common import WorkflowIDReusePolicy

# The sandbox re-imports this module for every workflow it runs: aiohttp (used
# by an activity only) is taken from outside instead, as the SDK recommends.
with workflow.unsafe.imports_passed_through():
    import aiohttp

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

__all__ = [
    "CALLS_WORKFLOW",
    "SLEEP_WORKFLOW",
    "SLOW_CALL_WORKFLOW",
    "TRANSFER_WORKFLOW",
    "Calls",
    "Sleep",
    "SlowCall",
    "Transfer",
    "deposit",
    "eagerly_started",
    "fast_queue",
    "noop",
    "record",
    "slow_call",
    "start_like_pawflow",
    "withdraw",
]

CALLS_WORKFLOW = "bench.calls"
SLEEP_WORKFLOW = "bench.sleep"
TRANSFER_WORKFLOW = "bench.transfer"
SLOW_CALL_WORKFLOW = "bench.slow_call"

_CALL_TIMEOUT = timedelta(seconds=30)


def fast_queue(task_queue: str) -> str:
    """The task queue of the baseline's unsandboxed worker next to its default one."""
    return f"{task_queue}-unsandboxed"


@activity.defn(name="bench.noop")
async def noop() -> None:
    """A call that does nothing, like the Pawflow session's ``@pawflow.activity``."""


@workflow.defn(name=CALLS_WORKFLOW)
class Calls:
    """``n`` sequential local activities, each a no-op."""

    @workflow.run
    async def run(self, n: int) -> None:
        for _ in range(n):
            await workflow.execute_local_activity(noop, start_to_close_timeout=_CALL_TIMEOUT)


@workflow.defn(name=SLEEP_WORKFLOW)
class Sleep:
    """Waits on a durable timer for an hour."""

    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(3600)


# -- sync_transfer_e2e: the money transfer's three steps, computed in process -------
@activity.defn(name="bench.withdraw")
async def withdraw(account: str, amount: int) -> dict[str, Any]:
    return {"account": account, "withdrawn": amount}


@activity.defn(name="bench.deposit")
async def deposit(account: str, amount: int) -> dict[str, Any]:
    return {"account": account, "deposited": amount}


@activity.defn(name="bench.record")
async def record(source: str, target: str, amount: int) -> str:
    return f"{amount} from {source} to {target}"


@workflow.defn(name=TRANSFER_WORKFLOW)
class Transfer:
    """Withdraw, deposit, record: three sequential local activities; returns all three."""

    @workflow.run
    async def run(self, order: dict[str, Any]) -> dict[str, Any]:
        source, target, amount = order["from"], order["to"], order["amount"]
        out = await workflow.execute_local_activity(
            withdraw, args=[source, amount], start_to_close_timeout=_CALL_TIMEOUT
        )
        into = await workflow.execute_local_activity(
            deposit, args=[target, amount], start_to_close_timeout=_CALL_TIMEOUT
        )
        note = await workflow.execute_local_activity(
            record, args=[source, target, amount], start_to_close_timeout=_CALL_TIMEOUT
        )
        return {"withdraw": out, "deposit": into, "record": note}


# -- concurrent_calls: one call that waits seconds on I/O --------------------------
@activity.defn(name="bench.slow_call")
async def slow_call(url: str) -> int:
    """GET ``url`` (the bench's slow server) and return its status."""
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as resp:
        await resp.read()
        return resp.status


@workflow.defn(name=SLOW_CALL_WORKFLOW)
class SlowCall:
    """One activity (not local: it lasts seconds) that waits on the slow server."""

    @workflow.run
    async def run(self, url: str) -> int:
        return await workflow.execute_activity(
            slow_call, url, start_to_close_timeout=timedelta(seconds=120)
        )


async def start_like_pawflow(
    client: Client, workflow_name: str, *args: Any, workflow_id: str, task_queue: str
) -> WorkflowHandle[Any, Any]:
    """Start a workflow with the options Pawflow's dispatcher starts sessions with."""
    return await client.start_workflow(
        workflow_name,
        args=list(args),
        id=workflow_id,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        execution_timeout=timedelta(days=365),
        request_eager_start=True,
    )


def eagerly_started(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the server handed the start's first workflow task straight back to a
    worker of the same client (eager start), per the SDK's own mark on the handle."""
    return bool(getattr(handle, "__temporal_eagerly_started", False))
