"""The ``github`` integration.

Incoming webhooks are verified with the HMAC ``X-Hub-Signature-256`` against
the connection's ``webhook_secret``; each delivery becomes one event whose type
is ``X-GitHub-Event`` (``issues``, ``push``...), whose data is the JSON payload
and whose idempotency key is ``X-GitHub-Delivery``. Session code gets a PyGithub
client authenticated with the connection's ``token``::

    gh = pawflow_github.client("gh")
"""

from typing import TYPE_CHECKING, Any

from pawflow.integrations import ConnectionClient

from ._integration import INTEGRATION

if TYPE_CHECKING:
    from ._client import GitHubClient

client = ConnectionClient(INTEGRATION)
"""``pawflow_github.client("gh")``: the PyGithub client of connection ``gh``."""


def __getattr__(name: str) -> Any:
    # PyGithub is imported only by what uses it (see _client).
    if name == "GitHubClient":
        from ._client import GitHubClient

        return GitHubClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["INTEGRATION", "GitHubClient", "client"]
