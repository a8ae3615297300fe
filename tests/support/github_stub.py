"""A stand-in for the few GitHub REST endpoints ``extctl preview --post github`` uses, on 127.0.0.1.

Owns: users per token (``GET /user`` answers the token's login, or 403 "Resource not accessible by
integration" for an installation token, as GitHub does for Actions' ``GITHUB_TOKEN``), issue comments
of pull requests in memory with their author (``GET/POST /repos/{o}/{r}/issues/{n}/comments`` with
``per_page``/``page``, ``PATCH /repos/{o}/{r}/issues/comments/{id}``), a log of every request (method,
path, headers, JSON body, the login the token belongs to), and 401 for an unknown token. Like GitHub
for a token with write access, PATCH edits *anybody's* comment: whether extctl touches only its own is
what the tests check. Must not: listen on anything but 127.0.0.1 or sleep.
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
ACTIONS_BOT = "github-actions[bot]"


@dataclass(frozen=True)
class StubUser:
    login: str
    installation: bool = False  # an app installation token: GET /user answers 403

    @property
    def json(self) -> dict[str, Any]:
        kind = "Bot" if self.installation or self.login.endswith("[bot]") else "User"
        return {"login": self.login, "type": kind}


@dataclass
class StubRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    login: str | None = None  # whose token made the request (None: unknown token)


@dataclass
class GitHubStub:
    token: str
    login: str = "extctl-preview"  # who ``token`` is
    installation: bool = False  # True: ``token`` is an installation token posting as ``login``
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[StubRequest] = field(default_factory=list)
    users: dict[str, StubUser] = field(default_factory=dict)  # token → user

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = 1000
        self.users.setdefault(self.token, StubUser(self.login, self.installation))
        self._server = BackgroundHTTPServer(self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def close(self) -> None:
        self._server.close()

    def add_user(self, token: str, login: str, *, installation: bool = False) -> None:
        with self._lock:
            self.users[token] = StubUser(login, installation)

    def add_comment(self, repo: str, number: int, body: str, *, author: str = "octocat") -> int:
        with self._lock:
            return self._add(repo, number, body, StubUser(author))

    def _add(self, repo: str, number: int, body: str, user: StubUser) -> int:
        self._next_id += 1
        self.comments.setdefault((repo, number), []).append({"id": self._next_id, "body": body, "user": user.json})
        return self._next_id

    def comment(self, comment_id: int) -> dict[str, Any]:
        with self._lock:
            return next(c for items in self.comments.values() for c in items if c["id"] == comment_id)

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

            def _user(self) -> StubUser | None:
                auth = self.headers.get("Authorization") or ""
                with stub._lock:
                    return stub.users.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                parts = urlsplit(self.path)
                user = self._user()
                with stub._lock:
                    stub.requests.append(StubRequest(self.command, self.path, dict(self.headers.items()), body,
                                                     user.login if user else None))
                if user is None:
                    self._reply(401, {"message": "Bad credentials"})
                    return
                listing, one = _LIST.match(parts.path), _ONE.match(parts.path)
                if parts.path == "/user" and self.command == "GET":
                    if user.installation:
                        self._reply(403, {"message": "Resource not accessible by integration", "status": "403"})
                    else:
                        self._reply(200, user.json)
                elif listing and self.command == "GET":
                    query = parse_qs(parts.query)
                    per_page = int(query.get("per_page", ["30"])[0])
                    page = int(query.get("page", ["1"])[0])
                    with stub._lock:
                        items = list(stub.comments.get((listing["repo"], int(listing["number"])), []))
                    self._reply(200, items[(page - 1) * per_page: page * per_page])
                elif listing and self.command == "POST":
                    with stub._lock:
                        new_id = stub._add(listing["repo"], int(listing["number"]), body["body"], user)
                    self._reply(201, {"id": new_id, "body": body["body"], "user": user.json})
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
