"""Credentials for chart repositories and OCI registries, each bound to one host.

Owns: ``RepoCredentials`` (one basic or bearer credential), ``Binding`` (a credential bound to a host,
an optional port and an optional path prefix -- an HTTP path or an OCI repository prefix -- plus the
``insecure`` flag) and ``CredentialStore``, which answers "which credential, if any, goes with this
request": the binding whose host and port match and whose prefix is the longest segment-wise prefix
of the path (an explicit port beats none at equal prefix length). The same rule serves indexes,
chart archives, OCI tags, manifests and blobs. A credential goes over plain http only to a loopback
host or a binding marked ``insecure``; anything else is refused with an error naming the binding.
Every secret is registered with the log redactor when the credential is made.
Must not: read files or the environment (``catalog.credentials_file`` does), talk to the network, or
put a password or token into ``repr``, logs or messages (errors name the binding and where it was
configured, never a value).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from controller.errors import CatalogAuthError, CredentialsInvalid
from controller.logs import register_secret
from controller.urls import endpoint, is_loopback_host, sanitize_url

DOCS = "docs/credentials.md"


@dataclass(frozen=True)
class RepoCredentials:
    """Basic credentials (``username`` + ``password``) or a bearer ``token``; never both kinds."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.token and (self.username or self.password):
            raise ValueError("repository credentials take either a token or a username/password, not both")
        if self.password and not self.username:
            raise ValueError("a repository password needs a username")
        for secret in (self.password, self.token):
            if secret:
                register_secret(secret)
        header = self.basic_header()
        if header:
            register_secret(header.split(" ", 1)[1])

    @property
    def has_basic(self) -> bool:
        return self.username is not None

    def basic_header(self) -> str | None:
        """``Basic base64(user:password)`` or None when these are token credentials."""
        if self.username is None:
            return None
        raw = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def authorization(self) -> str | None:
        """The ``Authorization`` header value to send to an HTTP chart repository."""
        if self.token:
            return f"Bearer {self.token}"
        return self.basic_header()

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be printed (for extra redaction of third-party messages)."""
        values = [v for v in (self.password, self.token) if v]
        header = self.basic_header()
        if header:
            values.append(header.split(" ", 1)[1])
        return tuple(values)

    def fingerprint(self) -> str:
        """A short, non-reversible identity, so caches never serve one identity's data to another."""
        return hashlib.sha256((self.authorization() or "").encode()).hexdigest()[:16]

    def describe(self) -> str:
        """A safe description for messages: the kind of credentials, never their values."""
        if self.token:
            return "a bearer token"
        return f"basic credentials for user {self.username!r}"


def prefix_segments(path: str) -> tuple[str, ...]:
    """``/a//b/`` -> ``("a", "b")``: the segments a path prefix is compared by."""
    return tuple(segment for segment in path.split("/") if segment)


@dataclass(frozen=True)
class Binding:
    """One credential bound to ``host`` (lower-case), ``port`` (None: every port) and a path prefix."""

    host: str
    port: int | None
    prefix: tuple[str, ...]
    credentials: RepoCredentials = field(repr=False)
    insecure: bool = False
    origin: str = ""  # where it was configured, for messages: "credentials file X, credentials[2]"

    @property
    def label(self) -> str:
        """``host[:port][/prefix]`` as the user wrote it (normalised)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        where = f"{host}:{self.port}" if self.port is not None else host
        return where + ("/" + "/".join(self.prefix) if self.prefix else "")

    def matches_host(self, host: str, port: int | None) -> bool:
        return self.host == host.lower() and (self.port is None or self.port == port)

    def matches(self, host: str, port: int | None, path: str) -> bool:
        segments = prefix_segments(path)
        return self.matches_host(host, port) and segments[: len(self.prefix)] == self.prefix

    def allows(self, scheme: str, host: str) -> bool:
        """May this credential travel over ``scheme`` to ``host``? https always; http only to a
        loopback host or when the binding is marked ``insecure``."""
        return scheme == "https" or (scheme == "http" and (is_loopback_host(host) or self.insecure))

    def specificity(self) -> tuple[int, int]:
        return len(self.prefix), 1 if self.port is not None else 0


class CredentialStore:
    """The configured bindings; an empty store sends no credential anywhere."""

    def __init__(self, bindings: Iterable[Binding] = ()) -> None:
        self.bindings: tuple[Binding, ...] = tuple(bindings)
        seen: dict[tuple[str, int | None, tuple[str, ...]], Binding] = {}
        for binding in self.bindings:
            key = (binding.host, binding.port, binding.prefix)
            first = seen.get(key)
            if first is not None:
                raise CredentialsInvalid(
                    f"{binding.origin}: host {binding.label!r} is already bound by {first.origin}",
                    hint=f"keep one entry per host, port and path prefix ({DOCS})",
                )
            seen[key] = binding

    def __bool__(self) -> bool:
        return bool(self.bindings)

    def __repr__(self) -> str:
        return f"CredentialStore({[b.label for b in self.bindings]!r})"

    # ------------------------------------------------------------------------------ lookups
    def binding(self, host: str, port: int | None, path: str) -> Binding | None:
        """The most specific binding for ``host:port`` and ``path`` (longest prefix, then explicit port)."""
        found = [b for b in self.bindings if b.matches(host, port, path)]
        return max(found, key=Binding.specificity) if found else None

    def for_endpoint(self, scheme: str, host: str, port: int | None, path: str, *, what: str) -> RepoCredentials | None:
        """The credential to send to ``scheme://host:port`` for ``path``, or None. A binding that
        matches but may not travel over ``scheme`` raises ``CatalogAuthError`` naming the binding
        (``what`` names the request for the message, without credentials)."""
        binding = self.binding(host, port, path)
        if binding is None:
            return None
        if not binding.allows(scheme, host):
            raise CatalogAuthError(
                f"the credentials for {binding.label} ({binding.origin}) are only sent over https, and {what} "
                "is plain http",
                hint=f"use an https:// URL, or mark the entry 'insecure: true' if the network is trusted ({DOCS})",
            )
        return binding.credentials

    def for_url(self, url: str, *, what: str | None = None) -> RepoCredentials | None:
        """The credential for an http(s) URL (matched on its path), or None."""
        try:
            scheme, host, port = endpoint(url)
        except ValueError:
            return None
        return self.for_endpoint(scheme, host, port, urlsplit(url).path, what=what or sanitize_url(url))

    def allowed_for_url(self, url: str) -> RepoCredentials | None:
        """Like ``for_url`` but never raises: None when no binding matches or it may not travel there
        (used on redirects, where a refused credential is simply not sent)."""
        try:
            scheme, host, port = endpoint(url)
        except ValueError:
            return None
        binding = self.binding(host, port, urlsplit(url).path)
        return binding.credentials if binding is not None and binding.allows(scheme, host) else None

    # ------------------------------------------------------------------------------ views
    def restricted_to_hosts(self, urls: Iterable[str]) -> CredentialStore:
        """Only the bindings whose host (and port, when the binding names one) is named by one of
        ``urls`` (http(s):// or oci://); local paths name no host."""
        named: set[tuple[str, int | None]] = set()
        for url in urls:
            try:
                scheme, host, port = endpoint(url.replace("oci://", "https://", 1) if url.lower().startswith(
                    "oci://") else url)
            except ValueError:
                continue
            if scheme in ("http", "https"):
                named.add((host, port))
        return CredentialStore(b for b in self.bindings if any(b.matches_host(h, p) for h, p in named))

    def secrets(self) -> tuple[str, ...]:
        return tuple(secret for binding in self.bindings for secret in binding.credentials.secrets())
