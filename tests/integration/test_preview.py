"""``extctl preview`` end to end: real Git refs (git_remote), real helm template, real chart repositories.

Goldens (markdown and JSON) live in ``golden/preview/``; regenerate them only with
``pytest tests/integration --update-goldens`` and read the diff before committing.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import GoldenCheck
from tests.support.chart_repo import ChartRepo
from tests.support.charts import REPO_ROOT, ChartPackager, helm_bin, helm_env
from tests.support.extctl import extension, extension_type
from tests.support.git_branches import branch
from tests.support.git_remote import GitRemote
from tests.support.github_stub import GitHubStub
from tests.support.output_schemas import assert_output_schema

pytestmark = pytest.mark.integration
NS = "demo"
HTTP_VERSIONS = ("1.0.0", "1.1.0", "1.2.0-preview.1")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        """The ``--output json`` document, checked against schemas/output/preview(-fleet).schema.json."""
        document = json.loads(self.stdout)
        fleet = isinstance(document, dict) and document.get("schema") == "extctl.dev/fleet-preview/v1"
        assert_output_schema("preview-fleet" if fleet else "preview", document)
        return document


def preview(remote: GitRemote, cache: Path, *args: str, head: str = "feature", base: str = "main",
            env_extra: Mapping[str, str] | None = None, base_env: Mapping[str, str] | None = None) -> Run:
    env = helm_env(cache / "helm-home", base_env)
    env["HELM_BIN"] = helm_bin()
    if base_env is None:
        for name in ("EXTCTL_REPO_HOST", "EXTCTL_REPO_USERNAME", "EXTCTL_REPO_PASSWORD", "EXTCTL_REPO_TOKEN",
                     "EXTCTL_REPO_CREDENTIALS_FILE", "GITHUB_TOKEN"):
            env.pop(name, None)
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, "-m", "controller", "preview", "--source", remote.file_url, "--base", base, "--head", head,
         "--cache-dir", str(cache / "git"), "--log-format", "json", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def normalise(text: str, remote: GitRemote, repos: Mapping[str, str] | None = None) -> str:
    for url, placeholder in (repos or {}).items():
        text = text.replace(url, placeholder)
    text = text.replace(remote.file_url, "<SOURCE>")
    text = re.sub(r"\b[0-9a-f]{40}\b", "<SHA>", text)
    return re.sub(r"@[0-9a-f]{12}\b", "@<SHA12>", text)


@pytest.fixture(scope="module")
def http_charts(chart_repo_factory: Any) -> ChartRepo:
    return chart_repo_factory(versions=HTTP_VERSIONS)


def agent_type(url: str) -> str:
    return extension_type("demo.agent", url, namespace=NS)


def local_chart_files(packager: ChartPackager, workdir: Path, versions: tuple[str, ...]) -> dict[str, str | bytes]:
    """A local chart repository (index.yaml + .tgz) as files for a commit under ``charts/``."""
    packager.build_repo(workdir, versions)
    return {f"charts/{p.name}": p.read_bytes() for p in sorted(workdir.iterdir()) if p.is_file()}


# ---------------------------------------------------------------------------------------------- goldens
SCENARIOS = ["settings-change", "new-chart-version", "train-switch", "pin", "unpin", "add-and-remove",
             "depends-on-added", "invalid-head"]


def _scenario(name: str, remote: GitRemote, charts: ChartRepo, packager: ChartPackager, tmp: Path) -> None:
    url = charts.url
    base: dict[str, str | bytes | None] = {"catalog/agent.yaml": agent_type(url)}
    head: dict[str, str | bytes | None] = {}
    if name == "settings-change":
        base["extensions/agent.yaml"] = extension("agent", "demo.agent", NS, settings={"logLevel": "info"})
        head["extensions/agent.yaml"] = extension("agent", "demo.agent", NS,
                                                  settings={"logLevel": "debug", "replicaCount": 2})
    elif name == "new-chart-version":
        base.update(local_chart_files(packager, tmp / "charts-base", ("1.0.0", "1.1.0")))
        base["catalog/agent.yaml"] = agent_type("charts")
        base["extensions/agent.yaml"] = extension("agent", "demo.agent", NS, settings={"logLevel": "info"})
        head.update(local_chart_files(packager, tmp / "charts-head", ("1.0.0", "1.1.0", "1.2.0")))
    elif name == "train-switch":
        base["extensions/agent.yaml"] = extension("agent", "demo.agent", NS)
        head["extensions/agent.yaml"] = extension("agent", "demo.agent", NS, train="preview")
    elif name == "pin":
        base["extensions/agent.yaml"] = extension("agent", "demo.agent", NS)
        head["extensions/agent.yaml"] = extension("agent", "demo.agent", NS, version="1.0.0")
    elif name == "unpin":
        base["extensions/agent.yaml"] = extension("agent", "demo.agent", NS, version="1.0.0")
        head["extensions/agent.yaml"] = extension("agent", "demo.agent", NS)
    elif name == "add-and-remove":
        base["extensions/agent.yaml"] = extension("agent", "demo.agent", NS)
        base["extensions/old.yaml"] = extension("old-agent", "demo.agent", NS, settings={"service": {"enabled": False}})
        head["extensions/old.yaml"] = None
        head["extensions/new.yaml"] = extension("new-agent", "demo.agent", NS,
                                                settings={"deployment": {"enabled": False}})
    elif name == "depends-on-added":
        base["extensions/agent.yaml"] = extension("agent", "demo.agent", NS)
        head["extensions/agent.yaml"] = extension("agent", "demo.agent", NS, depends_on=["cache"])
        head["extensions/cache.yaml"] = extension("cache", "demo.agent", NS,
                                                  settings={"serviceAccount": {"create": False}})
    elif name == "invalid-head":
        base["extensions/agent.yaml"] = extension("agent", "demo.agent", NS)
        head["extensions/agent.yaml"] = extension("agent", "demo.agent", NS, train="stable",
                                                  extra="  replicas: 3\n  dependsOn: [missing]\n")
    remote.commit(base, message="base")
    branch(remote, "feature", head)


@pytest.mark.parametrize("name", SCENARIOS)
def test_preview_golden(name: str, git_remote: GitRemote, http_charts: ChartRepo, chart_packager: ChartPackager,
                        *, tmp_path: Path, golden: GoldenCheck) -> None:
    _scenario(name, git_remote, http_charts, chart_packager, tmp_path)
    repos = {http_charts.url: "http://127.0.0.1:<PORT>"}
    markdown = preview(git_remote, tmp_path)
    as_json = preview(git_remote, tmp_path, "--output", "json")
    expected_exit = 1 if name == "invalid-head" else 2
    assert markdown.returncode == expected_exit, markdown.stderr
    assert as_json.returncode == expected_exit, as_json.stderr
    assert as_json.json["exit_code"] == expected_exit
    golden(f"preview/{name}.md", normalise(markdown.stdout, git_remote, repos))
    golden(f"preview/{name}.json", normalise(as_json.stdout, git_remote, repos))
    # Only changing extensions are rendered: two sides of an upgrade or downgrade, one of an install/uninstall.
    expected_renders = sum(2 if c["action"] in {"upgrade", "downgrade"} else 1 for c in as_json.json["changes"])
    assert as_json.json["stats"]["helm_template_calls"] == expected_renders


def test_invalid_head_reports_located_errors(git_remote: GitRemote, http_charts: ChartRepo,
                                             chart_packager: ChartPackager, tmp_path: Path) -> None:
    _scenario("invalid-head", git_remote, http_charts, chart_packager, tmp_path)
    for output in ("markdown", "text", "json"):
        run = preview(git_remote, tmp_path, "--output", output)
        assert run.returncode == 1
        assert "extensions/agent.yaml:" in run.stdout
        assert re.search(r"extensions/agent\.yaml:\d+:\d+: error: ", run.stdout), run.stdout


def test_no_changes_exits_zero(git_remote: GitRemote, http_charts: ChartRepo, tmp_path: Path) -> None:
    git_remote.commit({"catalog/agent.yaml": agent_type(http_charts.url),
                       "extensions/agent.yaml": extension("agent", "demo.agent", NS)})
    branch(git_remote, "feature", {"README.md": "docs only\n"})
    run = preview(git_remote, tmp_path, "--output", "json")
    assert run.returncode == 0, run.stderr
    assert run.json["changes"] == [] and run.json["stats"]["helm_template_calls"] == 0


# ---------------------------------------------------------------------------------------------- Done when
def test_sample_repo_feature_branch(git_remote: GitRemote, tmp_path: Path) -> None:
    """A clone of sample-repo; the feature branch bumps a setting and adds an extension."""
    git_remote.copy_tree(REPO_ROOT / "sample-repo", message="sample-repo")
    monitoring = (REPO_ROOT / "sample-repo/extensions/monitoring.yaml").read_text()
    assert "replicaCount: 2" in monitoring
    branch(git_remote, "feature", {
        "extensions/monitoring.yaml": monitoring.replace("replicaCount: 2", "replicaCount: 3"),
        "extensions/policy-audit.yaml": (
            "apiVersion: extctl.dev/v1alpha1\nkind: Extension\nmetadata:\n  name: policy-audit\nspec:\n"
            "  extensionType: contoso.policy\n  scope:\n    cluster:\n      releaseNamespace: policy-audit\n"
            "  configurationSettings:\n    config:\n      enforcementMode: audit\n"),
    })
    run = preview(git_remote, tmp_path)
    assert run.returncode == 2, run.stderr
    out = run.stdout
    assert out.startswith("<!-- extctl-preview -->\n### extctl preview: 2 extensions change\n")
    assert "| monitoring | upgrade | 1.1.1 | settings changed | `replicaCount` |" in out
    row = r"\| policy-audit \| install \| none → \d+\.\d+\.\d+ \| not installed \| `config.enforcementMode` \|"
    assert re.search(row, out), out
    assert "4 extension(s) unchanged (not rendered)." in out
    assert "-  replicas: 2\n+  replicas: 3" in out
    assert "<summary><b>policy-audit</b> · install" in out and "+kind: Deployment" in out
    assert out.count("<details>") == out.count("</details>") == 2
    # team-a-backup's protected setting is never read: it would render as "***" if it were rendered at all.
    assert "team-a-backup" not in out.split("4 extension(s) unchanged")[0]


# ---------------------------------------------------------------------------------------------- performance
def test_one_change_in_200_extensions_renders_only_that_one(git_remote: GitRemote, http_charts: ChartRepo,
                                                           tmp_path: Path) -> None:
    files: dict[str, str | bytes | None] = {"catalog/agent.yaml": agent_type(http_charts.url)}
    for i in range(200):
        files[f"extensions/ext-{i:03}.yaml"] = extension(f"ext-{i:03}", "demo.agent", NS, settings={"index": i})
    git_remote.commit(files)
    branch(git_remote, "feature", {"extensions/ext-123.yaml": extension("ext-123", "demo.agent", NS,
                                                                      settings={"index": 123, "logLevel": "debug"})})
    started = time.monotonic()
    run = preview(git_remote, tmp_path, "--output", "json")
    elapsed = time.monotonic() - started
    assert run.returncode == 2, run.stderr
    data = run.json
    assert [c["extension"] for c in data["changes"]] == ["ext-123"]
    assert data["changes"][0]["settings_changed"] == ["logLevel"]
    assert data["stats"]["helm_template_calls"] == 2
    assert data["stats"]["extensions"] == 200
    assert sum(1 for o in data["others"] if o["action"] == "noop") == 199
    assert elapsed < 30, f"preview of 200 extensions took {elapsed:.1f}s"
    assert summary(run)["files_parsed"] == 201 + 1  # base's files, then only head's changed one
    # A second preview in the same cache directory (a developer's, a CI runner's restored cache) parses nothing
    # and reports the same.
    again = preview(git_remote, tmp_path, "--output", "json")
    assert again.returncode == 2, again.stderr
    assert summary(again)["files_parsed"] == 0
    assert again.json["changes"] == data["changes"] and again.json["others"] == data["others"]


def summary(run: Run) -> dict[str, Any]:
    return next(json.loads(line) for line in run.stderr.splitlines() if '"preview.summary"' in line)


# ---------------------------------------------------------------------------------------------- truncation
def test_markdown_is_truncated_per_extension_under_max_bytes(git_remote: GitRemote, http_charts: ChartRepo,
                                                            tmp_path: Path) -> None:
    files: dict[str, str | bytes | None] = {"catalog/agent.yaml": agent_type(http_charts.url)}
    git_remote.commit(files)
    branch(git_remote, "feature", {f"extensions/e{i}.yaml": extension(f"e{i}", "demo.agent", NS) for i in range(6)})
    full = preview(git_remote, tmp_path, "--max-bytes", "0")
    cut = preview(git_remote, tmp_path, "--max-bytes", "6000")
    assert full.returncode == cut.returncode == 2
    assert len(full.stdout.encode()) > 6000
    assert len(cut.stdout.encode()) <= 6000
    assert "Output truncated" in cut.stdout and "--max-bytes 0" in cut.stdout
    assert cut.stdout.count("<details>") == cut.stdout.count("</details>") == 6
    assert cut.stdout.count("```") % 2 == 0


# ---------------------------------------------------------------------------------------------- GitHub
@pytest.fixture
def github() -> Iterator[GitHubStub]:
    stub = GitHubStub(token="ghs_test-token-123")
    yield stub
    stub.close()


def test_post_github_creates_then_updates_one_sticky_comment(git_remote: GitRemote, http_charts: ChartRepo,
                                                            tmp_path: Path, github: GitHubStub) -> None:
    _scenario("settings-change", git_remote, http_charts, ChartPackager(tmp_path / "unused"), tmp_path)
    for i in range(120):  # the sticky comment ends up on the second page of comments
        github.add_comment("octo/fleet", 7, f"unrelated comment {i}")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": 7}}))
    env = {"GITHUB_REPOSITORY": "octo/fleet", "GITHUB_EVENT_PATH": str(event), "GITHUB_TOKEN": github.token,
           "GITHUB_API_URL": github.url}
    first = preview(git_remote, tmp_path, "--post", "github", env_extra=env)
    assert first.returncode == 2, first.stderr
    posts = [r for r in github.requests if r.method == "POST"]
    assert len(posts) == 1 and posts[0].path == "/repos/octo/fleet/issues/7/comments"
    assert posts[0].headers["Authorization"] == f"Bearer {github.token}"
    assert posts[0].headers["Accept"] == "application/vnd.github+json"
    assert posts[0].headers["Content-Type"] == "application/json"
    assert posts[0].body == {"body": first.stdout}
    assert posts[0].body["body"].startswith("<!-- extctl-preview -->\n")
    assert github.token not in first.stdout + first.stderr

    # The head changes again: the same comment is updated, no second one is created.
    branch(git_remote, "feature", {"extensions/agent.yaml": extension("agent", "demo.agent", NS,
                                                                     settings={"logLevel": "warning"})})
    github.requests.clear()
    second = preview(git_remote, tmp_path, "--post", "github", env_extra=env)
    assert second.returncode == 2, second.stderr
    methods = [(r.method, r.path.split("?")[0]) for r in github.requests]
    assert ("POST", "/repos/octo/fleet/issues/7/comments") not in methods
    patches = [r for r in github.requests if r.method == "PATCH"]
    assert len(patches) == 1 and patches[0].path == f"/repos/octo/fleet/issues/comments/{posts_id(github)}"
    assert patches[0].body == {"body": second.stdout}
    assert [r.path for r in github.requests if r.method == "GET"] == [
        "/user", "/repos/octo/fleet/issues/7/comments?per_page=100&page=1",
        "/repos/octo/fleet/issues/7/comments?per_page=100&page=2"]
    comments = github.comments[("octo/fleet", 7)]
    marked = [c for c in comments if "<!-- extctl-preview -->" in c["body"]]
    assert len(comments) == 121 and len(marked) == 1 and "warning" in marked[0]["body"]


def posts_id(github: GitHubStub) -> int:
    return next(c["id"] for c in github.comments[("octo/fleet", 7)] if "<!-- extctl-preview -->" in c["body"])


def test_post_github_reports_a_rejected_token(git_remote: GitRemote, http_charts: ChartRepo, tmp_path: Path,
                                              github: GitHubStub) -> None:
    _scenario("settings-change", git_remote, http_charts, ChartPackager(tmp_path / "unused"), tmp_path)
    env = {"GITHUB_TOKEN": "wrong-token-456", "GITHUB_API_URL": github.url}
    run = preview(git_remote, tmp_path, "--post", "github", "--github-repository", "octo/fleet", "--github-pr", "3",
                  env_extra=env)
    assert run.returncode == 1
    assert "answered 401" in run.stderr and "wrong-token-456" not in run.stdout + run.stderr
    assert github.comments.get(("octo/fleet", 3)) is None


# ---------------------------------------------------------------------------------------------- planted secret
SECRET = "Pl4nted-S3cret-xyzzy"


def _forbidden() -> list[str]:
    encoded = [base64.b64encode(raw.encode()).decode() for raw in (SECRET, f"extctl:{SECRET}", f"{SECRET}-v2")]
    return [SECRET, *encoded]


def _assert_clean(label: str, text: str) -> None:
    for form in _forbidden():
        assert form not in text, f"{label} leaks {form!r}:\n{text}"


def _web(name: str, type_name: str, *, settings: dict[str, Any], key: str | None = None, ns: str = NS) -> str:
    extra = ""
    if key is not None:
        extra = ("  configurationProtectedSettings:\n    - secretName: planted\n"
                 f"      key: {key}\n      targetPath: apiKey\n")
    return extension(name, type_name, ns, settings=settings, extra=extra)


def _planted_repo(remote: GitRemote, charts: ChartRepo, ns: str) -> None:
    remote.commit({
        "catalog/url.yaml": extension_type("demo.web-url", charts.url, chart="demo-web", namespace=ns),
        "catalog/env.yaml": extension_type("demo.web-env", charts.url, chart="demo-web", namespace=ns),
        "catalog/agent.yaml": extension_type("demo.agent-env", charts.url, chart="demo-agent", namespace=ns),
        # A Secret rendered by the chart from a plain setting (demo-web puts apiKey into Secret data).
        "extensions/web-a.yaml": _web("web-a", "demo.web-url", settings={"greeting": "hi", "apiKey": SECRET}, ns=ns),
        # Protected settings: read from a Secret by the controller, never by a preview.
        "extensions/web-b.yaml": _web("web-b", "demo.web-env", settings={"greeting": "hi"}, key="apiKey", ns=ns),
        "extensions/agent-p.yaml": extension("agent-p", "demo.agent-env", ns, settings={"logLevel": "info"}, extra=(
            "  configurationProtectedSettings:\n    - secretName: planted\n      key: apiKey\n"
            "      targetPath: token\n")),
        "extensions/web-gone.yaml": _web("web-gone", "demo.web-env", settings={"apiKey": SECRET}, ns=ns),
    })
    branch(remote, "feature", {
        "extensions/web-a.yaml": _web("web-a", "demo.web-url", settings={"greeting": "hey", "apiKey": f"{SECRET}-v2"},
                                          ns=ns),
        "extensions/web-b.yaml": _web("web-b", "demo.web-env", settings={"greeting": "hey"}, key="otherKey", ns=ns),
        "extensions/agent-p.yaml": extension("agent-p", "demo.agent-env", ns, settings={"logLevel": "debug"}, extra=(
            "  configurationProtectedSettings:\n    - secretName: planted\n      key: apiKey\n"
            "      targetPath: token\n")),
        "extensions/web-gone.yaml": None,
    })


def test_planted_secret_never_appears_in_any_output(git_remote: GitRemote, chart_repo_factory: Any,
                                                    tmp_path: Path, github: GitHubStub) -> None:
    charts = chart_repo_factory(versions=("1.0.0",), charts=("demo-agent", "demo-web"), auth=("extctl", SECRET))
    _planted_repo(git_remote, charts, NS)
    env = {"EXTCTL_REPO_HOST": f"127.0.0.1:{charts.port}", "EXTCTL_REPO_USERNAME": "extctl",
           "EXTCTL_REPO_PASSWORD": SECRET, "GITHUB_TOKEN": github.token,
           "GITHUB_API_URL": github.url}
    runs = {}
    for output in ("markdown", "json", "text"):
        run = preview(git_remote, tmp_path, "--output", output, "--log-level", "debug", "--post", "github",
                      "--github-repository", "octo/fleet", "--github-pr", "9", env_extra=env)
        assert run.returncode == 2, run.stderr
        _assert_clean(f"{output} stdout", run.stdout)
        _assert_clean(f"{output} stderr", run.stderr)
        runs[output] = run
    bodies = [r.body["body"] for r in github.requests if r.method in ("POST", "PATCH")]
    assert len(bodies) == 3
    for body in bodies:
        _assert_clean("GitHub comment", body)
    data = runs["json"].json
    changes = {c["extension"]: c for c in data["changes"]}
    assert set(changes) == {"web-a", "web-b", "agent-p", "web-gone"}
    secret_a = next(r for r in changes["web-a"]["resources"] if r["kind"] == "Secret")
    assert "-  apiKey: '***(previous)'\n+  apiKey: '***(changed)'" in secret_a["diff"]
    assert changes["web-a"]["settings_changed"] == ["apiKey", "greeting"]
    assert changes["web-b"]["settings_changed"] == ["greeting", "apiKey (protected)"]
    # The protected value is rendered as "***" on both sides, so its Secret is unchanged.
    assert not any(r["kind"] == "Secret" for r in changes["web-b"]["resources"])
    assert any("previews never read Secrets" in n for n in changes["web-b"]["notes"])
    agent_diff = "\n".join(r["diff"] for r in changes["agent-p"]["resources"])
    assert '\\"token\\":\\"***\\"' in agent_diff
    gone = next(r for r in changes["web-gone"]["resources"] if r["kind"] == "Secret")
    assert gone["change"] == "removed" and "-  apiKey: '***(removed)'" in gone["diff"]
    assert "http://127.0.0.1:" in changes["web-a"]["chart"] and "@" not in changes["web-a"]["chart"].split(" from ")[1]


def test_planted_secret_with_cluster(sandbox: Any, git_remote: GitRemote, chart_repo_factory: Any, unique_name: str,
                                     tmp_path: Path) -> None:
    """--cluster: the planted value is in a cluster Secret and in the deployed releases; the preview reads neither."""
    charts = chart_repo_factory(versions=("1.0.0",), charts=("demo-agent", "demo-web"), auth=("extctl", SECRET))
    ns = unique_name
    core = sandbox.core_v1()
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "planted"}, "stringData": {
        "apiKey": SECRET, "otherKey": SECRET}})
    _planted_repo(git_remote, charts, ns)
    env = sandbox.full_env(EXTCTL_REPO_HOST=f"127.0.0.1:{charts.port}", EXTCTL_REPO_USERNAME="extctl",
                           EXTCTL_REPO_PASSWORD=SECRET)
    common = ["--source", git_remote.file_url, "--cache-dir", str(tmp_path / "git"), "--instance", ns]
    proc = subprocess.run([sys.executable, "-m", "controller", "reconcile", "--once", *common, "--log-format", "json"],
                          env=env, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    # The deployed release really holds the planted value (rendered from the cluster Secret).
    manifest = sandbox.helm("get", "manifest", "agent-p", "-n", ns).stdout
    assert SECRET in manifest
    for output in ("markdown", "json", "text"):
        run = preview(git_remote, tmp_path, "--cluster", "--instance", ns, "--output", output,
                      "--log-level", "debug", base_env=env)
        assert run.returncode == 2, run.stdout + run.stderr
        _assert_clean(f"--cluster {output} stdout", run.stdout)
        _assert_clean(f"--cluster {output} stderr", run.stderr)
        if output == "json":
            data = run.json
            assert data["compare"] == "cluster"
            actions = {c["extension"]: c["action"] for c in data["changes"]}
            assert actions == {"web-a": "upgrade", "web-b": "upgrade", "agent-p": "upgrade", "web-gone": "uninstall"}
