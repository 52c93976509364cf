"""The ``github`` integration's declaration: vars, webhooks, client, credential check."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from pawflow.integrations import (
    ConnectionTestFailed,
    IncomingEvent,
    Integration,
    WebhookRejected,
    WebhookRequest,
    WebhookResult,
    hmac_sha256_hex,
    signatures_match,
)

if TYPE_CHECKING:
    from ._client import GitHubClient

__all__ = ["INTEGRATION"]

PUBLIC_API = "https://api.github.com"
_SIGNATURE_PREFIX = "sha256="

VARS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["token"],
    "properties": {
        "token": {
            "type": "string",
            "minLength": 1,
            "x-secret": True,
            "description": "Personal access token or installation token.",
        },
        "webhook_secret": {
            "type": "string",
            "minLength": 1,
            "x-secret": True,
            "description": "Secret of the repository or organisation webhook.",
        },
        "base_url": {
            "type": "string",
            "pattern": "^https?://",
            "default": PUBLIC_API,
            "description": "REST API root (GitHub Enterprise: https://HOST/api/v3).",
        },
    },
}


def make_client(values: Mapping[str, str]) -> GitHubClient:
    from ._client import GitHubClient

    return GitHubClient(values["token"], values.get("base_url") or PUBLIC_API)


def handle_webhook(request: WebhookRequest, values: Mapping[str, str]) -> WebhookResult:
    secret = values.get("webhook_secret")
    if not secret:
        raise WebhookRejected("the connection has no webhook_secret to verify deliveries with")
    given = request.header("x-hub-signature-256")
    if not given:
        raise WebhookRejected("missing X-Hub-Signature-256 header")
    expected = _SIGNATURE_PREFIX + hmac_sha256_hex(secret, request.body)
    if not signatures_match(expected, given.strip()):
        raise WebhookRejected("X-Hub-Signature-256 does not match the body")
    event_type = (request.header("x-github-event") or "").strip()
    if not event_type:
        raise WebhookRejected("missing X-GitHub-Event header", status=400)
    delivery = (request.header("x-github-delivery") or "").strip() or None
    return WebhookResult(events=(IncomingEvent(event_type, _payload(request), delivery),))


def _payload(request: WebhookRequest) -> dict[str, Any]:
    raw = request.body
    # A webhook may be configured to send form-encoded bodies: payload=<json>.
    if request.content_type == "application/x-www-form-urlencoded":
        fields = parse_qs(raw.decode("utf-8", errors="replace"))
        raw = fields.get("payload", [""])[0].encode()
    try:
        payload = json.loads(raw)
    except ValueError:
        raise WebhookRejected("the delivery's body is not JSON", status=400) from None
    if not isinstance(payload, dict):
        raise WebhookRejected("the delivery's payload is not a JSON object", status=400)
    return payload


def check(values: Mapping[str, str]) -> str:
    from github import GithubException

    from ._client import GitHubClient

    # No retries: a wrong URL or token should be reported now, not after a backoff.
    gh = GitHubClient(values["token"], values.get("base_url") or PUBLIC_API, retry=None)
    try:
        login = gh.get_user().login
    except GithubException as err:
        reason = "refused the token" if err.status in (401, 403) else "answered"
        raise ConnectionTestFailed(f"GitHub {reason} (HTTP {err.status})") from None
    except OSError as err:
        raise ConnectionTestFailed(f"cannot reach {values.get('base_url')}: {err}") from None
    finally:
        gh.close()
    return f"authenticated as {login}"


INTEGRATION = Integration(
    name="github",
    description="GitHub: signed webhooks in, PyGithub client out",
    vars_schema=VARS_SCHEMA,
    client=make_client,
    test=check,
    webhook=handle_webhook,
)
