"""The tick activity against a real server: what it posts and which failures it retries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from temporalio.exceptions import ApplicationError

from pawflow.errors import ServerError
from pawflow.schedules import ScheduleTickActivities, TickRequest, format_time
from pawflow.sessions._serverlink import ServerLink
from pawflow.storage import SQLiteStore
from tests.helpers import free_port

from .conftest import TOKEN, ServerFactory


def _post_in_thread(url: str, *requests: TickRequest) -> list[str]:
    """Post ticks as the worker does: from a thread, with a blocking ServerLink
    (which keeps one connection per thread, so it is closed in that thread too)."""
    link = ServerLink(url, TOKEN)
    try:
        return [ScheduleTickActivities(link).post_tick(r) for r in requests]
    finally:
        link.close()


async def test_posts_the_tick_as_an_event(server: ServerFactory, store: SQLiteStore) -> None:
    client = await server(f"127.0.0.1:{free_port()}")
    dep = await store.create_deployment("demo", {"version": 1, "project": {"name": "demo"}}, b"")
    await store.activate_deployment(dep.id)
    request = TickRequest("demo", "nightly", "2024-05-01T03:00:00Z")
    url = str(client.make_url(""))
    event_id, again = await asyncio.to_thread(_post_in_thread, url, request, request)
    assert again == event_id
    event = await store.get_event(event_id)
    assert event is not None and event.data == {"scheduled_time": "2024-05-01T03:00:00Z"}


async def test_an_unknown_project_is_not_retried(server: ServerFactory) -> None:
    client = await server(f"127.0.0.1:{free_port()}")
    request = TickRequest("ghost", "nightly", "2024-05-01T03:00:00Z")
    with pytest.raises(ApplicationError) as info:
        await asyncio.to_thread(_post_in_thread, str(client.make_url("")), request)
    assert info.value.non_retryable
    assert "ghost" in str(info.value)


def test_an_unreachable_server_is_retried() -> None:
    link = ServerLink(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=2.0)
    request = TickRequest("demo", "nightly", "2024-05-01T03:00:00Z")
    # A plain error: Temporal retries the activity with its retry policy.
    with pytest.raises(ServerError, match="cannot reach"):
        ScheduleTickActivities(link).post_tick(request)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 5, 1, 3, 0, tzinfo=UTC), "2024-05-01T03:00:00Z"),
        (datetime(2024, 5, 1, 5, 0, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T03:00:00Z"),
        (datetime(2024, 5, 1, 3, 0, 0, 250000), "2024-05-01T03:00:00.250000Z"),
    ],
)
def test_format_time(moment: datetime, text: str) -> None:
    assert format_time(moment) == text
