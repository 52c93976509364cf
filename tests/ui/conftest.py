"""The dashboard's tests: the server tests' app and client (HTTP-level checks)."""

from tests.server.conftest import app, client, config  # noqa: F401  (fixtures)
