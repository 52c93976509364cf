"""Which TCP ports a server on this machine listens on.

An embedded Temporal dev server listens on several ports (frontend gRPC, its
HTTP API, its internal services, metrics), only one of which Pawflow is told
of. Runners must reach none of them, so the worker finds them all: the
process that listens on the known port, and every port that process listens
on, read from ``/proc``. For a server elsewhere, only its known port.
"""

from __future__ import annotations

import os
import re

__all__ = ["server_ports"]

_LISTEN = "0A"
_SOCKET = re.compile(r"^socket:\[(\d+)\]$")


def _listening() -> dict[int, int]:
    """Inode → port of every listening TCP socket (IPv4 and IPv6)."""
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == _LISTEN:
                found[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return found


def _sockets_of(pid: str) -> set[int]:
    inodes: set[int] = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for name in names:
        try:
            match = _SOCKET.match(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:
            continue
        if match:
            inodes.add(int(match.group(1)))
    return inodes


def server_ports(address: str) -> set[int]:
    """The ports of the server at ``address`` (``host:port``)."""
    port = int(address.rsplit(":", 1)[1])
    listening = _listening()
    wanted = {inode for inode, p in listening.items() if p == port}
    if not wanted:
        return {port}  # not on this machine (or not visible from here)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        sockets = _sockets_of(pid)
        if sockets & wanted:
            return {port} | {listening[i] for i in sockets if i in listening}
    return {port}
