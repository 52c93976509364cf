"""The recorded outcome of an external call: its value or its exception, pickled.

Only this goes into history; the callable and its arguments never leave the
runner. An outcome that cannot be pickled, or not loaded back, is replaced by
an error naming the function and the type, now rather than on some later replay.

Secret values the session has loaded (connection tokens, secret vars) are
pickled as references to their label and put back when the outcome is loaded,
so a recorded client object or response never carries a secret into history.

Exceptions are recorded so that the program always gets an instance of the
class that was raised, which its ``except`` clauses expect: many library
exceptions cannot be rebuilt the way pickle rebuilds them (their constructor
wants arguments that ``args`` does not hold, e.g. a response object), so one
whose constructor fails is made without calling it, with its ``args`` and the
attributes that could be recorded. Each carries the traceback text it had
where it was raised (see ``_render.TRACEBACK_ATTRIBUTE``). Only a class that
cannot be imported where the outcome is loaded becomes an ``ExternalCallError``.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from typing import Any

from ..errors import ExternalCallError, PawflowError, UnrecordableResult
from ._code import user_names
from ._render import TRACEBACK_ATTRIBUTE, call_traceback, short_repr

__all__ = ["decode_outcome", "encode_outcome"]

_SECRET = "pawflow-secret"


class _Pickler(pickle.Pickler):
    def __init__(
        self, file: io.BytesIO, labels: Mapping[str, str], reducing: set[int] | None = None
    ) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._labels = labels  # secret value → label
        # Exceptions being reduced (shared with the probes below): one met again
        # inside its own attributes is recorded by the pickle memo, not probed again.
        self._reducing = reducing if reducing is not None else set()

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is str and obj in self._labels:
            return (_SECRET, self._labels[obj])
        return None

    def reducer_override(self, obj: Any) -> Any:
        if not isinstance(obj, BaseException):
            return NotImplemented
        if id(obj) in self._reducing:
            return (type(None), ())  # a probe meeting its own exception again
        self._reducing.add(id(obj))
        try:
            return self._reduce_exception(obj)
        finally:
            self._reducing.discard(id(obj))

    def _picklable(self, value: Any) -> bool:
        try:
            _Pickler(io.BytesIO(), self._labels, self._reducing).dump(value)
        except Exception:
            return False
        return True

    def _reduce_exception(self, exc: BaseException) -> tuple[Any, ...]:
        try:
            reduced = exc.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
        except Exception:
            reduced = None
        constructor: Any = None
        arguments: tuple[Any, ...] = ()
        state: Any = None
        if isinstance(reduced, tuple) and len(reduced) >= 2 and isinstance(reduced[1], tuple):
            constructor, arguments = reduced[0], reduced[1]
            state = reduced[2] if len(reduced) > 2 else None
            if not self._picklable((constructor, arguments)):
                constructor, arguments = None, ()
        # What cannot be recorded is left out, one piece at a time.
        args = tuple(a if self._picklable(a) else short_repr(a) for a in exc.args)
        if state is None or isinstance(state, dict):
            state = {k: v for k, v in (state or {}).items() if self._picklable(v)}
            if exc.__traceback__ is not None and TRACEBACK_ATTRIBUTE not in state:
                state[TRACEBACK_ATTRIBUTE] = call_traceback(exc)
        elif not self._picklable(state):
            state = None
        return (
            _rebuild_exception,
            (type(exc), constructor, arguments, args),
            state,
            None,
            None,
            _restore_state,
        )


def _rebuild_exception(
    cls: type[BaseException], constructor: Any, arguments: tuple[Any, ...], args: tuple[Any, ...]
) -> BaseException:
    """The recorded exception: built as pickle would, else without its constructor."""
    if constructor is not None:
        try:
            exc = constructor(*arguments)
        except Exception:
            pass
        else:
            if isinstance(exc, cls):
                return exc
    exc = _bare(cls)
    exc.args = args
    return exc


def _bare(cls: type[BaseException]) -> BaseException:
    # The nearest __new__ that takes no arguments: a class may define one that
    # does, while the exception type under it never needs any.
    for base in cls.__mro__:
        new = vars(base).get("__new__")
        if new is None:
            continue
        try:
            exc = new(cls)
        except Exception:
            continue
        if isinstance(exc, cls):
            return exc
        if base is BaseException:
            break
    raise TypeError(f"cannot rebuild an exception of type {cls.__qualname__}")


def _restore_state(exc: BaseException, state: Any) -> None:
    if isinstance(state, dict):
        for key, value in state.items():
            try:
                setattr(exc, key, value)
            except Exception:  # e.g. a read-only property: its value is gone
                continue
        return
    setstate = getattr(exc, "__setstate__", None)
    if setstate is not None:
        try:
            setstate(state)
        except Exception:
            return


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, secrets: Mapping[str, str]) -> None:
        super().__init__(file)
        self._secrets = secrets  # label → value

    def persistent_load(self, pid: Any) -> Any:
        kind, label = pid
        if kind != _SECRET or label not in self._secrets:
            raise PawflowError(
                f"a recorded result refers to the secret {label!r}, which this session "
                "has not loaded (create the connection's client before using its results)"
            )
        return self._secrets[label]


def decode_outcome(
    data: bytes, secrets: Mapping[str, str] | None = None
) -> tuple[str, Any, BaseException | None]:
    """(function, value, exception) of a recorded outcome."""
    function, value, exception = _Unpickler(io.BytesIO(data), secrets or {}).load()
    return function, value, exception


def _dump(
    function: str, value: Any, exception: BaseException | None, secrets: Mapping[str, str]
) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, {v: k for k, v in secrets.items() if v}).dump((function, value, exception))
    data = buffer.getvalue()
    decode_outcome(data, secrets)  # what cannot be loaded back must fail now, not on replay
    return data


def encode_outcome(
    function: str,
    value: Any,
    exception: BaseException | None,
    secrets: Mapping[str, str] | None = None,
) -> bytes:
    secrets = secrets or {}
    try:
        return _dump(function, value, exception, secrets)
    except Exception as exc:
        if exception is None:
            failure: BaseException = UnrecordableResult(
                user_names(
                    f"{function} returned a {_type_name(value)}, "
                    f"which cannot be recorded ({exc}); return plain data instead"
                )
            )
        else:
            failure = ExternalCallError(
                user_names(f"{function} raised {_type_name(exception)}: {exception}")
            )
        return _dump(function, None, failure, secrets)


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"
