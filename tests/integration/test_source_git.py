"""Git source against a real bare repository (file:// and smart HTTP via ``git http-backend``).

Covers issue 4 part 1 (clone, fetch, branch, path, auth, revisions, files at a ref) and issue 6
part 5 (unreachable remote, auth failure, deleted branch, force-push, corrupted cache). No git mocks;
the remote is the ``git_remote`` fixture and every git process runs with an isolated config.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import threading
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from controller.errors import (
    SourceAuthError,
    SourceBranchNotFound,
    SourceError,
    SourceInvalid,
    SourcePathNotFound,
)
from controller.manifests import select_manifest_files
from controller.manifests.ignore import drop_ignored, with_ignore_file
from controller.source import GitAuth, GitSource, export_ref, files_at_ref, open_source
from tests.support.extctl import ExtctlRun, run_extctl
from tests.support.git_remote import GitRemote, GitRemoteFactory, run_git
from tests.support.localnet import free_port

pytestmark = pytest.mark.integration

USER, PASSWORD = "alice", "s3cret-Pa55word-xyz"
SHA_REVISION = re.compile(r"^main@sha1:[0-9a-f]{40}$")


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """extctl's git runs with no user/system config and a private temp dir (to see askpass leftovers)."""
    home = tmp_path / "extctl-home"
    home.mkdir()
    private_tmp = tmp_path / "extctl-tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.delenv("GIT_ASKPASS", raising=False)
    monkeypatch.delenv("SSH_ASKPASS", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    return private_tmp


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _seed(remote: GitRemote) -> str:
    return remote.commit(
        {
            "clusters/prod/app.yaml": "kind: Extension\nname: app\nversion: 1\n",
            "clusters/prod/notes.txt": "not a manifest\n",
            "clusters/dev/app.yaml": "kind: Extension\nname: app-dev\n",
            "README.md": "# config\n",
        },
        "seed",
    )


# -- clone, fetch, branch, path ------------------------------------------------------------------


def test_clone_then_fetch_new_commit_changes_revision(git_remote: GitRemote, cache: Path) -> None:
    first = _seed(git_remote)
    source = open_source(git_remote.file_url, cache_dir=cache)
    assert isinstance(source, GitSource)

    snap1 = source.fetch()
    assert snap1.revision == f"main@sha1:{first}"
    assert SHA_REVISION.match(snap1.revision)
    assert snap1.commit == first
    assert snap1.root == snap1.repo_root
    assert snap1.repo_root.parent == cache.resolve()
    assert len(snap1.repo_root.name) == 16
    assert (snap1.root / "clusters/prod/app.yaml").read_text().endswith("version: 1\n")
    assert snap1.history_rewritten is False

    again = source.fetch()
    assert again.revision == snap1.revision  # nothing new: same revision

    second = git_remote.commit({"clusters/prod/app.yaml": "kind: Extension\nname: app\nversion: 2\n"})
    snap2 = source.fetch()
    assert snap2.revision == f"main@sha1:{second}" != snap1.revision
    assert snap2.previous_commit == first
    assert snap2.history_rewritten is False  # a fast-forward
    assert (snap2.root / "clusters/prod/app.yaml").read_text().endswith("version: 2\n")

    # A second Source object on the same cache reuses the checkout (no second clone directory).
    other = open_source(git_remote.file_url, cache_dir=cache).fetch()
    assert other.repo_root == snap2.repo_root and other.revision == snap2.revision
    assert [p.name for p in cache.iterdir() if p.is_dir()] == [snap2.repo_root.name]


def test_first_fetch_is_shallow(git_remote: GitRemote, cache: Path) -> None:
    for i in range(3):
        git_remote.commit({"a.yaml": f"n: {i}\n"})
    snap = open_source(git_remote.file_url, cache_dir=cache).fetch()
    shallow = snap.repo_root / ".git" / "shallow"
    assert shallow.read_text().split() == [snap.commit]


def test_local_edits_in_the_cache_are_reverted(git_remote: GitRemote, cache: Path) -> None:
    _seed(git_remote)
    source = open_source(git_remote.file_url, cache_dir=cache)
    snap = source.fetch()
    (snap.root / "clusters/prod/app.yaml").write_text("tampered: true\n")
    (snap.root / "stray.yaml").write_text("x: 1\n")
    snap2 = source.fetch()
    assert "tampered" not in (snap2.root / "clusters/prod/app.yaml").read_text()
    assert not (snap2.root / "stray.yaml").exists()


def test_path_option(git_remote: GitRemote, cache: Path) -> None:
    _seed(git_remote)
    snap = open_source(git_remote.file_url, path="clusters/prod", cache_dir=cache).fetch()
    assert snap.root == snap.repo_root / "clusters" / "prod"
    assert sorted(p.name for p in snap.root.iterdir()) == ["app.yaml", "notes.txt"]
    assert "path clusters/prod" in open_source(git_remote.file_url, path="clusters/prod", cache_dir=cache).describe()

    with pytest.raises(SourcePathNotFound) as missing:
        open_source(git_remote.file_url, path="clusters/staging", cache_dir=cache).fetch()
    assert "clusters/staging" in str(missing.value)
    with pytest.raises(SourcePathNotFound):
        open_source(git_remote.file_url, path="../escape", cache_dir=cache)


def test_branch_option(git_remote: GitRemote, cache: Path) -> None:
    main_sha = _seed(git_remote)
    staging_sha = git_remote.commit({"clusters/prod/app.yaml": "kind: Extension\nname: app\nversion: 9\n"})
    # staging = the new commit; main goes back to the seed
    run_git(["update-ref", "refs/heads/staging", staging_sha], env=git_remote.env, cwd=git_remote.bare)
    run_git(["update-ref", "refs/heads/main", main_sha], env=git_remote.env, cwd=git_remote.bare)

    staging = open_source(git_remote.file_url, branch="staging", cache_dir=cache / "s").fetch()
    main = open_source(git_remote.file_url, cache_dir=cache / "m").fetch()
    assert staging.revision == f"staging@sha1:{staging_sha}"
    assert staging.branch == "staging"
    assert main.revision == f"main@sha1:{main_sha}"
    assert "version: 9" in (staging.root / "clusters/prod/app.yaml").read_text()
    assert "version: 9" not in (main.root / "clusters/prod/app.yaml").read_text()


# -- auth ------------------------------------------------------------------------------------------


def _assert_no_credentials(text: str) -> None:
    assert PASSWORD not in text
    assert f"{USER}:" not in text
    assert f"{USER}@" not in text


def test_http_basic_auth_success_and_no_credential_on_disk(
    git_remote_factory: GitRemoteFactory, cache: Path, hermetic_git: Path
) -> None:
    remote = git_remote_factory(auth=(USER, PASSWORD))
    sha = _seed(remote)
    source = open_source(remote.http_url, cache_dir=cache, auth=GitAuth.basic(USER, PASSWORD))
    snap = source.fetch()
    assert snap.revision == f"main@sha1:{sha}"
    assert any(r.status == 401 for r in remote.http.requests)  # the server did challenge
    assert any(r.status == 200 for r in remote.http.requests)

    config = (snap.repo_root / ".git" / "config").read_text()
    assert remote.http_url in config
    _assert_no_credentials(config)
    for file in snap.repo_root.joinpath(".git").rglob("*"):
        if file.is_file() and file.stat().st_size < 1_000_000:
            assert PASSWORD.encode() not in file.read_bytes(), file
    assert list(hermetic_git.iterdir()) == []  # the askpass helper directory is gone
    _assert_no_credentials(source.describe())


def test_http_credentials_in_url_are_moved_out_of_it(git_remote_factory: GitRemoteFactory, cache: Path) -> None:
    remote = git_remote_factory(auth=(USER, PASSWORD))
    sha = _seed(remote)
    source = open_source(remote.http_url_with_credentials(), cache_dir=cache)
    _assert_no_credentials(source.describe())
    snap = source.fetch()
    assert snap.commit == sha
    _assert_no_credentials((snap.repo_root / ".git" / "config").read_text())


def test_http_token_auth_from_env_file(git_remote_factory: GitRemoteFactory, cache: Path, tmp_path: Path) -> None:
    remote = git_remote_factory(auth=(USER, PASSWORD))
    _seed(remote)
    token_file = tmp_path / "token"
    token_file.write_text(PASSWORD + "\n")
    auth = GitAuth.from_env({"EXTCTL_GIT_TOKEN_FILE": str(token_file), "EXTCTL_GIT_USERNAME": USER})
    assert auth is not None and auth.kind == "token"
    assert open_source(remote.http_url, cache_dir=cache, auth=auth).fetch().commit == remote.head()


@pytest.mark.parametrize("auth", [None, GitAuth.basic(USER, "wrong-" + PASSWORD)], ids=["no-credentials", "wrong"])
def test_http_auth_failure(
    git_remote_factory: GitRemoteFactory, cache: Path, auth: GitAuth | None, hermetic_git: Path
) -> None:
    remote = git_remote_factory(auth=(USER, PASSWORD))
    _seed(remote)
    with capture_logs() as logs, pytest.raises(SourceAuthError) as failure:
        open_source(remote.http_url, cache_dir=cache, auth=auth).fetch()
    message = str(failure.value)
    assert failure.value.reason == "SourceAuthFailed"
    assert remote.http_url in message
    _assert_no_credentials(message)
    _assert_no_credentials(repr(logs))
    assert "wrong-" not in message
    assert list(hermetic_git.iterdir()) == []


def test_wrong_credentials_in_url_never_echoed(git_remote_factory: GitRemoteFactory, cache: Path) -> None:
    remote = git_remote_factory(auth=(USER, PASSWORD))
    _seed(remote)
    url = f"http://{USER}:{PASSWORD}-nope@127.0.0.1:{remote.http.port}/{remote.name}.git"
    with pytest.raises(SourceAuthError) as failure:
        open_source(url, cache_dir=cache).fetch()
    _assert_no_credentials(str(failure.value))
    _assert_no_credentials(repr(failure.value.__cause__))


# -- faults ------------------------------------------------------------------------------------------


def test_unreachable_remote_is_transient_source_error(cache: Path) -> None:
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/config.git"
    with pytest.raises(SourceError) as failure:
        open_source(url, cache_dir=cache).fetch()
    assert not isinstance(failure.value, SourceAuthError)
    assert failure.value.transient is True
    assert failure.value.reason == "SourceUnreachable"
    message = str(failure.value)
    assert "http://127.0.0.1:" in message and "'main'" in message
    _assert_no_credentials(message)
    assert isinstance(failure.value.__cause__, Exception)  # raised ``from`` gitpython's error


def test_unreachable_remote_keeps_last_good_checkout(git_remote: GitRemote, cache: Path) -> None:
    sha = _seed(git_remote)
    http_url = git_remote.http_url
    source = open_source(http_url, cache_dir=cache)
    snap = source.fetch()
    git_remote.http.stop()
    with pytest.raises(SourceError) as failure:
        source.fetch()
    assert failure.value.reason == "SourceUnreachable"
    assert (snap.root / "clusters/prod/app.yaml").is_file()
    git_remote.http.start()  # same port
    assert source.fetch().commit == sha


def test_deleted_branch_keeps_previous_snapshot(git_remote: GitRemote, cache: Path) -> None:
    sha = _seed(git_remote)
    run_git(["update-ref", "refs/heads/feature", sha], env=git_remote.env, cwd=git_remote.bare)
    source = open_source(git_remote.file_url, branch="feature", cache_dir=cache)
    snap = source.fetch()
    run_git(["update-ref", "-d", "refs/heads/feature"], env=git_remote.env, cwd=git_remote.bare)

    with pytest.raises(SourceBranchNotFound) as failure:
        source.fetch()
    assert failure.value.reason == "BranchNotFound"
    assert isinstance(failure.value, SourceError)
    assert "'feature'" in str(failure.value) and git_remote.file_url in str(failure.value)
    # The previous snapshot is still on disk, unchanged.
    assert (snap.root / "clusters/prod/app.yaml").read_text().endswith("version: 1\n")
    head = run_git(["rev-parse", "HEAD"], env=git_remote.env, cwd=snap.repo_root).strip()
    assert head == sha


def test_force_push_is_followed_and_flagged(git_remote: GitRemote, cache: Path) -> None:
    base = _seed(git_remote)
    source = open_source(git_remote.file_url, cache_dir=cache)
    source.fetch()
    doomed = git_remote.commit({"clusters/prod/app.yaml": "kind: Extension\nname: app\nversion: 2\n"}, "doomed")
    assert source.fetch().commit == doomed

    # Rewrite history: main goes back to the seed and gets a different commit on top.
    run_git(["update-ref", "refs/heads/main", base], env=git_remote.env, cwd=git_remote.bare)
    rewritten = git_remote.commit({"clusters/prod/app.yaml": "kind: Extension\nname: app\nversion: 3\n"}, "rewrite")
    assert doomed not in git_remote.log()

    with capture_logs() as logs:
        snap = source.fetch()
    assert snap.revision == f"main@sha1:{rewritten}"
    assert snap.history_rewritten is True
    assert snap.previous_commit == doomed
    assert "version: 3" in (snap.root / "clusters/prod/app.yaml").read_text()
    assert any("history rewritten" in entry["event"] for entry in logs)

    after = git_remote.commit({"x.yaml": "y: 1\n"})
    snap2 = source.fetch()
    assert snap2.commit == after and snap2.history_rewritten is False


def _corrupt_head(repo_root: Path) -> None:
    (repo_root / ".git" / "HEAD").unlink()


def _corrupt_objects(repo_root: Path) -> None:
    for file in (repo_root / ".git" / "objects").rglob("*"):
        if file.is_file() and file.parent.name != "info":
            file.chmod(stat.S_IRUSR | stat.S_IWUSR)
            file.write_bytes(b"garbage, not a git object\n" * 4)


def _replace_with_file(repo_root: Path) -> None:
    shutil.rmtree(repo_root)
    repo_root.write_text("not a directory")


@pytest.mark.parametrize("corrupt", [_corrupt_head, _corrupt_objects, _replace_with_file])
def test_corrupted_cache_is_recloned(git_remote: GitRemote, cache: Path, corrupt: object) -> None:
    _seed(git_remote)
    source = open_source(git_remote.file_url, path="clusters/prod", cache_dir=cache)
    snap = source.fetch()
    new = git_remote.commit({"clusters/prod/app.yaml": "kind: Extension\nname: app\nversion: 5\n"})
    assert callable(corrupt)
    corrupt(snap.repo_root)

    with capture_logs() as logs:
        recovered = source.fetch()
    assert recovered.revision == f"main@sha1:{new}"
    assert "version: 5" in (recovered.root / "app.yaml").read_text()
    warnings = [entry for entry in logs if "re-clon" in entry["event"] or "cloning again" in entry["event"]]
    assert warnings, logs
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["cache_dir"] == str(snap.repo_root)
    run_git(["fsck", "--no-dangling"], env=git_remote.env, cwd=recovered.repo_root)


def test_corrupted_cache_detected_without_new_commit(git_remote: GitRemote, cache: Path) -> None:
    sha = _seed(git_remote)
    source = open_source(git_remote.file_url, cache_dir=cache)
    snap = source.fetch()
    _corrupt_objects(snap.repo_root)
    (snap.root / "clusters/prod/app.yaml").unlink()  # forces a checkout that must read the objects
    with capture_logs() as logs:
        again = source.fetch()
    assert again.commit == sha
    assert (again.root / "clusters/prod/app.yaml").is_file()
    assert any("cloning again" in entry["event"] for entry in logs)


def test_missing_repository(git_remote: GitRemote, cache: Path) -> None:
    url = git_remote.file_url.replace("config.git", "nope.git")
    with pytest.raises(SourceError) as failure:
        open_source(url, cache_dir=cache).fetch()
    assert failure.value.reason == "RepositoryNotFound"
    assert url in str(failure.value)


# -- files at a ref ----------------------------------------------------------------------------------


def test_files_at_ref_branch_sha_and_tag(git_remote: GitRemote, cache: Path) -> None:
    first = _seed(git_remote)
    run_git(["tag", "v1", first], env=git_remote.env, cwd=git_remote.bare)
    git_remote.commit({"clusters/prod/app.yaml": "kind: Extension\nname: app\nversion: 2\n"})
    run_git(["update-ref", "refs/heads/pr-7", first], env=git_remote.env, cwd=git_remote.bare)

    revision, files = files_at_ref(git_remote.file_url, "main", path="clusters/prod", cache_dir=cache)
    assert revision == f"main@sha1:{git_remote.head()}"
    assert files == {"app.yaml": "kind: Extension\nname: app\nversion: 2\n"}

    revision, files = files_at_ref(git_remote.file_url, first, path="clusters/prod", cache_dir=cache)
    assert revision == f"{first}@sha1:{first}"
    assert files == {"app.yaml": "kind: Extension\nname: app\nversion: 1\n"}

    revision, files = files_at_ref(git_remote.file_url, "v1", path=None, cache_dir=cache)
    assert revision == f"v1@sha1:{first}"
    assert set(files) == {"clusters/prod/app.yaml", "clusters/dev/app.yaml"}

    revision, _ = files_at_ref(git_remote.file_url, "refs/heads/pr-7", path=None, cache_dir=cache)
    assert revision == f"refs/heads/pr-7@sha1:{first}"

    _, selected = files_at_ref(
        git_remote.file_url, "main", path=None, cache_dir=cache, include=lambda paths: [p for p in paths if "dev" in p]
    )
    assert list(selected) == ["clusters/dev/app.yaml"]

    # What preview reads at each ref: the .extctlignore of that ref decides which files are manifests there.
    preview_include = lambda paths: with_ignore_file(select_manifest_files(paths), paths)  # noqa: E731
    ignored = git_remote.commit({"clusters/prod/kustomization.yaml": "kind: Kustomization\n",
                                 "clusters/prod/.extctlignore": "kustomization.yaml\n"})
    git_remote.commit({"clusters/prod/.extctlignore": None})
    for ref, expected in ((ignored, ["app.yaml"]), ("main", ["app.yaml", "kustomization.yaml"])):
        _, read = files_at_ref(git_remote.file_url, ref, path="clusters/prod", cache_dir=cache, include=preview_include)
        assert sorted(drop_ignored(read)) == expected

    with pytest.raises(SourceBranchNotFound):
        files_at_ref(git_remote.file_url, "no-such-branch", path=None, cache_dir=cache)
    with pytest.raises(SourcePathNotFound):
        files_at_ref(git_remote.file_url, "main", path="nowhere", cache_dir=cache)

    # Read from Git objects: no working tree was checked out for the preview cache.
    preview_cache = next(p for p in cache.iterdir() if p.name.endswith("-refs"))
    assert sorted(p.name for p in preview_cache.iterdir()) == [".git"]


def test_files_at_ref_over_http_with_auth(git_remote_factory: GitRemoteFactory, cache: Path) -> None:
    remote = git_remote_factory(auth=(USER, PASSWORD))
    sha = _seed(remote)
    revision, files = files_at_ref(
        remote.http_url, sha, path="clusters/dev", cache_dir=cache, auth=GitAuth.basic(USER, PASSWORD)
    )
    assert revision == f"{sha}@sha1:{sha}"
    assert files == {"app.yaml": "kind: Extension\nname: app-dev\n"}
    with pytest.raises(SourceAuthError) as failure:
        files_at_ref(remote.http_url, "main", path=None, cache_dir=cache / "other")
    _assert_no_credentials(str(failure.value))


def test_files_at_ref_local_working_tree(git_remote: GitRemote, cache: Path) -> None:
    first = _seed(git_remote)
    git_remote.commit({"clusters/prod/app.yaml": "kind: Extension\nname: app\nversion: 2\n"})
    worktree = git_remote.worktree  # a plain local clone: refs are read locally, nothing is fetched
    revision, files = files_at_ref(str(worktree), first, path="clusters/prod", cache_dir=cache)
    assert revision == f"{first}@sha1:{first}"
    assert files["app.yaml"].endswith("version: 1\n")
    assert not cache.exists()
    assert os.path.isdir(worktree)


def test_missing_repository_over_http(git_remote: GitRemote, cache: Path) -> None:
    url = git_remote.http_url.replace("config.git", "nope.git")
    with pytest.raises(SourceError) as failure:
        open_source(url, cache_dir=cache).fetch()
    assert failure.value.reason == "RepositoryNotFound"


def test_symlinks_are_not_materialised(git_remote: GitRemote, cache: Path) -> None:
    _seed(git_remote)
    work = git_remote.worktree
    (work / "clusters/prod/evil.yaml").symlink_to("/etc/passwd")
    run_git(["add", "--all"], env=git_remote.env, cwd=work)
    run_git(["commit", "--quiet", "-m", "symlink"], env=git_remote.env, cwd=work)
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], env=git_remote.env, cwd=work)
    snap = open_source(git_remote.file_url, cache_dir=cache).fetch()
    evil = snap.root / "clusters/prod/evil.yaml"
    assert not evil.is_symlink() and evil.read_text() == "/etc/passwd"
    _, files = files_at_ref(git_remote.file_url, "main", path="clusters/prod", cache_dir=cache)
    assert set(files) == {"app.yaml"}


def test_concurrent_fetches_of_one_cache_are_serialised(git_remote: GitRemote, cache: Path) -> None:
    sha = _seed(git_remote)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(open_source(git_remote.file_url, cache_dir=cache).fetch().commit)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert results == [sha] * 4


def test_empty_cache_directory_is_initialised_quietly(git_remote: GitRemote, cache: Path) -> None:
    sha = _seed(git_remote)
    source = open_source(git_remote.file_url, cache_dir=cache)
    assert isinstance(source, GitSource)
    source.checkout_dir.mkdir(parents=True)
    with capture_logs() as logs:
        assert source.fetch().commit == sha
    assert not [entry for entry in logs if entry["log_level"] == "warning"]


# -- cache directory, destination and git executable problems are one clear error (issue 9) ---------

SAMPLE_REPO = Path(__file__).resolve().parents[2] / "sample-repo"


def _lines_with(run: ExtctlRun, text: str) -> list[str]:
    """Human-readable output lines (not JSON log lines) that contain ``text``."""
    return [line for line in (run.stdout + run.stderr).splitlines() if text in line and not line.startswith("{")]


def _reasons(run: ExtctlRun) -> set[str]:
    return {json.loads(line).get("reason") for line in run.stderr.splitlines() if line.startswith("{")} - {None}


def test_plan_with_cache_dir_that_is_a_file_is_one_clear_error(git_remote: GitRemote, tmp_path: Path) -> None:
    _seed(git_remote)
    not_a_dir = tmp_path / "cache-file"
    not_a_dir.write_text("keep me\n")
    run = run_extctl(None, "plan", "--offline", "--source", git_remote.file_url, "--cache-dir", str(not_a_dir))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    lines = _lines_with(run, "--cache-dir")
    assert len(lines) == 1, lines
    assert lines[0].endswith(f"--cache-dir {not_a_dir} is a file (hint: point it at a directory, or remove the file)")
    assert "SourceInvalid" in _reasons(run)  # permanent: retrying the same input cannot help
    assert not_a_dir.read_text() == "keep me\n"


def test_cache_dir_below_a_file_is_source_invalid(git_remote: GitRemote, tmp_path: Path) -> None:
    _seed(git_remote)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(SourceInvalid) as failure:
        open_source(git_remote.file_url, cache_dir=blocker / "cache").fetch()
    assert failure.value.transient is False
    assert f"inside {blocker}, which is a file" in str(failure.value)
    with pytest.raises(SourceInvalid):
        files_at_ref(git_remote.file_url, "main", path=None, cache_dir=blocker)


def test_without_a_git_executable_git_sources_fail_cleanly_and_local_ones_work(
    git_remote: GitRemote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(git_remote)
    no_git = tmp_path / "bin"
    no_git.mkdir()
    monkeypatch.setenv("PATH", str(no_git))
    monkeypatch.delenv("GIT_PYTHON_GIT_EXECUTABLE", raising=False)
    monkeypatch.delenv("GIT_PYTHON_REFRESH", raising=False)  # importing controller.source here set it

    git_run = run_extctl(None, "plan", "--offline", "--source", git_remote.file_url, "--cache-dir", str(tmp_path / "c"))
    assert git_run.returncode == 1, git_run.stdout + git_run.stderr
    assert "Traceback" not in git_run.stderr
    lines = _lines_with(git_run, "git executable was not found")
    assert len(lines) == 1, git_run.stdout + git_run.stderr
    assert "SourceInvalid" in _reasons(git_run)

    local_run = run_extctl(None, "validate", str(SAMPLE_REPO))
    assert local_run.returncode == 0, local_run.stdout + local_run.stderr
    assert "valid" in local_run.stdout


def test_export_ref_writes_the_tree_and_reports_an_unwritable_destination(
    git_remote: GitRemote, cache: Path, tmp_path: Path
) -> None:
    sha = _seed(git_remote)
    dest = tmp_path / "export"
    assert export_ref(git_remote.file_url, "main", cache_dir=cache, dest=dest) == f"main@sha1:{sha}"
    assert (dest / "clusters/prod/app.yaml").read_text().endswith("version: 1\n")
    assert (dest / "README.md").is_file()

    not_a_dir = tmp_path / "export-file"
    not_a_dir.write_text("")
    with pytest.raises(SourceError) as failure:
        export_ref(git_remote.file_url, "main", cache_dir=cache, dest=not_a_dir)
    assert str(not_a_dir) in str(failure.value)


def test_export_ref_only_writes_the_directories_asked_for(git_remote: GitRemote, cache: Path, tmp_path: Path) -> None:
    # A preview exports only its local chart repositories: the other files of the tree are not written.
    sha = _seed(git_remote)
    dest = tmp_path / "prod-only"
    assert export_ref(git_remote.file_url, "main", cache_dir=cache, dest=dest, only=["./clusters/prod/"]) \
        == f"main@sha1:{sha}"
    written = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert written == ["clusters/prod/app.yaml", "clusters/prod/notes.txt"]

    missing = tmp_path / "missing"
    export_ref(git_remote.file_url, "main", cache_dir=cache, dest=missing, only=["charts", "clusters/pro"])
    assert [p for p in missing.rglob("*") if p.is_file()] == []

    everything = tmp_path / "everything"
    export_ref(git_remote.file_url, "main", cache_dir=cache, dest=everything, only=["."])
    assert (everything / "README.md").is_file() and (everything / "clusters/dev/app.yaml").is_file()


def test_corrupted_refs_cache_is_recloned_by_the_same_helper(git_remote: GitRemote, cache: Path) -> None:
    sha = _seed(git_remote)
    files_at_ref(git_remote.file_url, "main", path=None, cache_dir=cache)
    refs_cache = next(p for p in cache.iterdir() if p.name.endswith("-refs"))
    _corrupt_head(refs_cache)
    with capture_logs() as logs:
        revision, files = files_at_ref(git_remote.file_url, "main", path="clusters/prod", cache_dir=cache)
    assert revision == f"main@sha1:{sha}" and set(files) == {"app.yaml"}
    assert [entry["cache_dir"] for entry in logs if "cloning again" in entry["event"]] == [str(refs_cache)]
