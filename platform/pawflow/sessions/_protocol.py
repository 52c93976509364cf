"""The messages between a session workflow and the user program it drives.

The workflow never touches user code directly: it starts a program, receives
requests (make this external call, sleep, I finished, I failed) and answers
them. Keeping this boundary small lets the program run in-process (a greenlet,
today) or in a separate runner process later without changing the workflow.
Prints travel the other way as one-way notes through a callback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallRequest", "CallResult", "Failed", "Finished", "Request", "SleepRequest"]


@dataclass(frozen=True)
class CallRequest:
    """Run an external call. ``number`` counts the session's calls from 1."""

    number: int
    function: str
    args: list[str]  # reprs for the log, not the real arguments
    kwargs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SleepRequest:
    seconds: float


@dataclass(frozen=True)
class Finished:
    result: Any  # loggable rendering of the handler's return value


@dataclass(frozen=True)
class Failed:
    error: str  # the user's traceback, Pawflow's own frames removed
    message: str  # last line of it, e.g. "ValueError: boom"


Request = CallRequest | SleepRequest | Finished | Failed


@dataclass(frozen=True)
class CallResult:
    """The answer to a :class:`CallRequest`: a value, or an exception to raise."""

    value: Any = None
    exception: BaseException | None = None
