"""Harness tests: the chart repository, OCI registry and Git remote fixtures are real.

Owns: proving with the real helm and git CLIs that ``chart_repo`` serves a helm-readable repository
(with auth, publishing, conditional GET and a down mode), that ``oci_registry`` accepts ``helm push``
and answers the distribution tags API (anonymous, htpasswd and token flow), and that ``git_remote``
clones and accepts pushes over file:// and smart HTTP.
Must not: test extctl code (that lives in the feature tests), or fake any of these tools.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.support.chart_repo import ChartRepo
from tests.support.charts import DEFAULT_VERSIONS, helm_bin, helm_env, run_helm
from tests.support.git_remote import GitRemote, git_env, run_git
from tests.support.oci_registry import OciRegistry, unique_namespace

pytestmark = pytest.mark.integration


def _helm(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [helm_bin(), *args], env=helm_env(tmp_path / "helm"), capture_output=True, text=True, timeout=60, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {proc.stderr}")
    return proc


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - http://127.0.0.1 test servers
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - http://127.0.0.1 test servers
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- helm -------------------------------------------------------------------------------------


def test_helm_version_reports_v4(tmp_path: Path) -> None:
    out = _helm(tmp_path, "version", "--template", "{{ .Version }}").stdout
    assert out.startswith("v4."), out


# --- chart_repo -------------------------------------------------------------------------------


def test_helm_reads_every_version_from_chart_repo(tmp_path: Path, chart_repo: ChartRepo) -> None:
    _helm(tmp_path, "repo", "add", "test", chart_repo.url)
    search = _helm(tmp_path, "search", "repo", "test/demo-agent", "--versions", "--devel", "-o", "json")
    listed = json.loads(search.stdout)
    assert sorted(item["version"] for item in listed) == sorted(DEFAULT_VERSIONS)

    shown = yaml.safe_load(_helm(tmp_path, "show", "chart", "test/demo-agent", "--version", "1.2.0-preview.10").stdout)
    assert (shown["name"], shown["version"], shown["appVersion"]) == ("demo-agent",) + ("1.2.0-preview.10",) * 2

    _helm(tmp_path, "pull", "test/demo-agent", "--version", "1.1.0", "--destination", str(tmp_path))
    assert (tmp_path / "demo-agent-1.1.0.tgz").is_file()


def test_chart_values_change_rendered_output(tmp_path: Path, chart_repo: ChartRepo) -> None:
    _helm(tmp_path, "repo", "add", "test", chart_repo.url)
    rendered = _helm(
        tmp_path, "template", "agent", "test/demo-agent", "--version", "2.0.0", "--set", "logLevel=debug"
    ).stdout
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(rendered) if d}
    assert set(docs) == {
        ("ConfigMap", "agent-settings"), ("ServiceAccount", "agent"), ("Service", "agent"), ("Deployment", "agent")
    }
    settings = docs[("ConfigMap", "agent-settings")]["data"]
    assert settings["chartVersion"] == "2.0.0"
    assert settings["value.logLevel"] == "debug"
    assert json.loads(settings["values.json"])["logLevel"] == "debug"


def test_chart_repo_with_basic_auth_rejects_anonymous_helm(tmp_path: Path, chart_repo_auth: ChartRepo) -> None:
    assert chart_repo_auth.auth is not None
    user, password = chart_repo_auth.auth
    denied = _helm(tmp_path, "repo", "add", "locked", chart_repo_auth.url, check=False)
    assert denied.returncode != 0
    assert "401" in denied.stderr
    assert chart_repo_auth.requests_for("/index.yaml")[-1].status == 401

    _helm(tmp_path, "repo", "add", "locked", chart_repo_auth.url, "--username", user, "--password", password)
    shown = yaml.safe_load(_helm(tmp_path, "show", "chart", "locked/demo-agent", "--version", "1.0.0").stdout)
    assert shown["version"] == "1.0.0"


def test_publish_adds_a_version_while_serving(tmp_path: Path, chart_repo_factory) -> None:
    repo = chart_repo_factory(versions=["1.0.0"])
    _helm(tmp_path, "repo", "add", "test", repo.url)
    before = json.loads(_helm(tmp_path, "search", "repo", "test/demo-agent", "--versions", "-o", "json").stdout)
    assert [item["version"] for item in before] == ["1.0.0"]

    repo.publish("1.3.0")
    _helm(tmp_path, "repo", "update")
    after = json.loads(_helm(tmp_path, "search", "repo", "test/demo-agent", "--versions", "-o", "json").stdout)
    assert [item["version"] for item in after] == ["1.3.0", "1.0.0"]
    assert [e["version"] for e in yaml.safe_load(repo.index_text())["entries"]["demo-agent"]] == ["1.3.0", "1.0.0"]


def test_chart_repo_answers_conditional_get_with_304(chart_repo: ChartRepo) -> None:
    status, headers, body = _get(chart_repo.index_url)
    assert status == 200 and b"demo-agent" in body
    etag, last_modified = headers["ETag"], headers["Last-Modified"]

    assert _get(chart_repo.index_url, {"If-None-Match": etag})[0] == 304
    assert _get(chart_repo.index_url, {"If-Modified-Since": last_modified})[0] == 304

    chart_repo.publish("3.0.0")
    status, headers, body = _get(chart_repo.index_url, {"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag and b"3.0.0" in body
    assert [r.status for r in chart_repo.requests_for("/index.yaml")] == [200, 304, 304, 200]
    assert chart_repo.requests_for("/index.yaml")[1].header("If-None-Match") == etag


def test_chart_repo_down_refuses_connections_and_comes_back(tmp_path: Path, chart_repo: ChartRepo) -> None:
    chart_repo.stop()
    refused = _helm(tmp_path, "repo", "add", "test", chart_repo.url, check=False)
    assert refused.returncode != 0
    assert "connection refused" in refused.stderr.lower()

    chart_repo.start()
    _helm(tmp_path, "repo", "add", "test", chart_repo.url)


# --- git_remote -------------------------------------------------------------------------------


def _clone_commit_push(url: str, tmp_path: Path, remote: GitRemote) -> None:
    first = remote.commit({"extensions/agent.yaml": "kind: Extension\n"}, "add agent")
    env = git_env(tmp_path / "git-home")
    clone = tmp_path / "clone"
    run_git(["clone", "--quiet", url, str(clone)], env=env)
    assert (clone / "extensions" / "agent.yaml").read_text() == "kind: Extension\n"
    assert run_git(["rev-parse", "HEAD"], env=env, cwd=clone).strip() == first

    (clone / "extensions" / "web.yaml").write_text("kind: Extension\nmetadata: {name: web}\n")
    run_git(["add", "--all"], env=env, cwd=clone)
    run_git(["commit", "--quiet", "-m", "add web"], env=env, cwd=clone)
    run_git(["push", "--quiet", "origin", "HEAD:main"], env=env, cwd=clone)
    pushed = run_git(["rev-parse", "HEAD"], env=env, cwd=clone).strip()
    assert remote.head() == pushed
    assert remote.log() == [pushed, first]

    # The helper keeps working on top of what others pushed.
    third = remote.commit({"extensions/agent.yaml": None}, "remove agent")
    run_git(["pull", "--quiet", "--ff-only", "origin", "main"], env=env, cwd=clone)
    assert run_git(["rev-parse", "HEAD"], env=env, cwd=clone).strip() == third
    assert not (clone / "extensions" / "agent.yaml").exists()
    assert (clone / "extensions" / "web.yaml").exists()


def test_git_clone_and_push_over_smart_http(tmp_path: Path, git_remote: GitRemote) -> None:
    _clone_commit_push(git_remote.http_url, tmp_path, git_remote)
    services = {(r.method, r.service, r.status) for r in git_remote.http.requests}
    assert ("POST", "git-upload-pack", 200) in services
    assert ("POST", "git-receive-pack", 200) in services


def test_git_clone_and_push_over_file_url(tmp_path: Path, git_remote: GitRemote) -> None:
    _clone_commit_push(git_remote.file_url, tmp_path, git_remote)


def test_git_smart_http_with_basic_auth(tmp_path: Path, git_remote_factory) -> None:
    remote = git_remote_factory(auth=("git-user", "g1t-s3cret"))
    remote.commit({"README.md": "hello\n"}, "init")
    env = git_env(tmp_path / "git-home")
    denied = subprocess.run(
        ["git", "ls-remote", remote.http_url], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert denied.returncode != 0
    assert [r.status for r in remote.http.requests] == [401]
    refs = run_git(["ls-remote", remote.http_url_with_credentials()], env=env)
    assert f"{remote.head()}\trefs/heads/main" in refs


# --- oci_registry -----------------------------------------------------------------------------


def _show_chart(registry: OciRegistry, ref: str, *extra: str) -> dict[str, str]:
    return dict(yaml.safe_load(run_helm(["show", "chart", ref, "--plain-http", *extra], env=registry.helm_env)))


def test_helm_push_to_oci_registry_then_show_chart_and_list_tags(oci_registry: OciRegistry) -> None:
    ns = unique_namespace()
    ref = oci_registry.push("1.0.0", namespace=ns)
    oci_registry.push("1.2.0-preview.1", namespace=ns)
    oci_registry.push("1.3.0+build.5", namespace=ns)

    assert ref == f"oci://{oci_registry.host}/{ns}/demo-agent:1.0.0"
    assert _show_chart(oci_registry, ref)["version"] == "1.0.0"
    # helm stores "+" as "_" in the tag and maps it back when asked for the version
    assert _show_chart(oci_registry, f"oci://{oci_registry.host}/{ns}/demo-agent", "--version", "1.3.0+build.5")[
        "version"
    ] == "1.3.0+build.5"
    status, _, body = _get(f"{oci_registry.url}/v2/{ns}/demo-agent/tags/list")
    assert status == 200
    assert sorted(json.loads(body)["tags"]) == ["1.0.0", "1.2.0-preview.1", "1.3.0_build.5"]


def test_oci_registry_with_htpasswd_requires_credentials(oci_registry_auth: OciRegistry) -> None:
    ns = unique_namespace()
    oci_registry_auth.push("2.0.0", namespace=ns)
    status, headers, _ = _get(f"{oci_registry_auth.url}/v2/{ns}/demo-agent/tags/list")
    assert status == 401
    assert headers["Www-Authenticate"].startswith("Basic ")
    assert oci_registry_auth.credentials is not None
    tags_url = f"{oci_registry_auth.url}/v2/{ns}/demo-agent/tags/list"
    status, _, body = _get(tags_url, _basic(*oci_registry_auth.credentials))
    assert (status, json.loads(body)["tags"]) == (200, ["2.0.0"])


def test_oci_registry_token_flow(oci_registry_token: OciRegistry) -> None:
    ns = unique_namespace()
    ref = oci_registry_token.push("1.1.0", namespace=ns)
    assert _show_chart(oci_registry_token, ref)["version"] == "1.1.0"

    status, headers, _ = _get(f"{oci_registry_token.url}/v2/{ns}/demo-agent/tags/list")
    assert status == 401
    challenge = headers["Www-Authenticate"]
    assert challenge.startswith("Bearer ") and f'scope="repository:{ns}/demo-agent:pull"' in challenge
    assert oci_registry_token.token_server is not None
    granted = [r for r in oci_registry_token.token_server.requests if r.status == 200]
    assert any(f"repository:{ns}/demo-agent:pull,push" in r.scopes for r in granted)
    assert oci_registry_token.tags(f"{ns}/demo-agent") == ["1.1.0"]
