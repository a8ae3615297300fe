"""Small helpers shared by the harness servers in ``tests/support/``.

Owns: picking a free loopback port, polling a condition with a deadline, running a threaded
``http.server`` in a background thread with a clean shutdown, and the log of requests a server saw.
Must not: bind anything but 127.0.0.1, or sleep as a way to synchronise (``wait_for`` polls a
condition and fails loudly at its deadline).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Generic, TypeVar

T = TypeVar("T")

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers we cannot hand a socket to)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.02,
    not_yet: tuple[type[Exception], ...] = (OSError,),
) -> T:
    """Poll ``condition`` until it returns something truthy; raise ``TimeoutError`` naming ``what``.

    Exceptions in ``not_yet`` (connection refused and friends) count as "not ready yet"; any other
    exception ends the wait at once (e.g. the server process died). The short wait between polls
    uses ``threading.Event().wait`` with a deadline, never an unconditional sleep: the loop always
    ends by success, by a real failure or by the deadline.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    last_error: BaseException | None = None
    while True:
        try:
            result = condition()
        except not_yet as exc:
            last_error = exc
            result = None
        if result:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}{detail}")
        pause.wait(min(interval, remaining))


class BackgroundHTTPServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 served from a daemon thread; ``close()`` stops it."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self._handler = handler
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.start()

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """(Re)start on the same port as before (or a free one the first time)."""
        if self._server is not None:
            return
        server = ThreadingHTTPServer((LOOPBACK, self.port), self._handler)
        server.daemon_threads = True
        self.port = int(server.server_address[1])
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self._server, self._thread = server, thread

    def close(self) -> None:
        """Stop accepting connections and release the port; the port number is kept for ``start()``."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)


class RequestLog(Generic[T]):
    """What a harness server saw, appended from its handler threads. Where the status is known up front a
    handler records the request before it answers: a client may act on the answer at once, and a test that
    reads the log after the client's next step must already see this entry, in order (the Git bridge
    learns its status from git-http-backend and records after relaying)."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._lock = threading.Lock()

    def record(self, item: T) -> None:
        with self._lock:
            self._items.append(item)

    def items(self) -> list[T]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
