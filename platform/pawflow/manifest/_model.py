"""The manifest as frozen value objects.

``to_dict``/``from_dict`` round-trip through plain JSON data, which is how a
validated manifest is stored with its deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallTarget", "Manifest", "Project", "Trigger", "Var", "WebhookSpec"]

DEFAULT_WEBHOOK_METHODS: tuple[str, ...] = ("POST",)


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
    methods: tuple[str, ...] = DEFAULT_WEBHOOK_METHODS  # upper-case HTTP methods


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str
    call: CallTarget
    webhook: WebhookSpec | None = None


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    vars: tuple[Var, ...] = ()
    triggers: tuple[Trigger, ...] = ()

    def trigger(self, name: str) -> Trigger | None:
        return next((t for t in self.triggers if t.name == name), None)


@dataclass(frozen=True, slots=True)
class Manifest:
    version: int
    project: Project
    source: str = field(default="pawflow.yaml", compare=False)  # file it was read from

    def to_dict(self) -> dict[str, Any]:
        triggers: list[dict[str, Any]] = []
        for t in self.project.triggers:
            entry: dict[str, Any] = {"name": t.name, "call": str(t.call)}
            if t.webhook is not None:
                entry["webhook"] = {"methods": list(t.webhook.methods)}
            triggers.append(entry)
        return {
            "version": self.version,
            "project": {
                "name": self.project.name,
                "vars": [{"name": v.name, "value": v.value} for v in self.project.vars],
                "triggers": triggers,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "pawflow.yaml") -> Manifest:
        """Build from data already validated (by the loader); no checks here."""
        p = data["project"]
        triggers = tuple(
            Trigger(
                name=t["name"],
                call=CallTarget.parse(t["call"]),
                webhook=(
                    WebhookSpec(
                        tuple(
                            m.upper() for m in t["webhook"].get("methods", DEFAULT_WEBHOOK_METHODS)
                        )
                    )
                    if "webhook" in t
                    else None
                ),
            )
            for t in p.get("triggers", ())
        )
        variables = tuple(Var(v["name"], str(v.get("value", ""))) for v in p.get("vars", ()))
        return cls(data["version"], Project(p["name"], variables, triggers), source)
