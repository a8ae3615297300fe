"""Webhook routes of ``extctl run --http-addr``: ``POST /hooks/github``, ``/hooks/gitlab``, ``/hooks/generic``.

Owns: the webhook secret (``--webhook-secret-file``, env ``EXTCTL_WEBHOOK_SECRET_FILE``: read at start,
read again when the file changes, e.g. a rotated Kubernetes Secret; registered for redaction, never
logged), one route per provider answering with the pure ``models.webhooks.decide``, handing an accepted
push to ``trigger`` (the run loop's coalescing ``Triggers``), and one ``webhook.received`` line per
request (provider, event, branch, commit, status: never a header, the body or the secret). A replica that
is not the leader answers an authentic push with 503 and triggers nothing: the Service routes webhooks
only to the ready replica, which is the leader, so a follower sees one only while leadership moves, and
the new leader's first pass fetches the branch anyway.
Must not: read the request body beyond the server's limit, run a pass, or reveal the secret (in a
message, a log line or an error).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from controller.errors import ExtctlError
from controller.http.server import Request, Response, Route
from controller.logs import get_logger, register_secret
from controller.models.webhooks import HookDecision, Provider, decide

SECRET_ENV = "EXTCTL_WEBHOOK_SECRET_FILE"  # noqa: S105 - the name of a variable naming a file


class SecretFile:
    """The webhook secret in a file (surrounding whitespace stripped), re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._failed = False
        self._secret = self._read()

    def _read(self) -> bytes:
        try:
            stat = self.path.stat()
            text = self.path.read_bytes().strip()
        except OSError as exc:
            raise ExtctlError(f"--webhook-secret-file {self.path}: cannot read it: {exc.strerror or exc}",
                              reason="WebhookSecretUnreadable",
                              hint="mount the Secret holding the webhook secret there, readable by extctl's user") \
                from exc
        if not text:
            raise ExtctlError(f"--webhook-secret-file {self.path} is empty", reason="WebhookSecretUnreadable",
                              hint="write the secret configured in the Git host's webhook into it")
        register_secret(text.decode("utf-8", errors="replace"))
        self._stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        return text

    def current(self) -> bytes:
        """The secret; read again when the file changed. A file that became unreadable keeps the last secret."""
        with self._lock:
            try:
                stat = self.path.stat()
                changed = (stat.st_ino, stat.st_mtime_ns, stat.st_size) != self._stamp
                if changed:
                    self._secret = self._read()
                self._failed = False
            except (OSError, ExtctlError) as exc:
                if not self._failed:
                    self._failed = True
                    get_logger().warning("webhook.secret_unreadable", file=str(self.path),
                                         error=getattr(exc, "message", None) or type(exc).__name__,
                                         hint="the last secret read stays in use")
            return self._secret


def secret_file(option: str | None) -> SecretFile | None:
    """``--webhook-secret-file``, else ``$EXTCTL_WEBHOOK_SECRET_FILE``; None: webhooks are off."""
    chosen = option or os.environ.get(SECRET_ENV)
    return SecretFile(Path(chosen)) if chosen else None


def webhook_routes(secret: SecretFile, *, branch: str, local_source: bool, trigger: Callable[[], None],
                   not_leading: Callable[[], str | None] = lambda: None) -> list[Route]:
    """``not_leading()``: None when this replica acts on triggers, else why not (it answers 503)."""

    def route(provider: Provider) -> Route:
        def handle(request: Request) -> Response:
            decision = decide(provider, request.headers, request.body, secret=secret.current(), branch=branch,
                              local_source=local_source)
            if decision.trigger:
                why = not_leading()
                if why is not None:
                    decision = HookDecision(503, f"not acted on: {why}", event=decision.event,
                                            branch=decision.branch, commit=decision.commit)
                else:
                    trigger()
            _log(provider, decision)
            headers = {"Retry-After": "10"} if decision.status == 503 else {}
            return Response(decision.status, (decision.message + "\n").encode(), headers=headers)

        return Route("POST", f"/hooks/{provider.value}", handle)

    return [route(p) for p in Provider]


def _log(provider: Provider, decision: HookDecision) -> None:
    fields = {"provider": provider.value, "status": decision.status, "hook_event": decision.event,
              "branch": decision.branch, "commit": decision.commit, "message": decision.message,
              "triggered": decision.trigger and decision.status == 202}
    if decision.status in {401, 403}:
        get_logger().warning("webhook.rejected", **fields)
    else:
        get_logger().info("webhook.received", **fields)
