"""A session's transcript: what its program asked and was answered so far.

The workflow owns it: it records each answered request as the activity that
answered it returns, and the workflow's transcript query reads it. A
:class:`~._driver.RunnerDriver` reads it to bring a fresh runner back to where
the session is (see ``_driver``). The workflow awaits each activity, so the two
never touch it at once.
"""

from __future__ import annotations

from ._protocol import Exchange, Request

__all__ = ["Transcript"]


class Transcript:
    """The answered exchanges of a session (those of this workflow run), how
    many earlier ones the server keeps, and the request being answered."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.saved = 0  # earlier answers, kept on the server (the session continued as new)
        self.current: Request | None = None  # the request being answered

    @property
    def total(self) -> int:
        """Answered requests in all, those the server keeps included."""
        return self.saved + len(self.exchanges)

    def record(self, answered: list[Exchange], next_request: Request) -> None:
        """``answered`` were answered (in order); ``next_request`` is pending."""
        self.exchanges.extend(answered)
        self.current = next_request
