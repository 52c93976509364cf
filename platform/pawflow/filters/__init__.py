"""Event filters: CEL expressions over an event's ``data`` and ``event_type``.

A filter is compiled once (:func:`compile_filter`, which rejects syntax errors
with a one-line :class:`FilterError`) and evaluated many times
(:meth:`Filter.matches`). Callers that see the same expressions again keep
their compiled filters themselves: there is no process-wide cache.
"""

from ._cel import Filter, FilterError, compile_filter

__all__ = ["Filter", "FilterError", "compile_filter"]
