"""Pawflow: plain Python functions run as durable sessions.

User code imports this package::

    import pawflow

    @pawflow.activity
    def charge(card, amount): ...

    def on_order(event):
        greeting = pawflow.vars["GREETING"]

``pawflow.vars`` are the project's vars from its manifest; ``@pawflow.activity``
makes a function one durable call; handlers receive a :class:`pawflow.Event`.
"""

from .sdk import AttrDict, Event, activity, vars

__all__ = ["AttrDict", "Event", "activity", "vars"]
__version__ = "0.1.0"
