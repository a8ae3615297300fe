"""Feature branches on a ``GitRemote``: commit a change on a new branch and push it (main is untouched).

Owns: ``branch(remote, name, files, from_ref=...)`` for PR-preview tests. Must not: sleep or touch
anything outside the remote's work tree and bare repository.
"""

from __future__ import annotations

from collections.abc import Mapping

from tests.support.git_remote import BRANCH, GitRemote, run_git


def branch(remote: GitRemote, name: str, files: Mapping[str, str | bytes | None], *, from_ref: str = BRANCH,
           message: str | None = None) -> str:
    """Create ``name`` from ``from_ref`` of the remote, write/delete ``files``, commit, push; returns the sha."""
    env, work = remote.env, remote.worktree
    with remote._lock:
        run_git(["fetch", "--quiet", "origin"], env=env, cwd=work)
        run_git(["checkout", "--quiet", "-B", name, f"origin/{from_ref}"], env=env, cwd=work)
        remote.write_files(files)
        run_git(["add", "--all"], env=env, cwd=work)
        run_git(["commit", "--quiet", "--allow-empty", "-m", message or f"change on {name}"], env=env, cwd=work)
        run_git(["push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{name}"], env=env, cwd=work)
        run_git(["checkout", "--quiet", "-B", BRANCH, f"origin/{BRANCH}"], env=env, cwd=work)
    return remote.head(name)
