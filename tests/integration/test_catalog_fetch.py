"""Catalog fetchers against the real ``chart_repo`` and ``oci_registry`` fixtures.

Owns: what a user of ``controller.catalog.fetch_versions`` notices: the versions listed, conditional
GET after the TTL (proved by the server's request log), basic/bearer credentials from the
credentials file or the ``EXTCTL_REPO_HOST`` form, every failure class with a message that names the repository without
credentials, the OCI tags list with basic auth and the token flow, ``_`` -> ``+`` and non-SemVer
tags. A few pure checks (URL sanitising, credential parsing) run without servers.
Must not: mock HTTP, helm or the registry; sleep (the TTL clock is a fake passed to ``IndexCache``).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from controller.catalog import (
    CredentialStore,
    IndexCache,
    RepoCredentials,
    fetch_versions,
    load_credentials,
    repository_kind,
    sanitize_url,
)
from controller.catalog.credentials import Binding
from controller.catalog.oci import list_tags, oci_repository, parse_challenge
from controller.errors import (
    CatalogAuthError,
    CatalogError,
    CatalogIndexInvalid,
    CatalogRepositoryNotFound,
    ChartNotFound,
    CredentialsInvalid,
)
from tests.support.chart_repo import ChartRepo
from tests.support.charts import DEFAULT_VERSIONS, ChartPackager
from tests.support.localnet import free_port
from tests.support.oci_registry import OciRegistry, unique_namespace


class FakeClock:
    """Seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bound(creds: RepoCredentials, host: str = "127.0.0.1", port: int | None = None) -> CredentialStore:
    """A store binding ``creds`` to ``host`` (every port unless ``port``)."""
    return CredentialStore([Binding(host, port, (), creds, origin="test")])


def versions(repository: str, chart: str = "demo-agent", **kwargs: object) -> list[str]:
    found = fetch_versions(repository, chart, repo_root=Path("/nonexistent"), **kwargs)  # type: ignore[arg-type]
    return [v.version for v in found]


# --- pure helpers (no servers) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("https://user:pa55@charts.example.com/stable", "https://charts.example.com/stable"),
        ("http://tok@127.0.0.1:8080/", "http://127.0.0.1:8080/"),
        ("oci://u:p@registry.example.com:5000/charts", "oci://registry.example.com:5000/charts"),
        ("https://blob.example.com/c?sig=abc123&sv=2020", "https://blob.example.com/c?sig=***&sv=2020"),
        ("charts/local", "charts/local"),
    ],
)
def test_sanitize_url_drops_userinfo_and_secret_query_values(raw: str, shown: str) -> None:
    assert sanitize_url(raw) == shown


def test_credentials_never_show_in_repr_and_come_from_env_or_files(tmp_path: Path) -> None:
    creds = RepoCredentials(username="bob", password="hunter2-pw")
    assert "hunter2-pw" not in repr(creds) and "hunter2-pw" not in creds.describe()

    (tmp_path / "password").write_text("from-file-pw\n")
    from_files = load_credentials(environ={"EXTCTL_REPO_HOST": "charts.example", "EXTCTL_REPO_USERNAME": "bob",
                                           "EXTCTL_REPO_PASSWORD_FILE": str(tmp_path / "password")})
    assert from_files.for_url("https://charts.example/index.yaml") == RepoCredentials("bob", "from-file-pw")
    assert from_files.for_url("https://elsewhere.example/index.yaml") is None
    token = load_credentials(environ={"EXTCTL_REPO_HOST": "charts.example", "EXTCTL_REPO_TOKEN": "t0ken"})
    assert token.for_url("https://charts.example/x") == RepoCredentials(token="t0ken")
    assert not load_credentials(environ={})

    with pytest.raises(CredentialsInvalid, match="both EXTCTL_REPO_PASSWORD and EXTCTL_REPO_PASSWORD_FILE") as err:
        load_credentials(environ={"EXTCTL_REPO_HOST": "h", "EXTCTL_REPO_USERNAME": "bob",
                                  "EXTCTL_REPO_PASSWORD": "x-secret", "EXTCTL_REPO_PASSWORD_FILE": "/f"})
    assert "x-secret" not in str(err.value)
    with pytest.raises(CredentialsInvalid, match=r"EXTCTL_REPO_TOKEN_FILE.*cannot read /no/such/file"):
        load_credentials(environ={"EXTCTL_REPO_HOST": "h", "EXTCTL_REPO_TOKEN_FILE": "/no/such/file"})


def test_oci_reference_parsing_and_challenges() -> None:
    local = oci_repository("oci://127.0.0.1:5000/charts", "demo-agent")
    assert (local.base_url, local.name) == ("http://127.0.0.1:5000", "charts/demo-agent")
    remote = oci_repository("oci://ghcr.io/org/charts/", "demo-agent")
    assert (remote.base_url, remote.name, remote.display) == (
        "https://ghcr.io", "org/charts/demo-agent", "oci://ghcr.io/org/charts/demo-agent"
    )
    with pytest.raises(CatalogAuthError, match=r"oci://ghcr\.io/org is written with credentials") as userinfo:
        oci_repository("oci://user:pw-secret@ghcr.io/org", "demo-agent")
    assert "pw-secret" not in str(userinfo.value)
    assert oci_repository("oci://reg.example.com/charts", "x", plain_http=True).base_url == "http://reg.example.com"
    assert parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"') == (
        "bearer", {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull"}
    )
    assert [repository_kind(r) for r in ("https://x", "HTTP://x", "oci://x/y", "charts")] == [
        "http", "http", "oci", "local"
    ]


# --- HTTP chart repositories ------------------------------------------------------------------

integration = pytest.mark.integration


@integration
def test_http_repository_lists_every_version(chart_repo: ChartRepo) -> None:
    assert sorted(versions(chart_repo.url)) == sorted(DEFAULT_VERSIONS)
    assert sorted(versions(chart_repo.url + "/")) == sorted(DEFAULT_VERSIONS)


@integration
def test_http_index_is_cached_for_ttl_then_revalidated_with_304(chart_repo: ChartRepo) -> None:
    clock = FakeClock()
    cache = IndexCache(clock=clock, ttl_seconds=60)

    first = versions(chart_repo.url, cache=cache)
    clock.advance(30)
    assert versions(chart_repo.url, cache=cache) == first
    assert [r.status for r in chart_repo.requests_for("/index.yaml")] == [200]  # fresh: no request at all

    clock.advance(31)  # past the TTL: a conditional GET, answered 304, reuses the cached index
    assert versions(chart_repo.url, cache=cache) == first
    log = chart_repo.requests_for("/index.yaml")
    assert [r.status for r in log] == [200, 304]
    assert log[1].header("If-None-Match") and log[1].header("If-Modified-Since")

    clock.advance(30)  # the 304 made the entry fresh again
    versions(chart_repo.url, cache=cache)
    assert len(chart_repo.requests_for("/index.yaml")) == 2

    chart_repo.publish("2.1.0")
    clock.advance(31)
    assert "2.1.0" in versions(chart_repo.url, cache=cache)
    assert [r.status for r in chart_repo.requests_for("/index.yaml")] == [200, 304, 200]


@integration
def test_http_basic_auth_with_credentials_from_env_files(chart_repo_auth: ChartRepo, tmp_path: Path) -> None:
    assert chart_repo_auth.auth is not None
    user, password = chart_repo_auth.auth
    (tmp_path / "pw").write_text(password + "\n")
    creds = load_credentials(environ={"EXTCTL_REPO_HOST": f"127.0.0.1:{chart_repo_auth.port}",
                                      "EXTCTL_REPO_USERNAME": user, "EXTCTL_REPO_PASSWORD_FILE": str(tmp_path / "pw")})
    with capture_logs() as logs:
        assert sorted(versions(chart_repo_auth.url, credentials=creds)) == sorted(DEFAULT_VERSIONS)
    assert password not in repr(logs)


@integration
def test_http_missing_or_wrong_credentials_raise_auth_error_without_secrets(chart_repo_auth: ChartRepo) -> None:
    assert chart_repo_auth.auth is not None
    user, password = chart_repo_auth.auth
    with pytest.raises(CatalogAuthError) as missing:
        versions(chart_repo_auth.url)
    assert f"chart repository {chart_repo_auth.url} requires credentials (HTTP 401" in str(missing.value)
    assert "EXTCTL_REPO_HOST" in str(missing.value) and "--repo-credentials" in str(missing.value)
    assert not missing.value.transient

    with pytest.raises(CatalogAuthError) as wrong:
        versions(chart_repo_auth.url, credentials=bound(RepoCredentials(username=user, password="not-" + password)))
    assert f"chart repository {chart_repo_auth.url} rejected basic credentials for user '{user}'" in str(wrong.value)
    assert password not in str(wrong.value)


@integration
def test_http_credentials_in_the_url_are_refused_and_never_shown(chart_repo_auth: ChartRepo) -> None:
    assert chart_repo_auth.auth is not None
    password = chart_repo_auth.auth[1]
    url = chart_repo_auth.url_with_credentials()
    assert password in url
    with pytest.raises(CatalogAuthError) as refused:
        versions(url)
    assert password not in str(refused.value)
    assert f"chart repository {chart_repo_auth.url} is written with credentials in its URL" in str(refused.value)
    assert chart_repo_auth.requests == []  # refused before any request


@integration
def test_http_repository_down_is_a_transient_error_naming_the_url(chart_repo: ChartRepo) -> None:
    clock = FakeClock()
    cache = IndexCache(clock=clock, ttl_seconds=60)
    versions(chart_repo.url, cache=cache)
    chart_repo.stop()

    clock.advance(61)  # the cached copy is stale; a repository that is down is reported, not papered over
    with pytest.raises(CatalogError) as down:
        versions(chart_repo.url, cache=cache)
    assert type(down.value) is CatalogError and down.value.transient
    assert str(down.value).startswith(f"chart repository {chart_repo.url} is unreachable: ")
    assert "Connection refused" in str(down.value)

    chart_repo.start()
    assert len(versions(chart_repo.url, cache=cache)) == len(DEFAULT_VERSIONS)


@integration
def test_http_malformed_index_raises_index_invalid_with_location(chart_repo: ChartRepo) -> None:
    chart_repo.write_index("apiVersion: v1\nentries:\n  demo-agent: [\n    {version: 1.0.0\n")
    with pytest.raises(CatalogIndexInvalid) as broken:
        versions(chart_repo.url)
    message = str(broken.value)
    assert message.startswith(f"{chart_repo.url}/index.yaml:")
    assert "malformed index.yaml" in message and "helm repo index" in message

    chart_repo.write_index("apiVersion: v1\nentries:\n  demo-agent: not-a-list\n")
    with pytest.raises(CatalogIndexInvalid, match=r"entries\.demo-agent must be a list"):
        versions(chart_repo.url)


@integration
def test_http_missing_chart_or_repository_path(chart_repo: ChartRepo) -> None:
    with pytest.raises(ChartNotFound, match=r"chart 'nope' is not in chart repository .* \(charts: demo-agent\)"):
        versions(chart_repo.url, chart="nope")
    with pytest.raises(CatalogRepositoryNotFound, match=r"chart repository http://127\.0\.0\.1:\d+/wrong has no index"):
        versions(chart_repo.url + "/wrong")


@integration
def test_local_repositories_dispatch_to_the_local_reader(tmp_path: Path, chart_packager: ChartPackager) -> None:
    chart_packager.build_repo(tmp_path / "charts", ["0.1.0", "0.2.0-preview.1"], charts=["demo-web"])
    found = fetch_versions("charts", "demo-web", repo_root=tmp_path)
    assert sorted(v.version for v in found) == ["0.1.0", "0.2.0-preview.1"]


# --- OCI registries ---------------------------------------------------------------------------


def _retag(registry: OciRegistry, name: str, tag: str, new_tag: str) -> None:
    """Give an existing manifest another tag through the distribution API (like ``crane tag``)."""
    accept = "application/vnd.oci.image.manifest.v1+json"
    get = urllib.request.Request(f"{registry.url}/v2/{name}/manifests/{tag}", headers={"Accept": accept})  # noqa: S310 - http://127.0.0.1 test registry
    with urllib.request.urlopen(get, timeout=10) as resp:  # noqa: S310 - http://127.0.0.1 test registry
        manifest, media_type = resp.read(), resp.headers["Content-Type"]
    put = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 test registry
        f"{registry.url}/v2/{name}/manifests/{new_tag}", data=manifest, method="PUT",
        headers={"Content-Type": media_type},
    )
    with urllib.request.urlopen(put, timeout=10) as resp:  # noqa: S310 - http://127.0.0.1 test registry
        assert resp.status == 201


@integration
def test_oci_versions_from_tags_map_underscore_to_plus_and_skip_non_semver(oci_registry: OciRegistry) -> None:
    ns = unique_namespace()
    oci_registry.push_many(["1.0.0", "1.2.0-preview.10", "1.2.0-preview.2", "1.3.0+build.5"], namespace=ns)
    _retag(oci_registry, f"{ns}/demo-agent", "1.0.0", "latest")
    assert sorted(oci_registry.tags(f"{ns}/demo-agent")) == [
        "1.0.0", "1.2.0-preview.10", "1.2.0-preview.2", "1.3.0_build.5", "latest"
    ]
    assert versions(oci_registry.reference(ns)) == ["1.0.0", "1.2.0-preview.2", "1.2.0-preview.10", "1.3.0+build.5"]


@integration
def test_oci_tags_list_follows_pagination(oci_registry: OciRegistry) -> None:
    ns = unique_namespace()
    oci_registry.push_many(["1.0.0", "1.1.0", "2.0.0"], namespace=ns)
    assert sorted(list_tags(oci_registry.reference(ns), "demo-agent", page_size=2)) == ["1.0.0", "1.1.0", "2.0.0"]


@integration
def test_oci_missing_repository_and_registry_down(oci_registry: OciRegistry) -> None:
    with pytest.raises(ChartNotFound, match=r"OCI repository oci://127\.0\.0\.1:\d+/nothing-here/demo-agent does not"):
        versions(oci_registry.reference("nothing-here"))
    port = free_port()
    with pytest.raises(CatalogError, match=rf"OCI registry for oci://127\.0\.0\.1:{port}/charts/demo-agent is unreach"):
        versions(f"oci://127.0.0.1:{port}/charts")


@integration
def test_oci_basic_auth(oci_registry_auth: OciRegistry) -> None:
    assert oci_registry_auth.credentials is not None
    user, password = oci_registry_auth.credentials
    ns = unique_namespace()
    oci_registry_auth.push_many(["0.9.0", "1.0.0"], namespace=ns)
    repository = oci_registry_auth.reference(ns)

    creds = load_credentials(environ={"EXTCTL_REPO_HOST": oci_registry_auth.host, "EXTCTL_REPO_USERNAME": user,
                                      "EXTCTL_REPO_PASSWORD": password})
    assert versions(repository, credentials=creds) == ["0.9.0", "1.0.0"]

    with pytest.raises(CatalogAuthError, match="requires credentials and none were given"):
        versions(repository)
    with pytest.raises(CatalogAuthError, match=f"rejected basic credentials for user '{user}'") as wrong:
        versions(repository, credentials=bound(RepoCredentials(username=user, password="wrong-" + password)))
    assert password not in str(wrong.value)


@integration
def test_oci_token_flow(oci_registry_token: OciRegistry) -> None:
    assert oci_registry_token.credentials is not None and oci_registry_token.token_server is not None
    user, password = oci_registry_token.credentials
    ns = unique_namespace()
    oci_registry_token.push_many(["1.0.0", "1.1.0-rc.1"], namespace=ns)
    repository = oci_registry_token.reference(ns)

    with capture_logs() as logs:
        assert versions(repository, credentials=bound(RepoCredentials(username=user, password=password))) == [
            "1.0.0", "1.1.0-rc.1"
        ]
    assert password not in json.dumps(logs, default=str)
    last = oci_registry_token.token_server.requests[-1]
    assert (last.scopes, last.user, last.status) == ((f"repository:{ns}/demo-agent:pull",), user, 200)

    with pytest.raises(CatalogAuthError, match=r"requires credentials and none were given"):
        versions(repository)
    with pytest.raises(CatalogAuthError, match=rf"OCI registry for oci://127\.0\.0\.1:\d+/{ns}/demo-agent rejected"):
        versions(repository, credentials=bound(RepoCredentials(username=user, password="bad-" + password)))
