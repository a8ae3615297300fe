"""Local-directory sources, source-string parsing, credentials handling and the manifest watcher.

No Git remote here (see ``tests/integration/test_source_git.py``); the askpass helper is run once
with ``sh`` to prove it answers git's prompts from its private files, not its environment.
"""

from __future__ import annotations

import os
import queue
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from controller.errors import SourceAuthError, SourceInvalid, SourcePathNotFound
from controller.source import GitAuth, GitSource, LocalSource, open_source, watch_local
from controller.source.auth import git_environment
from controller.source.gitrepo import classify
from controller.source.locations import display_location, is_git_url, parse_remote, scrub

SECRET = "pa55-w0rd-never-shown"


def _tree(root: Path) -> Path:
    (root / "clusters" / "prod").mkdir(parents=True)
    (root / "clusters" / "prod" / "app.yaml").write_text("kind: Extension\nname: app\n")
    (root / "clusters" / "prod" / "db.yml").write_text("kind: Extension\nname: db\n")
    (root / "charts").mkdir()
    (root / "charts" / "index.yaml").write_text("apiVersion: v1\nentries: {}\n")
    (root / "charts" / "app-1.0.0.tgz").write_bytes(b"\x1f\x8b fake chart")
    (root / "README.md").write_text("docs\n")
    return root


# -- local directory -----------------------------------------------------------------------------


def test_local_directory_digest_is_stable(tmp_path: Path) -> None:
    root = _tree(tmp_path / "repo")
    source = open_source(str(root), cache_dir=tmp_path / "cache")
    assert isinstance(source, LocalSource)
    first = source.fetch()
    assert first.revision.startswith("local@sha256:") and len(first.revision) == len("local@sha256:") + 64
    assert first.commit is None
    assert first.root == first.repo_root == root.resolve()
    assert source.fetch().revision == first.revision
    # a copy elsewhere with the same content has the same revision
    copy = _tree(tmp_path / "copy")
    assert LocalSource(copy).fetch().revision == first.revision
    assert not (tmp_path / "cache").exists()  # local mode needs no cache and no git


@pytest.mark.parametrize(
    "change",
    [
        lambda r: (r / "clusters/prod/app.yaml").write_text("kind: Extension\nname: app2\n"),
        lambda r: (r / "clusters/prod/new.yaml").write_text("x: 1\n"),
        lambda r: (r / "clusters/prod/db.yml").unlink(),
        lambda r: (r / "clusters/prod/app.yaml").rename(r / "clusters/prod/app2.yaml"),
        lambda r: (r / "charts/app-1.0.0.tgz").write_bytes(b"other chart"),
        lambda r: (r / "charts/index.yaml").write_text("apiVersion: v1\nentries: {x: []}\n"),
    ],
    ids=["edit", "add", "delete", "rename", "chart-archive", "index"],
)
def test_local_directory_digest_changes_with_manifests(tmp_path: Path, change: object) -> None:
    root = _tree(tmp_path / "repo")
    source = LocalSource(root)
    before = source.fetch().revision
    assert callable(change)
    change(root)
    assert source.fetch().revision != before


def test_local_directory_digest_ignores_other_files(tmp_path: Path) -> None:
    root = _tree(tmp_path / "repo")
    source = LocalSource(root)
    before = source.fetch().revision
    (root / "README.md").write_text("changed docs\n")
    (root / ".git").mkdir()
    (root / ".git" / "config.yaml").write_text("ignored: true\n")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    os.utime(root / "clusters/prod/app.yaml", (1, 1))  # mtime is not content
    assert source.fetch().revision == before


def test_local_directory_path_option(tmp_path: Path) -> None:
    root = _tree(tmp_path / "repo")
    snap = open_source(str(root), path="clusters/prod", cache_dir=tmp_path / "c").fetch()
    assert snap.root == root.resolve() / "clusters" / "prod"
    assert snap.repo_root == root.resolve()
    # the digest still covers the whole directory (local chart repositories live outside --path)
    before = snap.revision
    (root / "charts" / "index.yaml").write_text("apiVersion: v1\nentries: {y: []}\n")
    assert LocalSource(root, path="clusters/prod").fetch().revision != before

    with pytest.raises(SourcePathNotFound):
        LocalSource(root, path="clusters/staging").fetch()
    with pytest.raises(SourcePathNotFound):
        LocalSource(root, path="../outside").fetch()


def test_local_directory_removed_after_open(tmp_path: Path) -> None:
    root = _tree(tmp_path / "repo")
    source = LocalSource(root)
    source.fetch()
    (tmp_path / "repo").rename(tmp_path / "moved")
    with pytest.raises(SourcePathNotFound):
        source.fetch()


def test_open_source_rejects_nonsense(tmp_path: Path) -> None:
    with pytest.raises(SourceInvalid) as failure:
        open_source(str(tmp_path / "does-not-exist"), cache_dir=tmp_path)
    assert "neither a Git URL nor an existing directory" in str(failure.value)


# -- source strings and URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("https://github.com/org/repo.git", True),
        ("http://127.0.0.1:8080/config.git", True),
        ("ssh://git@github.com/org/repo.git", True),
        ("git@github.com:org/repo.git", True),
        ("file:///srv/git/config.git", True),
        ("sample-repo", False),
        ("./clusters/prod", False),
        ("/abs/path/repo", False),
    ],
)
def test_is_git_url(location: str, expected: bool) -> None:
    assert is_git_url(location) is expected


def test_local_directory_that_looks_like_scp_is_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("host:dir").mkdir()
    assert is_git_url("host:dir") is False
    assert isinstance(open_source("host:dir", cache_dir=tmp_path / "c"), LocalSource)


def test_parse_remote_moves_http_credentials_out_of_the_url() -> None:
    remote = parse_remote(f"https://alice:{SECRET}@git.example.com/org/repo.git")
    assert remote.config_url == "https://git.example.com/org/repo.git"
    assert remote.display == "https://git.example.com/org/repo.git"
    assert (remote.embedded_username, remote.embedded_password) == ("alice", SECRET)
    assert remote.is_http
    # the cache key is derived from the credential-free URL: rotating a token keeps the cache
    assert parse_remote("https://bob:other@git.example.com/org/repo.git").cache_key == remote.cache_key


def test_parse_remote_keeps_ssh_user_but_not_password() -> None:
    remote = parse_remote(f"ssh://git:{SECRET}@git.example.com:2222/org/repo.git")
    assert remote.config_url == "ssh://git@git.example.com:2222/org/repo.git"
    assert SECRET not in remote.display and "git@" not in remote.display
    scp = parse_remote("git@github.com:org/repo.git")
    assert scp.config_url == "git@github.com:org/repo.git"
    assert scp.display == "github.com:org/repo.git"
    assert display_location("git@github.com:org/repo.git") == "github.com:org/repo.git"


def test_git_source_describe_is_credential_free(tmp_path: Path) -> None:
    source = GitSource(f"https://alice:{SECRET}@git.example.com/org/repo.git", path="apps", cache_dir=tmp_path)
    text = source.describe()
    assert text == "git https://git.example.com/org/repo.git branch main path apps"
    assert source.auth is not None and source.auth.password == SECRET
    assert SECRET not in repr(source.auth)
    with pytest.raises(SourceInvalid):
        GitSource("https://git.example.com/org/repo.git", branch="--upload-pack=evil", cache_dir=tmp_path)


def test_scrub_removes_userinfo_and_secrets() -> None:
    text = f"fatal: unable to access 'https://alice:{SECRET}@host/r.git/': also {SECRET} and ssh://git@h/x"
    cleaned = scrub(text, [SECRET])
    assert SECRET not in cleaned and "alice" not in cleaned
    assert "https://host/r.git/" in cleaned and "ssh://h/x" in cleaned


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        ("fatal: could not read Username for 'https://h': terminal prompts disabled", "auth"),
        ("remote: HTTP Basic: Access denied\nfatal: Authentication failed for 'https://h/r.git/'", "auth"),
        ("git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.", "auth"),
        ("fatal: couldn't find remote ref refs/heads/gone", "missing_ref"),
        ("fatal: unable to access 'http://127.0.0.1:1/r.git/': Failed to connect to 127.0.0.1 port 1", "unreachable"),
        ("ssh: Could not resolve hostname nowhere: Name or service not known", "unreachable"),
        ("fatal: repository 'https://h/nope.git/' not found", "repo_not_found"),
        ("fatal: '/srv/nope.git' does not appear to be a git repository\nfatal: Could not read", "repo_not_found"),
        ("error: inflate: data stream error (incorrect header check)", None),
    ],
)
def test_classify_git_stderr(stderr: str, kind: str | None) -> None:
    assert classify(stderr) == kind


# -- credentials ---------------------------------------------------------------------------------


def test_git_auth_from_env_variants(tmp_path: Path) -> None:
    assert GitAuth.from_env({}) is None
    token = GitAuth.from_env({"EXTCTL_GIT_TOKEN": SECRET})
    assert token is not None and token.kind == "token" and token.username == "x-access-token"
    assert SECRET not in repr(token) and SECRET not in token.describe()

    pw_file = tmp_path / "password"
    pw_file.write_text(SECRET + "\n")
    basic = GitAuth.from_env({"EXTCTL_GIT_USERNAME": "alice", "EXTCTL_GIT_PASSWORD_FILE": str(pw_file)})
    assert basic is not None and (basic.kind, basic.username, basic.password) == ("basic", "alice", SECRET)

    key = tmp_path / "id_ed25519"
    key.write_text("key")
    ssh = GitAuth.from_env({"EXTCTL_GIT_SSH_KEY_FILE": str(key)})
    assert ssh is not None and ssh.kind == "ssh" and ssh.ssh_key_file == key and ssh.known_hosts_file is None

    hosts = tmp_path / "known_hosts"
    hosts.write_text("h ssh-ed25519 AAAA\n")
    with_hosts = GitAuth.from_env({"EXTCTL_GIT_SSH_KEY_FILE": str(key), "EXTCTL_SSH_KNOWN_HOSTS": str(hosts)})
    assert with_hosts is not None and (with_hosts.kind, with_hosts.known_hosts_file) == ("ssh", hosts)
    only_hosts = GitAuth.from_env({}, known_hosts=hosts)  # the --ssh-known-hosts flag, no credentials
    assert only_hosts is not None and (only_hosts.kind, only_hosts.known_hosts_file) == ("none", hosts)


@pytest.mark.parametrize(
    "environ",
    [
        {"EXTCTL_GIT_TOKEN": "a", "EXTCTL_GIT_PASSWORD": "b", "EXTCTL_GIT_USERNAME": "u"},
        {"EXTCTL_GIT_PASSWORD": SECRET},
        {"EXTCTL_GIT_TOKEN_FILE": "/nonexistent/token"},
        {"EXTCTL_GIT_SSH_KEY_FILE": "/nonexistent/key"},
    ],
    ids=["both", "password-without-user", "missing-token-file", "missing-key"],
)
def test_git_auth_from_env_errors(environ: dict[str, str]) -> None:
    with pytest.raises(SourceAuthError) as failure:
        GitAuth.from_env(environ)
    assert SECRET not in str(failure.value)


def test_askpass_helper_lives_only_for_the_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    auth = GitAuth.basic("alice", SECRET)
    with git_environment(auth, parse_remote("https://h/r.git")) as env:
        script = Path(env["GIT_ASKPASS"])
        assert stat.S_IMODE(script.stat().st_mode) == 0o700
        assert stat.S_IMODE(script.parent.stat().st_mode) == 0o700
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in script.parent.iterdir()} == {
            "askpass.sh": 0o700, "username": 0o600, "password": 0o600}
        assert SECRET not in script.read_text()
        assert SECRET not in "".join(env.values()) and not [k for k in env if not k.startswith("GIT_")]
        assert env["GIT_TERMINAL_PROMPT"] == "0"
        assert (env["GIT_CONFIG_COUNT"], env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_VALUE_0"]) == (
            "1", "credential.helper", "")
        # The helper answers from its files, with nothing of the secret in its environment or argv.
        clean = {"PATH": os.environ["PATH"]}
        user = subprocess.run(
            [str(script), "Username for 'https://h': "], env=clean, capture_output=True, text=True, check=True
        )
        password = subprocess.run(
            [str(script), "Password for 'https://alice@h': "], env=clean, capture_output=True, text=True, check=True
        )
        assert (user.stdout, password.stdout) == ("alice\n", SECRET + "\n")
    assert not script.exists() and not script.parent.exists()
    assert list(tmp_path.iterdir()) == []
    assert SECRET not in os.environ.values()


def test_git_environment_without_http_credentials(tmp_path: Path) -> None:
    key = tmp_path / "my key"
    key.write_text("k")
    hosts = tmp_path / "known_hosts"
    hosts.write_text("h ssh-ed25519 AAAA\n")
    with git_environment(GitAuth(ssh_key_file=key, known_hosts_file=hosts, kind="ssh"),
                         parse_remote("git@h:org/r.git")) as env:
        assert env["GIT_ASKPASS"] == ""
        command = env["GIT_SSH_COMMAND"]
        assert f"-i '{key}'" in command
        assert "IdentitiesOnly=yes" in command and "StrictHostKeyChecking=yes" in command
        assert f"UserKnownHostsFile={hosts}" in command and "accept-new" not in command
    with git_environment(GitAuth.basic("alice", SECRET), parse_remote("file:///srv/r.git")) as env:
        assert env["GIT_ASKPASS"] == "" and SECRET not in env.values()
    with git_environment(None, parse_remote("https://h/r.git")) as env:
        assert env == {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": ""}


# -- watch ---------------------------------------------------------------------------------------


def test_watch_local_yields_on_manifest_change(tmp_path: Path) -> None:
    root = _tree(tmp_path / "repo")
    stop = threading.Event()
    events: queue.Queue[set[str]] = queue.Queue()

    def consume() -> None:
        for changed in watch_local(root, stop, debounce_ms=50):
            events.put(changed)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    target = root / "clusters" / "prod" / "app.yaml"
    ignored = root / "README.md"
    deadline = time.monotonic() + 20
    got: set[str] = set()
    attempt = 0
    try:
        # The watcher has no "ready" signal: keep making changes until one is reported (or the deadline).
        while not got and time.monotonic() < deadline:
            attempt += 1
            ignored.write_text(f"docs {attempt}\n")
            target.write_text(f"kind: Extension\nname: app\nattempt: {attempt}\n")
            try:
                got = events.get(timeout=0.5)
            except queue.Empty:
                continue
        assert str(target) in got
        assert str(ignored) not in got
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_awatch_local_yields_on_manifest_change_and_stops(tmp_path: Path) -> None:
    import asyncio

    from controller.source import awatch_local

    root = _tree(tmp_path / "repo")
    target = root / "clusters" / "prod" / "db.yml"

    async def scenario() -> set[str]:
        stop = asyncio.Event()
        changes: asyncio.Queue[set[str]] = asyncio.Queue()

        async def consume() -> None:
            async for changed in awatch_local(root, stop, debounce_ms=50):
                await changes.put(changed)

        task = asyncio.create_task(consume())
        got: set[str] = set()
        deadline = time.monotonic() + 20
        attempt = 0
        while not got and time.monotonic() < deadline:
            attempt += 1
            target.write_text(f"kind: Extension\nname: db\nattempt: {attempt}\n")
            try:
                got = await asyncio.wait_for(changes.get(), timeout=0.5)
            except TimeoutError:
                continue
        stop.set()
        await asyncio.wait_for(task, timeout=10)  # the watcher ends by itself once stop is set
        return got

    assert str(target) in asyncio.run(scenario())
