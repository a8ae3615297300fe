"""Every expected failure of the source package is a typed ``SourceError`` with the right retry flag.

Covers issue 9: git's stderr mapped to typed errors, ``OSError``s of the clone cache (a ``--cache-dir``
that is a file or not writable is permanent, a full disk is transient), an unusable temp directory for
the askpass helper, unreadable local manifests, and source values that are not Git URLs. No git runs
here (see ``tests/integration/test_source_git.py`` for the real thing).
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

from controller.errors import (
    ExtctlError,
    SourceAuthError,
    SourceBranchNotFound,
    SourceError,
    SourceInvalid,
)
from controller.source import GitAuth, GitSource, LocalSource
from controller.source.auth import git_environment
from controller.source.gitcache import cache_dir_error
from controller.source.giterrors import remote_failure
from controller.source.locations import parse_remote

SECRET = "pa55-w0rd-never-shown"
REMOTE = "https://git.example.com/org/repo.git"


@pytest.mark.parametrize(
    ("stderr", "kind", "reason", "transient"),
    [
        ("fatal: Authentication failed for 'https://h/r.git/'", SourceAuthError, "SourceAuthFailed", False),
        ("fatal: couldn't find remote ref refs/heads/gone", SourceBranchNotFound, "BranchNotFound", True),
        ("fatal: unable to access 'https://h/r.git/': Could not resolve host: h", SourceError, "SourceUnreachable",
         True),
        ("fatal: repository 'https://h/nope.git/' not found", SourceError, "RepositoryNotFound", True),
    ],
    ids=["auth", "missing-ref", "unreachable", "no-repository"],
)
def test_remote_failures_are_typed(stderr: str, kind: type[SourceError], reason: str, transient: bool) -> None:
    failure = remote_failure(stderr, remote=REMOTE, what="branch 'main'", action="fetching", detail="d")
    assert type(failure) is kind
    assert failure is not None and (failure.reason, failure.transient) == (reason, transient)
    assert REMOTE in str(failure)


def test_a_local_git_problem_is_not_a_remote_failure() -> None:
    stderr = "error: inflate: data stream error (incorrect header check)"
    assert remote_failure(stderr, remote=REMOTE, what="branch 'main'", action="fetching", detail="d") is None


def test_cache_dir_that_is_a_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    file = tmp_path / "cache"
    file.write_text("")
    error = cache_dir_error(FileExistsError(errno.EEXIST, "File exists", str(file)), file, REMOTE)
    assert isinstance(error, SourceInvalid) and error.transient is False
    assert str(error) == f"--cache-dir {file} is a file (hint: point it at a directory, or remove the file)"


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM, errno.EROFS])
def test_unwritable_cache_dir_is_permanent(tmp_path: Path, code: int) -> None:
    error = cache_dir_error(OSError(code, os.strerror(code), str(tmp_path / "x.lock")), tmp_path, REMOTE)
    assert isinstance(error, SourceInvalid) and error.transient is False
    assert f"--cache-dir {tmp_path}" in str(error) and os.strerror(code) in str(error)


def test_full_disk_in_the_cache_is_transient(tmp_path: Path) -> None:
    error = cache_dir_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), tmp_path, REMOTE)
    assert type(error) is SourceError and error.transient is True
    assert error.reason == "CacheUnusable"
    assert str(tmp_path) in str(error) and "No space left on device" in str(error) and REMOTE in str(error)


def test_a_location_that_is_not_a_git_url_is_source_invalid(tmp_path: Path) -> None:
    with pytest.raises(SourceInvalid):
        GitSource("definitely not a url", cache_dir=tmp_path)


def test_unusable_temp_dir_for_the_askpass_helper_is_a_source_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_dir = tmp_path / "tmp-file"
    not_a_dir.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_dir))
    remote = parse_remote("https://h/r.git")
    with pytest.raises(SourceError) as failure, git_environment(GitAuth.basic("alice", SECRET), remote):
        pass
    assert SECRET not in str(failure.value)
    assert isinstance(failure.value.__cause__, OSError)


def test_unreadable_local_manifest_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text("kind: Extension\n")
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")  # unreadable even for root: ELOOP
    with pytest.raises(ExtctlError) as failure:
        LocalSource(tmp_path).fetch()
    assert isinstance(failure.value, SourceError)
    assert "loop.yaml" in str(failure.value)


def test_token_file_that_is_not_text_is_an_auth_error_without_its_bytes(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_bytes(b"\xff\xfesecret-bytes")
    with pytest.raises(SourceAuthError) as failure:
        GitAuth.from_env({"EXTCTL_GIT_TOKEN_FILE": str(token_file)})
    assert "not UTF-8" in str(failure.value) and "secret-bytes" not in str(failure.value)
    assert failure.value.__cause__ is None and failure.value.__context__ is None  # the bytes go nowhere
