"""A filter process: evaluates CEL filters on the events its server sends.

``python -m pawflow.filters._child SECONDS MAX_DATA_BYTES MAX_MEMORY_BYTES``
reads requests from stdin and writes one answer per request to stdout, in
frames (see ``_frames.py``), until stdin closes:

- request: a JSON header ``{"id", "event_type", "expressions": [...]}`` frame,
  then a frame holding the event data as JSON (UTF-8, lone surrogates allowed);
- answer: ``{"id", "verdicts": [[matched, reason], ...]}``, one per expression.

Each filter, and reading the event's data, gets ``SECONDS`` of CPU: a profiling
timer interrupts the Python code running past it, so an expensive filter costs
its event a "no" and the process lives on with its compiled filters. (The
server kills a process that still does not answer.) The process runs at the
lowest priority, so the server's own work comes first when the machine is busy.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

from ._budget import FilterBudget, Verdict, too_slow
from ._cel import Filter, FilterError, compile_filter, shorten
from ._frames import frame, read_frame_blocking

__all__ = ["main"]

# The lowest priority: the server, and everything else on the machine, first.
NICE = 19
# Distinct expressions come from manifests and subscriptions; the bound only
# keeps a long-lived process from growing forever.
_MAX_COMPILED = 1024
_HEADER_LIMIT = 1 << 20
_REASON_CHARS = 200


class _Overrun(BaseException):
    """Raised by the CPU timer; a BaseException so that no ``except Exception``
    inside celpy turns it into an ordinary evaluation error."""


def _on_timer(signum: int, frame: FrameType | None) -> None:
    raise _Overrun


@contextlib.contextmanager
def _cpu_budget(seconds: float) -> Iterator[None]:
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


class Evaluator:
    """Answers requests; keeps each expression compiled once."""

    def __init__(self, budget: FilterBudget) -> None:
        self._budget = budget
        self._compiled: dict[str, Filter | str] = {}
        self._memory = f"{budget.max_memory_bytes >> 20} MiB"

    def answer(self, header: bytes, data: bytes) -> bytes:
        request = json.loads(header)
        expressions = [str(e) for e in request["expressions"]]
        verdicts = self.verdicts(str(request["event_type"]), data, expressions)
        answer = {"id": request["id"], "verdicts": [[v.matched, v.reason] for v in verdicts]}
        return json.dumps(answer).encode()

    def verdicts(self, event_type: str, data: bytes, expressions: list[str]) -> list[Verdict]:
        try:
            activation = self._activation(event_type, data)
        except _Overrun:
            # Part of evaluating the filters, for whoever reads the reason.
            reason = too_slow(self._budget)
        except RecursionError:
            reason = "event data is nested too deeply for filters"
        except MemoryError:
            reason = f"reading the event data needs more than {self._memory}"
        except Exception as err:
            reason = f"event data cannot be read by filters: {shorten(str(err), _REASON_CHARS)}"
        else:
            return [self._one(expression, activation) for expression in expressions]
        return [Verdict(False, reason)] * len(expressions)

    def _activation(self, event_type: str, data: bytes) -> dict[str, Any]:
        with _cpu_budget(self._budget.seconds):
            return {
                "data": to_cel(json.loads(data.decode("utf-8", "surrogatepass"))),
                "event_type": to_cel(event_type),
            }

    def _one(self, expression: str, activation: dict[str, Any]) -> Verdict:
        try:
            with _cpu_budget(self._budget.seconds):
                compiled = self._compile(expression)
                if isinstance(compiled, str):
                    return Verdict(False, compiled)
                return compiled.verdict(activation)
        except _Overrun:
            return Verdict(False, too_slow(self._budget))
        except RecursionError:
            return Verdict(False, "filter nests too deeply")
        except MemoryError:
            return Verdict(False, f"filter needs more than {self._memory}")

    def _compile(self, expression: str) -> Filter | str:
        compiled = self._compiled.get(expression)
        if compiled is None:
            if len(self._compiled) >= _MAX_COMPILED:
                self._compiled.clear()
            try:
                compiled = compile_filter(expression)
            except FilterError as err:
                # Deploy and subscribe() reject these; one stored before that
                # check existed matches nothing rather than everything.
                compiled = f"filter does not compile: {shorten(str(err), _REASON_CHARS)}"
            self._compiled[expression] = compiled
        return compiled


_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1


def to_cel(value: Any) -> Any:
    """JSON data as CEL values, like ``celpy.json_to_cel`` but about three times
    faster (the values are built directly, without celpy's conversions, which
    JSON's types do not need): reading a large body is most of a filter's cost.

    Integers outside CEL's 64 bits become doubles, as CEL reads JSON numbers.
    """
    from celpy.celtypes import BoolType, DoubleType, IntType, ListType, MapType, StringType

    def convert(value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return str.__new__(StringType, value)
        if kind is int:
            if _INT_MIN <= value <= _INT_MAX:
                return int.__new__(IntType, value)
            return float.__new__(DoubleType, float(value))  # OverflowError: not readable
        if kind is dict:
            mapping = MapType()
            for key, item in value.items():
                mapping[str.__new__(StringType, key)] = convert(item)
            return mapping
        if kind is list:
            return ListType([convert(item) for item in value])
        if kind is float:
            return float.__new__(DoubleType, value)
        if kind is bool:
            return BoolType(value)
        if value is None:
            return None
        raise TypeError(f"{kind.__name__} is not JSON")

    return convert(value)


def _confine(budget: FilterBudget) -> None:
    # Ctrl-C reaches the whole process group; the server stops this process itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPROF, _on_timer)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    with contextlib.suppress(ValueError, OSError):
        limit = budget.max_memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    budget = FilterBudget(
        seconds=float(args[0]), max_data_bytes=int(args[1]), max_memory_bytes=int(args[2])
    )
    # Frames go to the original stdout; anything else printing (a library's
    # warning) goes to stderr instead of corrupting them.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    _confine(budget)
    evaluator = Evaluator(budget)
    # The first compile builds celpy's parser (about 0.1 s): not on any
    # filter's budget.
    compile_filter("true")
    # The server sends no data over the limit (it answers those itself).
    data_limit = budget.max_data_bytes
    with contextlib.suppress(BrokenPipeError):
        while True:
            header = read_frame_blocking(requests, _HEADER_LIMIT)
            data = read_frame_blocking(requests, data_limit) if header is not None else None
            if header is None or data is None:
                return 0  # the server closed the pipe: it is done with us
            answers.write(frame(evaluator.answer(header, data)))
            answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
