"""Host-bound repository credentials on the real harness: who receives an ``Authorization`` header.

Servers on 127.0.0.1 record every request's headers. The credential is bound to one of them; a
second repository (reached as ``localhost``, another host name) must never see it -- not from
``resolve``, ``plan``, ``reconcile`` or ``preview`` (CLI), not through a redirect, not through an
index that lists archives on another host, not as an OCI token realm on another host. A local
index that points outside its repository is refused with a located error and installs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controller.catalog import ChartDownloader, CredentialStore, RepoCredentials, fetch_versions, load_credentials
from controller.catalog.credentials import Binding
from controller.errors import CatalogAuthError
from tests.support.chart_repo import ChartRepo
from tests.support.charts import ChartPackager, helm_bin, helm_env
from tests.support.extctl import extension, extension_type, run_extctl
from tests.support.git_remote import GitRemote
from tests.support.localnet import wait_for
from tests.support.oci_registry import OciRegistry, unique_namespace
from tests.support.recording_server import RecordingServer, recording_server_factory  # noqa: F401
from tests.support.sandbox import SandboxHandle

pytestmark = pytest.mark.integration
SECRET = "Cred-Pl4nted-zz9"
REPO_ROOT = Path(__file__).resolve().parents[2]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def credentials_file(tmp_path: Path, *hosts: str) -> Path:
    (tmp_path / "repo-password").write_text(SECRET + "\n")
    entries = "".join(f"  - host: {h}\n    username: extctl\n    passwordFile: repo-password\n" for h in hosts)
    path = tmp_path / "repositories.yaml"
    path.write_text("credentials:\n" + entries)
    return path


def local_url(repo: ChartRepo) -> str:
    """The same server under another host name: ``localhost`` is not ``127.0.0.1`` for credentials."""
    return f"http://localhost:{repo.port}"


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text and base64.b64encode(f"extctl:{SECRET}".encode()).decode() not in text


# ----------------------------------------------------------------------------------------- the CLI
def test_no_command_sends_the_credential_to_another_host(sandbox: SandboxHandle, chart_repo_factory: Any,
                                                         git_remote: GitRemote, unique_name: str,
                                                         tmp_path: Path) -> None:
    trusted = chart_repo_factory(versions=("1.0.0",), auth=("extctl", SECRET))
    other = chart_repo_factory(versions=("1.0.0",))
    ns = unique_name
    files = {
        "catalog/trusted.yaml": extension_type("demo.trusted", trusted.url, namespace=ns),
        "catalog/other.yaml": extension_type("demo.other", local_url(other), namespace=ns),
        "extensions/a.yaml": extension("cred-a", "demo.trusted", ns),
        "extensions/b.yaml": extension("cred-b", "demo.other", ns),
    }
    source = tmp_path / "source"
    for relative, text in files.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text(text)
    creds = credentials_file(tmp_path, f"127.0.0.1:{trusted.port}")
    common = ["--source", str(source), "--repo-credentials", str(creds)]
    engine = [*common, "--instance", ns, "--cache-dir", str(tmp_path / "cache"), "--log-format", "json"]

    runs = {
        "resolve": run_extctl(sandbox, "resolve", *common, "-o", "json"),
        "plan": run_extctl(sandbox, "plan", *engine),
        "reconcile": run_extctl(sandbox, "reconcile", "--once", *engine),
    }
    assert runs["resolve"].returncode == 0, runs["resolve"].stderr
    assert runs["plan"].returncode == 2, runs["plan"].stdout + runs["plan"].stderr
    assert runs["reconcile"].returncode == 0, runs["reconcile"].stdout + runs["reconcile"].stderr
    assert sorted(runs["reconcile"].changes()) == [("cred-a", "install", "succeeded"),
                                                   ("cred-b", "install", "succeeded")]

    # Preview: base names only the trusted repository; head adds the other one, and the credentials
    # file binds a credential to the other host too -- a host only the head names still gets nothing.
    base = git_remote.commit({k: v for k, v in files.items() if "other" not in k and "/b." not in k})
    head = git_remote.commit(files, message="head adds a repository")
    (tmp_path / "preview").mkdir()
    both = credentials_file(tmp_path / "preview", f"127.0.0.1:{trusted.port}", f"localhost:{other.port}")
    env = helm_env(tmp_path / "helm-home")
    env["HELM_BIN"] = helm_bin()
    preview = subprocess.run(
        [sys.executable, "-m", "controller", "preview", "--source", git_remote.file_url, "--base", base,
         "--head", head, "--cache-dir", str(tmp_path / "git"), "--repo-credentials", str(both),
         "--log-format", "json", "--output", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT)
    assert preview.returncode == 2, preview.stdout + preview.stderr
    assert "cred-b" in preview.stdout

    for name, run in runs.items():
        assert_clean(f"{name}: {run.stdout}", run.stderr)
    assert_clean(preview.stdout, preview.stderr)
    assert other.requests, "the other repository was read (index and chart)"
    assert [r.path for r in other.requests if r.header("Authorization")] == []
    assert {r.path for r in other.requests} >= {"/index.yaml", "/demo-agent-1.0.0.tgz"}
    expected = basic("extctl", SECRET)
    assert trusted.requests and all(r.header("Authorization") == expected for r in trusted.requests)


# ----------------------------------------------------------------------------------------- redirects
def test_a_redirect_to_another_host_loses_the_credential(
        recording_server_factory: Any, chart_repo: ChartRepo, tmp_path: Path) -> None:  # noqa: F811 - imported fixture
    target = local_url(chart_repo)
    hop = recording_server_factory(redirects={"/index.yaml": f"{target}/index.yaml"})
    store = CredentialStore([Binding("127.0.0.1", hop.port, (), RepoCredentials("extctl", SECRET))])
    found = fetch_versions(hop.url, "demo-agent", repo_root=tmp_path, credentials=store)
    assert found
    assert [r.header("Authorization") for r in hop.requests] == [basic("extctl", SECRET)]
    assert [(r.path, r.header("Authorization")) for r in chart_repo.requests] == [("/index.yaml", None)]

    # A same-host redirect keeps the credential bound to the new URL.
    (hop.root / "moved").mkdir()
    (hop.root / "moved" / "index.yaml").write_text(chart_repo.index_text())
    hop.redirects["/old/index.yaml"] = f"{hop.url}/moved/index.yaml"
    fetch_versions(f"{hop.url}/old", "demo-agent", repo_root=tmp_path, credentials=store)
    assert [r.path for r in hop.authorized()][-2:] == ["/old/index.yaml", "/moved/index.yaml"]


def test_chart_archives_on_another_host_or_behind_a_redirect_get_no_credential(
        recording_server_factory: Any, chart_repo: ChartRepo, tmp_path: Path) -> None:  # noqa: F811 - imported fixture
    archive = chart_repo.root / "demo-agent-1.0.0.tgz"
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    trusted = recording_server_factory(auth=("extctl", SECRET), redirects={
        "/hop/demo-agent-1.1.0.tgz": f"{local_url(chart_repo)}/demo-agent-1.1.0.tgz"})
    index = chart_repo.index_text().replace("- demo-agent-1.0.0.tgz",
                                            f"- {local_url(chart_repo)}/demo-agent-1.0.0.tgz")
    index = index.replace("- demo-agent-1.1.0.tgz", "- hop/demo-agent-1.1.0.tgz")
    (trusted.root / "index.yaml").write_text(index)
    store = load_credentials(environ={"EXTCTL_REPO_HOST": f"127.0.0.1:{trusted.port}",
                                      "EXTCTL_REPO_USERNAME": "extctl", "EXTCTL_REPO_PASSWORD": SECRET})
    downloader = ChartDownloader(store, tmp_path / "charts")
    fetched = downloader.fetch(trusted.url, "demo-agent", "1.0.0")
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == digest
    assert oct(fetched.stat().st_mode & 0o777) == "0o600"
    downloader.fetch(trusted.url, "demo-agent", "1.1.0")
    assert [(r.path, r.header("Authorization")) for r in chart_repo.requests] == [
        ("/demo-agent-1.0.0.tgz", None), ("/demo-agent-1.1.0.tgz", None)]
    assert {r.path for r in trusted.authorized()} == {"/index.yaml", "/hop/demo-agent-1.1.0.tgz"}
    # Cached and re-verified: a second fetch reads the index for the digest, and no archive again.
    before = len(chart_repo.requests)
    assert downloader.fetch(trusted.url, "demo-agent", "1.0.0") == fetched
    assert len(chart_repo.requests) == before and trusted.requests[-1].path == "/index.yaml"


# ----------------------------------------------------------------------------------------- OCI
def test_an_oci_token_realm_on_another_host_gets_no_credential(oci_registry_token: OciRegistry,
                                                               tmp_path: Path) -> None:
    assert oci_registry_token.credentials is not None and oci_registry_token.token_server is not None
    user, password = oci_registry_token.credentials
    ns = unique_namespace()
    oci_registry_token.push("1.0.0", namespace=ns)
    repository = oci_registry_token.reference(ns)
    tokens = oci_registry_token.token_server
    # Bound to the registry's port only: the token service (another port) is another host.
    registry_only = CredentialStore([Binding("127.0.0.1", oci_registry_token.port, (),
                                             RepoCredentials(user, password))])
    with pytest.raises(CatalogAuthError, match="requires credentials and none were given") as refused:
        fetch_versions(repository, "demo-agent", repo_root=tmp_path, credentials=registry_only)
    assert password not in str(refused.value)
    # The token service answered (and records after answering): an anonymous request, refused.
    wait_for(lambda: tokens.requests and tokens.requests[-1].status == 401, timeout=10, what="the token log")
    assert tokens.requests[-1].user is None

    # Bound to the whole host: the realm is on it, so the token flow works -- and the chart is
    # downloaded by extctl (manifest + chart layer, digest-verified), not by helm.
    whole_host = CredentialStore([Binding("127.0.0.1", None, (), RepoCredentials(user, password))])
    fetched = ChartDownloader(whole_host, tmp_path / "charts").fetch(repository, "demo-agent", "1.0.0")
    packaged = oci_registry_token.packager.package("demo-agent", "1.0.0")
    assert fetched.read_bytes() == packaged.read_bytes()
    assert tokens.requests[-1].user == user


# ----------------------------------------------------------------------------------------- local index
def test_a_local_index_pointing_outside_its_repository_installs_nothing(sandbox: SandboxHandle, unique_name: str,
                                                                        chart_packager: ChartPackager,
                                                                        tmp_path: Path) -> None:
    source = tmp_path / "source"
    chart_packager.build_repo(source / "charts", ["1.0.0"], charts=["demo-agent"])
    # A real chart, but outside the repository (the repository keeps its own archive too).
    (tmp_path / "outside.tgz").write_bytes((source / "charts" / "demo-agent-1.0.0.tgz").read_bytes())
    index = source / "charts" / "index.yaml"
    index.write_text(index.read_text().replace("- demo-agent-1.0.0.tgz", "- ../../outside.tgz"))
    (source / "catalog.yaml").write_text(extension_type("demo.local", "charts", namespace=unique_name))
    (source / "agent.yaml").write_text(extension("escape", "demo.local", unique_name))
    run = run_extctl(sandbox, "reconcile", "--once", "--source", str(source), "--instance", unique_name,
                     "--cache-dir", str(tmp_path / "cache"), "--log-format", "json")
    assert run.returncode == 1, run.stdout + run.stderr
    [line] = [a for a in run.actions() if a["extension"] == "escape"]
    assert (line["action"], line["outcome"], line["error_reason"]) == ("install", "failed", "CatalogIndexInvalid")
    assert "charts/index.yaml: demo-agent 1.0.0: archive URL '../../outside.tgz' contains '..'" in line["error"]
    assert sandbox.helm("status", "escape", "-n", unique_name, check=False).returncode != 0
