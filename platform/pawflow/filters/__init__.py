"""Event filters: CEL expressions over an event's ``data`` and ``event_type``.

A filter is compiled once (:func:`compile_filter`, which rejects syntax errors
with a one-line :class:`FilterError`) and evaluated many times
(:meth:`Filter.matches`). Callers that see the same expressions again keep
their compiled filters themselves: there is no process-wide cache.

Event data comes from strangers: the dispatcher evaluates filters on it in a
:class:`FilterPool`, separate processes each evaluation of which stays within a
:class:`FilterBudget` (time, data size, memory) or ends in a :class:`Verdict`
saying which budget it exceeded.
"""

from ._budget import FilterBudget, Verdict
from ._cel import Filter, FilterError, compile_filter
from ._pool import FilterPool

__all__ = [
    "Filter",
    "FilterBudget",
    "FilterError",
    "FilterPool",
    "Verdict",
    "compile_filter",
]
