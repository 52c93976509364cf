"""What a module prints while it loads, as session log records.

Module-level code is never rewritten, so its prints do not reach the runtime
as calls: while a deployment's module loads, ``sys.stdout`` and ``sys.stderr``
are a stream that hands each finished line of text to the session log. A
``print`` ends with its newline, so one print is one record, as in a handler.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable, Iterator

__all__ = ["module_output"]


class _LoadingOutput(io.TextIOBase):
    def __init__(self, emit: Callable[[str], None]) -> None:
        super().__init__()
        self._emit = emit
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        if self._pending.endswith("\n"):
            self.send()
        return len(text)

    def send(self) -> None:
        text, self._pending = self._pending, ""
        if text:
            self._emit(text.removesuffix("\n"))


@contextlib.contextmanager
def module_output(emit: Callable[[str], None]) -> Iterator[None]:
    """Send what is printed in this block to ``emit``, one finished line (or
    print) at a time; a module imported inside shares the outer stream."""
    if isinstance(sys.stdout, _LoadingOutput):
        yield
        return
    stream = _LoadingOutput(emit)
    saved = sys.stdout, sys.stderr
    # One stream for both keeps what the two print in the order it happened.
    sys.stdout = sys.stderr = stream
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        stream.send()  # an unfinished last line
