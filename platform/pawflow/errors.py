"""The exception tree of Pawflow.

Every error a user can cause by their own input derives from :class:`PawflowError`
and carries a message fit to print as one line; the CLI prints it without a
traceback.
"""

from __future__ import annotations

import json

__all__ = [
    "ConfigError",
    "ExternalCallError",
    "ManifestError",
    "NotFoundError",
    "PawflowError",
    "ServerError",
    "SessionFailed",
    "SessionStopped",
    "StorageUnavailable",
    "TemporalUnavailable",
    "UnrecordableResult",
]


class PawflowError(Exception):
    """Root of every Pawflow error. ``str(err)`` is a complete one-line message."""


class ConfigError(PawflowError, ValueError):
    """Bad configuration: data dir, server URL, token, flags."""


class ManifestError(PawflowError, ValueError):
    """A manifest or project directory is invalid.

    ``file`` and ``line`` locate the problem (line is 1-based, or None when the
    problem is not tied to a line); ``key`` is the dotted path of the offending
    key, e.g. ``project.triggers[0].call``.
    """

    def __init__(self, message: str, *, file: str, line: int | None = None, key: str = "") -> None:
        self.file = file
        self.line = line
        self.key = key
        self.message = message
        where = f"{file}:{line}" if line is not None else file
        prefix = f"{where}: {key}: " if key else f"{where}: "
        super().__init__(prefix + message)


class NotFoundError(PawflowError, LookupError):
    """A named object (project, deployment, session, event) does not exist."""


class ServerError(PawflowError):
    """The Pawflow server answered with an error or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)

    @classmethod
    def from_reply(cls, status: int, body: bytes, context: str = "") -> ServerError:
        """The error an HTTP error reply stands for: its ``{"error": ...}`` message,
        else the start of its body; ``context`` (e.g. ``"GET /x: "``) goes first."""
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            message = doc["error"]
        else:
            lines = body.decode("utf-8", errors="replace").strip().splitlines()
            first = lines[0][:200] if lines else ""
            message = f"the server answered HTTP {status}" + (f": {first}" if first else "")
        return cls(context + message, status=status)


class ExternalCallError(PawflowError):
    """An external call raised an exception that cannot be recorded as itself
    (it cannot be pickled); this carries its type name and message instead."""


class UnrecordableResult(PawflowError, TypeError):
    """An external call returned a value that cannot be recorded (not picklable)."""


class StorageUnavailable(PawflowError):
    """The store cannot write now: its disk is full or failing, its database
    is unreachable or locked. Nothing of the operation was stored; it can be
    retried once the condition is gone."""


class TemporalUnavailable(PawflowError, ConnectionError):
    """The Temporal server could not be reached in time."""


class SessionStopped(BaseException):
    """Raised in a session's code at its next durable point when someone stops
    the session (``paw session stop``). A BaseException, like asyncio's
    CancelledError, so ``except Exception`` blocks do not swallow it."""


class SessionFailed(PawflowError):
    """A session waited for (``pawflow.result``) ended in ``error`` or ``stopped``."""
