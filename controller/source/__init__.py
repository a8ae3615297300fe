"""The source of desired state: a Git branch or a local directory, as a ``Snapshot`` on disk.

Owns: ``open_source`` (pick a Git or local-directory source for a ``--source`` value), and re-exports
of ``Snapshot``, ``Source``, ``GitAuth``, ``files_at_ref`` / ``export_ref`` (any branch, tag or sha, for
PR previews) and ``watch_local`` / ``awatch_local``. Loading gitpython here never fails for want of a
git executable (``GIT_PYTHON_REFRESH=quiet`` unless set): a missing git is a ``SourceInvalid`` when a
Git source is used, and local directories need no git at all. This package is the only part of extctl
that touches Git (gitpython; ``git`` is spawned only through gitpython's ``repo.git.*`` API, with the
allow-listed environment of ``gitenv``: never extctl's own ``EXTCTL_*`` variables or secrets).
Modules: ``gitrepo`` follows a branch, ``gitrefs`` reads refs for previews, ``gitcache`` owns the clone
cache and its self-healing, ``giterrors`` maps git's failures to typed errors, ``auth`` holds
credentials and SSH host keys, ``gitenv`` the environment of every git child.
Must not: parse manifests, talk to the cluster, raise anything but ``ExtctlError`` subclasses for an
expected failure, or let a credential reach a URL, a log line or an error message (every URL is shown
without userinfo).
"""

from __future__ import annotations

import os

# gitpython checks for a git executable when it is imported and by default raises ImportError, which
# would take down every extctl command; "quiet" defers that to the first git call (GitCommandNotFound).
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.source.auth import GitAuth
from controller.source.local import LocalSource, awatch_local, directory_digest, watch_local
from controller.source.locations import is_git_url, local_directory
from controller.source.snapshot import Snapshot, Source

if TYPE_CHECKING:
    from controller.source.export import export_ref
    from controller.source.gitrefs import files_at_ref
    from controller.source.gitrepo import GitSource

# The Git half is imported on first use (PEP 562): a command that reads a local directory never loads
# gitpython (0.1 s). Every module that imports gitpython imports ``gitenv`` first.
_LAZY = {"FETCH_TIMEOUT": "gitcache", "GitSource": "gitrepo", "export_ref": "export", "files_at_ref": "gitrefs"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib  # noqa: PLC0415 - only on first use of the Git half

        importlib.import_module("controller.source.gitenv")
        return getattr(importlib.import_module(f"controller.source.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GitAuth",
    "GitSource",
    "LocalSource",
    "Snapshot",
    "Source",
    "awatch_local",
    "directory_digest",
    "export_ref",
    "files_at_ref",
    "is_git_url",
    "open_source",
    "watch_local",
]


def open_source(
    location: str,
    *,
    branch: str = "main",
    path: str | None = None,
    cache_dir: Path,
    auth: GitAuth | None = None,
    fetch_timeout: float | None = None,
) -> Source:
    """A ``GitSource`` for a URL (https, http, ssh, ``git@host:path``, file://), else a ``LocalSource``.

    A local directory is used as it is (no Git needed, ``branch``/``auth`` ignored). Nothing is
    fetched until ``fetch()``; each git network operation is killed after ``fetch_timeout`` seconds.
    An argument that is neither a URL nor a directory raises ``SourceInvalid``.
    """
    if is_git_url(location):
        from controller.source.gitcache import FETCH_TIMEOUT  # noqa: PLC0415 - gitpython only for a Git source
        from controller.source.gitrepo import GitSource  # noqa: PLC0415 - same

        return GitSource(location, branch=branch, path=path, cache_dir=cache_dir, auth=auth,
                         fetch_timeout=FETCH_TIMEOUT if fetch_timeout is None else fetch_timeout)
    return LocalSource(local_directory(location), path=path)
