"""Git credentials and SSH host keys: where they come from and how they reach git without argv or env.

Owns: ``GitAuth`` (HTTPS token, basic user/password, or an SSH key file, plus the SSH known_hosts
file), built from ``EXTCTL_GIT_*`` environment variables or the files they point to and from
``--ssh-known-hosts`` / ``EXTCTL_SSH_KNOWN_HOSTS``; ``require_known_hosts`` (an SSH remote without a
known_hosts file is refused before any connection); and ``git_environment``, a context manager yielding
the ``GIT_*`` settings for one git process: ``GIT_TERMINAL_PROMPT=0``; for http(s) with a password a
``GIT_ASKPASS`` helper script (0700) in a private 0700 temp dir that also holds the user name and the
password as 0600 files, the directory removed when the block ends (the secret is in no variable and
no argv: the helper answers git's prompts by reading those files with shell builtins only);
``credential.helper`` reset so no stored helper reads or records them; and for SSH remotes
``GIT_SSH_COMMAND`` with ``StrictHostKeyChecking=yes`` against that known_hosts file only. A helper
that cannot be written (temp dir full or read-only) is a ``SourceError``.
Must not: put a credential into a URL, a command line, an environment variable, a file that outlives
the git call, a log line or an exception message; or trust a host key it was not given.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from controller.errors import SourceAuthError, SourceError
from controller.logs import register_secret
from controller.source.locations import RemoteLocation

DEFAULT_TOKEN_USERNAME = "x-access-token"  # noqa: S105 - a user name git hosts accept with tokens
KNOWN_HOSTS_ENV = "EXTCTL_SSH_KNOWN_HOSTS"
# Shell builtins only (no cat, no dirname): the answer never appears on any process's command line.
_ASKPASS_SCRIPT = """#!/bin/sh
# extctl askpass helper: answers git's prompts from the 0600 files next to this script.
case "$1" in
  [Uu]sername*) answer="${0%/*}/username" ;;
  *) answer="${0%/*}/password" ;;
esac
IFS= read -r line < "$answer"
printf '%s\\n' "$line"
"""


@dataclass(frozen=True)
class GitAuth:
    """Credentials for one Git remote. ``password`` holds the token in token mode; it is never repr'd."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssh_key_file: Path | None = None
    known_hosts_file: Path | None = None
    kind: str = "none"  # "token", "basic", "ssh" or "none"

    def __post_init__(self) -> None:
        if self.password:
            register_secret(self.password)

    @classmethod
    def token(cls, token: str, username: str | None = None) -> GitAuth:
        return cls(username=username or DEFAULT_TOKEN_USERNAME, password=token, kind="token")

    @classmethod
    def basic(cls, username: str, password: str) -> GitAuth:
        return cls(username=username, password=password, kind="basic")

    @classmethod
    def ssh(cls, key_file: Path, known_hosts_file: Path | None = None) -> GitAuth:
        return cls(ssh_key_file=key_file, known_hosts_file=known_hosts_file, kind="ssh")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], known_hosts: str | Path | None = None) -> GitAuth | None:
        """Read ``EXTCTL_GIT_TOKEN[_FILE]``, ``EXTCTL_GIT_USERNAME`` + ``EXTCTL_GIT_PASSWORD[_FILE]`` or
        ``EXTCTL_GIT_SSH_KEY_FILE``, plus the known_hosts file: ``known_hosts`` (the ``--ssh-known-hosts``
        value) or else ``EXTCTL_SSH_KNOWN_HOSTS``. None if nothing is set."""
        hosts = _known_hosts_file(known_hosts if known_hosts else environ.get(KNOWN_HOSTS_ENV) or None)
        auth = cls._credentials(environ)
        if hosts is None:
            return auth
        return cls(known_hosts_file=hosts) if auth is None else replace(auth, known_hosts_file=hosts)

    @classmethod
    def _credentials(cls, environ: Mapping[str, str]) -> GitAuth | None:
        token = _value_or_file(environ, "EXTCTL_GIT_TOKEN")
        password = _value_or_file(environ, "EXTCTL_GIT_PASSWORD")
        username = environ.get("EXTCTL_GIT_USERNAME") or None
        key_file = environ.get("EXTCTL_GIT_SSH_KEY_FILE") or None
        if token is not None and password is not None:
            raise SourceAuthError(
                "both EXTCTL_GIT_TOKEN and EXTCTL_GIT_PASSWORD are set",
                hint="set either a token or a username and password, not both",
            )
        if token is not None:
            return cls.token(token, username)
        if password is not None:
            if not username:
                raise SourceAuthError(
                    "EXTCTL_GIT_PASSWORD is set but EXTCTL_GIT_USERNAME is not",
                    hint="set EXTCTL_GIT_USERNAME, or use EXTCTL_GIT_TOKEN for a token",
                )
            return cls.basic(username, password)
        if key_file is not None:
            key = Path(key_file)
            if not os.path.isfile(key):
                raise SourceAuthError(
                    f"EXTCTL_GIT_SSH_KEY_FILE points to {key}, which is not a readable file",
                    hint="mount the SSH private key and point EXTCTL_GIT_SSH_KEY_FILE at it",
                )
            return cls.ssh(key)
        return None

    def with_embedded(self, username: str | None, password: str) -> GitAuth:
        """Basic auth from a URL's userinfo, keeping this object's known_hosts file."""
        return replace(GitAuth.basic(username or DEFAULT_TOKEN_USERNAME, password),
                       known_hosts_file=self.known_hosts_file)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in output (for scrubbing git's stderr)."""
        return (self.password,) if self.password else ()

    def describe(self) -> str:
        """Credential-free summary, e.g. ``basic auth as alice`` or ``ssh key /keys/id``."""
        if self.kind == "token":
            return "token auth"
        if self.kind == "basic":
            return f"basic auth as {self.username}"
        if self.kind == "ssh":
            return f"ssh key {self.ssh_key_file}"
        return "no auth"


def _known_hosts_file(value: str | Path | None) -> Path | None:
    """The ``--ssh-known-hosts`` file, checked to be a readable, non-empty file; None if not given."""
    if value is None or str(value) == "":
        return None
    path = Path(value)
    what = f"--ssh-known-hosts (env {KNOWN_HOSTS_ENV}) points to {path}, which"
    hint = ("mount the known_hosts file (a ConfigMap or Secret) and point --ssh-known-hosts at it; "
            + _keyscan_hint("[-p PORT] HOST"))
    try:
        size = path.stat().st_size if path.is_file() else None
        readable = os.access(path, os.R_OK)
    except OSError as exc:
        raise SourceAuthError(f"{what} cannot be read ({exc.strerror})", hint=hint) from exc
    if size is None or not readable:
        raise SourceAuthError(f"{what} is not a readable file", hint=hint)
    if size == 0:
        raise SourceAuthError(f"{what} is empty, so no host key would be trusted", hint=hint)
    return path


def _keyscan_hint(target: str) -> str:
    return (f"create it with `ssh-keyscan {target} > known_hosts` and check its fingerprints "
            "(`ssh-keygen -lf known_hosts`) against the ones your Git host publishes")


def require_known_hosts(auth: GitAuth | None, remote: str, host: str, port: int | None) -> Path:
    """The known_hosts file for the SSH remote ``remote``; ``SourceAuthError`` (before any connection)
    when none was given: extctl never trusts a host key on first use."""
    if auth is not None and auth.known_hosts_file is not None:
        return auth.known_hosts_file
    target = f"-p {port} {host}" if port else host
    raise SourceAuthError(
        f"the SSH source {remote} needs a known_hosts file to verify the server's host key, and none was given",
        hint=f"{_keyscan_hint(target)}, then pass --ssh-known-hosts known_hosts (env {KNOWN_HOSTS_ENV}; "
             "in Kubernetes, mount it from a ConfigMap or Secret)",
    )


def _value_or_file(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value:
        return value
    path = environ.get(f"{name}_FILE")
    if not path:
        return None
    hint = f"mount the secret file or set {name} instead"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        message = f"{name}_FILE points to {path}, which cannot be read ({exc.strerror})"
        raise SourceAuthError(message, hint=hint) from exc
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None  # raised below, outside this block: the decode error holds the secret's bytes
    if text is None:
        raise SourceAuthError(f"{name}_FILE points to {path}, which is not UTF-8 text", hint=hint)
    text = text.rstrip("\r\n")
    if not text:
        raise SourceAuthError(f"{name}_FILE points to {path}, which is empty", hint="check the mounted secret")
    return text


def ssh_command(known_hosts: Path, key_file: Path | None) -> str:
    """``GIT_SSH_COMMAND``: batch mode, and only host keys from ``known_hosts`` are trusted (none is added)."""
    parts = [
        "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no",
    ]
    if key_file is not None:
        parts += ["-i", str(key_file), "-o", "IdentitiesOnly=yes"]
    return shlex.join(parts)


@contextmanager
def git_environment(auth: GitAuth | None, remote: RemoteLocation) -> Iterator[dict[str, str]]:
    """``GIT_*`` settings for git processes that talk to ``remote`` inside the block (the askpass dir
    lives only that long). User/password are offered only to an http(s) remote; an SSH remote must
    have a known_hosts file (``SourceAuthError`` otherwise, before git runs)."""
    # An empty GIT_ASKPASS stops git from falling back to core.askPass / SSH_ASKPASS (GUI prompts).
    env: dict[str, str] = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": ""}
    if remote.ssh_host is not None:
        known_hosts = require_known_hosts(auth, remote.display, *remote.ssh_host)
        env["GIT_SSH_COMMAND"] = ssh_command(known_hosts, auth.ssh_key_file if auth is not None else None)
    if auth is None or not remote.is_http or auth.password is None:
        yield env
        return
    script = _write_askpass(auth.username or DEFAULT_TOKEN_USERNAME, auth.password)
    try:
        env["GIT_ASKPASS"] = str(script)
        # An empty credential.helper clears every configured helper, so nothing stored is used
        # and nothing we send is stored (``credential approve``) or erased (``reject``).
        env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "credential.helper", "GIT_CONFIG_VALUE_0": ""})
        yield env
    finally:
        shutil.rmtree(script.parent, ignore_errors=True)


def _write_askpass(username: str, password: str) -> Path:
    """The askpass helper (0700) and its answers (0600) in a fresh private directory (0700).

    ``SourceError`` if they cannot be written; nothing is left behind then."""
    tmpdir: Path | None = None
    try:
        tmpdir = Path(tempfile.mkdtemp(prefix="extctl-askpass-"))  # mkdtemp creates it 0700
        _write_private(tmpdir / "username", username + "\n", stat.S_IRUSR | stat.S_IWUSR)
        _write_private(tmpdir / "password", password + "\n", stat.S_IRUSR | stat.S_IWUSR)
        script = tmpdir / "askpass.sh"
        _write_private(script, _ASKPASS_SCRIPT, stat.S_IRWXU)
    except OSError as exc:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
        where = f" {exc.filename}" if exc.filename else ""
        raise SourceError(
            f"cannot write the git askpass helper{where}: {exc.strerror}",
            hint="check free disk space and permissions of the temporary directory (TMPDIR)",
        ) from exc
    return script


def _write_private(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
