"""One status line on a terminal, redrawn in place; nothing at all when piped.

Long operations (``paw up`` waiting for Temporal, a large ``paw deploy``
upload) show how they get on this way. A log file, a pipe or a CI log gets no
carriage returns and no escape sequences.
"""

from __future__ import annotations

from typing import TextIO

__all__ = ["StatusLine"]

_CLEAR = "\r\x1b[K"  # to the line's start, then erase it


class StatusLine:
    """Writes to ``stream`` only if it is a terminal."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream if stream is not None and _is_tty(stream) else None
        self._shown = False

    @property
    def active(self) -> bool:
        """Whether anything is written at all (the stream is a terminal)."""
        return self._stream is not None

    def show(self, text: str) -> None:
        """Replace the line with ``text``."""
        self._write(_CLEAR + text)
        self._shown = self._stream is not None

    def clear(self, keep: bool = False) -> None:
        """Erase the line (``keep``: leave it, and go on below it)."""
        if self._shown:
            self._write("\n" if keep else _CLEAR)
            self._shown = False

    def _write(self, text: str) -> None:
        if self._stream is None:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._stream = None  # a closed terminal is no reason to fail


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False
