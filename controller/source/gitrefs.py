"""Refs for previews: what any branch, tag, full ref or commit holds, read from Git objects.

Owns: ``files_at_ref`` (manifest texts at a ref, for ``extctl preview --base/--head``) and
``archive_at_ref`` (a tar of the whole tree, for ``export_ref``). For a Git URL the ref is fetched into
a separate ``<key>-refs`` cache that is never checked out; a 40-hex sha already present is not fetched
again. A local directory must be a Git working tree, and only its local refs are used (nothing is
fetched). Reading skips symlinks and insists on UTF-8 text. A caller reading several refs of one repository
passes one ``blobs`` dict (blob id -> text) to each call: a file whose blob another ref already had is not read
from Git again (a preview's head shares all but the changed files with its base; bench/README.md, P4).
Must not: check out or modify any working tree (the cache's or a local directory's), follow the
branch ``GitSource`` follows, or run git in the cache outside ``GitCache.use``.
"""

from __future__ import annotations

# Before gitpython: every git child it starts gets the allow-listed environment (gitenv's docstring).
from controller.source import gitenv  # noqa: F401

# isort: split

import hashlib
import io
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NoReturn, TypeVar

import git
from git.exc import GitCommandError, GitCommandNotFound, InvalidGitRepositoryError, NoSuchPathError

from controller.errors import SourceBranchNotFound, SourceError, SourceInvalid, SourcePathNotFound
from controller.source.auth import GitAuth
from controller.source.gitcache import LOCAL_TIMEOUT, SHA1, CacheCorrupted, GitCache
from controller.source.giterrors import git_not_found, git_stderr, summary
from controller.source.local import resolve_subpath
from controller.source.locations import check_ref_name, is_git_url, local_directory

MANIFEST_SUFFIXES = (".yaml", ".yml")
Include = Callable[[list[str]], Iterable[str]]
T = TypeVar("T")


def files_at_ref(
    location: str, ref: str, *, path: str | None, cache_dir: Path, auth: GitAuth | None = None,
    include: Include | None = None, blobs: dict[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """``("<ref>@sha1:<hex>", {path relative to `path`: text})`` for the selected files at ``ref``.

    ``include`` receives the relative paths of *all* files under ``path`` (sorted) and returns the ones
    to read; by default every ``*.yaml``/``*.yml``. ``blobs``: texts by Git blob id, read from and added to.
    """
    return _at_ref(location, ref, cache_dir=cache_dir, auth=auth,
                   read=lambda commit: commit.files(path, include, {} if blobs is None else blobs))


def archive_at_ref(location: str, ref: str, *, cache_dir: Path, auth: GitAuth | None = None) -> tuple[str, bytes]:
    """``("<ref>@sha1:<hex>", tar archive of the whole tree at ref)`` (``git archive``)."""
    return _at_ref(location, ref, cache_dir=cache_dir, auth=auth, read=lambda commit: commit.archive())


@dataclass(frozen=True)
class _Commit:
    """One resolved commit to read from: in the refs cache (``cache`` set) or in a local working tree."""

    repo: git.Repo
    sha: str
    where: str  # credential-free, for messages
    cache: GitCache | None

    def files(self, path: str | None, include: Include | None, known: dict[str, str]) -> dict[str, str]:
        subpath = path.strip("/") if path and path.strip("/") not in ("", ".") else ""
        if subpath:
            resolve_subpath(Path("/"), subpath)
        try:
            tree = self.repo.commit(self.sha).tree
            if subpath:
                try:
                    found: object = tree / subpath
                except KeyError:
                    found = None
                if not isinstance(found, git.Tree):
                    raise SourcePathNotFound(f"path {subpath!r} is not a directory at {self.sha} of {self.where}")
                tree = found
            blobs: dict[str, git.Blob] = {}
            for item in tree.traverse():
                if not isinstance(item, git.Blob) or stat.S_ISLNK(item.mode):
                    continue
                rel = PurePosixPath(item.path).relative_to(subpath).as_posix() if subpath else str(item.path)
                blobs[rel] = item
            selected = (include or _manifests)(sorted(blobs))
            files: dict[str, str] = {}
            for rel in selected:
                blob = blobs[rel]
                if blob.hexsha in known:  # the same content at another ref: already read and decoded
                    files[rel] = known[blob.hexsha]
                    continue
                data = blob.data_stream.read()
                try:
                    files[rel] = known[blob.hexsha] = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise SourceError(
                        f"{rel} at {self.sha} of {self.where} is not UTF-8 text",
                        reason="InvalidEncoding",
                        hint="save it as UTF-8",
                    ) from exc
            return files
        except (GitCommandError, GitCommandNotFound, ValueError, git.BadName, git.BadObject) as exc:
            self._failed(exc, f"reading files at {self.sha[:12]}")

    def archive(self) -> bytes:
        buffer = io.BytesIO()
        try:
            self.repo.archive(buffer, treeish=self.sha, format="tar")
        except (GitCommandError, GitCommandNotFound, ValueError, git.BadName, git.BadObject) as exc:
            self._failed(exc, f"exporting {self.sha[:12]}")
        return buffer.getvalue()

    def _failed(self, exc: Exception, action: str) -> NoReturn:
        """A read failed: git missing, a damaged cache (re-cloned by ``GitCache.use``), or a reported error."""
        if isinstance(exc, GitCommandNotFound):
            raise git_not_found() from exc
        if isinstance(exc, GitCommandError):
            if self.cache is not None:
                self.cache.raise_local(self.repo, exc, action)
            raise SourceError(f"cannot read {self.sha} from {self.where}: {summary(git_stderr(exc))}") from exc
        if self.cache is not None and self.cache.fsck_problem(self.repo) is not None:
            raise CacheCorrupted(f"cannot read objects of {self.sha}: {type(exc).__name__}") from exc
        raise SourceError(
            f"cannot read {self.sha} from {self.where}: {type(exc).__name__}", reason="GitFailed"
        ) from exc


def _manifests(paths: list[str]) -> Iterable[str]:
    return [p for p in paths if p.endswith(MANIFEST_SUFFIXES)]


def _at_ref(
    location: str, ref: str, *, cache_dir: Path, auth: GitAuth | None, read: Callable[[_Commit], T]
) -> tuple[str, T]:
    check_ref_name(ref, "ref")
    if is_git_url(location):
        cache = GitCache(location, cache_dir=cache_dir, auth=auth, what=f"ref {ref!r}", suffix="-refs")

        def fetch_and_read(repo: git.Repo) -> tuple[str, T]:
            sha = _fetch_commit(cache, repo, ref)
            return sha, read(_Commit(repo, sha, cache.remote.display, cache))

        sha, result = cache.use(fetch_and_read)
    else:
        sha, result = _read_local(local_directory(location), ref, read)
    return f"{ref}@sha1:{sha}", result


def _fetch_commit(cache: GitCache, repo: git.Repo, ref: str) -> str:
    """Fetch ``ref`` (skipped for a sha the cache already has) and return its commit sha."""
    if SHA1.match(ref.lower()):
        sha = ref.lower()
        if cache.rev(repo, sha) is None:
            cache.fetch(repo, [sha], action=f"fetching commit {sha[:12]}")
    else:
        dest = "refs/extctl/at/" + hashlib.sha256(ref.encode()).hexdigest()[:16]
        cache.fetch(repo, [f"+{ref}:{dest}"], action=f"fetching {ref}")
        resolved = cache.rev(repo, dest)
        if resolved is None:
            raise SourceError(f"ref {ref!r} of {cache.remote.display} does not point to a commit", reason="GitFailed")
        sha = resolved
    if cache.rev(repo, sha) is None:
        raise SourceBranchNotFound(f"commit {sha} is not available from {cache.remote.display}")
    return sha


def _read_local(directory: Path, ref: str, read: Callable[[_Commit], T]) -> tuple[str, T]:
    """Resolve ``ref`` among a local working tree's own refs and ``read`` that commit (no fetch)."""
    try:
        repo = git.Repo(directory)
    except (InvalidGitRepositoryError, NoSuchPathError) as exc:
        raise SourceInvalid(
            f"{directory} is not a Git repository, so there are no refs to read",
            hint="pass a Git URL to read a branch, tag or commit",
        ) from exc
    except OSError as exc:
        raise SourceError(f"cannot read the Git repository {directory}: {exc.strerror}") from exc
    try:
        try:
            sha = str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}", kill_after_timeout=LOCAL_TIMEOUT))
        except GitCommandNotFound as exc:
            raise git_not_found() from exc
        except GitCommandError as exc:
            raise SourceBranchNotFound(f"ref {ref!r} does not exist in {directory}") from exc
        return sha, read(_Commit(repo, sha, str(directory), None))
    except OSError as exc:
        raise SourceError(f"cannot read {ref} from {directory}: {exc.strerror}") from exc
    finally:
        repo.close()
