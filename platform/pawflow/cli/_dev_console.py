"""``paw dev``'s output: whole lines from several threads, never interleaved mid-line."""

from __future__ import annotations

import io
import threading
import time
from typing import TextIO

from ..textsafe import terminal_safe

__all__ = ["Console", "PrefixedWriter"]


class Console:
    """Where every ``paw dev`` line goes: news on ``out``, problems on ``err``.

    One lock for both streams keeps the lines of concurrent session logs whole
    and in the order they were written.
    """

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self._out = out
        self._err = err
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        """``HH:MM:SS text`` on ``out``."""
        self.lines([f"{clock()} {text}"])

    def lines(self, lines: list[str]) -> None:
        """Lines as they are, together."""
        with self._lock:
            for line in lines:
                self._out.write(line + "\n")
            self._out.flush()

    def error(self, text: str) -> None:
        """``HH:MM:SS error: text`` on ``err``, one line: the text may quote what a
        server or a stranger sent, so it shows no terminal escapes."""
        first = terminal_safe(text.strip().split("\n")[0])
        with self._lock:
            self._out.flush()
            self._err.write(f"{clock()} error: {first}\n")
            self._err.flush()


class PrefixedWriter(io.StringIO):
    """A text stream whose every line reaches the console with ``prefix`` before it
    (what ``watch_session`` writes to, one per followed session)."""

    def __init__(self, console: Console, prefix: str) -> None:
        super().__init__()
        self._console = console
        self._prefix = prefix
        self._partial = ""

    def write(self, text: str) -> int:
        *whole, self._partial = (self._partial + text).split("\n")
        if whole:
            self._console.lines([self._prefix + line for line in whole])
        return len(text)

    def flush(self) -> None:
        # A line without its newline stays until the newline comes: the log
        # stream always ends its lines, and half a line would tear in two.
        pass


def clock() -> str:
    """The local time as ``paw dev`` stamps its own lines."""
    return time.strftime("%H:%M:%S")
