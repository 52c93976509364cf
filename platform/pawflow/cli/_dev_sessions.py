"""``paw dev``'s sessions: find those a project starts and print their logs as they run.

New sessions are found by polling the newest page of the project's sessions:
no server support is needed, and a server restart costs nothing but a missed
poll. Each session found gets a thread that follows its log stream (the one
``paw session watch`` reads) until the session ends; at most ``max_followed``
at once, the others are counted in one line per poll.
"""

from __future__ import annotations

import threading
import weakref
from datetime import datetime
from typing import Any

from ..errors import ServerError
from ._client import ApiClient, EventStream
from ._dev_console import Console, PrefixedWriter, clock
from ._output import parse_time
from ._watch import watch_session

__all__ = ["SessionFollower", "StoppableClient"]

MAX_FOLLOWED = 20
_PAGE = 100
_TAG_LENGTH = 6


class StoppableClient(ApiClient):
    """An API client whose open log streams can all be ended from another thread.

    ``watch_session`` reconnects a dropped stream on its own; once ``stop`` was
    called, opening a stream fails with a status, which makes it give up at once.
    """

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(base_url, token)
        self._lock = threading.Lock()
        self._streams: weakref.WeakSet[EventStream] = weakref.WeakSet()
        self._stopped = False

    def stream(self, path: str, params: Any = None) -> EventStream:
        if self._stopped:
            raise ServerError("paw dev is stopping", status=0)
        opened = super().stream(path, params)
        with self._lock:
            self._streams.add(opened)
            stopped = self._stopped
        if stopped:  # stop() ran while this one was opening
            opened.abort()
        return opened

    def stop(self) -> None:
        """End every stream open now and refuse new ones."""
        with self._lock:
            self._stopped = True
            streams = list(self._streams)
        for opened in streams:
            opened.abort()


class SessionFollower:
    """Prints the log of every session a project starts, each line prefixed
    with ``[tag]``: the end of the session id, as long as it takes to tell the
    sessions seen apart."""

    def __init__(
        self,
        client: StoppableClient,
        console: Console,
        *,
        interval: float = 0.5,
        max_followed: int = MAX_FOLLOWED,
    ) -> None:
        self._client = client
        self._console = console
        self._interval = interval
        self._max_followed = max_followed
        self._lock = threading.Lock()  # one poll at a time, the baseline included
        self._stopping = threading.Event()
        self._project: str | None = None
        self._seen: set[str] = set()
        self._since: datetime | None = None
        self._tags: dict[str, str] = {}  # tag -> session id
        self._followers: dict[str, threading.Thread] = {}  # session id -> its thread
        self._poller: threading.Thread | None = None
        self._poll_error: str | None = None

    def baseline(self, project: str) -> None:
        """Follow ``project`` from now on: the sessions it has already are left out.

        Called before the deploy that may start new sessions, so none is missed.
        A project the server does not know yet simply has none.
        """
        with self._lock:
            if project == self._project:
                return
            sessions = self._newest(project)
            self._seen.update(s["id"] for s in sessions)
            times = [t for t in (parse_time(s.get("created_at")) for s in sessions) if t]
            self._since = max(times, default=None)
            self._project = project

    def start(self) -> None:
        """Start looking for new sessions, every ``interval`` seconds."""
        # Daemons only as a last resort: stop() ends them all, but a server that
        # stops answering mid-request must not keep the process from exiting.
        self._poller = threading.Thread(
            target=self._poll_loop, name="paw-dev-sessions", daemon=True
        )
        self._poller.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop looking and end every stream being followed; returns once every
        thread has ended (or ``timeout`` passed)."""
        self._stopping.set()
        self._client.stop()
        threads = [self._poller] if self._poller is not None else []
        with self._lock:
            threads += self._followers.values()
        for thread in threads:
            thread.join(timeout)

    def _poll_loop(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                with self._lock:
                    self._poll()
            except ServerError as err:
                # Said once, not every half second while the server is away.
                if str(err) != self._poll_error and not self._stopping.is_set():
                    self._console.error(f"cannot list the project's sessions: {err}")
                self._poll_error = str(err)
            else:
                self._poll_error = None

    def _poll(self) -> None:
        if self._project is None:
            return
        sessions = self._newest(self._project)
        new = [s for s in sessions if s["id"] not in self._seen and self._is_recent(s)]
        self._seen.update(s["id"] for s in sessions)
        skipped = 0
        for session in reversed(new):  # oldest first, as they started
            if self._stopping.is_set():
                return
            if self._following() >= self._max_followed:
                skipped += 1
            else:
                self._follow(session)
        # A page of nothing but new sessions may hide more beyond it.
        beyond = "+" if len(new) == len(sessions) == _PAGE else ""
        if skipped:
            self._console.say(
                f"{skipped}{beyond} more sessions started, not followed "
                f"({self._max_followed} at once at most): "
                f"paw session list --project {self._project}"
            )

    def _newest(self, project: str) -> list[dict[str, Any]]:
        answer = self._client.get("/api/v1/sessions", {"project": project, "limit": _PAGE})
        sessions = answer.get("sessions") if isinstance(answer, dict) else None
        if not isinstance(sessions, list):
            raise ServerError("the server's answer has no 'sessions' list")
        return [s for s in sessions if isinstance(s, dict) and isinstance(s.get("id"), str)]

    def _is_recent(self, session: dict[str, Any]) -> bool:
        """Not older than the newest session of the baseline: a session that
        deletions (retention) bring back into the newest page is no new one."""
        created = parse_time(session.get("created_at"))
        return self._since is None or created is None or created >= self._since

    def _following(self) -> int:
        for session_id, thread in list(self._followers.items()):
            if not thread.is_alive():
                del self._followers[session_id]
        return len(self._followers)

    def _follow(self, session: dict[str, Any]) -> None:
        session_id: str = session["id"]
        tag = self._tag(session_id)
        trigger = session.get("trigger")
        by = f" by {trigger}" if trigger else ""
        self._console.lines([f"[{tag}] {clock()} session {session_id} started{by}"])
        thread = threading.Thread(
            target=self._watch, args=(session_id, tag), name=f"paw-dev-{tag}", daemon=True
        )
        self._followers[session_id] = thread
        thread.start()

    def _watch(self, session_id: str, tag: str) -> None:
        out = PrefixedWriter(self._console, f"[{tag}] ")
        try:
            watch_session(self._client, session_id, out)
        except ServerError as err:
            if not self._stopping.is_set():
                self._console.error(f"[{tag}] {err}")

    def _tag(self, session_id: str) -> str:
        """The shortest end of the id, from 6 characters, that no other session
        seen in this run has: two tags never look alike."""
        body = session_id.rpartition("_")[2] or session_id
        for length in range(_TAG_LENGTH, len(body) + 1):
            tag = body[-length:]
            if self._tags.setdefault(tag, session_id) == session_id:
                return tag
        self._tags[session_id] = session_id
        return session_id
