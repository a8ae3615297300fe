"""Webhook requests → decisions (pure): is the sender authentic, and does the event ask for a pass?

Owns: the three providers' authentication, compared in constant time — GitHub's ``X-Hub-Signature-256:
sha256=<hex HMAC-SHA256 of the body>``, GitLab's ``X-Gitlab-Token: <secret>`` and extctl's generic
``X-Extctl-Signature-256: sha256=<hex HMAC-SHA256 of the body>`` — and the decision for an authentic
request: a push to the followed branch triggers a pass (202), a push to another branch, a tag, or another
event is ignored and says so (200), a ping answers ``pong`` (200), a malformed request is 400; a missing
credential is 401 and a wrong one 403, checked before anything in the body is read. With a local-directory
source an authentic push is accepted as a no-op (the file watcher triggers passes).
Must not: read files, the clock or the network, log, or put the secret or a submitted credential into a
message (messages quote only the event, the branch and the commit).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

SIGNATURE_PREFIX = "sha256="
GITHUB_SIGNATURE = "x-hub-signature-256"
GITHUB_EVENT = "x-github-event"
GITLAB_TOKEN = "x-gitlab-token"  # noqa: S105 - a header name, not a password
GITLAB_EVENT = "x-gitlab-event"
GENERIC_SIGNATURE = "x-extctl-signature-256"
BRANCH_PREFIX = "refs/heads/"
_HEX = frozenset("0123456789abcdef")


class Provider(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GENERIC = "generic"


@dataclass(frozen=True)
class HookDecision:
    """The answer to one webhook request; ``trigger``: a pass should run."""

    status: int
    message: str
    trigger: bool = False
    event: str | None = None
    branch: str | None = None
    commit: str | None = None


def sign(secret: bytes, body: bytes) -> str:
    """The ``sha256=<hex>`` header value of ``body`` (what GitHub sends; docs/operations.md uses it with curl)."""
    return SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def parse_signature(header: str | None) -> bytes | None:
    """``sha256=<64 hex digits>`` (prefix and digits in any case, surrounding blanks ignored) → the digest;
    None when the header is absent, empty or malformed."""
    if header is None:
        return None
    text = header.strip()
    if text[: len(SIGNATURE_PREFIX)].lower() != SIGNATURE_PREFIX:
        return None
    digits = text[len(SIGNATURE_PREFIX):].lower()
    if len(digits) != 64 or not set(digits) <= _HEX:
        return None
    return bytes.fromhex(digits)


def _header_bytes(value: str) -> bytes:
    # http.server decodes header values as ISO-8859-1; encoding back gives the bytes that were sent.
    return value.encode("latin-1", errors="replace")


def authenticate(provider: Provider, headers: Mapping[str, str], body: bytes, secret: bytes) -> HookDecision | None:
    """None when the request carries a valid credential; else the 401 (missing) or 403 (wrong) answer.
    ``headers`` have lower-case names."""
    if provider is Provider.GITLAB:
        token = headers.get(GITLAB_TOKEN)
        if not token:
            return HookDecision(401, "missing X-Gitlab-Token header")
        # Digests of both sides have the same length: the comparison does not reveal the secret's length.
        same = hmac.compare_digest(hashlib.sha256(_header_bytes(token)).digest(), hashlib.sha256(secret).digest())
        return None if same else HookDecision(403, "X-Gitlab-Token does not match the webhook secret")
    name = GITHUB_SIGNATURE if provider is Provider.GITHUB else GENERIC_SIGNATURE
    shown = "X-Hub-Signature-256" if provider is Provider.GITHUB else "X-Extctl-Signature-256"
    raw = headers.get(name)
    if raw is None or not raw.strip():
        return HookDecision(401, f"missing {shown} header (sha256=<hex HMAC-SHA256 of the body>)")
    given = parse_signature(raw)
    expected = hmac.new(secret, body, hashlib.sha256).digest()
    if given is None or not hmac.compare_digest(given, expected):
        return HookDecision(403, f"{shown} does not match the body signed with the webhook secret")
    return None


def decide(provider: Provider, headers: Mapping[str, str], body: bytes, *, secret: bytes, branch: str,
           local_source: bool = False) -> HookDecision:
    """The whole answer to one request: authentication first, then the event."""
    refused = authenticate(provider, headers, body, secret)
    if refused is not None:
        return refused
    if provider is Provider.GITHUB:
        event = headers.get(GITHUB_EVENT, "").strip()
        if event == "ping":
            return HookDecision(200, "pong", event="ping")
        kind = "push" if event == "push" else None
    elif provider is Provider.GITLAB:
        event = headers.get(GITLAB_EVENT, "").strip()
        kind = "push" if event == "Push Hook" else None
    else:
        event, kind = "generic", "push"
    if not event:
        header = "X-GitHub-Event" if provider is Provider.GITHUB else "X-Gitlab-Event"
        return HookDecision(400, f"missing {header} header")
    if kind is None:
        return HookDecision(200, f"ignored: event {event!r} (extctl acts on push events)", event=event)
    payload = _payload(headers, body)
    if payload is None and provider is not Provider.GENERIC:
        return HookDecision(400, "the body is not a JSON push payload", event=event)
    ref, commit = _ref_and_commit(payload or {})
    if ref is not None and not ref.startswith(BRANCH_PREFIX) and ref.startswith("refs/"):
        return HookDecision(200, f"ignored: {ref} is not a branch", event=event, commit=commit)
    pushed = ref[len(BRANCH_PREFIX):] if ref is not None and ref.startswith(BRANCH_PREFIX) else ref
    if pushed is not None and pushed != branch:
        return HookDecision(200, f"ignored: branch {pushed} (extctl follows {branch})", event=event, branch=pushed,
                            commit=commit)
    if local_source:
        return HookDecision(202, "accepted: no-op, the source is a local directory (its file watcher triggers "
                                 "passes)", event=event, branch=pushed, commit=commit)
    return HookDecision(202, "accepted: a pass will fetch the branch", trigger=True, event=event, branch=pushed,
                        commit=commit)


def _payload(headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
    """The JSON object of the body; GitHub's form encoding carries it in the ``payload`` field."""
    text = body.decode("utf-8", errors="replace")
    if "application/x-www-form-urlencoded" in headers.get("content-type", "").lower():
        text = _form_field(body, "payload")
    try:
        decoded = json.loads(text) if text.strip() else None
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _form_field(body: bytes, name: str) -> str:
    """One field of an ``application/x-www-form-urlencoded`` body ('' when absent or undecodable)."""
    for pair in body.split(b"&"):
        key, _, value = pair.partition(b"=")
        if key == name.encode():
            return _unquote_plus(value)
    return ""


def _unquote_plus(raw: bytes) -> str:
    """Percent-decoding with ``+`` as a space (urllib is off limits in the pure core)."""
    out = bytearray()
    index = 0
    while index < len(raw):
        digits = raw[index + 1:index + 3]
        if raw[index] == ord("%") and len(digits) == 2 and set(digits.decode("latin-1").lower()) <= _HEX:
            out.append(int(digits, 16))
            index += 3
            continue
        out.append(ord(" ") if raw[index] == ord("+") else raw[index])
        index += 1
    return out.decode("utf-8", errors="replace")


def _ref_and_commit(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``ref`` (``refs/heads/main``; the generic hook also takes ``branch: main``) and the pushed head."""
    ref = payload.get("ref")
    if not isinstance(ref, str) or not ref:
        branch = payload.get("branch")
        ref = f"{BRANCH_PREFIX}{branch}" if isinstance(branch, str) and branch else None
    after = payload.get("after") or payload.get("checkout_sha")
    commit = after if isinstance(after, str) and len(after) <= 64 and set(after.lower()) <= _HEX else None
    return ref, commit
