"""Results: one value object per figure, the printed table and the JSON files."""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = ["Result", "Target", "format_table", "write_results"]

Op = Literal["<=", ">="]
_OPS = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Target:
    """What a figure should reach: ``pawflow OP limit`` or ``ratio OP limit``."""

    op: Op
    limit: float
    on_ratio: bool = False
    note: str = ""  # e.g. which direction is good

    def describe(self, unit: str) -> str:
        if self.on_ratio:
            text = f"ratio {self.op} {self.limit:g}"
        else:
            text = f"{self.op} {self.limit:,g} {unit}"
        return f"{text} ({self.note})" if self.note else text

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        subject = ratio if self.on_ratio else value
        if subject is None or math.isnan(subject):
            return None
        return bool(_OPS[self.op](subject, self.limit))


@dataclass(frozen=True)
class Result:
    """One figure: Pawflow's value, the baseline's (if one makes sense), and the target."""

    name: str
    pawflow: float | None
    baseline: float | None
    unit: str
    target: Target | None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """pawflow / baseline (times: lower is better; rates: higher is better)."""
        if self.pawflow is None or self.baseline is None or self.baseline == 0:
            return None
        if math.isnan(self.pawflow) or math.isnan(self.baseline):
            return None
        return self.pawflow / self.baseline

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.pawflow, self.ratio)

    @property
    def target_text(self) -> str:
        return "report only" if self.target is None else self.target.describe(self.unit)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pawflow": _clean(self.pawflow),
            "baseline": _clean(self.baseline),
            "ratio": _clean(self.ratio),
            "unit": self.unit,
            "target": self.target_text,
            "detail": {"met": self.met, **self.detail},
        }


def _clean(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, 4)


def _fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_table(results: Sequence[Result]) -> str:
    """A plain-text table: name, pawflow, baseline, ratio, unit, target, met."""
    header = ("name", "pawflow", "baseline", "ratio", "unit", "target", "met")
    rows = [header]
    for r in results:
        met = {True: "yes", False: "NO", None: "-"}[r.met]
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        rows.append((r.name, _fmt(r.pawflow), _fmt(r.baseline), ratio, r.unit, r.target_text, met))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {1, 2, 3}

    def line(row: Sequence[str]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


def write_results(
    directory: Path,
    machine: dict[str, Any],
    results: Sequence[Result],
    *,
    quick: bool,
    short_sha: str,
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``latest.json`` and its dated copy; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {
        "machine": machine,
        "results": [r.to_json() for r in results],
        **(extra or {}),
    }
    text = json.dumps(document, indent=2) + "\n"
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    suffix = "-quick" if quick else ""
    paths = [directory / "latest.json", directory / f"{date}-{short_sha}{suffix}.json"]
    for path in paths:
        path.write_text(text)
    return paths
