"""Requests with header bytes exactly as given, which an HTTP client would encode
or refuse itself: for testing what the server makes of malformed input."""

from __future__ import annotations

import asyncio


async def raw_post(port: int, path: str, head: bytes, body: bytes) -> tuple[int, bytes]:
    """POST ``body`` to ``path`` on 127.0.0.1 with the header lines ``head``
    (each ending in CRLF); returns (status, reply body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + head
        )
        writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        reply = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head_end = reply.index(b"\r\n\r\n")
    return int(reply.split(b" ", 2)[1]), reply[head_end + 4 :]
