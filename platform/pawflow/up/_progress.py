"""A one-line progress note on a terminal while ``paw up`` waits; silent when piped."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress"]

_FRAMES = "|/-\\"
_CLEAR = "\r\x1b[K"


class Progress:
    """Rewrites one line (``waiting for Temporal on HOST:PORT | 3 s``) on ``stream``.

    Only when ``stream`` is a terminal: a log file or a pipe gets no carriage
    returns. The first line appears after ``delay`` seconds, so a quick wait
    shows nothing; ``done()`` erases it.
    """

    def __init__(
        self,
        stream: TextIO | None,
        what: str,
        *,
        delay: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream if stream is not None and _is_tty(stream) else None
        self._what = what
        self._delay = delay
        self._clock = clock
        self._started = clock()
        self._frame = 0
        self._shown = False

    @property
    def active(self) -> bool:
        """Whether anything is written at all (the stream is a terminal)."""
        return self._stream is not None

    def tick(self) -> None:
        """Redraw the line with the time waited so far."""
        if self._stream is None:
            return
        waited = self._clock() - self._started
        if waited < self._delay:
            return
        frame = _FRAMES[self._frame % len(_FRAMES)]
        self._frame += 1
        self._write(f"{_CLEAR}{self._what} {frame} {waited:.0f} s")
        self._shown = True

    def done(self) -> None:
        """Erase the line (if one was drawn)."""
        if self._stream is not None and self._shown:
            self._write(_CLEAR)
            self._shown = False

    def _write(self, text: str) -> None:
        assert self._stream is not None
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._stream = None  # a closed terminal is no reason to fail a start


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False
