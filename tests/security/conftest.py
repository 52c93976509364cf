"""The end-to-end platform fixture, shared with tests/e2e."""

from tests.e2e.conftest import platform

__all__ = ["platform"]
