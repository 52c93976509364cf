"""Two deploys of one project on two servers at once: the schedules end up
those of the deployment that is active, whichever sync writes last."""

from __future__ import annotations

import asyncio
import io
import uuid
import zipfile
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from temporalio.client import (
    Client,
    CreateScheduleInput,
    DeleteScheduleInput,
    Interceptor,
    OutboundInterceptor,
    ScheduleHandle,
    UpdateScheduleInput,
)
from temporalio.service import RPCError, RPCStatusCode

from pawflow.manifest import CallTarget, Manifest, Project, ScheduleSpec, Trigger
from pawflow.schedules import converge_schedules, schedule_id, sync_schedules
from pawflow.storage import DeploymentRecord, Store

from .conftest import AUTH, ServerFactory

CALL = CallTarget("program.py", "tick")
QUEUE = "converge-test"


class _Hold(Interceptor):
    """Holds a client's schedule writes (a slow server) until released."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.released = asyncio.Event()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _HeldWrites(next, self)


class _HeldWrites(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, hold: _Hold) -> None:
        super().__init__(next)
        self._hold = hold

    async def _wait(self) -> None:
        self._hold.arrived.set()
        await self._hold.released.wait()

    async def create_schedule(self, input: CreateScheduleInput) -> ScheduleHandle:
        await self._wait()
        return await super().create_schedule(input)

    async def update_schedule(self, input: UpdateScheduleInput) -> None:
        await self._wait()
        await super().update_schedule(input)

    async def delete_schedule(self, input: DeleteScheduleInput) -> None:
        await self._wait()
        await super().delete_schedule(input)


def _manifest(project: str, own: str, hour: int) -> Manifest:
    """Its own trigger, and one both deployments have at different hours."""
    return Manifest(
        1,
        Project(
            project,
            triggers=(
                Trigger(own, CALL, schedule=ScheduleSpec("@daily")),
                Trigger("both", CALL, schedule=ScheduleSpec(f"0 {hour} * * *")),
            ),
        ),
    )


async def _deployment(store: Store, manifest: Manifest) -> DeploymentRecord:
    return await store.create_deployment(manifest.project.name, manifest.to_dict(), b"zip")


async def _schedules(client: Client, project: str) -> dict[str, Any]:
    """Trigger → the hour its schedule fires next, for the triggers in play."""
    found: dict[str, Any] = {}
    for name in ("a", "b", "both"):
        try:
            desc = await client.get_schedule_handle(schedule_id(project, name)).describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        found[name] = {t.hour for t in desc.info.next_action_times}
    return found


@pytest.mark.parametrize("last", ["newer", "older"])
async def test_the_stale_sync_landing_last_is_followed_by_the_active_ones(
    temporal: Client, store: Store, last: str
) -> None:
    project = f"p{uuid.uuid4().hex[:10]}"
    manifests = [_manifest(project, "a", 1), _manifest(project, "b", 2)]
    older, newer = [await _deployment(store, m) for m in manifests]
    # The deployment activated first is synced by a slow server: its writes
    # land after the other server activated its own and synced it all.
    first, second = (older, newer) if last == "newer" else (newer, older)
    hold = _Hold()
    slow = Client(temporal.service_client, namespace=temporal.namespace, interceptors=[hold])

    try:
        await store.activate_deployment(first.id)
        stale = asyncio.ensure_future(converge_schedules(slow, store, project, QUEUE))
        await asyncio.wait_for(hold.arrived.wait(), 10)  # it read `first` as active
        await store.activate_deployment(second.id)
        synced = await converge_schedules(temporal, store, project, QUEUE)
        assert synced is not None and synced.id == second.id
        hold.released.set()
        synced = await asyncio.wait_for(stale, 30)

        assert await _schedules(temporal, project) == (
            {"b": {0}, "both": {2}} if last == "newer" else {"a": {0}, "both": {1}}
        )
        assert synced is not None and synced.id == second.id  # it noticed, and synced again
    finally:
        hold.released.set()
        await sync_schedules(temporal, project, None, QUEUE, previous=manifests)


async def test_two_servers_deploying_at_once_leave_the_active_deployments_schedules(
    server: ServerFactory, temporal: Client, temporal_address: str, store: Store
) -> None:
    project = f"p{uuid.uuid4().hex[:10]}"
    one, two = await server(temporal_address), await server(temporal_address)
    try:
        for first, second in ((one, two), (two, one)):
            replies = await asyncio.gather(
                _deploy(first, _yaml(project, "a", 1)), _deploy(second, _yaml(project, "b", 2))
            )
            assert [status for status, _ in replies] == [201, 201]
            active = await store.active_deployment(project)
            assert active is not None
            a_won = active.id == replies[0][1]["deployment_id"]
            assert await _schedules(temporal, project) == (
                {"a": {0}, "both": {1}} if a_won else {"b": {0}, "both": {2}}
            )
    finally:
        await sync_schedules(
            temporal,
            project,
            None,
            QUEUE,
            previous=[_manifest(project, "a", 1), _manifest(project, "b", 2)],
        )


def _yaml(project: str, own: str, hour: int) -> str:
    return (
        f"version: 1\nproject:\n  name: {project}\n  triggers:\n"
        f"    - name: {own}\n      schedule: '@daily'\n      call: program.py:tick\n"
        f"    - name: both\n      schedule: '0 {hour} * * *'\n      call: program.py:tick\n"
    )


async def _deploy(client: TestClient[Any, Any], manifest: str) -> tuple[int, dict[str, Any]]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pawflow.yaml", manifest)
        zf.writestr("program.py", "def tick(event):\n    print(event)\n")
    resp = await client.post(
        "/api/v1/deployments",
        data=buf.getvalue(),
        headers={**AUTH, "Content-Type": "application/zip"},
    )
    return resp.status, await resp.json()
