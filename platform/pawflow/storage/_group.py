"""The database thread, with group commit.

Every store operation runs on one thread (the connection is not shared). A
commit with ``synchronous = FULL`` waits for the disk (several milliseconds
here), so committing each operation alone would cap the whole server at a few
hundred writes per second however many requests wait. Instead, operations that
queued up while the thread was busy run together in one transaction, each in
a savepoint of its own, and are committed -- and synced -- once. No caller
hears back before that commit: an acknowledged event is on disk.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ._sql import Connection

__all__ = ["GroupCommitExecutor", "Groupable", "savepoint"]

T = TypeVar("T")

_MAX_GROUP = 256  # operations per transaction; bounds how long one commit holds the others


class Groupable(Protocol):
    def sync_fully(self, full: bool) -> None:
        """Whether the next commits wait for the disk (else only for the OS)."""
        ...

    def group(self) -> contextlib.AbstractContextManager[None]:
        """One transaction around several operations, committed when the block ends."""
        ...

    def group_intact(self) -> bool:
        """Whether the group's transaction survived the last operation's failure."""
        ...


@dataclass(frozen=True)
class _Work:
    fn: Callable[[], Any]
    future: Future[Any]
    durable: bool


class GroupCommitExecutor(Executor):
    """A one-thread executor that commits queued operations as one group.

    Until :meth:`use` gives it the database, it runs each operation alone.
    """

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[_Work | _Stop] = queue.SimpleQueue()
        self._db: Groupable | None = None
        self._shut = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def use(self, db: Groupable) -> None:
        """Group operations on ``db`` from now on."""
        self._db = db

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn``; what it writes is on disk (synced) before the future resolves."""
        return self.submit_work(True, lambda: fn(*args, **kwargs))

    def submit_work(self, durable: bool, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn``. ``durable=False``: what it writes survives a crash of any
        process but not necessarily of the machine (synchronous=NORMAL), unless
        it shares its commit with durable work."""
        future: Future[T] = Future()
        with self._lock:
            if self._shut:
                raise RuntimeError("the database thread has stopped")
            self._queue.put(_Work(fn, future, durable))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.close(None, wait=wait)

    def close(self, last: Callable[[], object] | None, *, wait: bool = True) -> None:
        """Stop once everything submitted so far has run, then run ``last`` alone
        on the thread (closing the connection, which must not join a group)."""
        with self._lock:
            if not self._shut:
                self._shut = True
                self._queue.put(_Stop(last))  # after everything already submitted
        if wait:
            self._thread.join()

    def _serve(self) -> None:
        stop: _Stop | None = None
        while stop is None:
            work = self._queue.get()
            if isinstance(work, _Stop):
                stop = work
                break
            batch = [work]
            while len(batch) < _MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(more, _Stop):
                    stop = more
                    break
                batch.append(more)
            if self._db is not None:
                try:
                    self._db.sync_fully(any(work.durable for work in batch))
                except Exception as exc:
                    # Every caller hears of it; the thread, which all of them
                    # need, lives on.
                    for work in batch:
                        if work.future.set_running_or_notify_cancel():
                            work.future.set_exception(exc)
                    continue
            if len(batch) == 1 or self._db is None:
                for work in batch:
                    if work.future.set_running_or_notify_cancel():
                        _run(work.future, work.fn)
            else:
                self._run_group(self._db, batch)
        if stop.last is not None:
            stop.last()

    def _run_group(self, db: Groupable, batch: list[_Work]) -> None:
        live = [(w.fn, w.future) for w in batch if w.future.set_running_or_notify_cancel()]
        outcomes: list[tuple[bool, Any]] = []
        rest: list[tuple[Callable[[], Any], Future[Any]]] = []
        try:
            with db.group():
                for index, (fn, _) in enumerate(live):
                    try:
                        outcomes.append((True, fn()))
                    except Exception as exc:
                        if not db.group_intact():
                            # SQLite rolled the whole transaction back (a full
                            # disk, an I/O error): what ran before is undone too.
                            outcomes = [(False, exc)] * (index + 1)
                            rest = live[index + 1 :]
                            raise _GroupLost from exc
                        outcomes.append((False, exc))
        except _GroupLost:
            pass
        except Exception as exc:
            # BEGIN (another process held the write lock past the busy
            # timeout) or COMMIT failed: nothing of the group is stored, and
            # every caller, including those whose operation never ran, hears so.
            outcomes = [(False, exc)] * len(live)
        for (_, future), (ok, value) in zip(live, outcomes, strict=False):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        for fn, future in rest:  # each on its own now, as if it had come later
            _run(future, fn)


class _GroupLost(Exception):
    pass


@dataclass(frozen=True)
class _Stop:
    last: Callable[[], object] | None


def _run(future: Future[Any], fn: Callable[[], Any]) -> None:
    try:
        result = fn()
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


@contextlib.contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """A nested transaction inside a group: undone alone when its block fails."""
    conn.execute("SAVEPOINT op")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
        raise
    conn.execute("RELEASE op")
