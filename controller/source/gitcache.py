"""The clone cache: one Git checkout per remote under ``--cache-dir``, and the one place that heals it.

Owns: where a remote's cache lives (``<cache-dir>/<sha256 of the display URL>[:16]``, plus a suffix
such as ``-refs``); serialising its users, threads and processes alike (flock on a sibling ``.lock``
file); creating it and configuring ``origin`` (never with credentials); running git in it with
``GIT_DIR``/``GIT_WORK_TREE`` pinned, so a broken cache can never make git walk up into an enclosing
repository; fetching; judging it (``git fsck``); and ``GitCache.use``, the single self-healing helper:
when the cache turns out corrupt or partial, the directory is deleted and the operation runs once more
on a fresh clone. Every ``OSError`` of the cache becomes a ``SourceError`` there: a ``--cache-dir``
that is a file or cannot be written is ``SourceInvalid`` (permanent), anything else (disk full) is
transient.

Fetch policy: an empty cache gets ``--depth=1`` (falling back to a full fetch when the transport
refuses shallow); later passes fetch incrementally without ``--depth``, which in a shallow repository
transfers only the commits added since the last pass and keeps history connected, so a force-push can
be told apart from a fast-forward. (A force-push that rewrites history below the first fetched commit
makes that one fetch transfer the new branch's full history.)

Must not: decide what to fetch or check out (``gitrepo`` follows a branch, ``gitrefs`` reads refs for
previews), spawn git other than through gitpython's ``repo.git.*`` API, set git's environment other
than through ``controller.source.gitenv.git_settings`` (the allow-list), or write credentials into
``.git/config``, argv, environment variables, logs or messages (see ``controller.source.auth``).
An SSH remote without a known_hosts file is refused when the cache is created, before any connection.
"""

from __future__ import annotations

# Before gitpython: every git child it starts gets the allow-listed environment (gitenv's docstring).
from controller.source import gitenv  # noqa: F401

# isort: split

import contextlib
import errno
import fcntl
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import git
from git.exc import GitCommandError, GitCommandNotFound, InvalidGitRepositoryError, NoSuchPathError

from controller.errors import SourceError, SourceInvalid
from controller.logs import get_logger
from controller.source.auth import GitAuth, git_environment, require_known_hosts
from controller.source.gitenv import git_settings
from controller.source.giterrors import classify, git_not_found, git_stderr, remote_failure, summary
from controller.source.locations import RemoteLocation, parse_remote, scrub

FETCH_TIMEOUT = 300.0  # seconds for one network operation (fetch)
LOCAL_TIMEOUT = 300.0  # seconds for local operations (checkout, fsck)
SHA1 = re.compile(r"^[0-9a-f]{40}$")
# OSErrors that no retry fixes: the operator must change --cache-dir or its permissions.
_PERMANENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.ELOOP})
_CACHE_HINT = "check free disk space and permissions of the cache directory"
T = TypeVar("T")


class CacheCorrupted(Exception):
    """Raised inside ``GitCache.use`` when the cache cannot be trusted; ``use`` deletes it and clones again."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@contextlib.contextmanager
def _cache_lock(checkout_dir: Path) -> Iterator[None]:
    """Serialise every user (threads and processes) of one cache directory (flock on a sibling file)."""
    checkout_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = checkout_dir.with_name(checkout_dir.name + ".lock")
    with lock_path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_tree(path: Path) -> None:
    """Delete ``path`` recursively, making read-only entries (git's pack files) writable first."""

    def _retry_writable(func: Callable[..., Any], target: str, _info: Any) -> None:
        Path(target).parent.chmod(stat.S_IRWXU)
        with contextlib.suppress(OSError):
            Path(target).chmod(stat.S_IRWXU)
        func(target)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=_retry_writable)


def cache_dir_error(exc: OSError, cache_dir: Path, remote: str) -> SourceError:
    """The typed error for an ``OSError`` met in a cache under ``cache_dir`` (the ``--cache-dir`` value)."""
    blocker = next((p for p in (cache_dir, *cache_dir.parents) if os.path.exists(p) and not os.path.isdir(p)), None)
    if blocker == cache_dir:
        return SourceInvalid(f"--cache-dir {cache_dir} is a file", hint="point it at a directory, or remove the file")
    if blocker is not None:
        return SourceInvalid(
            f"--cache-dir {cache_dir} is inside {blocker}, which is a file",
            hint="point --cache-dir at a directory, or remove the file",
        )
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in _PERMANENT_ERRNOS:
        return SourceInvalid(
            f"--cache-dir {cache_dir} cannot be used: {exc.strerror}{where}",
            hint="give extctl's user write access to it, or point --cache-dir at another directory",
        )
    return SourceError(
        f"cannot use the git cache in {cache_dir} for {remote}: {exc.strerror or exc}{where}",
        reason="CacheUnusable",
        hint=_CACHE_HINT,
    )


def _merge_embedded(auth: GitAuth | None, remote: RemoteLocation) -> GitAuth | None:
    """Credentials written into an http(s) URL become basic auth (explicit credentials win)."""
    if remote.embedded_password is None or (auth is not None and auth.kind != "none"):
        return auth
    return (auth or GitAuth()).with_embedded(remote.embedded_username, remote.embedded_password)


class GitCache:
    """One cache checkout for one remote: ``use`` it, and inside the operation run git, fetch and judge it."""

    def __init__(
        self,
        location: str,
        *,
        cache_dir: Path,
        auth: GitAuth | None,
        what: str,
        suffix: str = "",
        fetch_timeout: float = FETCH_TIMEOUT,
        log_fields: dict[str, str] | None = None,
    ) -> None:
        try:
            self.remote = parse_remote(location)
        except ValueError as exc:
            raise SourceInvalid(str(exc), hint="pass https://…, ssh://…, git@host:org/repo.git or file://…") from exc
        self.cache_dir = Path(cache_dir)
        try:
            self.dir = self.cache_dir.resolve() / (self.remote.cache_key + suffix)
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
            raise SourceInvalid(f"--cache-dir {cache_dir} cannot be resolved: {exc}") from exc
        self.auth = _merge_embedded(auth, self.remote)
        if self.remote.ssh_host is not None:  # refused here, before any connection, not at the first fetch
            require_known_hosts(self.auth, self.remote.display, *self.remote.ssh_host)
        self.what = what  # e.g. "branch 'main'" -- used in messages
        self.fetch_timeout = fetch_timeout
        self.secrets: tuple[str, ...] = tuple(
            s for s in (*(self.auth.secrets if self.auth else ()), self.remote.embedded_password) if s
        )
        self.log = get_logger(component="source", source=self.remote.display, **(log_fields or {}))

    # -- the one way in --------------------------------------------------------------------------
    def use(self, operation: Callable[[git.Repo], T]) -> T:
        """Run ``operation`` on the cache's repository while holding the cache lock.

        The only self-healing path: if opening the cache or ``operation`` raises ``CacheCorrupted``, the
        directory is deleted and ``operation`` runs once more on a fresh clone; a second corruption is a
        ``SourceError`` (``CacheUnusable``). An ``OSError`` becomes a ``SourceError`` (``cache_dir_error``).
        """
        try:
            with _cache_lock(self.dir):
                try:
                    return self._run_in_repo(operation)
                except CacheCorrupted as exc:
                    self.log.warning(
                        "git cache corrupted; deleting it and cloning again",
                        cache_dir=str(self.dir),
                        problem=exc.detail,
                    )
                    self.discard()
                try:
                    return self._run_in_repo(operation)
                except CacheCorrupted as exc:
                    raise SourceError(
                        f"the git cache {self.dir} for {self.remote.display} is unusable even after a fresh clone: "
                        f"{exc.detail}",
                        reason="CacheUnusable",
                        hint=_CACHE_HINT,
                    ) from exc
        except OSError as exc:
            raise cache_dir_error(exc, self.cache_dir, self.remote.display) from exc

    def _run_in_repo(self, operation: Callable[[git.Repo], T]) -> T:
        repo = self._open_or_init()
        try:
            with git_settings(**self._base_env()):
                self._ensure_remote(repo)
                return operation(repo)
        finally:
            repo.close()

    # -- plumbing --------------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        return {
            "GIT_DIR": str(self.dir / ".git"),
            "GIT_WORK_TREE": str(self.dir),
            "GIT_CEILING_DIRECTORIES": str(self.dir.parent),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
        }

    def scrubbed(self, text: str) -> str:
        return scrub(text, self.secrets)

    def run(self, repo: git.Repo, command: str, *args: str, timeout: float = LOCAL_TIMEOUT) -> str:
        """Run ``git <command> <args>`` in the cache; raises ``GitCommandError`` like gitpython does."""
        method = getattr(repo.git, command.replace("-", "_"))
        try:
            return str(method(*args, kill_after_timeout=timeout))
        except GitCommandNotFound as exc:
            raise git_not_found() from exc

    def _remote_run(self, repo: git.Repo, *args: str) -> str:
        """``git fetch ...`` with the credentials environment (askpass / ssh command) for this call only."""
        with git_environment(self.auth, self.remote) as env, git_settings(**env):
            return self.run(repo, "fetch", *args, timeout=self.fetch_timeout)

    def _open_or_init(self) -> git.Repo:
        if not self.dir.exists() or (self.dir.is_dir() and not any(self.dir.iterdir())):
            return self._init()
        try:
            repo = git.Repo(self.dir)
        except (InvalidGitRepositoryError, NoSuchPathError, ValueError, OSError) as exc:
            raise CacheCorrupted(f"{type(exc).__name__}: not a readable git repository") from exc
        if repo.bare or repo.working_tree_dir is None or Path(repo.working_tree_dir).resolve() != self.dir.resolve():
            repo.close()
            raise CacheCorrupted("the cache is not a plain (non-bare) checkout of its own")
        return repo

    def _init(self) -> git.Repo:
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            repo = git.Repo.init(self.dir)
        except GitCommandNotFound as exc:
            raise git_not_found() from exc
        except GitCommandError as exc:
            raise SourceError(
                f"cannot create the git cache {self.dir} for {self.remote.display}: "
                f"{self.scrubbed(summary(git_stderr(exc)))}",
                hint="check that the cache directory is writable",
            ) from exc
        return repo

    def _ensure_remote(self, repo: git.Repo) -> None:
        try:
            current = self.run(repo, "config", "--get", "remote.origin.url")
        except GitCommandError as exc:
            if exc.status != 1:  # 1 = key not set; anything else means git cannot read its config
                self.raise_local(repo, exc, "reading the cache's git config")
            current = ""
        try:
            if not current:
                self.run(repo, "remote", "add", "origin", self.remote.config_url)
                self.run(repo, "config", "gc.autoDetach", "false")
                # Symlinks in the repository are checked out as small text files, so nothing in the
                # checkout can point outside it.
                self.run(repo, "config", "core.symlinks", "false")
            elif current != self.remote.config_url:
                self.run(repo, "remote", "set-url", "origin", self.remote.config_url)
        except GitCommandError as exc:
            self.raise_local(repo, exc, "configuring the cache's remote")

    def discard(self) -> None:
        try:
            _remove_tree(self.dir)
        except OSError as exc:
            raise SourceError(
                f"cannot delete the corrupted git cache {self.dir} for {self.remote.display}: {exc.strerror}",
                hint="check the cache directory's permissions",
            ) from exc

    def fsck_problem(self, repo: git.Repo) -> str | None:
        """None when ``git fsck`` is happy with the cache, else a short description of the damage."""
        if not (self.dir / ".git" / "HEAD").is_file():
            return ".git/HEAD is missing"
        try:
            self.run(repo, "fsck", "--no-dangling", "--no-progress")
        except GitCommandError as exc:
            return "git fsck failed: " + self.scrubbed(summary(git_stderr(exc), limit=300))
        return None

    # -- error mapping ---------------------------------------------------------------------------
    def raise_remote(self, repo: git.Repo, exc: GitCommandError, action: str) -> NoReturn:
        """Map a failed fetch to a typed error; unknown failures are checked against the cache first."""
        stderr = git_stderr(exc)
        failure = remote_failure(
            stderr, remote=self.remote.display, what=self.what, action=action, detail=self.scrubbed(summary(stderr))
        )
        if failure is not None:
            raise failure from exc
        self.raise_local(repo, exc, action)

    def raise_local(self, repo: git.Repo, exc: GitCommandError, action: str) -> NoReturn:
        """A git failure not explained by the remote: a damaged cache re-clones, anything else is reported."""
        problem = self.fsck_problem(repo)
        if problem is not None:
            raise CacheCorrupted(problem) from exc
        raise SourceError(
            f"git failed while {action} for {self.what} of {self.remote.display}: "
            f"{self.scrubbed(summary(git_stderr(exc)))}",
            reason="GitFailed",
            hint="extctl retries with backoff; if this persists, delete the cache directory " + str(self.dir),
        ) from exc

    # -- operations ------------------------------------------------------------------------------
    def has_commits(self, repo: git.Repo) -> bool:
        try:
            return bool(self.run(repo, "for-each-ref", "--count=1", "--format=%(objectname)").strip())
        except GitCommandError as exc:
            self.raise_local(repo, exc, "listing refs")

    def fetch(self, repo: git.Repo, refspecs: list[str], *, action: str) -> None:
        """Fetch ``refspecs`` from origin: ``--depth=1`` into an empty cache, incremental otherwise."""
        base = ["--no-tags", "--no-write-fetch-head", "--quiet", "origin", *refspecs]
        if not self.has_commits(repo):
            try:
                self._remote_run(repo, "--depth=1", *base)
                return
            except GitCommandError as exc:
                if classify(git_stderr(exc)) is not None:
                    self.raise_remote(repo, exc, action)
                self.log.info(
                    "shallow fetch refused; falling back to a full fetch",
                    what=self.what,
                    detail=self.scrubbed(summary(git_stderr(exc), limit=300)),
                )
        try:
            self._remote_run(repo, *base)
        except GitCommandError as exc:
            self.raise_remote(repo, exc, action)

    def rev(self, repo: git.Repo, spec: str) -> str | None:
        """The full sha of ``spec`` peeled to a commit, or None if it does not resolve."""
        try:
            out = self.run(repo, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}").strip()
        except GitCommandError:
            return None
        return out if SHA1.match(out) else None

    def is_ancestor(self, repo: git.Repo, old: str, new: str) -> bool:
        try:
            self.run(repo, "merge-base", "--is-ancestor", old, new)
        except GitCommandError:
            return False  # 1 = not an ancestor; anything else (object gone) means we cannot say it is
        return True
