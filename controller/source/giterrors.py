"""What git's failures mean: git's stderr and gitpython's exceptions mapped to typed ``SourceError``s.

Owns: the stderr text inside gitpython's ``GitCommandError`` (``git_stderr``), the one-line summary of
it that messages quote (``summary``), telling an authentication failure, a missing ref, a missing
repository and an unreachable remote apart (``classify``), the typed error for each of those
(``remote_failure``: auth is permanent, the others transient), and the error for a missing git
executable (``git_not_found``: ``SourceInvalid``).
Must not: run git, touch the filesystem, log, or scrub text itself: callers pass the credential-free
display URL and a ``detail`` they already scrubbed (``controller.source.locations.scrub``).
"""

from __future__ import annotations

# Before gitpython: every git child it starts gets the allow-listed environment (gitenv's docstring).
from controller.source import gitenv  # noqa: F401

# isort: split

import re

from git.exc import GitCommandError

from controller.errors import SourceAuthError, SourceBranchNotFound, SourceError, SourceInvalid

# git's stderr, lower-cased, mapped to a cause. Checked in this order.
_AUTH_PATTERNS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "invalid username or password",
    "http basic: access denied",
    "returned error: 401",
    "returned error: 403",
    "permission denied (publickey",
    "permission denied, please try again",
    "host key verification failed",
    "no supported authentication methods",
)
_MISSING_REF_PATTERNS = ("couldn't find remote ref", "could not find remote ref")
_REPO_NOT_FOUND = re.compile(
    r"does not appear to be a git repository|repository '[^']*' not found|repository not found|returned error: 404"
)
_UNREACHABLE_PATTERNS = (
    "could not resolve host",
    "could not resolve hostname",
    "connection refused",
    "failed to connect",
    "couldn't connect",
    "connection timed out",
    "operation timed out",
    "timed out",
    "network is unreachable",
    "no route to host",
    "connection reset",
    "empty reply from server",
    "the remote end hung up",
    "could not read from remote repository",
    "unable to access",
    "early eof",
    "ssl",
    "tls",
    "returned error: 5",
    "timeout: the command",
)


def git_stderr(exc: GitCommandError) -> str:
    """The raw stderr text of a failed git command (gitpython wraps it as ``\\n  stderr: '...'``)."""
    raw = exc.stderr if isinstance(exc.stderr, str) else str(exc.stderr or "")
    match = re.match(r"^\s*stderr: '(.*)'\s*$", raw, re.DOTALL)
    return match.group(1) if match else raw


def summary(stderr: str, limit: int = 600) -> str:
    """git's ``fatal:``/``error:``/``remote:`` lines (or all lines) joined with ``; ``, at most ``limit`` long."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    important = [line for line in lines if line.lower().startswith(("fatal:", "error:", "remote:", "timeout:"))]
    text = "; ".join(important or lines) or "no error output from git"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def classify(stderr: str) -> str | None:
    """``auth``, ``missing_ref``, ``repo_not_found``, ``unreachable`` or None (not a remote problem)."""
    low = stderr.lower()
    if any(p in low for p in _AUTH_PATTERNS):
        return "auth"
    if any(p in low for p in _MISSING_REF_PATTERNS):
        return "missing_ref"
    if _REPO_NOT_FOUND.search(low):
        return "repo_not_found"
    if any(p in low for p in _UNREACHABLE_PATTERNS):
        return "unreachable"
    return None


def remote_failure(stderr: str, *, remote: str, what: str, action: str, detail: str) -> SourceError | None:
    """The typed error for a failed fetch whose stderr names a remote problem, else None.

    ``remote`` is the display URL, ``what`` e.g. ``branch 'main'``, ``action`` e.g. ``fetching`` and
    ``detail`` the scrubbed ``summary`` of ``stderr``.
    """
    kind = classify(stderr)
    if kind == "auth" and "host key verification failed" in stderr.lower():
        return SourceAuthError(
            f"the SSH host key of {remote} is not in the --ssh-known-hosts file, or does not match it, while "
            f"{action} ({detail})",
            hint="if the host's key really changed, check the new fingerprint against the one your Git host "
            "publishes and update the known_hosts file (ssh-keyscan HOST); otherwise something is intercepting "
            "the connection",
        )
    if kind == "auth":
        return SourceAuthError(
            f"authentication to {remote} failed while {action} ({detail})",
            hint="check EXTCTL_GIT_TOKEN / EXTCTL_GIT_USERNAME+EXTCTL_GIT_PASSWORD / EXTCTL_GIT_SSH_KEY_FILE "
            "and that they grant read access to the repository",
        )
    if kind == "missing_ref":
        return SourceBranchNotFound(
            f"{what} of {remote} does not exist on the remote ({detail}); keeping the last good revision",
            hint="restore the branch or point --branch at an existing one",
        )
    if kind == "unreachable":
        return SourceError(
            f"cannot reach {remote} while {action} for {what} ({detail}); keeping the last good revision",
            reason="SourceUnreachable",
            hint="check network access, DNS and proxy settings to the Git host; extctl retries with backoff",
        )
    if kind == "repo_not_found":
        return SourceError(
            f"no Git repository at {remote} ({detail}); keeping the last good revision",
            reason="RepositoryNotFound",
            hint="check the --source URL; private repositories may answer 'not found' without credentials",
        )
    return None


def git_not_found() -> SourceInvalid:
    """The error for a missing git executable (gitpython's ``GitCommandNotFound``); raise it ``from`` that."""
    return SourceInvalid(
        "the git executable was not found", hint="install git in the controller image or put it on PATH"
    )
