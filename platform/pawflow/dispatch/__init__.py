"""The dispatcher: relays committed events from the store to Temporal workflows."""

from ._dispatcher import Dispatcher, event_of_session

__all__ = ["Dispatcher", "event_of_session"]
