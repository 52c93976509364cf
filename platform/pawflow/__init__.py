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

from .integrations import connection as connection
from .sdk import *  # noqa: F403 -- the SDK is the package's public face
from .sdk import __all__ as _sdk_names

# ``connection`` is built on the SDK and the integrations' registry, so it
# lives with the integrations (the SDK imports nothing of theirs).
__all__ = sorted([*_sdk_names, "connection"])

__version__ = "0.1.0"
