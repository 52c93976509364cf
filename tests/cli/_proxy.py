"""A TCP proxy that cuts its first connection part-way through a log stream."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to ``upstream``.

    On the first connection only, the server→client direction is cut after the
    first complete server-sent event plus a few bytes of the next one, which is
    what a client sees when a load balancer or network drops a stream.
    """

    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self.cut = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> CuttingProxy:
        self._accepting.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in [self._accepting, *self._threads]:
            thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(self._upstream)
            self._sockets += [client, upstream]
            cut = self.connections == 1
            for src, dst, cutting in ((client, upstream, False), (upstream, client, cut)):
                thread = threading.Thread(target=self._pump, args=(src, dst, cutting), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket, cutting: bool) -> None:
        seen = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if cutting:
                    seen += data
                    body = seen.partition(b"\r\n\r\n")[2]
                    end = body.find(b"\n\n")
                    if end >= 0 and len(body) > end + 10:
                        # Keep the headers, one whole event and a piece of the next.
                        keep = len(seen) - len(body) + end + 10
                        dst.sendall(seen[len(seen) - len(data) : keep])
                        self.cut.set()
                        break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
