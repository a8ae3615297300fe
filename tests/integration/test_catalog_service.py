"""``CatalogService`` against real chart repositories (``chart_repo``) and a real OCI registry.

Owns: what the engine, previews and commands see through the service: one index request per
repository per TTL for all its charts (the server's request log proves it), revalidation after the
TTL, the last good copy served as *stale* (with its age and the error) when a repository fails, a
typed error and no versions when nothing good was ever read, ``versions()`` raising for one-shot
commands, ``lookup_many`` isolating failures, local repositories re-read on every lookup and never
stale, and OCI tag lists under the same TTL and stale rules.
Must not: mock HTTP, helm or the registry; sleep (the clock is a fake passed to the service).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.catalog import CatalogLookup, CatalogService, CredentialStore, RepoCredentials
from controller.catalog.credentials import Binding
from controller.errors import (
    CatalogAuthError,
    CatalogError,
    CatalogIndexInvalid,
    ChartNotFound,
    LocalRepositoryMissing,
)
from tests.integration.test_catalog_fetch import FakeClock
from tests.support.chart_repo import ChartRepo, RepoFactory
from tests.support.charts import DEFAULT_VERSIONS, ChartPackager
from tests.support.localnet import free_port
from tests.support.oci_registry import OciRegistry, unique_namespace

pytestmark = pytest.mark.integration

TTL = 60.0
NO_TREE = Path("/nonexistent")  # remote lookups never read the source tree


def new_service(clock: FakeClock, credentials: CredentialStore | None = None) -> CatalogService:
    return CatalogService(credentials=credentials, clock=clock, ttl_s=TTL)


def names(found: CatalogLookup) -> list[str]:
    return sorted(v.version for v in found.versions)


def index_statuses(repo: ChartRepo) -> list[int]:
    return [r.status for r in repo.requests_for("/index.yaml")]


def test_one_index_request_per_ttl_serves_every_chart_of_the_repository(chart_repo_factory: RepoFactory) -> None:
    repo = chart_repo_factory(versions=("1.0.0", "1.1.0"), charts=("demo-agent", "demo-web"))
    clock = FakeClock()
    catalog = new_service(clock)

    agent = catalog.lookup(repo.url, "demo-agent", repo_root=NO_TREE)
    assert (names(agent), agent.error, agent.stale_age_s, agent.available) == (["1.0.0", "1.1.0"], None, None, True)
    clock.advance(TTL - 1)
    assert names(catalog.lookup(repo.url, "demo-web", repo_root=NO_TREE)) == ["1.0.0", "1.1.0"]
    assert names(catalog.lookup(repo.url, "demo-agent", repo_root=NO_TREE)) == ["1.0.0", "1.1.0"]
    assert index_statuses(repo) == [200]  # within the TTL: no second request, whatever the chart

    repo.publish("1.2.0")
    clock.advance(2)  # past the TTL: revalidated, and the new version shows
    assert names(catalog.lookup(repo.url, "demo-agent", repo_root=NO_TREE)) == ["1.0.0", "1.1.0", "1.2.0"]
    clock.advance(TTL + 1)  # unchanged since: a 304 keeps the copy
    assert catalog.versions(repo.url, "demo-web", repo_root=NO_TREE)
    log = repo.requests_for("/index.yaml")
    assert [r.status for r in log] == [200, 200, 304]
    assert log[1].header("If-None-Match") and log[2].header("If-None-Match")


def test_repository_down_after_a_good_fetch_serves_the_last_good_copy_as_stale(chart_repo: ChartRepo) -> None:
    clock = FakeClock()
    catalog = new_service(clock)
    good = catalog.lookup(chart_repo.url, "demo-agent", repo_root=NO_TREE)
    assert names(good) == sorted(DEFAULT_VERSIONS)
    clock.advance(30)
    catalog.lookup(chart_repo.url, "demo-agent", repo_root=NO_TREE)  # served from the cache: confirms nothing

    chart_repo.stop()
    clock.advance(TTL - 30 + 1)
    stale = catalog.lookup(chart_repo.url, "demo-agent", repo_root=NO_TREE)
    assert stale.available and stale.stale and stale.versions == good.versions
    assert stale.stale_age_s == TTL + 1  # since the repository last confirmed the versions
    assert type(stale.error) is CatalogError and stale.error.transient
    assert str(stale.error).startswith(f"chart repository {chart_repo.url} is unreachable: ")
    clock.advance(10)  # every lookup tries the repository again; the copy only gets older
    assert catalog.lookup(chart_repo.url, "demo-agent", repo_root=NO_TREE).stale_age_s == TTL + 11
    assert catalog.versions(chart_repo.url, "demo-agent", repo_root=NO_TREE) == list(good.versions)

    chart_repo.start()
    back = catalog.lookup(chart_repo.url, "demo-agent", repo_root=NO_TREE)
    assert (back.versions, back.error, back.stale_age_s) == (good.versions, None, None)
    assert index_statuses(chart_repo) == [200, 304]


def test_repository_down_on_the_first_fetch_is_unavailable_and_versions_raises(chart_repo: ChartRepo) -> None:
    chart_repo.stop()
    catalog = new_service(FakeClock())
    found = catalog.lookup(chart_repo.url, "demo-agent", repo_root=NO_TREE)
    assert (found.versions, found.stale_age_s, found.available) == ((), None, False)
    assert type(found.error) is CatalogError and found.error.reason == "CatalogUnavailable"
    assert str(found.error).startswith(f"chart repository {chart_repo.url} is unreachable: ")
    with pytest.raises(CatalogError, match=f"chart repository {chart_repo.url} is unreachable"):
        catalog.versions(chart_repo.url, "demo-agent", repo_root=NO_TREE)


def test_credentials_are_the_services_and_never_shown(chart_repo_auth: ChartRepo) -> None:
    assert chart_repo_auth.auth is not None
    user, password = chart_repo_auth.auth
    store = CredentialStore([Binding("127.0.0.1", chart_repo_auth.port, (), RepoCredentials(user, password))])
    with_credentials = new_service(FakeClock(), store)
    assert names(with_credentials.lookup(chart_repo_auth.url, "demo-agent", repo_root=NO_TREE)) == sorted(
        DEFAULT_VERSIONS
    )
    without = new_service(FakeClock()).lookup(chart_repo_auth.url, "demo-agent", repo_root=NO_TREE)
    assert isinstance(without.error, CatalogAuthError) and not without.available
    assert "requires credentials" in str(without.error) and password not in str(without.error)


def test_a_broken_index_is_served_stale_but_a_dropped_chart_is_not(chart_repo_factory: RepoFactory) -> None:
    repo = chart_repo_factory(versions=("1.0.0",), charts=("demo-agent", "demo-web"))
    clock = FakeClock()
    catalog = new_service(clock)
    good = catalog.lookup(repo.url, "demo-agent", repo_root=NO_TREE)
    assert names(catalog.lookup(repo.url, "demo-web", repo_root=NO_TREE)) == ["1.0.0"]

    repo.write_index("apiVersion: v1\nentries: [broken\n")
    clock.advance(TTL + 1)
    broken = catalog.lookup(repo.url, "demo-agent", repo_root=NO_TREE)
    assert isinstance(broken.error, CatalogIndexInvalid) and "helm repo index" in str(broken.error)
    assert (broken.versions, broken.stale_age_s) == (good.versions, TTL + 1)

    repo.unpublish("1.0.0", chart="demo-agent")  # a valid index again, without demo-agent
    clock.advance(TTL + 1)
    dropped = catalog.lookup(repo.url, "demo-agent", repo_root=NO_TREE)
    assert isinstance(dropped.error, ChartNotFound) and "(charts: demo-web)" in str(dropped.error)
    assert (dropped.versions, dropped.stale_age_s, dropped.available) == ((), None, False)
    repo.stop()  # the dropped chart's old versions do not come back as stale either
    clock.advance(TTL + 1)
    assert not catalog.lookup(repo.url, "demo-agent", repo_root=NO_TREE).available
    assert catalog.lookup(repo.url, "demo-web", repo_root=NO_TREE).stale


def test_lookup_many_reads_each_repository_once_and_keeps_failures_apart(chart_repo_factory: RepoFactory) -> None:
    first = chart_repo_factory(versions=("1.0.0",), charts=("demo-agent", "demo-web"))
    second = chart_repo_factory(versions=("2.0.0",))
    down = f"http://127.0.0.1:{free_port()}"
    pairs = [(first.url, "demo-agent"), (first.url, "demo-web"), (second.url, "demo-agent"), (down, "demo-agent"),
             (first.url, "demo-agent")]
    found = new_service(FakeClock()).lookup_many(pairs, repo_root=NO_TREE)
    assert {pair: names(lookup) for pair, lookup in found.items()} == {
        (first.url, "demo-agent"): ["1.0.0"], (first.url, "demo-web"): ["1.0.0"],
        (second.url, "demo-agent"): ["2.0.0"], (down, "demo-agent"): [],
    }
    failed = found[(down, "demo-agent")]
    assert not failed.available and f"chart repository {down} is unreachable" in str(failed.error)
    assert (index_statuses(first), index_statuses(second)) == ([200], [200])


def test_local_repositories_are_read_on_every_lookup_and_never_stale(
    tmp_path: Path, chart_packager: ChartPackager
) -> None:
    charts = tmp_path / "charts"
    chart_packager.build_repo(charts, ["0.1.0"], charts=["demo-web"])
    catalog = new_service(FakeClock())
    assert names(catalog.lookup("charts", "demo-web", repo_root=tmp_path)) == ["0.1.0"]

    chart_packager.package_into(charts, "demo-web", "0.2.0")
    chart_packager.index(charts)  # a new revision of the source, within the TTL
    assert names(catalog.lookup("charts", "demo-web", repo_root=tmp_path)) == ["0.1.0", "0.2.0"]

    (charts / "index.yaml").unlink()
    missing = catalog.lookup("charts", "demo-web", repo_root=tmp_path)
    assert isinstance(missing.error, LocalRepositoryMissing) and (missing.versions, missing.stale_age_s) == ((), None)
    with pytest.raises(LocalRepositoryMissing, match=r"has no index\.yaml"):
        catalog.versions("charts", "demo-web", repo_root=tmp_path)


def test_oci_tag_lists_are_cached_for_the_ttl(oci_registry: OciRegistry) -> None:
    ns = unique_namespace()
    oci_registry.push("1.0.0", namespace=ns)
    reference = oci_registry.reference(ns)
    clock = FakeClock()
    catalog = new_service(clock)
    assert names(catalog.lookup(reference, "demo-agent", repo_root=NO_TREE)) == ["1.0.0"]

    oci_registry.push("1.1.0", namespace=ns)
    clock.advance(TTL - 1)  # the cached tag list still answers
    assert names(catalog.lookup(reference, "demo-agent", repo_root=NO_TREE)) == ["1.0.0"]
    clock.advance(2)
    assert names(catalog.lookup(reference, "demo-agent", repo_root=NO_TREE)) == ["1.0.0", "1.1.0"]


def test_oci_registry_down_serves_the_last_good_tags_as_stale(tmp_path: Path, chart_packager: ChartPackager) -> None:
    registry = OciRegistry(tmp_path, chart_packager)  # its own registry: this test stops it
    try:
        registry.push("1.0.0")
        clock = FakeClock()
        catalog = new_service(clock)
        assert names(catalog.lookup(registry.reference(), "demo-agent", repo_root=NO_TREE)) == ["1.0.0"]
        registry.stop()
        clock.advance(TTL + 5)
        stale = catalog.lookup(registry.reference(), "demo-agent", repo_root=NO_TREE)
        assert (names(stale), stale.stale_age_s) == (["1.0.0"], TTL + 5)
        assert stale.error is not None and "OCI registry for oci://" in str(stale.error)
        assert "is unreachable" in str(stale.error)

        cold = new_service(clock).lookup(registry.reference(), "demo-agent", repo_root=NO_TREE)
        assert (cold.versions, cold.stale_age_s, cold.available) == ((), None, False)
        assert type(cold.error) is CatalogError
    finally:
        registry.close()
