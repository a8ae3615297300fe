"""The source of desired state: a Git branch or a local directory, as a ``Snapshot`` on disk.

Owns: ``open_source`` (pick a Git or local-directory source for a ``--source`` value),
``files_at_ref`` (manifest texts at any branch, tag or sha, for PR previews), and re-exports of
``Snapshot``, ``Source``, ``GitAuth`` and ``watch_local``. This package is the only part of extctl
that touches Git (gitpython; ``git`` is spawned only through gitpython's ``repo.git.*`` API).
Must not: parse manifests, talk to the cluster, or let a credential reach a URL, a log line or an
error message (every URL is shown without userinfo).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from controller.errors import SourceInvalid
from controller.source.auth import GitAuth
from controller.source.export import export_ref
from controller.source.gitrepo import FETCH_TIMEOUT, GitSource, git_files_at_ref, local_files_at_ref
from controller.source.local import LocalSource, awatch_local, directory_digest, watch_local
from controller.source.locations import display_location, is_git_url
from controller.source.snapshot import Snapshot, Source

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
    fetch_timeout: float = FETCH_TIMEOUT,
) -> Source:
    """A ``GitSource`` for a URL (https, http, ssh, ``git@host:path``, file://), else a ``LocalSource``.

    A local directory is used as it is (no Git needed, ``branch``/``auth`` ignored). Nothing is
    fetched until ``fetch()``; each git network operation is killed after ``fetch_timeout`` seconds.
    An argument that is neither a URL nor a directory raises ``SourceInvalid``.
    """
    if is_git_url(location):
        return GitSource(
            location, branch=branch, path=path, cache_dir=cache_dir, auth=auth, fetch_timeout=fetch_timeout
        )
    directory = Path(location)
    if not directory.is_dir():
        raise SourceInvalid(
            f"--source {display_location(location)!r} is neither a Git URL nor an existing directory",
            hint="pass https://…, ssh://…, git@host:org/repo.git, file://… or a local directory",
        )
    return LocalSource(directory, path=path)


def files_at_ref(
    location: str,
    ref: str,
    *,
    path: str | None,
    cache_dir: Path,
    auth: GitAuth | None = None,
    include: Callable[[list[str]], Iterable[str]] | None = None,
) -> tuple[str, dict[str, str]]:
    """``("<ref>@sha1:<hex>", {path relative to `path`: text})`` for the files at ``ref``.

    ``ref`` is a branch, tag, full ref (``refs/pull/7/head``) or 40-hex sha. By default every
    ``*.yaml``/``*.yml`` under ``path`` is returned; ``include`` receives the relative paths of *all*
    files under ``path`` (sorted) and returns the ones to read -- pass
    ``controller.manifests.loader.select_manifest_files`` to apply the manifest selection rule, which
    needs to see ``Chart.yaml`` and ``*.tgz`` files too. Read from Git objects, never checked out.
    For a local directory, it must be a Git working tree, and only its local refs are used.
    """
    if is_git_url(location):
        return git_files_at_ref(location, ref, path=path, cache_dir=cache_dir, auth=auth, include=include)
    directory = Path(location)
    if not directory.is_dir():
        raise SourceInvalid(f"--source {display_location(location)!r} is neither a Git URL nor an existing directory")
    return local_files_at_ref(directory, ref, path=path, include=include)
