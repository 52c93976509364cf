"""The dispatcher: relays committed events from the store to Temporal workflows."""

from ._dispatcher import Dispatcher

__all__ = ["Dispatcher"]
