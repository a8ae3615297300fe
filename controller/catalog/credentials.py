"""Credentials for chart repositories and OCI registries.

Owns: ``RepoCredentials`` (basic auth or a bearer token) and reading them from the environment:
``EXTCTL_REPO_USERNAME``/``EXTCTL_REPO_PASSWORD``/``EXTCTL_REPO_TOKEN``, or the ``..._FILE``
variants naming a file that holds the value (Kubernetes Secret volumes). Every secret value read is
registered with the log redactor.
Must not: put a password or token into ``repr``, logs or error messages (errors name the variable
or the file, never the value), or talk to the network.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controller.errors import CatalogAuthError
from controller.logs import register_secret

ENV_PREFIX = "EXTCTL_REPO"


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, prefix: str = ENV_PREFIX) -> RepoCredentials | None:
        """Credentials from ``<prefix>_USERNAME``/``_PASSWORD``/``_TOKEN`` (or ``..._FILE``); None if unset."""
        env = os.environ if environ is None else environ
        username = _read(env, f"{prefix}_USERNAME")
        password = _read(env, f"{prefix}_PASSWORD")
        token = _read(env, f"{prefix}_TOKEN")
        if not (username or password or token):
            return None
        if token and (username or password):
            raise CatalogAuthError(
                f"both {prefix}_TOKEN and {prefix}_USERNAME/{prefix}_PASSWORD are set",
                hint=f"set either {prefix}_TOKEN or {prefix}_USERNAME and {prefix}_PASSWORD (or their _FILE variants)",
            )
        if password and not username:
            raise CatalogAuthError(
                f"{prefix}_PASSWORD is set but {prefix}_USERNAME is not",
                hint=f"set {prefix}_USERNAME (or {prefix}_USERNAME_FILE) as well",
            )
        return cls(username=username, password=password, token=token)


def _read(env: Mapping[str, str], name: str) -> str | None:
    direct = env.get(name)
    file_name = env.get(f"{name}_FILE")
    if direct and file_name:
        raise CatalogAuthError(f"both {name} and {name}_FILE are set", hint=f"set only one of {name} and {name}_FILE")
    if direct:
        return direct
    if not file_name:
        return None
    try:
        value = Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise CatalogAuthError(
            f"cannot read {name}_FILE={file_name}: {exc.strerror or exc}",
            hint="mount the Secret at that path or fix the variable",
        ) from exc
    return value or None
