"""The ``slack`` integration's declaration: vars, request verification, client."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.slack_response import SlackResponse

from pawflow.integrations import (
    ConnectionTestFailed,
    IncomingEvent,
    Integration,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    WebhookResult,
    hmac_sha256_hex,
    signatures_match,
)

__all__ = ["INTEGRATION", "REPLAY_WINDOW_SECONDS", "SlackClient"]

PUBLIC_API = "https://slack.com/api/"
REPLAY_WINDOW_SECONDS = 300
_VERSION = "v0"

VARS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["bot_token"],
    "properties": {
        "bot_token": {
            "type": "string",
            "minLength": 1,
            "x-secret": True,
            "description": "Bot user OAuth token (xoxb-...).",
        },
        "signing_secret": {
            "type": "string",
            "minLength": 1,
            "x-secret": True,
            "description": "The app's signing secret, to verify incoming requests.",
        },
        "base_url": {
            "type": "string",
            "pattern": "^https?://",
            "default": PUBLIC_API,
            "description": "Web API root.",
        },
    },
}


class SlackClient(WebClient):
    """``slack_sdk.WebClient`` whose responses carry no credentials.

    A response is recorded in the session's history, and a plain
    ``SlackResponse`` keeps the client (and thus the token) and the request
    headers; here both are left out. Iterating a response for more pages is
    therefore not available: call the method again with the cursor.
    """

    def __repr__(self) -> str:
        return f"SlackClient({self.base_url!r})"

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        response = super().api_call(api_method, **kwargs)
        if not isinstance(response, SlackResponse):  # pragma: no cover - async clients only
            return response
        req_args = {k: v for k, v in response.req_args.items() if k not in ("headers", "auth")}
        return SlackResponse(
            client=None,
            http_verb=response.http_verb,
            api_url=response.api_url,
            req_args=req_args,
            data=response.data,
            headers=dict(response.headers),
            status_code=response.status_code,
        )


def make_client(values: Mapping[str, str]) -> SlackClient:
    base = (values.get("base_url") or PUBLIC_API).rstrip("/") + "/"
    return SlackClient(token=values["bot_token"], base_url=base)


def handle_webhook(request: WebhookRequest, values: Mapping[str, str]) -> WebhookResult:
    _verify(request, values)
    if request.content_type == "application/json":
        return _events_api(request)
    if request.content_type == "application/x-www-form-urlencoded":
        return _form(request)
    raise WebhookRejected(f"unexpected Content-Type {request.content_type!r}", status=400)


def _verify(request: WebhookRequest, values: Mapping[str, str]) -> None:
    secret = values.get("signing_secret")
    if not secret:
        raise WebhookRejected("the connection has no signing_secret to verify requests with")
    timestamp = (request.header("x-slack-request-timestamp") or "").strip()
    given = (request.header("x-slack-signature") or "").strip()
    if not timestamp or not given:
        raise WebhookRejected("missing X-Slack-Request-Timestamp or X-Slack-Signature header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRejected("X-Slack-Request-Timestamp is not a number") from None
    # Checked before the signature: a captured request stays validly signed forever.
    if abs(request.received_at - sent_at) > REPLAY_WINDOW_SECONDS:
        raise WebhookRejected("X-Slack-Request-Timestamp is more than 5 minutes off; a replay?")
    base = f"{_VERSION}:{timestamp}:".encode() + request.body
    expected = f"{_VERSION}=" + hmac_sha256_hex(secret, base)
    if not signatures_match(expected, given):
        raise WebhookRejected("X-Slack-Signature does not match the request")


def _events_api(request: WebhookRequest) -> WebhookResult:
    try:
        payload = json.loads(request.body)
    except ValueError:
        raise WebhookRejected("the request body is not JSON", status=400) from None
    if not isinstance(payload, dict):
        raise WebhookRejected("the request body is not a JSON object", status=400)
    kind = payload.get("type")
    if kind == "url_verification":
        return WebhookResult(reply=WebhookReply.json({"challenge": payload.get("challenge")}))
    if kind == "event_callback":
        inner = payload.get("event")
        event_type = inner.get("type") if isinstance(inner, dict) else None
        if not isinstance(event_type, str) or not event_type:
            raise WebhookRejected("event_callback without an event type", status=400)
        key = payload.get("event_id")
        event = IncomingEvent(event_type, payload, key if isinstance(key, str) else None)
        return WebhookResult(events=(event,), reply=WebhookReply())
    if isinstance(kind, str) and kind:
        return WebhookResult(events=(IncomingEvent(kind, payload),), reply=WebhookReply())
    raise WebhookRejected("the request body has no 'type'", status=400)


def _form(request: WebhookRequest) -> WebhookResult:
    fields = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", errors="replace")).items()}
    if "command" in fields:
        # trigger_id is unique per invocation: Slack's retries of it are duplicates.
        event = IncomingEvent("slash_command", fields, fields.get("trigger_id") or None)
        return WebhookResult(events=(event,), reply=WebhookReply())
    if "payload" in fields:
        try:
            payload = json.loads(fields["payload"])
        except ValueError:
            raise WebhookRejected("the interaction payload is not JSON", status=400) from None
        if not isinstance(payload, dict):
            raise WebhookRejected("the interaction payload is not a JSON object", status=400)
        kind = payload.get("type")
        key = payload.get("trigger_id")
        event = IncomingEvent(
            kind if isinstance(kind, str) and kind else "interaction",
            payload,
            key if isinstance(key, str) and key else None,
        )
        return WebhookResult(events=(event,), reply=WebhookReply())
    raise WebhookRejected("form body is neither a slash command nor an interaction", status=400)


def check(values: Mapping[str, str]) -> str:
    client = make_client(values)
    try:
        answer = client.auth_test()
    except SlackApiError as err:
        raise ConnectionTestFailed(
            f"Slack refused the token: {err.response.get('error')}"
        ) from None
    except (SlackClientError, OSError) as err:
        raise ConnectionTestFailed(f"cannot reach {client.base_url}: {err}") from None
    return f"authenticated as {answer.get('user')} in {answer.get('team')}"


INTEGRATION = Integration(
    name="slack",
    description="Slack: signed events and slash commands in, WebClient out",
    vars_schema=VARS_SCHEMA,
    client=make_client,
    test=check,
    webhook=handle_webhook,
)
