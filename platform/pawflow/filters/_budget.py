"""What one filter evaluation may use, and what it concluded."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FilterBudget", "Verdict", "data_too_large", "too_slow"]


@dataclass(frozen=True)
class FilterBudget:
    """Limits of the filter processes: event data is stranger-controlled, so
    evaluating a filter on it must not cost anybody else more than this.

    ``seconds`` is CPU time per filter per event (and again for reading the
    event's data); ``max_data_bytes`` bounds the event data a filter reads (its
    compact JSON in UTF-8); ``processes`` is how many filter processes run at
    most; ``max_memory_bytes`` bounds each one's address space.
    """

    seconds: float = 1.0
    max_data_bytes: int = 4 << 20
    processes: int = 2
    max_memory_bytes: int = 1 << 30

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError("the filter time budget must be positive")
        if self.max_data_bytes < 1 or self.processes < 1 or self.max_memory_bytes < 1:
            raise ValueError("filter budgets must be positive")


@dataclass(frozen=True)
class Verdict:
    """Whether an event passed one filter; ``reason`` says why not (None when it did)."""

    matched: bool
    reason: str | None = None


def too_slow(budget: FilterBudget) -> str:
    return f"filter took longer than {budget.seconds:g} s"


def data_too_large(budget: FilterBudget) -> str:
    return f"event data is larger than {_size(budget.max_data_bytes)}, the most a filter reads"


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"
