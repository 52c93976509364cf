"""Builders shared by the store tests."""

from __future__ import annotations

import itertools
from typing import Any

from pawflow.ids import new_id
from pawflow.storage import DeploymentRecord, NewSession, Store

MANIFEST: dict[str, Any] = {
    "version": 1,
    "project": {
        "name": "demo",
        "vars": [],
        "triggers": [
            {"name": "hook", "call": "program.py:on_hook", "webhook": {"methods": ["POST"]}}
        ],
    },
}


async def deploy(store: Store, project: str = "demo", code: bytes = b"zip") -> DeploymentRecord:
    """A new deployment of ``project``, activated."""
    dep = await store.create_deployment(project, MANIFEST, code)
    return await store.activate_deployment(dep.id)


def new_session(dep: DeploymentRecord, trigger: str = "hook") -> NewSession:
    return NewSession(
        id=new_id("ses"),
        project=dep.project,
        deployment_id=dep.id,
        trigger=trigger,
        call="program.py:on_hook",
    )


_seq = itertools.count()


async def start_one(store: Store, dep: DeploymentRecord, trigger: str = "hook") -> str:
    """Add an event for the deployment's project and match it to one new session."""
    event, _ = await store.add_event(
        project=dep.project, trigger=trigger, type="webhook", data={"n": next(_seq)}
    )
    (session,) = await store.match_event(event.id, [new_session(dep, trigger)])
    return session.id


def state(session_id: str, n: int, value: str, at: float = 1000.0, **extra: Any) -> dict[str, Any]:
    """A ``state`` log record."""
    return {
        "session_id": session_id,
        "n": n,
        "time": at,
        "type": "state",
        "state": value,
        **extra,
    }


def printed(session_id: str, n: int, text: str, at: float = 1000.0) -> dict[str, Any]:
    """A ``print`` log record."""
    return {"session_id": session_id, "n": n, "time": at, "type": "print", "text": text}
