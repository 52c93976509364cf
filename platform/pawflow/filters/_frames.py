"""Length-prefixed frames: how the server and its filter processes talk over pipes.

A frame is a 4-byte big-endian length and that many bytes. Messages are JSON
(never pickle): the data inside came from strangers.
"""

from __future__ import annotations

import asyncio
import struct
from typing import BinaryIO

__all__ = ["FrameError", "frame", "read_frame", "read_frame_blocking"]

_LENGTH = struct.Struct(">I")


class FrameError(EOFError):
    """The other side closed the pipe, or sent a frame larger than allowed."""


def frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader, limit: int) -> bytes:
    """The next frame's bytes; FrameError at the end of the stream or past ``limit``."""
    try:
        (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
        if length > limit:
            raise FrameError(f"a frame of {length} bytes is over the limit of {limit}")
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise FrameError("the pipe closed") from None


def read_frame_blocking(stream: BinaryIO, limit: int) -> bytes | None:
    """The next frame's bytes, None at the end of the stream; FrameError past ``limit``."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    if length > limit:
        raise FrameError(f"a frame of {length} bytes is over the limit of {limit}")
    payload = stream.read(length)
    return payload if len(payload) == length else None
