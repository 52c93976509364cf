"""A server makes its Temporal namespace keep closed workflows as long as Pawflow keeps sessions."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client

from pawflow.server import ServerConfig, serve
from pawflow.server._temporal import align_retention
from tests.helpers import wait_for

from ._helpers import TOKEN


async def _namespace(client: Client, days: int) -> str:
    name = f"retention-{uuid.uuid4().hex[:12]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name,
            description="made by a test",
            workflow_execution_retention_period=Duration(seconds=days * 86400),
        )
    )
    return name


async def _retention(client: Client, namespace: str) -> timedelta:
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta()


def _config(tmp_path: Path, temporal_address: str, namespace: str, days: int) -> ServerConfig:
    return ServerConfig(
        data_dir=tmp_path / "data",
        token=TOKEN,
        temporal_address=temporal_address,
        namespace=namespace,
        port=0,
        retention_days=days,
    )


async def test_a_starting_server_sets_the_namespace_retention(
    tmp_path: Path, temporal_address: str
) -> None:
    client = await Client.connect(temporal_address)
    namespace = await _namespace(client, days=1)
    async with serve(_config(tmp_path, temporal_address, namespace, days=7)):

        async def aligned() -> bool:
            return await _retention(client, namespace) == timedelta(days=7)

        await wait_for(aligned, message="the namespace's retention set to 7 days")
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    assert described.namespace_info.description == "made by a test"  # the rest is left alone
    # Already equal: nothing to change. 0 (Pawflow keeps forever): left as it is.
    assert not await align_retention(client, namespace, 7)
    assert not await align_retention(client, namespace, 0)
    assert await _retention(client, namespace) == timedelta(days=7)


async def test_a_refusal_is_a_warning_and_the_server_serves(
    tmp_path: Path, temporal_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pawflow.server")
    missing = f"missing-{uuid.uuid4().hex[:12]}"  # Temporal refuses to describe it
    config = _config(tmp_path, temporal_address, missing, days=30)
    async with serve(config) as server, aiohttp.ClientSession(server.url) as http:

        def warned() -> list[logging.LogRecord]:
            return [r for r in caplog.records if "retention of Temporal namespace" in r.message]

        (record,) = await wait_for(warned, message="the warning about the retention")
        assert record.levelno == logging.WARNING
        assert record.getMessage().startswith(
            f"could not set the retention of Temporal namespace {missing} to 30 days ("
        )
        assert "\n" not in record.getMessage()
        assert (await http.get("/healthz")).status == 200
