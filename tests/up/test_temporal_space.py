"""The embedded Temporal's SQLite file gives back the space of deleted workflows."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    DescribeWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from pawflow.up import EmbeddedTemporal, find_temporal_binary, give_space_back
from tests.helpers import wait_for

SESSIONS = 150  # one-call workflows: enough to see, seconds to run and delete


@activity.defn
async def one_call(n: int) -> int:
    return n + 1


@workflow.defn
class OneCall:
    @workflow.run
    async def run(self, n: int) -> int:
        return await workflow.execute_activity(
            one_call, n, start_to_close_timeout=timedelta(seconds=30)
        )


def _size(db: Path) -> int:
    """The database's size as its latest commit has it (its WAL included)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    return int(pages * page_size)


async def test_the_file_shrinks_once_temporal_deletes_workflows(tmp_path: Path) -> None:
    db = tmp_path / "temporal.db"
    temporal = EmbeddedTemporal(find_temporal_binary(), db, tmp_path / "temporal.log")
    address = await temporal.start()
    try:
        empty = _size(db)
        client = await Client.connect(address)
        queue = f"space-{uuid.uuid4().hex[:8]}"
        ids = [f"{queue}-{n}" for n in range(SESSIONS)]
        limit = asyncio.Semaphore(32)

        async def run(workflow_id: str) -> None:
            async with limit:
                await client.execute_workflow(OneCall.run, 1, id=workflow_id, task_queue=queue)

        async with Worker(
            client,
            task_queue=queue,
            workflows=[OneCall],
            activities=[one_call],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            await asyncio.gather(*map(run, ids))
        full = _size(db)
        assert full > empty + SESSIONS * 5_000  # histories of some KB each

        # What the namespace's retention does to a closed workflow, right now.
        async def delete(workflow_id: str) -> None:
            async with limit:
                await client.workflow_service.delete_workflow_execution(
                    DeleteWorkflowExecutionRequest(
                        namespace="default",
                        workflow_execution=WorkflowExecution(workflow_id=workflow_id),
                    )
                )

        await asyncio.gather(*map(delete, ids))
        left = set(ids)

        async def gone(workflow_id: str) -> bool:
            try:
                await client.workflow_service.describe_workflow_execution(
                    DescribeWorkflowExecutionRequest(
                        namespace="default",
                        execution=WorkflowExecution(workflow_id=workflow_id),
                    )
                )
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return True
                raise
            return False

        async def all_gone() -> bool:
            for workflow_id in list(left):
                if await gone(workflow_id):
                    left.discard(workflow_id)
            return not left

        await wait_for(all_gone, timeout=90, interval=0.5, message="every workflow deleted")
    finally:
        await temporal.stop()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (1,)
        # What the next start does with the WAL (it holds a few MB at most).
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = db.stat().st_size
    # Most of what the sessions took is back on the disk.
    assert after - empty < (full - empty) / 4, (empty, full, after)


def test_a_file_made_before_is_compacted_once(tmp_path: Path) -> None:
    db = tmp_path / "temporal.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE history (n INTEGER, data BLOB)")
        with conn:
            conn.executemany(
                "INSERT INTO history VALUES (?, randomblob(1000))", [(n,) for n in range(5_000)]
            )
        with conn:
            conn.execute("DELETE FROM history WHERE n >= 100")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # auto_vacuum off, as Temporal made it before: the deleted rows' pages stay.
    kept = db.stat().st_size
    assert kept > 5_000_000

    assert give_space_back(db)
    assert db.stat().st_size < kept / 5
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM history").fetchone() == (100,)
    assert not give_space_back(db)  # once is enough
    assert not give_space_back(tmp_path / "absent.db")
    assert not (tmp_path / "absent.db").exists()
