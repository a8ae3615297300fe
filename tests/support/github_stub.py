"""A stand-in for the few GitHub REST endpoints ``extctl preview --post github`` uses, on 127.0.0.1.

Owns: issue comments of pull requests in memory (``GET/POST /repos/{o}/{r}/issues/{n}/comments`` with
``per_page``/``page``, ``PATCH /repos/{o}/{r}/issues/comments/{id}``), a log of every request (method,
path, headers, JSON body), and an optional required token (401 otherwise). Must not: listen on
anything but 127.0.0.1 or sleep.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.localnet import BackgroundHTTPServer

_LIST = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments$")
_ONE = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)$")


@dataclass
class StubRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass
class GitHubStub:
    token: str
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[StubRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = 1000
        self._server = BackgroundHTTPServer(self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def close(self) -> None:
        self._server.close()

    def add_comment(self, repo: str, number: int, body: str) -> int:
        with self._lock:
            self._next_id += 1
            self.comments.setdefault((repo, number), []).append({"id": self._next_id, "body": body})
            return self._next_id

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                parts = urlsplit(self.path)
                with stub._lock:
                    stub.requests.append(StubRequest(self.command, self.path, dict(self.headers.items()), body))
                if self.headers.get("Authorization") != f"Bearer {stub.token}":
                    self._reply(401, {"message": "Bad credentials"})
                    return
                listing, one = _LIST.match(parts.path), _ONE.match(parts.path)
                if listing and self.command == "GET":
                    query = parse_qs(parts.query)
                    per_page = int(query.get("per_page", ["30"])[0])
                    page = int(query.get("page", ["1"])[0])
                    with stub._lock:
                        items = list(stub.comments.get((listing["repo"], int(listing["number"])), []))
                    self._reply(200, items[(page - 1) * per_page: page * per_page])
                elif listing and self.command == "POST":
                    new_id = stub.add_comment(listing["repo"], int(listing["number"]), body["body"])
                    self._reply(201, {"id": new_id, "body": body["body"]})
                elif one and self.command == "PATCH":
                    with stub._lock:
                        for items in stub.comments.values():
                            for comment in items:
                                if comment["id"] == int(one["id"]):
                                    comment["body"] = body["body"]
                                    self._reply(200, comment)
                                    return
                    self._reply(404, {"message": "Not Found"})
                else:
                    self._reply(404, {"message": "Not Found"})

            do_GET = do_POST = do_PATCH = _handle

        return Handler
