"""The recorded outcome of an external call: its value or its exception, pickled.

Only this goes into history; the callable and its arguments never leave the
runner. An outcome that cannot be pickled, or not loaded back, is replaced by
an error naming the function and the type, now rather than on some later replay.
"""

from __future__ import annotations

import pickle
from typing import Any

from ..errors import ExternalCallError, UnrecordableResult

__all__ = ["decode_outcome", "encode_outcome"]


def decode_outcome(data: bytes) -> tuple[str, Any, BaseException | None]:
    """(function, value, exception) of a recorded outcome."""
    function, value, exception = pickle.loads(data)
    return function, value, exception


def _dump(function: str, value: Any, exception: BaseException | None) -> bytes:
    data = pickle.dumps((function, value, exception), protocol=pickle.HIGHEST_PROTOCOL)
    pickle.loads(data)  # what cannot be loaded back must fail now, not on replay
    return data


def encode_outcome(function: str, value: Any, exception: BaseException | None) -> bytes:
    try:
        return _dump(function, value, exception)
    except Exception as exc:
        if exception is None:
            failure: BaseException = UnrecordableResult(
                f"{function} returned a {type(value).__module__}.{type(value).__qualname__}, "
                f"which cannot be recorded ({exc}); return plain data instead"
            )
        else:
            kind = f"{type(exception).__module__}.{type(exception).__qualname__}"
            failure = ExternalCallError(f"{function} raised {kind}: {exception}")
        return _dump(function, None, failure)
