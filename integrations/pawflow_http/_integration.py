"""The ``http`` integration's declaration."""

from __future__ import annotations

from collections.abc import Mapping

import requests

from pawflow.integrations import ConnectionTestFailed, Integration

from ._client import HttpClient

__all__ = ["INTEGRATION"]

VARS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["base_url"],
    "properties": {
        "base_url": {
            "type": "string",
            "pattern": "^https?://",
            "description": "Base URL that relative request URLs are resolved against.",
        },
        "auth_header": {
            "type": "string",
            "x-secret": True,
            "description": "Value of the auth header sent with every request, "
            "e.g. 'Bearer abc123'.",
        },
        "auth_header_name": {
            "type": "string",
            "pattern": "^[A-Za-z0-9-]+$",
            "default": "Authorization",
        },
        "retries": {
            "type": "string",
            "pattern": "^[0-9]{1,2}$",
            "default": "3",
            "description": "Retries of a failed idempotent request (connection errors, "
            "429, 502-504).",
        },
        "timeout": {
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?$",
            "default": "30",
            "description": "Seconds per request.",
        },
        "test_path": {
            "type": "string",
            "default": "",
            "description": "Path that 'paw connection test' GETs (relative to base_url).",
        },
    },
}


def make_client(values: Mapping[str, str]) -> HttpClient:
    return HttpClient(
        values["base_url"],
        auth_header=values.get("auth_header") or None,
        auth_header_name=values.get("auth_header_name") or "Authorization",
        retries=int(values.get("retries") or 3),
        timeout=float(values.get("timeout") or 30),
    )


def check(values: Mapping[str, str]) -> str:
    client = make_client({**values, "retries": "0"})
    with client:
        try:
            response = client.get(values.get("test_path") or "")
        except requests.RequestException as err:
            raise ConnectionTestFailed(f"cannot reach {client.base_url}: {err}") from None
    if response.status_code in (401, 403):
        raise ConnectionTestFailed(
            f"{response.url} refused the credentials (HTTP {response.status_code})"
        )
    if response.status_code >= 500:
        raise ConnectionTestFailed(f"{response.url} answered HTTP {response.status_code}")
    return f"{response.url} answered HTTP {response.status_code}"


INTEGRATION = Integration(
    name="http",
    description="Outbound HTTP with a base URL, an auth header and retries",
    vars_schema=VARS_SCHEMA,
    client=make_client,
    test=check,
)
