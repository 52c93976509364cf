"""Secret values taken out of everything a runner sends out.

A program loads secrets (secret vars, connection tokens) and may put them into
text that leaves its runner: a print, a call's arguments, a result, an error,
a traceback ("Authorization: Bearer <token>" in a failed request's message).
Every string a runner sends to its worker passes through :class:`Redactor`,
which replaces each secret value wherever it appears inside, also as it reads
in a ``repr`` (escaped) -- so none reaches session logs or Temporal's history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["Redactor"]

# Shorter values would blank out ordinary text; nobody's secret is this short.
_MIN_SECRET = 4
_MAX_DEPTH = 64


class Redactor:
    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._secrets = secrets  # label → value; grows as the program loads connections
        self._seen: tuple[tuple[str, str], ...] | None = None
        self._pattern: re.Pattern[str] | None = None
        self._labels: dict[str, str] = {}

    def _compile(self) -> re.Pattern[str] | None:
        current = tuple(self._secrets.items())  # a handful: cheap to compare
        if current != self._seen:
            self._seen = current
            labels: dict[str, str] = {}
            for label, value in self._secrets.items():
                if len(value) < _MIN_SECRET:
                    continue
                # As written, and as a repr() of a str or bytes shows it.
                for form in (value, repr(value)[1:-1], repr(value.encode())[2:-1]):
                    labels.setdefault(form, label)
            self._labels = labels
            forms = sorted(labels, key=len, reverse=True)  # the longest form wins
            self._pattern = re.compile("|".join(map(re.escape, forms))) if forms else None
        return self._pattern

    def text(self, text: str) -> str:
        pattern = self._compile()
        if pattern is None:
            return text
        return pattern.sub(lambda m: f"[secret {self._labels[m.group()]}]", text)

    def data(self, value: Any, depth: int = 0) -> Any:
        """``value`` (JSON-like data) with every string redacted."""
        if self._compile() is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if depth > _MAX_DEPTH:
            return value
        if isinstance(value, list | tuple):
            return [self.data(v, depth + 1) for v in value]
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v, depth + 1) for k, v in value.items()}
        return value
