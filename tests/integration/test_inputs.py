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
