"""The recorded outcome of an external call: its value or its exception, pickled.

Only this goes into history; the callable and its arguments never leave the
runner. An outcome that cannot be pickled, or not loaded back, is replaced by
an error naming the function and the type, now rather than on some later replay.

Secret values the session has loaded (connection tokens, secret vars) are
pickled as references to their label and put back when the outcome is loaded,
so a recorded client object or response never carries a secret into history.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from typing import Any

from ..errors import ExternalCallError, PawflowError, UnrecordableResult

__all__ = ["decode_outcome", "encode_outcome"]

_SECRET = "pawflow-secret"


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, labels: Mapping[str, str]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._labels = labels  # secret value → label

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is str and obj in self._labels:
            return (_SECRET, self._labels[obj])
        return None


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
                f"{function} returned a {type(value).__module__}.{type(value).__qualname__}, "
                f"which cannot be recorded ({exc}); return plain data instead"
            )
        else:
            kind = f"{type(exception).__module__}.{type(exception).__qualname__}"
            failure = ExternalCallError(f"{function} raised {kind}: {exception}")
        return _dump(function, None, failure, secrets)
