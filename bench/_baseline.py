"""The same work written directly against temporalio: the baseline of each measure.

Workflows are imported by the baseline worker process and named by the bench
when it starts them, so both sides agree on names without sharing objects.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity, workflow
from temporalio.common import WorkflowIDReusePolicy

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

__all__ = [
    "CALLS_WORKFLOW",
    "SLEEP_WORKFLOW",
    "Calls",
    "Sleep",
    "noop",
    "start_like_pawflow",
]

CALLS_WORKFLOW = "bench.calls"
SLEEP_WORKFLOW = "bench.sleep"


@activity.defn(name="bench.noop")
async def noop() -> None:
    """A call that does nothing, like the Pawflow session's ``@pawflow.activity``."""


@workflow.defn(name=CALLS_WORKFLOW)
class Calls:
    """``n`` sequential local activities, each a no-op."""

    @workflow.run
    async def run(self, n: int) -> None:
        for _ in range(n):
            await workflow.execute_local_activity(
                noop, start_to_close_timeout=timedelta(seconds=30)
            )


@workflow.defn(name=SLEEP_WORKFLOW)
class Sleep:
    """Waits on a durable timer for an hour."""

    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(3600)


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
