"""The dispatcher: relays committed events from the store to Temporal workflows."""

from ._dispatcher import Dispatcher, session_event

__all__ = ["Dispatcher", "session_event"]
