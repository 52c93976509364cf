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
        self.closed = False  # whoever read the output has gone (``paw dev | head``)

    def say(self, text: str) -> None:
        """``HH:MM:SS text`` on ``out``."""
        self.lines([f"{clock()} {text}"])

    def lines(self, lines: list[str]) -> None:
        """Lines as they are, together."""
        self._write(self._out, "".join(line + "\n" for line in lines))

    def error(self, text: str) -> None:
        """``HH:MM:SS error: text`` on ``err``, one line: the text may quote what a
        server or a stranger sent, so it shows no terminal escapes."""
        first = terminal_safe(text.strip().split("\n")[0])
        self._write(self._err, f"{clock()} error: {first}\n")

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                self._out.flush()  # what came before, first
                stream.write(text)
                stream.flush()
            except BrokenPipeError:
                # A session's thread must not die with a traceback for it:
                # the main loop sees ``closed`` and ends.
                self.closed = True


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
