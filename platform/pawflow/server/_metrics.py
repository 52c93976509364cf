"""Prometheus metrics of a server: what a team running Pawflow alerts on.

Each application has a registry of its own (no process-wide one), so several
servers in one process (tests) never mix their counts. Counters move as
requests and log records arrive; gauges that describe the store (how far
dispatch lags, which workers are alive) are read from it when ``/metrics`` is
scraped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from ..storage import LogRecord, PurgeCounts, Store
from ._keys import WEBHOOK_PREFIX
from ._state import STORE
from ._workers import ALIVE_SECONDS, WORKERS, WorkerRegistry

__all__ = ["METRICS", "ServerMetrics", "metrics", "metrics_middleware"]

log = logging.getLogger(__name__)

# Webhook acknowledgements take milliseconds; the top buckets catch a store in trouble.
_ACK_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_CALL_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0)
_DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0)
_JOURNAL_ROUTE = "/api/v1/sessions/{id}/calls/{number}"


class ServerMetrics:
    """The metrics of one server application."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.webhooks = Counter(
            "pawflow_webhooks",
            "Webhook deliveries answered, by kind (webhook, connection) and HTTP status",
            ["kind", "status"],
            registry=r,
        )
        self.webhook_ack = Histogram(
            "pawflow_webhook_ack_seconds",
            "Time from a webhook's arrival to its answer (the event is committed before it)",
            ["kind"],
            buckets=_ACK_BUCKETS,
            registry=r,
        )
        self.dispatch_lag = Gauge(
            "pawflow_dispatch_lag_seconds",
            "Age of the oldest stored event not dispatched yet (0 when none waits)",
            registry=r,
        )
        self.start_lag = Gauge(
            "pawflow_session_start_lag_seconds",
            "Age of the oldest session whose workflow start Temporal has not acknowledged",
            registry=r,
        )
        self.session_states = Counter(
            "pawflow_session_states",
            "Sessions entering a state: running = started; completed, error, stopped = ended",
            ["state"],
            registry=r,
        )
        self.calls_started = Counter(
            "pawflow_calls_started", "External calls started by sessions", registry=r
        )
        self.calls_ended = Counter(
            "pawflow_calls_ended", "External calls ended, by outcome (ok, error)", ["outcome"],
            registry=r,
        )  # fmt: skip
        self.call_duration = Histogram(
            "pawflow_call_duration_seconds",
            "Duration of external calls, all attempts included",
            buckets=_CALL_BUCKETS,
            registry=r,
        )
        self.log_records = Counter(
            "pawflow_log_records_stored", "Session log records stored, by type", ["type"],
            registry=r,
        )  # fmt: skip
        self.log_delay = Histogram(
            "pawflow_log_shipping_delay_seconds",
            "From a log record's time on the worker to its storing here: the shipping backlog",
            buckets=_DELAY_BUCKETS,
            registry=r,
        )
        self.journal_writes = Counter(
            "pawflow_journal_writes",
            "Call outcomes written to the call journal, by HTTP status",
            ["status"],
            registry=r,
        )
        self.journal_write_time = Histogram(
            "pawflow_journal_write_seconds",
            "Time to store a call outcome in the journal: a session waits for it before going on",
            buckets=_ACK_BUCKETS,
            registry=r,
        )
        self.workers = Gauge(
            "pawflow_workers",
            f"Workers alive: a heartbeat reached any server within the last {ALIVE_SECONDS:g} s",
            registry=r,
        )
        self.worker_sessions = Gauge(
            "pawflow_worker_sessions_running",
            "Sessions holding a runner on each worker, as its last heartbeat said",
            ["worker"],
            registry=r,
        )
        self.worker_log_backlog = Gauge(
            "pawflow_worker_log_backlog_records",
            "Log records each worker had not yet delivered, as its last heartbeat said",
            ["worker"],
            registry=r,
        )
        self.retention_rows = Counter(
            "pawflow_retention_deleted",
            "Rows retention deleted, by kind (sessions, log_records, events, deployment_code)",
            ["kind"],
            registry=r,
        )

    def retention_deleted(self, counts: PurgeCounts) -> None:
        """Count what a retention pass deleted."""
        for kind in ("sessions", "log_records", "events", "deployment_code"):
            self.retention_rows.labels(kind).inc(getattr(counts, kind))

    def records_stored(self, records: Iterable[LogRecord], now: float | None = None) -> None:
        """Count newly stored log records (duplicates are not passed here)."""
        at = time.time() if now is None else now
        for record in records:
            kind = str(record.get("type"))
            self.log_records.labels(kind).inc()
            stamp = record.get("time")
            if isinstance(stamp, int | float):
                self.log_delay.observe(max(at - stamp, 0.0))
            if kind == "state":
                self.session_states.labels(str(record.get("state"))).inc()
            elif kind == "call_start":
                self.calls_started.inc()
            elif kind == "call_end":
                self.calls_ended.labels("error" if record.get("error") else "ok").inc()
                duration = record.get("duration_ms")
                if isinstance(duration, int | float) and duration >= 0:
                    self.call_duration.observe(duration / 1000)

    async def refresh(self, store: Store, workers: WorkerRegistry) -> None:
        """Set the gauges read from the store and from workers' heartbeats."""
        now = time.time()
        events = await store.pending_events(limit=1)
        self.dispatch_lag.set(max(now - events[0].created_at, 0.0) if events else 0.0)
        sessions = await store.sessions_to_start(limit=1)
        self.start_lag.set(max(now - sessions[0].created_at, 0.0) if sessions else 0.0)
        # Read from the store, so every server exports the same workers.
        alive = await workers.alive(store, now)
        self.workers.set(len(alive))
        for gauge in (self.worker_sessions, self.worker_log_backlog):
            gauge.clear()  # workers that went away must not linger
        for worker in alive:
            self.worker_sessions.labels(worker.id).set(worker.sessions_running)
            self.worker_log_backlog.labels(worker.id).set(worker.log_backlog)

    def render(self) -> bytes:
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", ServerMetrics)


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus text format."""
    server_metrics = request.app[METRICS]
    await server_metrics.refresh(request.app[STORE], request.app[WORKERS])
    response = web.Response(body=server_metrics.render())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts webhook answers and journal writes; outermost, so it sees the
    status the client gets (errors already turned into replies)."""
    kind = _webhook_kind(request)
    journal = kind is None and request.method == "POST" and _is_journal(request)
    if kind is None and not journal:
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as err:
        status = err.status
        raise
    finally:
        server_metrics = request.app[METRICS]
        if kind is not None:
            server_metrics.webhooks.labels(kind, str(status)).inc()
            server_metrics.webhook_ack.labels(kind).observe(time.perf_counter() - started)
        else:
            server_metrics.journal_writes.labels(str(status)).inc()
            server_metrics.journal_write_time.observe(time.perf_counter() - started)


def _webhook_kind(request: web.Request) -> str | None:
    path = request.path
    if path.startswith(WEBHOOK_PREFIX):
        return "connection"
    if path.startswith("/webhooks/"):
        return "webhook"
    return None


def _is_journal(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    return resource is not None and resource.canonical == _JOURNAL_ROUTE
