"""What a ``--source`` string means, and how it may appear in Git config and in messages.

Owns: telling a Git remote (https, http, ssh, ``git@host:path``, file://) from a local directory
(``local_directory`` refuses a value that is neither); refusing ``--branch``/ref values that git could
read as an option or a revision expression (``check_ref_name``); the URL written into the cache's
``.git/config`` (never with a password: credentials embedded in an http(s) URL are split off and
handed to the askpass helper instead); the display form of a remote (no userinfo at all, via
``controller.urls.sanitize_url``); and scrubbing free text (git's stderr) of any userinfo and known
secret values before it goes into an error or a log line.
Must not: run git, touch the filesystem beyond ``os.path.isdir`` (which answers False instead of raising
for a path it cannot stat), or log.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from controller.errors import SourceInvalid
from controller.logs import scrub_text
from controller.urls import sanitize_url

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# git's "scp-like" syntax: [user@]host:path, where no slash comes before the first colon.
_SCP = re.compile(r"^(?:(?P<user>[^@/:\s]+)@)?(?P<host>[^@/:\s]+):(?P<path>(?!//).*)$")
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})


@dataclass(frozen=True)
class RemoteLocation:
    """A Git remote: ``config_url`` goes into .git/config, ``display`` into every message."""

    config_url: str
    display: str
    embedded_username: str | None = None
    embedded_password: str | None = None

    @property
    def is_http(self) -> bool:
        return self.config_url.lower().startswith(("http://", "https://"))

    @property
    def ssh_host(self) -> tuple[str, int | None] | None:
        """``(host, port)`` when git reaches this remote over SSH (``ssh://``, ``git+ssh://``, scp-like)."""
        if _SCHEME.match(self.config_url):
            parts = urlsplit(self.config_url)
            if parts.scheme.lower() not in _SSH_SCHEMES:
                return None
            try:
                port = parts.port
            except ValueError:
                port = None  # git reports the bad port when it connects
            return parts.hostname or "", port
        match = _SCP.match(self.config_url)
        return (match["host"], None) if match is not None else None

    @property
    def cache_key(self) -> str:
        """First 16 hex digits of sha256 over the display (credential-free) URL."""
        return hashlib.sha256(self.display.encode()).hexdigest()[:16]


def is_git_url(location: str) -> bool:
    """True for ``scheme://...`` and scp-like ``[user@]host:path`` (unless that names a local directory)."""
    if _SCHEME.match(location):
        return True
    if os.path.isdir(location):
        return False
    return _SCP.match(location) is not None


def local_directory(location: str) -> Path:
    """``location`` as a directory path; ``SourceInvalid`` if it is not one (call after ``is_git_url``)."""
    directory = Path(location)
    if not os.path.isdir(directory):
        raise SourceInvalid(
            f"--source {display_location(location)!r} is neither a Git URL nor an existing directory",
            hint="pass https://…, ssh://…, git@host:org/repo.git, file://… or a local directory",
        )
    return directory


def check_ref_name(ref: str, option: str) -> None:
    """Raise ``SourceInvalid`` for a ref that is empty, starts with ``-`` or holds revision syntax."""
    if not ref or ref.startswith("-") or any(c.isspace() or c in "~^:?*[\\" for c in ref) or ".." in ref:
        raise SourceInvalid(f"{option} {ref!r} is not a valid Git ref name", hint="e.g. --branch main")


def parse_remote(location: str) -> RemoteLocation:
    """Split a Git URL into its config form (no password) and display form (no userinfo)."""
    if _SCHEME.match(location):
        parts = urlsplit(location)
        scheme = parts.scheme.lower()
        if parts.username is None and parts.password is None:
            return RemoteLocation(location, sanitize_url(location))
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        user = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        if scheme in ("http", "https"):
            # The whole userinfo moves to the askpass helper; git never sees it on its command line.
            config = urlunsplit((parts.scheme, host + port, parts.path, parts.query, parts.fragment))
            return RemoteLocation(config, sanitize_url(location), user, password)
        # ssh:// and friends: the user name is part of the address, a password never is.
        netloc = (f"{parts.username}@" if parts.username else "") + host + port
        config = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        return RemoteLocation(config, sanitize_url(location), None, password)
    match = _SCP.match(location)
    if match is None:
        raise ValueError(f"not a Git URL: {display_location(location)}")
    return RemoteLocation(location, f"{match['host']}:{match['path']}")


def display_location(location: str) -> str:
    """Credential-free form of any ``--source`` value (URL or path)."""
    if _SCHEME.match(location):
        return sanitize_url(location)
    match = _SCP.match(location)
    if match is not None and not os.path.isdir(location):
        return f"{match['host']}:{match['path']}"
    return location


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove ``user[:pass]@`` from every URL in ``text`` and replace known secret values with ``***``."""
    return scrub_text(text, secrets)
