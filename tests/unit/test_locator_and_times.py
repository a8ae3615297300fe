"""Chart locators (how helm is told where a chart is) and helm's timestamps, as tables."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from controller.apply import chart_locator
from controller.catalog import ChartVersion, RepoCredentials
from controller.models.manifests import ChartRef
from controller.observe import parse_helm_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24 01:38:02.213926339 +0000 UTC", datetime.datetime(2026, 11, 24, 1, 38, 2, 213926, datetime.UTC)),
        ("2026-11-24 03:38:02 +0200 EET", datetime.datetime(2026, 11, 24, 1, 38, 2, tzinfo=datetime.UTC)),
        ("2026-11-24T01:38:02Z", datetime.datetime(2026, 11, 24, 1, 38, 2, tzinfo=datetime.UTC)),
        ("", None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_parse_helm_time(text: str | None, expected: datetime.datetime | None) -> None:
    parsed = parse_helm_time(text)
    assert parsed == (expected.timestamp() if expected else None)


def test_local_chart_uses_the_index_url(tmp_path: Path) -> None:
    (tmp_path / "charts").mkdir()
    locator = chart_locator(ChartRef("charts", "agent"), "1.2.0", repo_root=tmp_path,
                            chart_versions=[ChartVersion("1.2.0", urls=("agent-1.2.0.tgz",))])
    assert (locator.ref, locator.version, locator.repo_url) == (str(tmp_path / "charts" / "agent-1.2.0.tgz"),
                                                                "1.2.0", None)


def test_http_chart_moves_userinfo_out_of_the_url(tmp_path: Path) -> None:
    locator = chart_locator(ChartRef("https://bob:s3cret@charts.example/stable", "agent"), "1.0.0",
                            repo_root=tmp_path)
    assert locator.repo_url == "https://charts.example/stable"
    assert (locator.username, locator.password) == ("bob", "s3cret")
    assert "s3cret" not in repr(locator)


def test_http_chart_takes_environment_credentials(tmp_path: Path) -> None:
    locator = chart_locator(ChartRef("https://charts.example", "agent"), "1.0.0", repo_root=tmp_path,
                            credentials=RepoCredentials(username="ci", password="pw-123"))
    assert locator.args() == ["agent", "--version", "1.0.0", "--repo", "https://charts.example",
                              "--username", "ci", "--password", "pw-123"]


@pytest.mark.parametrize(("repository", "plain_http"), [
    ("oci://127.0.0.1:5000/charts", True),
    ("oci://localhost:5000/charts/", True),
    ("oci://registry.example/charts", False),
])
def test_oci_chart_reference(tmp_path: Path, repository: str, plain_http: bool) -> None:
    locator = chart_locator(ChartRef(repository, "agent"), "2.0.0", repo_root=tmp_path)
    assert locator.ref == repository.rstrip("/") + "/agent"
    assert locator.plain_http is plain_http
