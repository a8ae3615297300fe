"""A materialised tree of one Git ref, for code that needs real files (local chart repositories).

Owns: ``export_ref``, which writes every file of a branch, tag or sha into a fresh directory via
``git archive`` (through gitpython), reusing the ``files_at_ref`` cache so the ref is fetched once.
Must not: check out into or modify the source repository or its cache's working tree, follow
symlinks out of ``dest``, or let a credential reach a message.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from controller.errors import SourceError, SourceInvalid
from controller.source.auth import GitAuth
from controller.source.gitrepo import _cache_lock, git_files_at_ref, local_files_at_ref
from controller.source.locations import display_location, is_git_url, parse_remote


def _nothing(_paths: list[str]) -> list[str]:
    return []


def export_ref(
    location: str,
    ref: str,
    *,
    cache_dir: Path,
    dest: Path,
    auth: GitAuth | None = None,
) -> str:
    """Write the whole tree at ``ref`` into ``dest`` (created; must not exist or be empty).

    Returns the revision string (``"<ref>@sha1:<hex>"``) exactly like ``files_at_ref``. Symlinks and
    entries that would land outside ``dest`` are skipped (tarfile's ``data`` filter).
    """
    if is_git_url(location):
        revision, _ = git_files_at_ref(location, ref, path=None, cache_dir=cache_dir, auth=auth, include=_nothing)
        repo_dir = Path(cache_dir).resolve() / f"{parse_remote(location).cache_key}-refs"
        lock_target: Path | None = repo_dir
    else:
        directory = Path(location)
        if not directory.is_dir():
            raise SourceInvalid(
                f"--source {display_location(location)!r} is neither a Git URL nor an existing directory")
        revision, _ = local_files_at_ref(directory, ref, path=None, include=_nothing)
        repo_dir = directory
        lock_target = None
    sha = revision.rsplit(":", 1)[1]
    buffer = io.BytesIO()
    try:
        if lock_target is not None:
            with _cache_lock(lock_target):
                _archive(repo_dir, sha, buffer)
        else:
            _archive(repo_dir, sha, buffer)
    except (GitCommandError, InvalidGitRepositoryError, NoSuchPathError, ValueError) as exc:
        raise SourceError(
            f"cannot export {sha[:12]} of {display_location(location)}: {type(exc).__name__}", reason="GitFailed"
        ) from exc
    dest.mkdir(parents=True, exist_ok=True)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer, mode="r:") as archive:
        members = [m for m in archive.getmembers() if m.isfile() or m.isdir()]
        archive.extractall(dest, members=members, filter="data")
    return revision


def _archive(repo_dir: Path, sha: str, buffer: io.BytesIO) -> None:
    repo = git.Repo(repo_dir)
    try:
        repo.archive(buffer, treeish=sha, format="tar")
    finally:
        repo.close()
