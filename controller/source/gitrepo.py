"""Git sources: the only code in extctl that runs Git (through gitpython's ``repo.git.*`` API).

Owns: the per-remote cache checkout (``cache_dir/<sha256 of the sanitised URL>[:16]``), fetching a
branch into the object DB and only then checking its head out (detached), detecting force-pushes,
recognising a corrupted cache (unreadable ``.git``, failing ``git fsck``) and re-cloning it, mapping
git's stderr to typed ``SourceError``s, and ``files_at_ref`` (manifest texts at any branch, tag or
sha, read from Git objects without a checkout; kept in a separate ``<key>-refs`` cache).

Fetch policy: an empty cache gets ``--depth=1`` (falling back to a full fetch when the transport
refuses shallow); later passes fetch incrementally without ``--depth``, which in a shallow repository
transfers only the commits added since the last pass and keeps history connected, so a force-push can
be told apart from a fast-forward (``Snapshot.history_rewritten``). (A force-push that rewrites history
below the first fetched commit makes that one fetch transfer the new branch's full history.)

Must not: spawn ``git`` other than through gitpython, write credentials into ``.git/config``, URLs,
argv, logs or messages (see ``controller.source.auth``), or touch the checkout before a fetch
succeeded. Every git process runs with ``GIT_DIR``/``GIT_WORK_TREE`` pinned to the cache, so a broken
cache can never make git walk up into an enclosing repository.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

import git
from git.exc import GitCommandError, GitCommandNotFound, InvalidGitRepositoryError, NoSuchPathError

from controller.errors import (
    SourceAuthError,
    SourceBranchNotFound,
    SourceError,
    SourceInvalid,
    SourcePathNotFound,
)
from controller.logs import get_logger
from controller.source.auth import DEFAULT_TOKEN_USERNAME, GitAuth, git_environment
from controller.source.local import resolve_subpath
from controller.source.locations import RemoteLocation, parse_remote, scrub
from controller.source.snapshot import Snapshot

FETCH_TIMEOUT = 300.0  # seconds for one network operation (fetch)
LOCAL_TIMEOUT = 300.0  # seconds for local operations (checkout, fsck)
MANIFEST_SUFFIXES = (".yaml", ".yml")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")

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


class _CacheCorrupted(Exception):
    """Internal: the cache directory cannot be trusted; the caller deletes it and clones again."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def git_stderr(exc: GitCommandError) -> str:
    """The raw stderr text of a failed git command (gitpython wraps it as ``\\n  stderr: '...'``)."""
    raw = exc.stderr if isinstance(exc.stderr, str) else str(exc.stderr or "")
    match = re.match(r"^\s*stderr: '(.*)'\s*$", raw, re.DOTALL)
    return match.group(1) if match else raw


def _summary(stderr: str, limit: int = 600) -> str:
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


class _GitCache:
    """One cache checkout for one remote: open/create it, run git in it, judge and discard it."""

    def __init__(
        self,
        remote: RemoteLocation,
        checkout_dir: Path,
        auth: GitAuth | None,
        what: str,
        *,
        fetch_timeout: float = FETCH_TIMEOUT,
    ) -> None:
        self.remote = remote
        self.fetch_timeout = fetch_timeout
        self.dir = checkout_dir
        self.auth = auth
        self.what = what  # e.g. "branch 'main'" -- used in messages
        self.secrets: tuple[str, ...] = tuple(
            s for s in (*(auth.secrets if auth else ()), remote.embedded_password) if s
        )
        self.log = get_logger(component="source", source=remote.display)

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
            raise SourceInvalid(
                "the git executable was not found", hint="install git in the controller image or put it on PATH"
            ) from exc

    def remote_run(self, repo: git.Repo, *args: str) -> str:
        """``git fetch ...`` with the credentials environment (askpass / ssh command) for this call only."""
        with git_environment(self.auth, http=self.remote.is_http) as env, repo.git.custom_environment(**env):
            return self.run(repo, "fetch", *args, timeout=self.fetch_timeout)

    @contextlib.contextmanager
    def open(self) -> Iterator[git.Repo]:
        """The cache's Repo (created if absent), with the pinned environment; ``_CacheCorrupted`` if broken."""
        repo = self._open_or_init()
        try:
            with repo.git.custom_environment(**self._base_env()):
                self._ensure_remote(repo)
                yield repo
        finally:
            repo.close()

    def _open_or_init(self) -> git.Repo:
        if not self.dir.exists() or (self.dir.is_dir() and not any(self.dir.iterdir())):
            return self._init()
        try:
            repo = git.Repo(self.dir)
        except (InvalidGitRepositoryError, NoSuchPathError, ValueError, OSError) as exc:
            raise _CacheCorrupted(f"{type(exc).__name__}: not a readable git repository") from exc
        if repo.bare or repo.working_tree_dir is None or Path(repo.working_tree_dir).resolve() != self.dir.resolve():
            repo.close()
            raise _CacheCorrupted("the cache is not a plain (non-bare) checkout of its own")
        return repo

    def _init(self) -> git.Repo:
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            repo = git.Repo.init(self.dir)
        except GitCommandNotFound as exc:
            raise SourceInvalid(
                "the git executable was not found", hint="install git in the controller image or put it on PATH"
            ) from exc
        except GitCommandError as exc:
            raise SourceError(
                f"cannot create the git cache {self.dir} for {self.remote.display}: "
                f"{self.scrubbed(_summary(git_stderr(exc)))}",
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
            return "git fsck failed: " + self.scrubbed(_summary(git_stderr(exc), limit=300))
        return None

    # -- error mapping ---------------------------------------------------------------------------
    def raise_remote(self, repo: git.Repo, exc: GitCommandError, action: str) -> NoReturn:
        """Map a failed fetch to a typed error; unknown failures are checked against the cache first."""
        stderr = git_stderr(exc)
        detail = self.scrubbed(_summary(stderr))
        where = f"{self.what} of {self.remote.display}"
        kind = classify(stderr)
        if kind == "auth":
            raise SourceAuthError(
                f"authentication to {self.remote.display} failed while {action} ({detail})",
                hint="check EXTCTL_GIT_TOKEN / EXTCTL_GIT_USERNAME+EXTCTL_GIT_PASSWORD / EXTCTL_GIT_SSH_KEY_FILE "
                "and that they grant read access to the repository",
            ) from exc
        if kind == "missing_ref":
            raise SourceBranchNotFound(
                f"{where} does not exist on the remote ({detail}); keeping the last good revision",
                hint="restore the branch or point --branch at an existing one",
            ) from exc
        if kind == "unreachable":
            raise SourceError(
                f"cannot reach {self.remote.display} while {action} for {self.what} ({detail}); "
                "keeping the last good revision",
                reason="SourceUnreachable",
                hint="check network access, DNS and proxy settings to the Git host; extctl retries with backoff",
            ) from exc
        if kind == "repo_not_found":
            raise SourceError(
                f"no Git repository at {self.remote.display} ({detail}); keeping the last good revision",
                reason="RepositoryNotFound",
                hint="check the --source URL; private repositories may answer 'not found' without credentials",
            ) from exc
        self.raise_local(repo, exc, action)

    def raise_local(self, repo: git.Repo, exc: GitCommandError, action: str) -> NoReturn:
        """A git failure not explained by the remote: a damaged cache re-clones, anything else is reported."""
        problem = self.fsck_problem(repo)
        if problem is not None:
            raise _CacheCorrupted(problem) from exc
        raise SourceError(
            f"git failed while {action} for {self.what} of {self.remote.display}: "
            f"{self.scrubbed(_summary(git_stderr(exc)))}",
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
                self.remote_run(repo, "--depth=1", *base)
                return
            except GitCommandError as exc:
                if classify(git_stderr(exc)) is not None:
                    self.raise_remote(repo, exc, action)
                self.log.info(
                    "shallow fetch refused; falling back to a full fetch",
                    what=self.what,
                    detail=self.scrubbed(_summary(git_stderr(exc), limit=300)),
                )
        try:
            self.remote_run(repo, *base)
        except GitCommandError as exc:
            self.raise_remote(repo, exc, action)

    def rev(self, repo: git.Repo, spec: str) -> str | None:
        """The full sha of ``spec`` peeled to a commit, or None if it does not resolve."""
        try:
            out = self.run(repo, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}").strip()
        except GitCommandError:
            return None
        return out if _SHA1.match(out) else None

    def is_ancestor(self, repo: git.Repo, old: str, new: str) -> bool:
        try:
            self.run(repo, "merge-base", "--is-ancestor", old, new)
        except GitCommandError:
            return False  # 1 = not an ancestor; anything else (object gone) means we cannot say it is
        return True


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
        self.remote = parse_remote(location)
        _check_ref_name(branch, "--branch")
        self.branch = branch
        self.path = path.strip("/") if path and path.strip("/") not in ("", ".") else None
        if self.path is not None:
            resolve_subpath(Path("/"), self.path)  # rejects absolute paths and '..' early
        self.auth = _merge_embedded(auth, self.remote)
        self.checkout_dir = Path(cache_dir).resolve() / self.remote.cache_key
        self._cache = _GitCache(
            self.remote, self.checkout_dir, self.auth, f"branch {branch!r}", fetch_timeout=fetch_timeout
        )

    def describe(self) -> str:
        suffix = f" path {self.path}" if self.path else ""
        return f"git {self.remote.display} branch {self.branch}{suffix}"

    def fetch(self) -> Snapshot:
        with _cache_lock(self.checkout_dir):
            try:
                return self._fetch_once()
            except _CacheCorrupted as exc:
                self._cache.log.warning(
                    "git cache corrupted; deleting it and cloning again",
                    branch=self.branch,
                    cache_dir=str(self.checkout_dir),
                    problem=exc.detail,
                )
                self._cache.discard()
            try:
                return self._fetch_once()
            except _CacheCorrupted as exc:
                raise SourceError(
                    f"the git cache {self.checkout_dir} for {self.remote.display} is unusable even after a fresh "
                    f"clone: {exc.detail}",
                    reason="CacheUnusable",
                    hint="check free disk space and permissions of the cache directory",
                ) from exc

    def _fetch_once(self) -> Snapshot:
        cache = self._cache
        tracking = f"refs/remotes/origin/{self.branch}"
        with cache.open() as repo:
            old = cache.rev(repo, "HEAD")
            cache.fetch(repo, [f"+refs/heads/{self.branch}:{tracking}"], action="fetching")
            new = cache.rev(repo, tracking)
            if new is None:
                problem = cache.fsck_problem(repo)
                if problem is not None:
                    raise _CacheCorrupted(problem)
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
                    branch=self.branch,
                    previous_commit=old,
                    commit=new,
                )
        root = self.checkout_dir / self.path if self.path else self.checkout_dir
        return Snapshot(
            revision=f"{self.branch}@sha1:{new}",
            root=root,
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


def _check_ref_name(ref: str, option: str) -> None:
    if not ref or ref.startswith("-") or any(c.isspace() or c in "~^:?*[\\" for c in ref) or ".." in ref:
        raise SourceInvalid(f"{option} {ref!r} is not a valid Git ref name", hint="e.g. --branch main")


def _merge_embedded(auth: GitAuth | None, remote: RemoteLocation) -> GitAuth | None:
    """Credentials written into an http(s) URL become basic auth (explicit ``auth`` wins)."""
    if auth is not None or remote.embedded_password is None:
        return auth
    return GitAuth.basic(remote.embedded_username or DEFAULT_TOKEN_USERNAME, remote.embedded_password)


# -- files at a ref (PR previews) ----------------------------------------------------------------


def _default_include(paths: list[str]) -> Iterable[str]:
    return [p for p in paths if p.endswith(MANIFEST_SUFFIXES)]


def git_files_at_ref(
    location: str,
    ref: str,
    *,
    path: str | None,
    cache_dir: Path,
    auth: GitAuth | None = None,
    include: Callable[[list[str]], Iterable[str]] | None = None,
) -> tuple[str, dict[str, str]]:
    """Fetch ``ref`` (branch, tag, full ref or 40-hex sha) and read its manifests from Git objects."""
    remote = parse_remote(location)
    _check_ref_name(ref, "ref")
    auth = _merge_embedded(auth, remote)
    checkout_dir = Path(cache_dir).resolve() / f"{remote.cache_key}-refs"
    cache = _GitCache(remote, checkout_dir, auth, f"ref {ref!r}")
    with _cache_lock(checkout_dir):
        try:
            return _files_once(cache, ref, path, include)
        except _CacheCorrupted as exc:
            cache.log.warning(
                "git cache corrupted; deleting it and cloning again", cache_dir=str(checkout_dir), problem=exc.detail
            )
            cache.discard()
        try:
            return _files_once(cache, ref, path, include)
        except _CacheCorrupted as exc:
            raise SourceError(
                f"the git cache {checkout_dir} for {remote.display} is unusable even after a fresh clone: "
                f"{exc.detail}",
                reason="CacheUnusable",
            ) from exc


def _files_once(
    cache: _GitCache, ref: str, path: str | None, include: Callable[[list[str]], Iterable[str]] | None
) -> tuple[str, dict[str, str]]:
    with cache.open() as repo:
        if _SHA1.match(ref.lower()):
            sha = ref.lower()
            if cache.rev(repo, sha) is None:
                cache.fetch(repo, [sha], action=f"fetching commit {sha[:12]}")
        else:
            dest = "refs/extctl/at/" + hashlib.sha256(ref.encode()).hexdigest()[:16]
            cache.fetch(repo, [f"+{ref}:{dest}"], action=f"fetching {ref}")
            resolved = cache.rev(repo, dest)
            if resolved is None:
                raise SourceError(
                    f"ref {ref!r} of {cache.remote.display} does not point to a commit", reason="GitFailed"
                )
            sha = resolved
        if cache.rev(repo, sha) is None:
            raise SourceBranchNotFound(f"commit {sha} is not available from {cache.remote.display}")
        files = read_tree_files(repo, sha, path, include, cache=cache)
    return f"{ref}@sha1:{sha}", files


def read_tree_files(
    repo: git.Repo,
    sha: str,
    path: str | None,
    include: Callable[[list[str]], Iterable[str]] | None = None,
    *,
    cache: _GitCache | None = None,
    where: str = "",
) -> dict[str, str]:
    """``{path relative to `path`: text}`` of the selected blobs under ``path`` at commit ``sha``."""
    subpath = path.strip("/") if path and path.strip("/") not in ("", ".") else ""
    if subpath:
        resolve_subpath(Path("/"), subpath)
    where = where or (cache.remote.display if cache else str(repo.working_tree_dir))
    try:
        tree = repo.commit(sha).tree
        if subpath:
            try:
                found: object = tree / subpath
            except KeyError:
                found = None
            if not isinstance(found, git.Tree):
                raise SourcePathNotFound(f"path {subpath!r} is not a directory at {sha} of {where}")
            tree = found
        blobs: dict[str, git.Blob] = {}
        for item in tree.traverse():
            if not isinstance(item, git.Blob) or stat.S_ISLNK(item.mode):
                continue
            rel = PurePosixPath(item.path).relative_to(subpath).as_posix() if subpath else str(item.path)
            blobs[rel] = item
        selected = (include or _default_include)(sorted(blobs))
        files: dict[str, str] = {}
        for rel in selected:
            data = blobs[rel].data_stream.read()
            try:
                files[rel] = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SourceError(
                    f"{rel} at {sha} of {where} is not UTF-8 text", reason="InvalidEncoding", hint="save it as UTF-8"
                ) from exc
        return files
    except GitCommandError as exc:
        if cache is None:
            raise SourceError(f"cannot read {sha} from {where}: {_summary(git_stderr(exc))}") from exc
        cache.raise_local(repo, exc, f"reading files at {sha[:12]}")
    except (ValueError, git.BadName, git.BadObject) as exc:
        if cache is not None and cache.fsck_problem(repo) is not None:
            raise _CacheCorrupted(f"cannot read objects of {sha}: {type(exc).__name__}") from exc
        raise SourceError(f"cannot read {sha} from {where}: {type(exc).__name__}", reason="GitFailed") from exc


def local_files_at_ref(
    directory: Path, ref: str, *, path: str | None, include: Callable[[list[str]], Iterable[str]] | None = None
) -> tuple[str, dict[str, str]]:
    """``files_at_ref`` for a local directory that is a Git working tree (no fetch; local refs only)."""
    _check_ref_name(ref, "ref")
    try:
        repo = git.Repo(directory)
    except (InvalidGitRepositoryError, NoSuchPathError) as exc:
        raise SourceInvalid(
            f"{directory} is not a Git repository, so there are no refs to read",
            hint="pass a Git URL to read a branch, tag or commit",
        ) from exc
    try:
        try:
            sha = str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}", kill_after_timeout=LOCAL_TIMEOUT))
        except GitCommandError as exc:
            raise SourceBranchNotFound(f"ref {ref!r} does not exist in {directory}") from exc
        return f"{ref}@sha1:{sha}", read_tree_files(repo, sha, path, include, where=str(directory))
    finally:
        repo.close()
