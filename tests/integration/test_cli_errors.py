"""What a user sees when a command cannot run: one clear line on stderr, exit 1, never a traceback.

Every command is run as a subprocess (``python -m controller``) with a bad command line (an unknown flag,
a missing argument, a bad value), a path that does not exist and, for the commands that talk to the
cluster, a kubeconfig whose API server port is closed, no kubeconfig at all, and an unknown
``--kube-context``. Exit 2 is reserved for "plan found changes", so usage errors exit 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.charts import REPO_ROOT
from tests.support.git_branches import branch
from tests.support.git_remote import GitRemote
from tests.support.localnet import free_port
from tests.support.sandbox import SandboxHandle

pytestmark = pytest.mark.integration
TOKEN = "t0ken-that-must-never-be-printed"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("extctl: ")]

    def events(self, name: str) -> list[dict[str, Any]]:
        """JSON log events called ``name`` (``plan`` logs to stderr, ``reconcile`` to stdout)."""
        lines = (line for line in (self.stdout + "\n" + self.stderr).splitlines() if line.startswith("{"))
        return [event for event in map(json.loads, lines) if isinstance(event, dict) and event.get("event") == name]

    def assert_clean_failure(self) -> None:
        assert self.returncode == 1, f"exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        assert "Traceback" not in self.stderr + self.stdout, self.stderr
        assert TOKEN not in self.stderr + self.stdout


def extctl(*args: str, env: Mapping[str, str] | None = None, unset: tuple[str, ...] = ()) -> Result:
    full_env = {**os.environ, **(env or {})}
    for name in ("EXTCTL_DEBUG", "KUBERNETES_SERVICE_HOST", *unset):
        full_env.pop(name, None)
    proc = subprocess.run([sys.executable, "-m", "controller", *args], env=full_env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A valid, empty source directory (no extension types, no extensions)."""
    directory = tmp_path / "source"
    directory.mkdir()
    return directory


@pytest.fixture
def repo(git_remote: GitRemote) -> str:
    """A Git repository with ``main`` and ``feature`` (for ``preview --base main --head feature``)."""
    git_remote.commit({"README.md": "base\n"})
    branch(git_remote, "feature", {"README.md": "a change\n"})
    return git_remote.file_url


def command_line(command: str, source: Path | str, repo: str = "file:///unused") -> list[str]:
    """A valid command line for each command (the cases below break one thing in it)."""
    return {
        "validate": ["validate", str(source)],
        "resolve": ["resolve", "--source", str(source)],
        "catalog": ["catalog", "versions", "contoso.monitoring", "--source", str(source)],
        "plan": ["plan", "--source", str(source), "--offline", "--log-format", "json"],
        "reconcile": ["reconcile", "--once", "--source", str(source), "--log-format", "json"],
        "preview": ["preview", "--source", repo, "--base", "main", "--head", "feature", "--log-format", "json"],
    }[command]


COMMANDS = ("validate", "resolve", "catalog", "plan", "reconcile", "preview")
HELP_TARGET = {"catalog": "catalog versions"}


# ------------------------------------------------------------------------------------------------ usage errors

@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_flag_is_one_line_with_a_help_hint(command: str, source: Path) -> None:
    result = extctl(*command_line(command, source), "--no-such-flag")
    result.assert_clean_failure()
    assert result.stderr.splitlines() == [
        "extctl: error: unrecognized arguments: --no-such-flag",
        f"extctl: hint: run 'extctl {HELP_TARGET.get(command, command)} --help'",
    ]


# A required argument left out, or (for commands without one) an option left without its value.
MISSING = {
    "validate": (["validate", "--output"], "argument -o/--output: expected one argument"),
    "resolve": (["resolve", "--source"], "argument --source: expected one argument"),
    "catalog": (["catalog", "versions"], "the following arguments are required: TYPE"),
    "plan": (["plan", "--offline"], "the following arguments are required: --source"),
    "reconcile": (["reconcile", "--once"], "the following arguments are required: --source"),
    "preview": (["preview", "--source", "."], "the following arguments are required: --base, --head"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_argument_is_one_line_with_a_help_hint(command: str) -> None:
    args, message = MISSING[command]
    result = extctl(*args)
    result.assert_clean_failure()
    assert result.stderr.splitlines() == [
        f"extctl: error: {message}",
        f"extctl: hint: run 'extctl {HELP_TARGET.get(command, command)} --help'",
    ]


@pytest.mark.parametrize(("args", "message"), [
    (["validate", "-o", "yaml"], "argument -o/--output: invalid choice: 'yaml' (choose from "),
    (["plan", "--source", ".", "--concurrency", "many"],
     "argument --concurrency: expected an integer >= 1, got 'many'"),
    (["reconcile", "--source", ".", "--pending-timeout", "soon"],
     "argument --pending-timeout: expected a duration like 30s, 5m, 1h, 1h30m, 500ms or plain seconds, got "
     "'soon'"),
    (["catalog", "list"], "argument COMMAND: invalid choice: 'list' (choose from "),
    (["deploy"], "argument COMMAND: invalid choice: 'deploy' (choose from "),
], ids=["choice", "int", "duration", "subcommand", "command"])
def test_bad_value_is_one_line_with_a_help_hint(args: list[str], message: str) -> None:
    result = extctl(*args)
    result.assert_clean_failure()
    assert result.error_lines()[0].startswith(f"extctl: error: {message}")
    assert result.error_lines()[1].startswith("extctl: hint: run 'extctl")
    assert len(result.stderr.splitlines()) == 2


# ------------------------------------------------------------------------------------------------ paths

@pytest.mark.parametrize("command", [*COMMANDS[:4], "plan-live", "reconcile"])
def test_source_that_does_not_exist_is_named(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory"
    args = command_line(command.removesuffix("-live"), missing)
    if command == "plan-live":
        args.remove("--offline")  # the source is checked before the cluster configuration is needed
    result = extctl(*args)
    result.assert_clean_failure()
    errors = result.error_lines()
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("extctl: error: ") and str(missing) in errors[0]


def test_preview_source_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-repository"
    result = extctl(*command_line("preview", missing, repo=str(missing)))
    result.assert_clean_failure()
    [failed] = result.events("preview.failed")
    assert str(missing) in failed["error"] and failed["reason"] == "SourceInvalid"


# ------------------------------------------------------------------------------------------------ the cluster

def closed_port_kubeconfig(directory: Path) -> tuple[Path, str]:
    """A kubeconfig (with a bearer token) whose API server is a loopback port nothing listens on."""
    server = f"http://127.0.0.1:{free_port()}"
    path = directory / "closed.kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: closed\n  cluster:\n    server: {server}\n"
        "contexts:\n- name: closed\n  context:\n    cluster: closed\n    user: closed\n"
        "current-context: closed\n"
        f"users:\n- name: closed\n  user:\n    token: {TOKEN}\n")
    return path, server


def cluster_command(command: str, source: Path, repo: str) -> list[str]:
    if command == "plan":
        return ["plan", "--source", str(source), "--log-format", "json"]
    if command == "preview":
        return [*command_line("preview", source, repo), "--cluster"]
    return command_line(command, source)


CLUSTER_COMMANDS = ("plan", "reconcile", "preview")


@pytest.fixture
def cluster_env(tmp_path: Path) -> dict[str, str]:
    """A HOME and cache without any kubeconfig or Git clone, so nothing of the developer's leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "EXTCTL_CACHE_DIR": str(tmp_path / "cache")}


@pytest.mark.parametrize("command", CLUSTER_COMMANDS)
def test_closed_api_port_is_reported_as_unreachable_with_the_server_url(
        command: str, source: Path, repo: str, cluster_env: dict[str, str], tmp_path: Path) -> None:
    kubeconfig, server = closed_port_kubeconfig(tmp_path)
    result = extctl(*cluster_command(command, source, repo), env={**cluster_env, "KUBECONFIG": str(kubeconfig)})
    result.assert_clean_failure()
    if command == "preview":
        [failed] = result.events("preview.failed")
        error = failed["error"]
    else:
        [summary] = result.events("reconcile.summary")
        assert (summary["outcome"], summary["reason"]) == ("cluster-error", "ClusterUnavailable")
        error = summary["error"]
    assert f"Kubernetes API at {server} unreachable" in error
    assert "connection refused" in error


@pytest.mark.parametrize("command", CLUSTER_COMMANDS)
def test_no_kubeconfig_at_all_says_how_to_provide_one(
        command: str, source: Path, repo: str, cluster_env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    result = extctl(*cluster_command(command, source, repo), env={**cluster_env, "KUBECONFIG": str(missing)})
    result.assert_clean_failure()
    assert result.error_lines() == [
        f"extctl: error: no Kubernetes configuration found (KUBECONFIG={missing}: no such file) (hint: set "
        "KUBECONFIG, pass --kube-context, run in a pod with a service account, or use --offline)"]


def test_no_kubeconfig_and_no_home_config_names_the_default_path(
        source: Path, cluster_env: dict[str, str]) -> None:
    result = extctl("plan", "--source", str(source), env=cluster_env, unset=("KUBECONFIG",))
    result.assert_clean_failure()
    [line] = result.error_lines()
    assert line.startswith(f"extctl: error: no Kubernetes configuration found (KUBECONFIG is not set and "
                           f"{cluster_env['HOME']}/.kube/config does not exist)")
    assert "--offline" in line


@pytest.mark.parametrize("command", CLUSTER_COMMANDS)
def test_unknown_kube_context_lists_the_available_ones(
        command: str, source: Path, repo: str, cluster_env: dict[str, str], sandbox: SandboxHandle) -> None:
    kubeconfig = sandbox.env["KUBECONFIG"]
    result = extctl(*cluster_command(command, source, repo), "--kube-context", "nosuch",
                    env={**cluster_env, "KUBECONFIG": kubeconfig})
    result.assert_clean_failure()
    assert result.error_lines() == [
        f"extctl: error: kube context 'nosuch' not found in {kubeconfig} (available: sandbox) (hint: pass one of "
        "the available contexts to --kube-context, or omit it to use the current context)"]


def test_invalid_kubeconfig_is_located_without_quoting_it(
        source: Path, cluster_env: dict[str, str], tmp_path: Path) -> None:
    kubeconfig = tmp_path / "broken.kubeconfig"
    kubeconfig.write_text(f"apiVersion: v1\nusers:\n- name: u\n  user: {{token: {TOKEN}\n")
    result = extctl("plan", "--source", str(source), env={**cluster_env, "KUBECONFIG": str(kubeconfig)})
    result.assert_clean_failure()
    [line] = result.error_lines()
    assert line.startswith(f"extctl: error: invalid Kubernetes configuration in {kubeconfig}: invalid YAML at line ")


# ------------------------------------------------------------------------------------------------ internal errors

def validate_into_a_full_disk(source: Path, *, debug: bool) -> subprocess.CompletedProcess[str]:
    """Writing the report fails with ENOSPC: not an ``ExtctlError``, so the CLI's last line of defence answers."""
    env = {k: v for k, v in os.environ.items() if k != "EXTCTL_DEBUG"}
    if debug:
        env["EXTCTL_DEBUG"] = "1"
    with Path("/dev/full").open("w") as full:
        return subprocess.run([sys.executable, "-m", "controller", "validate", "-o", "json", str(source)],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60, check=False, env=env)


def test_unexpected_exception_is_one_line_asking_for_a_report(source: Path) -> None:
    proc = validate_into_a_full_disk(source, debug=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "extctl: internal error: OSError: [Errno 28] No space left on device (this is a bug; please report it, "
        "with --log-level debug output)"]


def test_extctl_debug_adds_the_traceback(source: Path) -> None:
    proc = validate_into_a_full_disk(source, debug=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith("extctl: internal error: OSError: [Errno 28] No space left on device")
    assert "Traceback (most recent call last)" in proc.stderr
