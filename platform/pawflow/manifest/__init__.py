"""The project manifest, ``pawflow.yaml``: load, validate, and describe it.

Pipeline: ``yaml`` → JSON Schema (``pawflow.schema.json``, the file editors use)
→ checks across keys (one source per trigger, known connections, valid cron,
time zone and CEL filter) → frozen dataclasses → call targets checked by parsing
the user's source with ``ast`` (never importing it). Every error is a
:class:`~pawflow.errors.ManifestError` carrying file, line and key.
"""

from ._loader import MANIFEST_FILE, SCHEMA_PATH, load_manifest, load_project
from ._model import (
    CallTarget,
    Connection,
    Limits,
    Manifest,
    Project,
    Retention,
    RetrySpec,
    ScheduleSpec,
    Trigger,
    Var,
    WebhookSpec,
)

__all__ = [
    "MANIFEST_FILE",
    "SCHEMA_PATH",
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
    "load_manifest",
    "load_project",
]
