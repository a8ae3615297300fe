"""One input model for every command, driven as a user drives it: ``--source`` (a Git URL or a directory)
plus ``--path``, local chart repositories relative to the ``--path`` directory, ``validate PATH`` as a
shorthand, on the shipped sample-repo and on a Git remote holding it in a subdirectory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.charts import REPO_ROOT, helm_bin, helm_env
from tests.support.git_branches import branch
from tests.support.git_remote import GitRemote

pytestmark = pytest.mark.integration
SAMPLE_REPO = REPO_ROOT / "sample-repo"


def extctl(*args: str, cwd: Path = REPO_ROOT, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = helm_env(cache / "helm-home") if cache is not None else dict(os.environ)
    env["HELM_BIN"] = helm_bin()
    if cache is not None:
        env["EXTCTL_CACHE_DIR"] = str(cache / "extctl")
    return subprocess.run([sys.executable, "-m", "controller", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def sample_files(prefix: str) -> dict[str, str | bytes]:
    """Every file of sample-repo, under ``prefix/`` in a repository."""
    return {f"{prefix}/{p.relative_to(SAMPLE_REPO).as_posix()}": p.read_bytes()
            for p in SAMPLE_REPO.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def sample_remote(tmp_path_factory: pytest.TempPathFactory) -> GitRemote:
    """A Git remote whose main branch holds sample-repo under ``sample-repo/`` (as extctl's own repository does)."""
    remote = GitRemote(tmp_path_factory.mktemp("sample-remote"))
    remote.commit(sample_files("sample-repo"), message="sample-repo in a subdirectory")
    return remote


def test_preview_path_sample_repo_finds_its_local_chart_repository(sample_remote: GitRemote, tmp_path: Path) -> None:
    """The issue's case: preview --path sample-repo, whose ExtensionTypes say repository: charts."""
    monitoring = (SAMPLE_REPO / "extensions" / "monitoring.yaml").read_text(encoding="utf-8")
    assert "retention: 72h" in monitoring
    branch(sample_remote, "retention", {"sample-repo/extensions/monitoring.yaml":
                                        monitoring.replace("retention: 72h", "retention: 96h")})
    result = extctl("preview", "--source", sample_remote.file_url, "--base", "main", "--head", "retention",
                    "--path", "sample-repo", "--output", "text", "--log-format", "json", cache=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "monitoring" in result.stdout and "96h" in result.stdout  # rendered from sample-repo/charts
    assert "team-a-metrics" not in result.stdout
    assert "local chart repository" not in result.stdout + result.stderr


def test_plan_and_resolve_with_source_dot_and_path_sample_repo(tmp_path: Path) -> None:
    plan = extctl("plan", "--offline", "--source", ".", "--path", "sample-repo", "--log-format", "json",
                  cache=tmp_path)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "5 change(s) planned" in plan.stdout and "error" not in plan.stdout
    resolved = extctl("resolve", "--source", ".", "--path", "sample-repo", "-o", "json", cache=tmp_path)
    assert resolved.returncode == 0, resolved.stdout
    versions = {e["name"]: e["version"] for e in json.loads(resolved.stdout)["extensions"]}
    assert versions["monitoring"] == "1.1.1" and versions["certs"] == "1.0.0"
    versions_out = extctl("catalog", "versions", "contoso.policy", "--source", ".", "--path", "sample-repo",
                          cache=tmp_path)
    assert versions_out.returncode == 0 and "1.0.1       stable, rc, lts" in versions_out.stdout


def test_read_only_commands_take_a_git_url(sample_remote: GitRemote, tmp_path: Path) -> None:
    """resolve, catalog and validate read a Git URL through the source layer (once: file:/srv/repo is not a
    directory)."""
    url = sample_remote.file_url
    resolved = extctl("resolve", "--source", url, "--path", "sample-repo", cache=tmp_path)
    assert resolved.returncode == 0, resolved.stderr
    assert "monitoring      contoso.monitoring  stable   1.1.1" in resolved.stdout
    listed = extctl("catalog", "versions", "contoso.certs", "--source", url, "--path", "sample-repo", "-o", "json",
                    cache=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [v["version"] for v in json.loads(listed.stdout)["versions"]] == ["1.2.0-beta.1", "1.1.0", "1.0.0"]
    valid = extctl("validate", "--source", url, "--path", "sample-repo", cache=tmp_path)
    assert (valid.returncode, valid.stdout) == (0, f"{url} (path sample-repo): valid (4 extension types, "
                                                   "5 extensions)\n")


def test_a_local_repository_path_is_relative_to_the_path_directory(tmp_path: Path) -> None:
    """Manifests in clusters/prod, charts at the source root: 'charts' is looked for beside the manifests and
    the error says where it looked and the rule; moved beside the manifests, it is found."""
    tree = tmp_path / "tree"
    for given, data in sample_files("clusters/prod").items():
        name = given.replace("clusters/prod/charts/", "charts/")
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    wrong = extctl("resolve", "--source", "tree", "--path", "clusters/prod", cwd=tmp_path, cache=tmp_path)
    assert wrong.returncode == 1
    assert ("local chart repository 'charts' has no index.yaml: looked for clusters/prod/charts/index.yaml (a local "
            "chart repository path is relative to the manifests directory (--source joined with --path), without "
            "'..'; manifests directory: clusters/prod)") in wrong.stderr
    (tree / "charts").rename(tree / "clusters/prod/charts")
    right = extctl("resolve", "--source", "tree", "--path", "clusters/prod", cwd=tmp_path, cache=tmp_path)
    assert right.returncode == 0, right.stderr


def test_validate_path_is_a_shorthand_for_source(tmp_path: Path) -> None:
    both = extctl("validate", "sample-repo", "--source", "other", cache=tmp_path)
    assert both.returncode == 1
    assert both.stderr.startswith("extctl: error: validate takes PATH or --source, not both")
    short, long = extctl("validate", "sample-repo", "-o", "json"), extctl("validate", "--source", "sample-repo",
                                                                          "-o", "json")
    assert short.returncode == long.returncode == 0 and short.stdout == long.stdout


def test_read_only_commands_keep_parsed_manifests_under_cache_dir(tmp_path: Path) -> None:
    chosen, default = tmp_path / "chosen", tmp_path / "cache"
    for command in (("validate",), ("resolve", "--output", "json"), ("catalog", "versions", "contoso.certs")):
        result = extctl(*command, "--source", "sample-repo", "--cache-dir", str(chosen), cache=tmp_path / "cache")
        assert result.returncode == 0, (command, result.stderr)
    assert list((chosen / "manifests").glob("*.pickle")), "the parse cache lives under --cache-dir"
    assert not (default / "extctl" / "manifests").exists(), "not under $EXTCTL_CACHE_DIR when --cache-dir is given"


def test_duration_and_number_flags_are_checked_and_named(tmp_path: Path) -> None:
    accepted = extctl("plan", "--offline", "--source", "sample-repo", "--helm-timeout", "5m", "--log-format", "json",
                      cache=tmp_path)
    assert accepted.returncode == 2, accepted.stderr
    for flag, value, expected in [
        ("--concurrency", "-3", "argument --concurrency: expected an integer >= 1, got '-3'"),
        ("--max-prune", "abc", "argument --max-prune: expected a share between 0 and 1, or 0%..100%, got 'abc'"),
        ("--helm-timeout", "5 minutes", "argument --helm-timeout: expected a duration like 30s, 5m, 1h, 1h30m, "
                                        "500ms or plain seconds, got '5 minutes'"),
        ("--drift-batch", "-1", "argument --drift-batch: expected an integer >= 0, got '-1'"),
    ]:
        refused = extctl("plan", "--offline", "--source", "sample-repo", flag, value, cache=tmp_path)
        assert (refused.returncode, refused.stdout) == (1, "")
        assert refused.stderr.splitlines() == [f"extctl: error: {expected}", "extctl: hint: run 'extctl plan --help'"]


def test_run_interval_has_a_floor_unless_triggers_drive_passes(sample_remote: GitRemote, tmp_path: Path) -> None:
    spinning = extctl("run", "--source", sample_remote.file_url, "--interval", "0", cache=tmp_path)
    assert spinning.returncode == 1
    assert spinning.stderr.startswith("extctl: error: --interval 0 runs passes only when triggered, and nothing "
                                      "would trigger one: add --webhook-secret-file"), spinning.stderr
    short = extctl("run", "--source", sample_remote.file_url, "--interval", "2s", cache=tmp_path)
    assert short.returncode == 1
    assert short.stderr.startswith("extctl: error: --interval 2s is below the floor of 5s"), short.stderr


def test_reset_of_an_unknown_extension_is_an_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}"
                          "\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n"
                          "- name: u\n  user: {token: x}\n", encoding="utf-8")
    refused = extctl("reconcile", "--once", "--source", "sample-repo", "--kubeconfig", str(kubeconfig),
                     "--reset", "nosuch", "--log-format", "json", cache=tmp_path)
    assert refused.returncode == 1
    assert "extctl: error: --reset nosuch: no such extension in directory" in refused.stderr
    assert "(hint: extensions: certs, monitoring, policy, team-a-backup, team-a-metrics)" in refused.stderr


@pytest.mark.parametrize("command", ["validate", "resolve", "catalog versions", "plan", "preview", "reconcile", "run",
                                     "status", "fleet status", "version"])
def test_every_command_help_has_a_description_and_an_example(command: str) -> None:
    shown = extctl(*command.split(), "--help")
    assert shown.returncode == 0
    usage, description = shown.stdout.split("\n\n")[:2]
    assert usage.startswith(f"usage: extctl {command}") and description.strip()
    examples = shown.stdout.split("examples:\n", 1)[1]
    assert f"  extctl {command}" in examples
