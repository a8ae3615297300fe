"""A small HTTP server on 127.0.0.1 that records every request's headers, serves files and redirects.

Owns: ``RecordingServer`` -- static files from a directory, fixed redirects (path -> absolute URL),
optional basic auth, and a request log (method, path, headers) so credential tests can assert who
received an ``Authorization`` header. Must not: listen on anything but 127.0.0.1, or sleep.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.support.chart_repo import RequestRecord
from tests.support.localnet import BackgroundHTTPServer, RequestLog


class RecordingServer:
    """Serves ``root``; ``redirects`` maps a request path to the URL a 302 sends the client to."""

    def __init__(self, root: Path, *, redirects: Mapping[str, str] | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.redirects = dict(redirects or {})
        self.auth = auth
        self._log: RequestLog[RequestRecord] = RequestLog()
        self._server = BackgroundHTTPServer(self._handler_class())

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[RequestRecord]:
        return self._log.items()

    def authorized(self) -> list[RequestRecord]:
        """The requests that carried an ``Authorization`` header."""
        return [r for r in self.requests if r.header("Authorization") is not None]

    def close(self) -> None:
        self._server.close()

    def _handler_class(self) -> type[SimpleHTTPRequestHandler]:
        server = self
        expected = None
        if self.auth:
            expected = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(server.root), **kwargs)

            def log_message(self, format: str, *args: Any) -> None:
                return

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                server._log.record(RequestRecord(self.command or "", self.path or "",
                                                     int(code) if code != "-" else 0, dict(self.headers.items())))

            def send_head(self) -> Any:
                if expected is not None and self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="recording"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                target = server.redirects.get(self.path.split("?", 1)[0])
                if target is not None:
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return super().send_head()

        return Handler


@pytest.fixture
def recording_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Factory ``(redirects=..., auth=...) -> RecordingServer``; all closed after the test."""
    made: list[RecordingServer] = []

    def make(**kwargs: Any) -> RecordingServer:
        server = RecordingServer(tmp_path_factory.mktemp("recording") / "root", **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()
