"""The webhook routes (``controller.http.hooks``) on the real HTTP server (``controller.http.server``) on
127.0.0.1: answers, the trigger hand-over, a follower's 503, secret rotation, the secret never logged, and
the server's request deadline (a stalled body gets 408, a bad Content-Length 400)."""

from __future__ import annotations

import http.client
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.errors import ExtctlError
from controller.http.hooks import SecretFile, webhook_routes
from controller.http.server import HttpServer
from controller.logs import configure
from controller.models.webhooks import sign

SECRET = "rotate-me-0001"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode()


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.secret_path = tmp_path / "secret"
        self.secret_path.write_text(SECRET + "\n")
        self.triggered = 0
        self.leader: str | None = None
        self.log = io.StringIO()
        configure("json", "info", stream=self.log)
        routes = webhook_routes(SecretFile(self.secret_path), branch="main", local_source=False,
                                trigger=self.trigger, not_leading=lambda: self.leader)
        self.server = HttpServer("127.0.0.1:0", routes)
        self.server.start()

    def trigger(self) -> None:
        self.triggered += 1

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=20)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def github(self, body: bytes = PUSH, secret: str = SECRET) -> tuple[int, str]:
        return self.post("/hooks/github", body, {"X-GitHub-Event": "push", "Content-Type": "application/json",
                                                 "X-Hub-Signature-256": sign(secret.encode(), body)})


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    made = Harness(tmp_path)
    yield made
    made.server.stop()


def test_an_authentic_push_triggers_and_a_forged_one_does_not(harness: Harness) -> None:
    assert harness.github() == (202, "accepted: a pass will fetch the branch\n")
    assert harness.github(secret="guess")[0] == 403
    assert harness.post("/hooks/github", PUSH, {"X-GitHub-Event": "push"})[0] == 401
    status, text = harness.post("/hooks/gitlab", PUSH, {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET})
    assert status == 202, text
    body = b'{"branch": "main"}'
    assert harness.post("/hooks/generic", body, {"X-Extctl-Signature-256": sign(SECRET.encode(), body)})[0] == 202
    assert harness.triggered == 3
    assert harness.post("/hooks/bitbucket", PUSH, {})[0] == 404
    lines = [json.loads(line) for line in harness.log.getvalue().splitlines()]
    assert [(e["event"], e["status"]) for e in lines] == [("webhook.received", 202), ("webhook.rejected", 403),
                                                         ("webhook.rejected", 401), ("webhook.received", 202),
                                                         ("webhook.received", 202)]
    assert SECRET not in harness.log.getvalue()


def test_a_follower_answers_503_and_triggers_nothing(harness: Harness) -> None:
    harness.leader = "not the leader: Lease extctl-system/extctl-leader-default is held by pod-b"
    status, text = harness.post("/hooks/github", PUSH, {"X-GitHub-Event": "push",
                                                        "X-Hub-Signature-256": sign(SECRET.encode(), PUSH)})
    assert status == 503 and "held by pod-b" in text
    assert harness.triggered == 0
    assert harness.github(secret="guess")[0] == 403, "a follower still authenticates first"


def test_a_rotated_secret_is_used_at_once(harness: Harness) -> None:
    harness.secret_path.write_text("the-new-secret-0002")
    assert harness.github()[0] == 403
    assert harness.github(secret="the-new-secret-0002")[0] == 202
    harness.secret_path.unlink()  # unreadable later: the last secret stays in use, said once
    assert harness.github(secret="the-new-secret-0002")[0] == 202
    assert harness.github(secret="the-new-secret-0002")[0] == 202
    assert harness.log.getvalue().count("webhook.secret_unreadable") == 1


def test_an_empty_or_missing_secret_file_is_refused_at_start(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ExtctlError, match="is empty"):
        SecretFile(empty)
    with pytest.raises(ExtctlError, match="cannot read it") as caught:
        SecretFile(tmp_path / "absent")
    assert caught.value.reason == "WebhookSecretUnreadable"


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
        return b"".join(chunks)


def test_a_bad_content_length_is_400(harness: Harness) -> None:
    answer = raw_request(harness.server.port, b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n"
                                              b"Connection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400"), answer


def test_a_stalled_body_gets_408_within_the_request_deadline(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from controller.http import server

    monkeypatch.setattr(server, "REQUEST_TIMEOUT_S", 0.3)  # the deadline is read per request
    answer = raw_request(harness.server.port, b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                                              b"\r\nonly part of the body")
    assert b" 408 " in answer.split(b"\r\n")[0], answer
    assert harness.triggered == 0
