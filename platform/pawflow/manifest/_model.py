"""The manifest as frozen value objects.

``to_dict``/``from_dict`` round-trip through plain JSON data, which is how a
validated manifest is stored with its deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CallTarget",
    "Connection",
    "Limits",
    "Manifest",
    "Project",
    "Retention",
    "RetrySpec",
    "ScheduleSpec",
    "Trigger",
    "Var",
    "WebhookSpec",
]

DEFAULT_WEBHOOK_METHODS: tuple[str, ...] = ("POST",)
DEFAULT_WEBHOOK_TIMEOUT = 30.0  # seconds a sync webhook waits for its session


@dataclass(frozen=True, slots=True)
class CallTarget:
    """``program.py:on_greet`` — a file relative to the project root and a function in it."""

    file: str
    function: str

    @classmethod
    def parse(cls, text: str) -> CallTarget:
        file, sep, function = text.rpartition(":")
        if not sep or not file or not function:
            raise ValueError(f"expected FILE.py:FUNCTION, got {text!r}")
        return cls(file, function)

    def __str__(self) -> str:
        return f"{self.file}:{self.function}"


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """``webhook: {methods: [...], sync: true, timeout: 10}``."""

    methods: tuple[str, ...] = DEFAULT_WEBHOOK_METHODS  # upper-case HTTP methods
    # Hold the request until the session answers (or ``timeout`` seconds pass).
    sync: bool = False
    timeout: float = DEFAULT_WEBHOOK_TIMEOUT


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """``schedule: "0 3 * * *"`` with an optional sibling ``timezone:`` (IANA name;
    None means UTC)."""

    cron: str
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    """An event source (exactly one of ``webhook``, ``schedule``, ``connection``)
    bound to a function. Without ``call`` it starts no session: its events only
    reach sessions that subscribed to it."""

    name: str
    call: CallTarget | None
    webhook: WebhookSpec | None = None
    schedule: ScheduleSpec | None = None
    connection: str | None = None  # name of a connection of the project
    event_type: str | None = None  # only events of this type match
    filter: str | None = None  # CEL over `data` and `event_type`; only true matches
    durable: bool = True


@dataclass(frozen=True, slots=True)
class Connection:
    """An integration instance, e.g. ``{name: gh, integration: github, vars: {...}}``."""

    name: str
    integration: str
    vars: tuple[Var, ...] = ()  # non-secret settings, in manifest order


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-session resource limits; None means no limit."""

    cpu_seconds: float | None = None
    wall_seconds: float | None = None
    memory_mb: int | None = None


@dataclass(frozen=True, slots=True)
class RetrySpec:
    """Default retry of transient failures of external calls."""

    max_attempts: int = 3
    initial_interval: float = 1.0  # seconds
    backoff: float = 2.0
    max_interval: float = 60.0  # seconds


@dataclass(frozen=True, slots=True)
class Retention:
    """How long the project's finished sessions (with their logs and events)
    are kept, instead of the server's ``--retention-days``: ``days`` after they
    ended (0: forever), or only the newest ``keep``. Exactly one is set."""

    days: int | None = None
    keep: int | None = None

    def to_dict(self) -> dict[str, int]:
        return {"keep": self.keep} if self.keep is not None else {"days": self.days or 0}


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    vars: tuple[Var, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    connections: tuple[Connection, ...] = ()
    limits: Limits = Limits()
    retry: RetrySpec = RetrySpec()
    retention: Retention | None = None  # None: the server's setting

    def trigger(self, name: str) -> Trigger | None:
        return next((t for t in self.triggers if t.name == name), None)

    def connection(self, name: str) -> Connection | None:
        return next((c for c in self.connections if c.name == name), None)


@dataclass(frozen=True, slots=True)
class Manifest:
    version: int
    project: Project
    source: str = field(default="pawflow.yaml", compare=False)  # file it was read from

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, valid against the manifest schema; optional keys at
        their defaults are left out."""
        p = self.project
        project: dict[str, Any] = {
            "name": p.name,
            "vars": [{"name": v.name, "value": v.value} for v in p.vars],
            "triggers": [_trigger_to_dict(t) for t in p.triggers],
        }
        if p.connections:
            project["connections"] = [_connection_to_dict(c) for c in p.connections]
        limits = _non_default(_LIMIT_KEYS, p.limits, Limits())
        if limits:
            project["limits"] = limits
        retry = _non_default(_RETRY_KEYS, p.retry, RetrySpec())
        if retry:
            project["retry"] = retry
        if p.retention is not None:
            project["retention"] = p.retention.to_dict()
        return {"version": self.version, "project": project}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "pawflow.yaml") -> Manifest:
        """Build from data already validated (by the loader); no checks here.

        Keys added to the format later are optional, so manifests stored by
        earlier versions still load.
        """
        p = data["project"]
        project = Project(
            name=p["name"],
            vars=tuple(Var(v["name"], str(v.get("value", ""))) for v in p.get("vars", ())),
            triggers=tuple(_trigger_from_dict(t) for t in p.get("triggers", ())),
            connections=tuple(_connection_from_dict(c) for c in p.get("connections", ())),
            limits=_limits_from_dict(p.get("limits", {})),
            retry=_retry_from_dict(p.get("retry", {})),
            retention=_retention_from_dict(p.get("retention")),
        )
        return cls(data["version"], project, source)


_LIMIT_KEYS = ("cpu_seconds", "wall_seconds", "memory_mb")
_RETRY_KEYS = ("max_attempts", "initial_interval", "backoff", "max_interval")


def _non_default(keys: tuple[str, ...], value: object, default: object) -> dict[str, Any]:
    return {
        key: getattr(value, key)
        for key in keys
        if getattr(value, key) != getattr(default, key) and getattr(value, key) is not None
    }


def _limits_from_dict(d: dict[str, Any]) -> Limits:
    def number(key: str) -> float | None:
        return float(d[key]) if d.get(key) is not None else None

    memory = d.get("memory_mb")
    return Limits(number("cpu_seconds"), number("wall_seconds"), int(memory) if memory else None)


def _retry_from_dict(d: dict[str, Any]) -> RetrySpec:
    default = RetrySpec()
    return RetrySpec(
        max_attempts=int(d.get("max_attempts", default.max_attempts)),
        initial_interval=float(d.get("initial_interval", default.initial_interval)),
        backoff=float(d.get("backoff", default.backoff)),
        max_interval=float(d.get("max_interval", default.max_interval)),
    )


def _retention_from_dict(d: dict[str, Any] | None) -> Retention | None:
    if not d:
        return None
    if d.get("keep") is not None:
        return Retention(keep=int(d["keep"]))
    return Retention(days=int(d.get("days", 0)))


def _trigger_to_dict(t: Trigger) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": t.name}
    if t.call is not None:
        entry["call"] = str(t.call)
    if t.webhook is not None:
        entry["webhook"] = {
            "methods": list(t.webhook.methods),
            "sync": t.webhook.sync,
            "timeout": t.webhook.timeout,
        }
    if t.schedule is not None:
        entry["schedule"] = t.schedule.cron
        if t.schedule.timezone is not None:
            entry["timezone"] = t.schedule.timezone
    if t.connection is not None:
        entry["connection"] = t.connection
    if t.event_type is not None:
        entry["event_type"] = t.event_type
    if t.filter is not None:
        entry["filter"] = t.filter
    if not t.durable:
        entry["durable"] = False
    return entry


def _trigger_from_dict(t: dict[str, Any]) -> Trigger:
    webhook = None
    if "webhook" in t:
        w = t["webhook"]
        webhook = WebhookSpec(
            methods=tuple(m.upper() for m in w.get("methods", DEFAULT_WEBHOOK_METHODS)),
            sync=bool(w.get("sync", False)),
            timeout=float(w.get("timeout", DEFAULT_WEBHOOK_TIMEOUT)),
        )
    schedule = ScheduleSpec(t["schedule"], t.get("timezone")) if "schedule" in t else None
    return Trigger(
        name=t["name"],
        call=CallTarget.parse(t["call"]) if t.get("call") is not None else None,
        webhook=webhook,
        schedule=schedule,
        connection=t.get("connection"),
        event_type=t.get("event_type"),
        filter=t.get("filter"),
        durable=bool(t.get("durable", True)),
    )


def _connection_to_dict(c: Connection) -> dict[str, Any]:
    return {
        "name": c.name,
        "integration": c.integration,
        "vars": {v.name: v.value for v in c.vars},
    }


def _connection_from_dict(c: dict[str, Any]) -> Connection:
    variables = tuple(Var(name, str(value)) for name, value in c.get("vars", {}).items())
    return Connection(c["name"], c["integration"], variables)
