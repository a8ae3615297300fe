"""The environments of helm and git children (allow-lists), and the SSH host-key settings git gets.

Pure functions, tested with tables; the ssh command line is checked by the real ``ssh -G`` (which parses
options and prints the resulting configuration without connecting). A real helm and git looking at
their own environment while extctl runs: ``tests/integration/test_secrets_in_children.py``.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from controller.errors import SourceAuthError
from controller.helm.runner import helm_child_env, parse_pass_env, register_sql_password
from controller.logs import scrub_text
from controller.source import GitAuth, open_source
from controller.source.auth import ssh_command
from controller.source.gitenv import current_settings, git_child_env, git_settings
from controller.source.giterrors import remote_failure
from controller.source.locations import parse_remote

SECRET = "s3cr3t-in-the-parent-env"
PARENT = {
    "PATH": "/usr/bin", "HOME": "/home/x", "TMPDIR": "/tmp/x", "LANG": "C.UTF-8", "LC_CTYPE": "C.UTF-8",
    "HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost", "SSL_CERT_FILE": "/ca.pem", "SSL_CERT_DIR": "/ca",
    "KUBECONFIG": "/kube/config", "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443",
    "HELM_DRIVER": "sql", "HELM_DRIVER_SQL_CONNECTION_STRING": "postgresql://helm@db/helm", "HELM_CACHE_HOME": "/hc",
    "XDG_CONFIG_HOME": "/xdg", "PGPASSFILE": "/secrets/pgpass",
    "GIT_CONFIG_GLOBAL": "/etc/extctl/gitconfig", "GIT_SSL_CAINFO": "/ca.pem",
    # Never for a child:
    "EXTCTL_GIT_PASSWORD": SECRET, "EXTCTL_REPO_PASSWORD": SECRET, "EXTCTL_REPO_TOKEN_FILE": "/secrets/token",
    "EXTCTL_GIT_ASKPASS_PASSWORD": SECRET, "GITHUB_TOKEN": SECRET, "AWS_SECRET_ACCESS_KEY": SECRET,
    "GIT_ASKPASS": "/usr/bin/ksshaskpass", "GIT_SSH_COMMAND": "ssh -o StrictHostKeyChecking=no",
    "SSH_AUTH_SOCK": "/run/agent", "LD_PRELOAD": "/evil.so", "PYTHONPATH": "/x", "GIT_PYTHON_REFRESH": "quiet",
}


# -- helm ----------------------------------------------------------------------------------------------------
def test_helm_child_env_is_an_allow_list() -> None:
    env = helm_child_env(PARENT)
    assert set(env) == {
        "PATH", "HOME", "TMPDIR", "LANG", "LC_CTYPE", "HTTPS_PROXY", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "HELM_DRIVER",
        "HELM_DRIVER_SQL_CONNECTION_STRING", "HELM_CACHE_HOME", "XDG_CONFIG_HOME", "PGPASSFILE",
    }
    assert all(env[name] == PARENT[name] for name in env)
    assert SECRET not in env.values()


@pytest.mark.parametrize(
    ("listed", "passed"),
    [
        ("AWS_PROFILE,AWS_REGION", {"AWS_PROFILE", "AWS_REGION"}),
        ("AWS_PROFILE  AWS_ROLE_ARN", {"AWS_PROFILE", "AWS_ROLE_ARN"}),
        ("EXTCTL_REPO_PASSWORD, AWS_PROFILE", {"AWS_PROFILE"}),  # EXTCTL_* can never be passed on
        ("", set()),
    ],
)
def test_helm_pass_env_adds_named_variables_but_never_extctl_ones(listed: str, passed: set[str]) -> None:
    parent = {**PARENT, "AWS_PROFILE": "p", "AWS_REGION": "r", "AWS_ROLE_ARN": "arn"}
    names = parse_pass_env(listed)
    assert set(names) == passed
    env = helm_child_env(parent, names)
    assert set(env) - set(helm_child_env(parent)) == passed
    assert not [name for name in helm_child_env(parent, ["EXTCTL_REPO_PASSWORD"]) if name.startswith("EXTCTL_")]


@pytest.mark.parametrize(
    ("connection", "password"),
    [
        ("postgresql://helm:pg-pw-url-1@db:5432/helm?sslmode=require", "pg-pw-url-1"),
        ("postgresql://helm:pg%40pw%2F2@db/helm", "pg@pw/2"),
        ("host=db user=helm password=pg-pw-kv-3 dbname=helm", "pg-pw-kv-3"),
        ("host=db password='pg pw kv 4' dbname=helm", "pg pw kv 4"),
    ],
)
def test_the_sql_connection_password_is_redacted_from_messages(connection: str, password: str) -> None:
    register_sql_password(connection)
    assert password not in scrub_text(f"helm: failed to connect with {password} to db")


# -- git -----------------------------------------------------------------------------------------------------
def test_git_child_env_is_an_allow_list_plus_extctl_settings() -> None:
    settings = {"GIT_ASKPASS": "/tmp/extctl-askpass-x/askpass.sh", "GIT_TERMINAL_PROMPT": "0",
                "GIT_DIR": "/cache/.git", "EXTCTL_GIT_ASKPASS_PASSWORD": SECRET}
    env = git_child_env(PARENT, settings)
    assert env == {
        "PATH": "/usr/bin", "HOME": "/home/x", "TMPDIR": "/tmp/x", "LANG": "C.UTF-8", "LC_CTYPE": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost", "SSL_CERT_FILE": "/ca.pem", "SSL_CERT_DIR": "/ca",
        "GIT_CONFIG_GLOBAL": "/etc/extctl/gitconfig", "GIT_SSL_CAINFO": "/ca.pem",
        "LC_ALL": "C", "LANGUAGE": "C",  # git's messages are parsed in English
        # The parent's GIT_ASKPASS / GIT_SSH_COMMAND are replaced by extctl's (or dropped):
        "GIT_ASKPASS": "/tmp/extctl-askpass-x/askpass.sh", "GIT_TERMINAL_PROMPT": "0", "GIT_DIR": "/cache/.git",
    }


def test_git_settings_nest_and_end_with_their_block() -> None:
    assert current_settings() == {}
    with git_settings(GIT_DIR="/a", GIT_TERMINAL_PROMPT="0"):
        with git_settings(GIT_ASKPASS="/x"):
            assert current_settings() == {"GIT_DIR": "/a", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/x"}
        assert current_settings() == {"GIT_DIR": "/a", "GIT_TERMINAL_PROMPT": "0"}
    assert current_settings() == {}


# -- SSH host keys -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("ssh://git@example.com:2222/org/repo.git", ("example.com", 2222)),
        ("ssh://example.com/org/repo.git", ("example.com", None)),
        ("git+ssh://git@example.com/org/repo.git", ("example.com", None)),
        ("git@github.com:org/repo.git", ("github.com", None)),
        ("https://example.com/org/repo.git", None),
        ("file:///srv/repo.git", None),
    ],
)
def test_which_remotes_are_ssh(url: str, host: tuple[str, int | None] | None) -> None:
    assert parse_remote(url).ssh_host == host


@pytest.mark.parametrize("url", ["git@git.example.com:org/repo.git", "ssh://git@git.example.com:2222/org/repo.git"])
def test_an_ssh_source_without_known_hosts_is_refused_before_any_connection(url: str, tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("key")
    with pytest.raises(SourceAuthError) as failure:
        open_source(url, cache_dir=tmp_path / "cache", auth=GitAuth.ssh(key))
    message = str(failure.value)
    assert failure.value.transient is False
    assert "needs a known_hosts file" in message and "--ssh-known-hosts" in message
    assert "EXTCTL_SSH_KNOWN_HOSTS" in message and "ssh-keyscan" in message and "ssh-keygen -lf" in message
    assert ("-p 2222 git.example.com" if ":2222" in url else "ssh-keyscan git.example.com") in message
    assert not (tmp_path / "cache").exists(), "nothing was created, no git was run"


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "is not a readable file"), ("", "is empty"), ("dir", "is not a readable file")],
)
def test_a_bad_known_hosts_file_is_a_located_error(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "known_hosts"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    with pytest.raises(SourceAuthError) as failure:
        GitAuth.from_env({}, known_hosts=path)
    assert f"--ssh-known-hosts (env EXTCTL_SSH_KNOWN_HOSTS) points to {path}, which {problem}" in str(failure.value)
    with pytest.raises(SourceAuthError):
        GitAuth.from_env({"EXTCTL_SSH_KNOWN_HOSTS": str(path)})


def test_the_ssh_command_trusts_only_the_given_known_hosts(tmp_path: Path) -> None:
    hosts = tmp_path / "known hosts"  # a space: the command is run by a shell
    key = tmp_path / "id_ed25519"
    key.write_text("key")  # ssh -G leaves out identity files that do not exist
    command = ssh_command(hosts, key)
    # The real ssh parses the options and prints the resulting configuration (-G: no connection).
    result = subprocess.run([*shlex.split(command), "-G", "-p", "2222", "git@git.example.com"],
                            capture_output=True, text=True, check=True, timeout=30)
    lines = [line.split(" ", 1) for line in result.stdout.splitlines() if " " in line]
    config = dict(lines)
    assert config["stricthostkeychecking"] == "true"  # "yes"
    assert config["userknownhostsfile"] == str(hosts)
    assert config["globalknownhostsfile"] == "/dev/null"
    assert config["batchmode"] == "yes" and config["updatehostkeys"] == "false"
    assert config["identitiesonly"] == "yes"
    assert str(key) in [value for name, value in lines if name == "identityfile"]
    assert "accept-new" not in command
    without_key = ssh_command(hosts, None)
    assert "-i" not in shlex.split(without_key) and "IdentitiesOnly=yes" not in without_key


@pytest.mark.parametrize(
    "stderr",
    [
        "No ED25519 host key is known for [git.example.com]:2222 and you have requested strict checking.\n"
        "Host key verification failed.\nfatal: Could not read from remote repository.\n",
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
        "Host key verification failed.\nfatal: Could not read from remote repository.\n",
    ],
    ids=["unknown-host", "changed-key"],
)
def test_a_host_key_failure_says_which_file_to_fix(stderr: str) -> None:
    failure = remote_failure(stderr, remote="ssh://git.example.com:2222/org/repo.git", what="branch 'main'",
                             action="fetching", detail="Host key verification failed.")
    assert isinstance(failure, SourceAuthError) and failure.transient is False
    assert "--ssh-known-hosts" in str(failure) and "fingerprint" in str(failure)
