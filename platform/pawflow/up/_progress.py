"""A one-line progress note on a terminal while ``paw up`` waits; silent when piped."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from ..terminal import StatusLine

__all__ = ["Progress"]

_FRAMES = "|/-\\"


class Progress:
    """Rewrites one line (``waiting for Temporal on HOST:PORT | 3 s``) on ``stream``.

    Only when ``stream`` is a terminal (see :class:`~pawflow.terminal.StatusLine`).
    The first line appears after ``delay`` seconds, so a quick wait shows
    nothing; ``done()`` erases it.
    """

    def __init__(
        self,
        stream: TextIO | None,
        what: str,
        *,
        delay: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._line = StatusLine(stream)
        self._what = what
        self._delay = delay
        self._clock = clock
        self._started = clock()
        self._frame = 0

    @property
    def active(self) -> bool:
        """Whether anything is written at all (the stream is a terminal)."""
        return self._line.active

    def tick(self) -> None:
        """Redraw the line with the time waited so far."""
        waited = self._clock() - self._started
        if not self._line.active or waited < self._delay:
            return
        frame = _FRAMES[self._frame % len(_FRAMES)]
        self._frame += 1
        self._line.show(f"{self._what} {frame} {waited:.0f} s")

    def done(self) -> None:
        """Erase the line (if one was drawn)."""
        self._line.clear()
