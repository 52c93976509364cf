"""The ``http`` integration: outbound HTTP for session code.

A connection holds a base URL, an optional auth header (secret) and a retry
count; ``pawflow_http.client("api")`` (or ``pawflow.connection("api")``) gives
a ``requests.Session`` that resolves relative URLs against the base URL. Each
request made from session code is one recorded external call.
"""

from pawflow.integrations import ConnectionClient

from ._client import HttpClient
from ._integration import INTEGRATION

client = ConnectionClient(INTEGRATION)
"""``pawflow_http.client("api")``: the :class:`HttpClient` of connection ``api``."""

__all__ = ["INTEGRATION", "HttpClient", "client"]
