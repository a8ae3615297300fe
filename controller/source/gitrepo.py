"""Following a branch: fetch it, resolve it to a commit, and hand out a ``Snapshot`` of its checkout.

Owns: ``GitSource``. Each ``fetch()`` fetches ``refs/heads/<branch>`` into the cache's object DB,
resolves it to a commit, checks that ``--path`` is a directory there, and only then checks that commit
out (detached; ``clean -ffdx`` also reverts edits made inside the cache). A previous head that is not
an ancestor of the new one is a force-push: logged, and flagged as ``Snapshot.history_rewritten``.
``classify`` is re-exported from ``controller.source.giterrors`` for its historical import path.
Must not: run git outside ``GitCache.use`` (the cache lock, the self-healing re-clone and the mapping of
``OSError`` live there), map git's stderr itself (``giterrors``), or touch the checkout before a fetch
succeeded.
"""

from __future__ import annotations

# Before gitpython: every git child it starts gets the allow-listed environment (gitenv's docstring).
from controller.source import gitenv  # noqa: F401

# isort: split

from pathlib import Path

import git
from git.exc import GitCommandError

from controller.errors import SourceError, SourcePathNotFound
from controller.source.auth import GitAuth
from controller.source.gitcache import FETCH_TIMEOUT, CacheCorrupted, GitCache
from controller.source.giterrors import classify
from controller.source.local import resolve_subpath
from controller.source.locations import check_ref_name
from controller.source.snapshot import Snapshot

__all__ = ["GitSource", "classify"]


class GitSource:
    """A branch of a Git remote, checked out (detached) in a cache directory; see the module docstring."""

    def __init__(
        self,
        location: str,
        *,
        branch: str = "main",
        path: str | None = None,
        cache_dir: Path,
        auth: GitAuth | None = None,
        fetch_timeout: float = FETCH_TIMEOUT,
    ) -> None:
        check_ref_name(branch, "--branch")
        self.branch = branch
        self.path = path.strip("/") if path and path.strip("/") not in ("", ".") else None
        if self.path is not None:
            resolve_subpath(Path("/"), self.path)  # rejects absolute paths and '..' early
        self._cache = GitCache(
            location,
            cache_dir=cache_dir,
            auth=auth,
            what=f"branch {branch!r}",
            fetch_timeout=fetch_timeout,
            log_fields={"branch": branch},
        )
        self.remote = self._cache.remote
        self.auth = self._cache.auth
        self.checkout_dir = self._cache.dir

    def describe(self) -> str:
        suffix = f" path {self.path}" if self.path else ""
        return f"git {self.remote.display} branch {self.branch}{suffix}"

    def fetch(self) -> Snapshot:
        return self._cache.use(self._follow)

    def _follow(self, repo: git.Repo) -> Snapshot:
        cache = self._cache
        tracking = f"refs/remotes/origin/{self.branch}"
        old = cache.rev(repo, "HEAD")
        cache.fetch(repo, [f"+refs/heads/{self.branch}:{tracking}"], action="fetching")
        new = cache.rev(repo, tracking)
        if new is None:
            problem = cache.fsck_problem(repo)
            if problem is not None:
                raise CacheCorrupted(problem)
            raise SourceError(
                f"fetched branch {self.branch!r} of {self.remote.display} but {tracking} does not resolve",
                reason="GitFailed",
            )
        if self.path is not None:
            self._check_path(repo, new)
        rewritten = old is not None and old != new and not cache.is_ancestor(repo, old, new)
        if old != new or self._worktree_dirty(repo):
            try:
                cache.run(repo, "checkout", "--force", "--quiet", "--detach", new)
                cache.run(repo, "clean", "-ffdxq")
            except GitCommandError as exc:
                cache.raise_local(repo, exc, f"checking out {new[:12]}")
        if rewritten:
            cache.log.warning(
                "history rewritten on the remote (force-push); checked out the new head",
                previous_commit=old,
                commit=new,
            )
        return Snapshot(
            revision=f"{self.branch}@sha1:{new}",
            root=self.checkout_dir / self.path if self.path else self.checkout_dir,
            repo_root=self.checkout_dir,
            commit=new,
            history_rewritten=rewritten,
            previous_commit=old,
            branch=self.branch,
        )

    def _check_path(self, repo: git.Repo, commit: str) -> None:
        try:
            listing = self._cache.run(repo, "ls-tree", "-d", "--full-tree", commit, "--", self.path or "")
        except GitCommandError as exc:
            self._cache.raise_local(repo, exc, "looking up --path")
        if not listing.strip():
            raise SourcePathNotFound(
                f"--path {self.path!r} is not a directory at {self.branch}@sha1:{commit} of {self.remote.display}; "
                "keeping the last good revision",
                hint="fix --path or restore the directory in Git",
            )

    def _worktree_dirty(self, repo: git.Repo) -> bool:
        """True when files in the cache checkout differ from HEAD (someone edited the cache)."""
        try:
            return bool(self._cache.run(repo, "status", "--porcelain", "--untracked-files=all").strip())
        except GitCommandError as exc:
            self._cache.raise_local(repo, exc, "checking the cache's working tree")
