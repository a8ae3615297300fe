"""Git credentials: where they come from and how they reach git without touching disk or argv.

Owns: ``GitAuth`` (HTTPS token, basic user/password, or an SSH key file), built from
``EXTCTL_GIT_*`` environment variables or the files they point to; and ``git_environment``, a
context manager yielding the extra environment for one git process: ``GIT_TERMINAL_PROMPT=0``, a
``GIT_ASKPASS`` helper script (0700, in a private 0700 temp dir, removed afterwards) that prints the
user/password from variables set only in that process's environment, ``credential.helper`` reset so
no stored helper reads or records them, and ``GIT_SSH_COMMAND`` for a key file. A helper that cannot be
written (temp dir full or read-only) is a ``SourceError``.
Must not: put a credential into a URL, a command line, a file, a log line or an exception message.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from controller.errors import SourceAuthError, SourceError
from controller.logs import register_secret

DEFAULT_TOKEN_USERNAME = "x-access-token"  # noqa: S105 - a user name git hosts accept with tokens
_USER_VAR = "EXTCTL_GIT_ASKPASS_USERNAME"
_PASS_VAR = "EXTCTL_GIT_ASKPASS_PASSWORD"  # noqa: S105 - the variable name, not a value
_ASKPASS_SCRIPT = f"""#!/bin/sh
# extctl askpass helper: answers git's prompts from its own process environment only.
case "$1" in
  [Uu]sername*) printf '%s\\n' "${_USER_VAR}" ;;
  *) printf '%s\\n' "${_PASS_VAR}" ;;
esac
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
    def from_env(cls, environ: Mapping[str, str]) -> GitAuth | None:
        """Read ``EXTCTL_GIT_TOKEN[_FILE]``, ``EXTCTL_GIT_USERNAME`` + ``EXTCTL_GIT_PASSWORD[_FILE]``
        or ``EXTCTL_GIT_SSH_KEY_FILE`` (+ optional ``EXTCTL_GIT_KNOWN_HOSTS_FILE``); None if none is set.
        """
        token = _value_or_file(environ, "EXTCTL_GIT_TOKEN")
        password = _value_or_file(environ, "EXTCTL_GIT_PASSWORD")
        username = environ.get("EXTCTL_GIT_USERNAME") or None
        key_file = environ.get("EXTCTL_GIT_SSH_KEY_FILE") or None
        known_hosts = environ.get("EXTCTL_GIT_KNOWN_HOSTS_FILE") or None
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
            return cls.ssh(key, Path(known_hosts) if known_hosts else None)
        return None

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


def _ssh_command(auth: GitAuth) -> str:
    assert auth.ssh_key_file is not None  # noqa: S101 - guarded by kind == "ssh"
    parts = [
        "ssh", "-i", str(auth.ssh_key_file), "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
    ]
    if auth.known_hosts_file is not None:
        parts += ["-o", f"UserKnownHostsFile={auth.known_hosts_file}"]
    return shlex.join(parts)


def _config_env(settings: Mapping[str, str]) -> dict[str, str]:
    """``GIT_CONFIG_COUNT``/``KEY_n``/``VALUE_n`` entries appended after any the process already has."""
    try:
        start = int(os.environ.get("GIT_CONFIG_COUNT", "0") or "0")
    except ValueError:
        start = 0
    env: dict[str, str] = {}
    for offset, (key, value) in enumerate(settings.items()):
        env[f"GIT_CONFIG_KEY_{start + offset}"] = key
        env[f"GIT_CONFIG_VALUE_{start + offset}"] = value
    env["GIT_CONFIG_COUNT"] = str(start + len(settings))
    return env


@contextmanager
def git_environment(auth: GitAuth | None, *, http: bool) -> Iterator[dict[str, str]]:
    """Extra environment for git processes run inside the block (the askpass dir lives only that long).

    ``http`` says whether the remote is http(s): only then are user/password offered to git.
    """
    # An empty GIT_ASKPASS stops git from falling back to core.askPass / SSH_ASKPASS (GUI prompts).
    env: dict[str, str] = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": ""}
    if auth is not None and auth.kind == "ssh":
        env["GIT_SSH_COMMAND"] = _ssh_command(auth)
    if auth is None or not http or auth.password is None:
        yield env
        return
    script = _write_askpass_script()
    try:
        env.update(
            {
                "GIT_ASKPASS": str(script),
                _USER_VAR: auth.username or DEFAULT_TOKEN_USERNAME,
                _PASS_VAR: auth.password,
                # An empty credential.helper clears every configured helper, so nothing stored is used
                # and nothing we send is stored (``credential approve``) or erased (``reject``).
            }
        )
        env.update(_config_env({"credential.helper": ""}))
        yield env
    finally:
        shutil.rmtree(script.parent, ignore_errors=True)


def _write_askpass_script() -> Path:
    """The askpass helper (0700) in a fresh private directory (0700); ``SourceError`` if it cannot be written."""
    tmpdir: Path | None = None
    try:
        tmpdir = Path(tempfile.mkdtemp(prefix="extctl-askpass-"))  # mkdtemp creates it 0700
        script = tmpdir / "askpass.sh"
        fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRWXU)
        with os.fdopen(fd, "w") as handle:
            handle.write(_ASKPASS_SCRIPT)
    except OSError as exc:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
        where = f" {exc.filename}" if exc.filename else ""
        raise SourceError(
            f"cannot write the git askpass helper{where}: {exc.strerror}",
            hint="check free disk space and permissions of the temporary directory (TMPDIR)",
        ) from exc
    return script
