"""Pawflow's benchmarks, each measured side by side with raw temporalio.

``python -m bench`` runs the full set, ``python -m bench --quick`` a reduced one
(under three minutes on two cores). Both print a table and write
``bench/results/latest.json`` plus a dated copy. Every figure runs against one
Temporal dev server started for the run; the baseline is the same work written
directly against the temporalio SDK, on the same server, never at the same time.

Nothing is imported here: the baseline worker's workflow sandbox imports this
package for every workflow run, and must not load the bench's machinery.
"""

__all__: list[str] = []
