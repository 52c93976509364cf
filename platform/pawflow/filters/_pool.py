"""The filter pool: CEL filters evaluated in separate processes, each within a budget.

cel-python is pure Python and holds the GIL, so a filter grinding through a
large event in the server's process (or a thread of it) stalls every request.
Here evaluation happens in at most ``budget.processes`` processes, started on
first use and again after one is killed. Requests that queue up together go to
a process as one batch (written back to back, answered one by one), and each
process keeps its compiled filters, so a small event costs one pipe round trip.

Budgets (:class:`FilterBudget`): data larger than ``max_data_bytes`` is refused
here without being sent; the process stops each filter after ``seconds`` of CPU;
a process that still answers nothing long after that is killed and replaced.
Every refusal is a :class:`Verdict` saying why, never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._budget import FilterBudget, Verdict, data_too_large, too_slow
from ._cel import shorten
from ._frames import FrameError, frame, read_frame

__all__ = ["FilterPool"]

log = logging.getLogger(__name__)

# The CPU timer inside a process stops Python code over budget; code that
# ignores signals does not stop. A process that used more than twice the CPU
# its request may use (a budget per filter, plus one for reading the data),
# plus this, is killed; so is one that answers nothing for 60 times as long
# in wall time (stopped, or starved by a machine that busy). Starved a while
# is no reason: the processes run niced, so that the server comes first.
_CPU_SLACK = 1.0
_WALL_FACTOR = 60.0
_START_SECONDS = 10.0  # more for a process's first answer: it imports celpy first
_CHECK_SECONDS = 0.25
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_STOP_SECONDS = 2.0
_BATCH_JOBS = 64
_BATCH_BYTES = 8 << 20
_ANSWER_LIMIT = 1 << 20
_REASON_CHARS = 200


@dataclass(eq=False)
class _Job:
    """One event's filters, waiting for a process."""

    id: int
    header: bytes
    data: bytes
    count: int  # expressions
    done: asyncio.Future[list[Verdict]]

    def resolve(self, verdicts: list[Verdict]) -> None:
        if not self.done.done():  # its caller may have given up (cancelled)
            self.done.set_result(verdicts)

    def refuse(self, reason: str) -> None:
        self.resolve([Verdict(False, reason)] * self.count)


@dataclass(eq=False)
class _Slot:
    """One process of the pool (None until needed, again after it ended)."""

    proc: asyncio.subprocess.Process | None = None
    answered: bool = False  # whether the current process answered anything yet
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class FilterPool:
    """Evaluates CEL filters on events in a small pool of processes (see the module doc).

    ``await pool.evaluate(event_type, data, expressions)`` gives one
    :class:`Verdict` per expression; ``await pool.close()`` stops the processes.
    Evaluating nothing (no expressions) starts no process.
    """

    def __init__(self, budget: FilterBudget | None = None) -> None:
        self.budget = budget or FilterBudget()
        self._queue: deque[_Job] = deque()
        self._queued = asyncio.Event()
        self._slots: list[_Slot] = []
        self._ids = itertools.count(1)

    async def evaluate(
        self, event_type: str, data: Any, expressions: Sequence[str]
    ) -> list[Verdict]:
        """Whether an event with ``event_type`` and ``data`` passes each of ``expressions``."""
        if not expressions:
            return []
        unique = list(dict.fromkeys(expressions))
        raw, refusal = self._encode(data)
        if refusal is not None:
            return [Verdict(False, refusal)] * len(expressions)
        number = next(self._ids)
        job = _Job(
            id=number,
            header=json.dumps(
                {"id": number, "event_type": event_type, "expressions": unique}
            ).encode(),
            data=raw,
            count=len(unique),
            done=asyncio.get_running_loop().create_future(),
        )
        self._queue.append(job)
        self._queued.set()
        self._start_slots()
        verdicts = dict(zip(unique, await job.done, strict=True))
        return [verdicts[e] for e in expressions]

    def _encode(self, data: Any) -> tuple[bytes, str | None]:
        try:
            # surrogatepass: a lone surrogate is no crash here, and the process
            # reads it back the same way.
            raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(
                "utf-8", "surrogatepass"
            )
        except RecursionError:
            return b"", "event data is nested too deeply for filters"
        except (ValueError, TypeError) as err:
            return b"", f"event data cannot be read by filters: {shorten(str(err), _REASON_CHARS)}"
        if len(raw) > self.budget.max_data_bytes:
            return b"", data_too_large(self.budget)
        return raw, None

    async def close(self) -> None:
        """Stop the processes; evaluations still waiting are cancelled. (Used
        again, the pool starts processes again.)"""
        tasks = [s.task for s in self._slots if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(self._stop(slot, kill=False) for slot in self._slots))
        self._slots.clear()
        while self._queue:
            self._queue.popleft().done.cancel()

    @property
    def pids(self) -> list[int]:
        """The processes running now (for tests and diagnostics)."""
        return [s.proc.pid for s in self._slots if s.proc is not None and s.proc.returncode is None]

    # -- the processes ------------------------------------------------------------------
    def _start_slots(self) -> None:
        if self._slots:
            return
        for n in range(self.budget.processes):
            slot = _Slot()
            slot.task = asyncio.create_task(self._serve(slot), name=f"pawflow-filters-{n}")
            self._slots.append(slot)

    async def _serve(self, slot: _Slot) -> None:
        while True:
            jobs = await self._take()
            try:
                await self._run(slot, jobs)
            except asyncio.CancelledError:
                # close(): whoever waits for these is told, not left waiting.
                for job in jobs:
                    job.done.cancel()
                raise
            except Exception as err:
                # A bug here must not leave callers waiting forever.
                log.error("filter process failed", exc_info=err)
                for job in jobs:
                    job.refuse("filter evaluation failed")
                await self._stop(slot, kill=True)

    async def _take(self) -> list[_Job]:
        while True:
            while not self._queue:
                self._queued.clear()
                await self._queued.wait()
            # A fair share, so that every process gets some of a burst.
            share = min(_BATCH_JOBS, math.ceil(len(self._queue) / len(self._slots)))
            jobs: list[_Job] = []
            size = 0
            while self._queue and len(jobs) < share and size < _BATCH_BYTES:
                job = self._queue.popleft()
                if not job.done.done():
                    jobs.append(job)
                    size += len(job.data)
            if jobs:
                return jobs

    async def _run(self, slot: _Slot, jobs: list[_Job]) -> None:
        proc = await self._process(slot, jobs)
        if proc is None:
            return
        assert proc.stdin is not None and proc.stdout is not None
        writer = asyncio.create_task(_send(proc.stdin, jobs))
        try:
            for i, job in enumerate(jobs):
                try:
                    answer = await self._answer(slot, proc, job)
                    verdicts = _verdicts(answer, job)
                except TimeoutError:
                    job.refuse(too_slow(self.budget))
                except (FrameError, ValueError) as err:
                    log.warning("filter process %d stopped answering: %s", proc.pid, err)
                    job.refuse("filter process ended while evaluating this event")
                else:
                    slot.answered = True
                    job.resolve(verdicts)
                    continue
                # The process is gone or going: the rest go to whichever is free.
                self._queue.extendleft(reversed(jobs[i + 1 :]))
                if len(jobs) > i + 1:
                    self._queued.set()
                await self._stop(slot, kill=True)
                return
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _answer(self, slot: _Slot, proc: asyncio.subprocess.Process, job: _Job) -> bytes:
        """The process's answer to ``job`` (the next one it owes); TimeoutError
        when it overran its limits (see ``_CPU_SLACK``)."""
        assert proc.stdout is not None
        budgets = job.count + 1
        cpu_limit = 2 * budgets * self.budget.seconds + _CPU_SLACK
        wall_limit = _WALL_FACTOR * budgets * self.budget.seconds
        if not slot.answered:
            wall_limit += _START_SECONDS
        reading = asyncio.ensure_future(read_frame(proc.stdout, _ANSWER_LIMIT))
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Read at the first check, not now: most answers come before it, and
        # the CPU used until then (a check's interval at most) fits in the slack.
        cpu_before: float | None = None
        try:
            while True:
                done, _ = await asyncio.wait({reading}, timeout=_CHECK_SECONDS)
                if done:
                    return reading.result()
                cpu = _cpu_seconds(proc.pid)
                if cpu_before is None:
                    cpu_before = cpu
                elif cpu is not None and cpu - cpu_before > cpu_limit:
                    log.warning(
                        "filter process %d used %.1f s of CPU on one request; killed it",
                        proc.pid,
                        cpu - cpu_before,
                    )
                    raise TimeoutError
                if loop.time() - started > wall_limit:
                    log.warning(
                        "filter process %d answered nothing for %.0f s; killed it",
                        proc.pid,
                        wall_limit,
                    )
                    raise TimeoutError
        finally:
            reading.cancel()

    async def _process(self, slot: _Slot, jobs: list[_Job]) -> asyncio.subprocess.Process | None:
        if slot.proc is not None and slot.proc.returncode is None:
            return slot.proc
        if slot.proc is not None:
            await self._stop(slot, kill=True)  # ended on its own: reap it, start another
        budget = self.budget
        try:
            slot.proc = await asyncio.create_subprocess_exec(
                # -P: not the server's working directory first on sys.path.
                *(sys.executable, "-P", "-m", "pawflow.filters._child"),
                *(str(budget.seconds), str(budget.max_data_bytes), str(budget.max_memory_bytes)),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        except OSError as err:
            log.error("cannot start a filter process: %s", err)
            for job in jobs:
                job.refuse(f"filter process cannot start: {shorten(str(err), _REASON_CHARS)}")
            return None
        slot.answered = False
        log.debug("filter process %d started", slot.proc.pid)
        return slot.proc

    async def _stop(self, slot: _Slot, *, kill: bool) -> None:
        """End the slot's process: at once (``kill``), or by closing its input
        (a process at rest ends then), killing it if it does not end soon."""
        proc, slot.proc = slot.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), 0 if kill else _STOP_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


async def _send(stdin: asyncio.StreamWriter, jobs: list[_Job]) -> None:
    try:
        for job in jobs:
            stdin.write(frame(job.header))
            stdin.write(frame(job.data))
            await stdin.drain()
    except (ConnectionError, RuntimeError):
        pass  # the process ended; the reader finds out and says so


def _cpu_seconds(pid: int) -> float | None:
    """CPU time ``pid`` used so far (None where /proc cannot tell: then only the
    wall-time limit applies)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # utime and stime, fields 14 and 15 of proc(5), counted after the command name.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _verdicts(answer: bytes, job: _Job) -> list[Verdict]:
    message = json.loads(answer)
    if message.get("id") != job.id or len(message.get("verdicts", ())) != job.count:
        raise ValueError(f"an answer to another request ({message.get('id')!r})")
    return [
        Verdict(bool(matched), None if reason is None else shorten(str(reason), _REASON_CHARS))
        for matched, reason in message["verdicts"]
    ]
