"""Integrations: plugins that connect projects to outside services.

An integration package (``integrations/pawflow_github`` ...) builds one
:class:`Integration` and registers it under the entry-point group
``pawflow.integrations``::

    [project.entry-points."pawflow.integrations"]
    github = "pawflow_github:INTEGRATION"

It declares its name, a JSON Schema of its connection vars (secrets marked
``"x-secret": true``), how to verify and parse its incoming webhooks into
events, the client user code gets, and a credential check for
``paw connection test``. The server works with an explicit
:class:`IntegrationRegistry`; session code gets clients through
:func:`connection` (``pawflow.connection``) or a package's own
:class:`ConnectionClient`.
"""

from ..sdk._connection import ConnectionInfo, connection_info
from ._model import (
    ClientFactory,
    ConnectionTestFailed,
    CredentialTest,
    IncomingEvent,
    Integration,
    InvalidVars,
    WebhookHandler,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    WebhookResult,
)
from ._registry import ENTRY_POINT_GROUP, IntegrationRegistry, load_integration
from ._session import ConnectionClient, connection
from ._signing import hmac_sha256_hex, signatures_match

__all__ = [
    "ENTRY_POINT_GROUP",
    "ClientFactory",
    "ConnectionClient",
    "ConnectionInfo",
    "ConnectionTestFailed",
    "CredentialTest",
    "IncomingEvent",
    "Integration",
    "IntegrationRegistry",
    "InvalidVars",
    "WebhookHandler",
    "WebhookRejected",
    "WebhookReply",
    "WebhookRequest",
    "WebhookResult",
    "connection",
    "connection_info",
    "hmac_sha256_hex",
    "load_integration",
    "signatures_match",
]
