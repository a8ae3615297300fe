"""The controller's HTTP server (``extctl run --http-addr HOST:PORT``): a small route table on a thread.

Owns: listening (stdlib ``ThreadingHTTPServer`` on a daemon thread, so a slow scrape never blocks a
pass), matching a request to a ``Route`` by method and exact path (or path prefix, for families of
routes such as ``/hooks/…``), reading a bounded request body within a deadline (``REQUEST_TIMEOUT_S`` for
the whole request: a slow or stalled client gets 408, a bad ``Content-Length`` 400), answering
404/405/413, and never letting a handler's exception kill the server (500, logged) nor a client that
went away print a traceback. Handlers get a ``Request`` and return a ``Response``;
they run on the server's threads, so a handler that must act in the asyncio loop hands work over with
``loop.call_soon_threadsafe``. Must not: know what a route does (``commands/run.py`` builds the table:
``/metrics``, ``/healthz``, ``/readyz``; webhooks add theirs), or log request bodies or headers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from controller.errors import ExtctlError
from controller.logs import get_logger

MAX_BODY = 1 << 20  # 1 MiB: webhook payloads are far smaller
REQUEST_TIMEOUT_S = 10.0  # reading one request (line, headers, body); GitHub itself gives up after 10 s


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, (text + "\n").encode())


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """``path`` matches exactly, or as a prefix when ``prefix`` (``/hooks/`` matches ``/hooks/github``)."""

    method: str
    path: str
    handler: Handler
    prefix: bool = False

    def matches(self, path: str) -> bool:
        return path.startswith(self.path) if self.prefix else path == self.path


def dispatch(routes: Sequence[Route], request: Request) -> Response:
    """The response of the first route matching the path and method (404 / 405 otherwise)."""
    on_path = [r for r in routes if r.matches(request.path)]
    if not on_path:
        return Response.text(404, f"no route for {request.path}")
    for route in on_path:
        if route.method == request.method or (request.method == "HEAD" and route.method == "GET"):
            try:
                return route.handler(request)
            except Exception as exc:  # noqa: BLE001 - one failing handler must not take the server down
                get_logger().error("http.handler_failed", path=request.path, error=f"{type(exc).__name__}: {exc}",
                                   reason="InternalError")
                return Response.text(500, "internal error")
    allowed = ", ".join(sorted({r.method for r in on_path}))
    return Response(405, b"method not allowed\n", headers={"Allow": allowed})


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``0.0.0.0:8080``, ``127.0.0.1:0`` for any free port, ``[::1]:8080``)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ExtctlError(f"--http-addr {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080",
                          reason="InvalidArgument")
    return host.strip("[]"), int(port)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that went away mid-response: nothing to report, and never a traceback on stderr


class HttpServer:
    """Serves ``routes`` on ``address`` until ``stop``."""

    def __init__(self, address: str, routes: Sequence[Route]) -> None:
        self.host, port = parse_address(address)
        self.routes = list(routes)
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            server_version = "extctl"
            sys_version = ""
            timeout = REQUEST_TIMEOUT_S  # per socket read (the request line and headers)

            def _serve(self) -> None:
                declared = (self.headers.get("Content-Length") or "0").strip()
                if not declared.isdigit():
                    self._send(Response.text(400, "Content-Length must be a number of bytes"))
                    return
                length = int(declared)
                if length > MAX_BODY:
                    self._send(Response.text(413, "request body too large"))
                    return
                try:
                    body = self._read_body(length, time.monotonic() + REQUEST_TIMEOUT_S)
                except TimeoutError:
                    self.close_connection = True
                    self._send(Response.text(408, f"request body not received within {REQUEST_TIMEOUT_S:g}s"))
                    return
                path, _, query = self.path.partition("?")
                request = Request(self.command, path, query, {k.lower(): v for k, v in self.headers.items()}, body)
                self._send(dispatch(outer.routes, request))

            def _read_body(self, length: int, deadline: float) -> bytes:
                """``length`` bytes, within the deadline for the whole body (not per read)."""
                chunks: list[bytes] = []
                while length > 0:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    self.connection.settimeout(left)
                    chunk = self.rfile.read1(min(length, 1 << 16))
                    if not chunk:
                        break  # the client closed early: the handler sees a short body
                    chunks.append(chunk)
                    length -= len(chunk)
                return b"".join(chunks)

            def _send(self, response: Response) -> None:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return  # no access log: scrapes and probes every few seconds would drown the controller's lines

        try:
            self._server = _QuietServer((self.host, port), _Handler)
        except OSError as exc:
            raise ExtctlError(f"--http-addr {address}: cannot listen: {exc.strerror or exc}",
                              reason="ListenFailed", hint="choose another port, or free this one") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="extctl-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
