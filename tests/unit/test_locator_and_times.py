"""Chart locators (how helm is told where a chart is) and helm's timestamps, as tables."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from controller.apply import chart_locator
from controller.catalog import ChartVersion
from controller.errors import InternalError
from controller.helm import ChartLocator
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
    (tmp_path / "charts" / "agent-1.2.0.tgz").write_bytes(b"archive")
    locator = chart_locator(ChartRef("charts", "agent"), "1.2.0", repo_root=tmp_path,
                            chart_versions=[ChartVersion("1.2.0", urls=("agent-1.2.0.tgz",))])
    assert (locator.ref, locator.version, locator.remote) == (str(tmp_path / "charts" / "agent-1.2.0.tgz"),
                                                              "1.2.0", False)
    assert locator.args() == [str(tmp_path / "charts" / "agent-1.2.0.tgz"), "--version", "1.2.0"]


def test_http_chart_is_a_remote_locator_helm_never_sees(tmp_path: Path) -> None:
    listed = ChartVersion("1.0.0", urls=("agent-1.0.0.tgz",), digest="ab" * 32)
    locator = chart_locator(ChartRef("https://charts.example/stable", "agent"), "1.0.0", repo_root=tmp_path,
                            chart_versions=[listed])
    assert (locator.ref, locator.repository, locator.urls, locator.digest, locator.remote) == (
        "agent", "https://charts.example/stable", ("agent-1.0.0.tgz",), "ab" * 32, True)
    # A remote chart must be downloaded by extctl first: helm gets no repository URL and no credential.
    with pytest.raises(InternalError, match="was not downloaded before running helm"):
        locator.args()


def test_chart_locators_have_no_place_for_credentials() -> None:
    names = {f.name for f in dataclasses.fields(ChartLocator)}
    assert names == {"ref", "version", "repository", "urls", "digest"}


@pytest.mark.parametrize("repository", ["oci://127.0.0.1:5000/charts", "oci://localhost:5000/charts/",
                                        "oci://registry.example/charts"])
def test_oci_chart_reference(tmp_path: Path, repository: str) -> None:
    locator = chart_locator(ChartRef(repository, "agent"), "2.0.0", repo_root=tmp_path)
    assert (locator.ref, locator.repository, locator.remote) == ("agent", repository, True)
