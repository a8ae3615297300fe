"""Chart repository index parsing and local-directory repositories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controller.catalog.index import ChartVersion, parse_index
from controller.catalog.local import fetch_local_index, local_chart_archive
from controller.errors import CatalogIndexInvalid, ChartNotFound, LocalRepositoryMissing

SAMPLE_REPO = Path(__file__).resolve().parents[2] / "sample-repo"

INDEX = """\
apiVersion: v1
entries:
  contoso-monitoring:
  - apiVersion: v2
    created: "2026-01-01T00:00:00.123456789Z"
    digest: abc123
    name: contoso-monitoring
    urls:
    - contoso-monitoring-1.1.0.tgz
    version: 1.1.0
  - created: 2026-01-01T00:00:00Z
    name: contoso-monitoring
    urls: [https://charts.example/contoso-monitoring-1.0.0.tgz]
    version: 1.0.0
  contoso-policy: []
generated: "2026-01-01T00:00:00Z"
"""


def test_parse_index_lists_versions_per_chart() -> None:
    charts = parse_index(INDEX, "charts/index.yaml")
    assert charts == {
        "contoso-monitoring": [
            ChartVersion(
                version="1.1.0",
                urls=("contoso-monitoring-1.1.0.tgz",),
                digest="abc123",
                created="2026-01-01T00:00:00.123456789Z",
            ),
            ChartVersion(
                version="1.0.0",
                urls=("https://charts.example/contoso-monitoring-1.0.0.tgz",),
                digest=None,
                created="2026-01-01T00:00:00+00:00",
            ),
        ],
        "contoso-policy": [],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: v1\nentries:\n  demo: [\n",
            "https://charts.example/index.yaml:4:1: malformed index.yaml: expected the node content",
        ),
        ("- just a list\n", "charts.example/index.yaml: malformed index.yaml: expected a mapping with 'entries'"),
        ("<html>down for maintenance</html>\n", "expected a mapping with 'entries'"),
        ("entries:\n  demo: {version: 1.0.0}\n", "entries.demo must be a list"),
        ("entries:\n  demo:\n  - name: demo\n", "entries.demo[0] has no version"),
        ("entries:\n  demo:\n  - version: 1.0.0\n    urls: x.tgz\n", "entries.demo[0].urls must be a list"),
    ],
    ids=["syntax", "not-a-mapping", "html", "entry-not-list", "missing-version", "urls-not-list"],
)
def test_malformed_index_is_a_located_permanent_error(text: str, message: str) -> None:
    with pytest.raises(CatalogIndexInvalid) as raised:
        parse_index(text, "https://charts.example/index.yaml")
    assert message in str(raised.value)
    assert raised.value.transient is False


def test_empty_index_has_no_charts() -> None:
    assert parse_index("apiVersion: v1\nentries:\n", "index.yaml") == {}


def test_fetch_local_index_reads_the_sample_repository() -> None:
    versions = fetch_local_index(SAMPLE_REPO, "charts", "contoso-backup")
    assert sorted(v.version for v in versions) == ["1.0.0", "1.0.1", "1.1.0-preview.10", "1.1.0-preview.2"]
    assert all(v.digest and len(v.digest) == 64 for v in versions)
    archive = local_chart_archive(SAMPLE_REPO, "charts", versions[0])
    assert archive.name == f"contoso-backup-{versions[0].version}.tgz"
    assert archive.is_file()


def test_unknown_chart_lists_the_charts_in_the_repository() -> None:
    with pytest.raises(ChartNotFound) as raised:
        fetch_local_index(SAMPLE_REPO, "charts", "contoso-nope")
    assert str(raised.value) == (
        "chart 'contoso-nope' is not in local repository 'charts' "
        "(charts: contoso-backup, contoso-certs, contoso-monitoring, contoso-policy)"
    )


def test_missing_local_repository_says_how_to_fix(tmp_path: Path) -> None:
    (tmp_path / "charts").mkdir()
    with pytest.raises(LocalRepositoryMissing) as raised:
        fetch_local_index(tmp_path, "charts", "demo")
    assert str(raised.value) == (
        "local chart repository 'charts' has no index.yaml: looked for charts/index.yaml (a local chart repository "
        "path is relative to the manifests directory (--source joined with --path), without '..'; manifests "
        "directory: .) (hint: fix spec.chart.repository, or run 'helm repo index charts' and commit the result)"
    )


def test_a_local_repository_is_relative_to_the_manifests_directory(tmp_path: Path) -> None:
    """--path clusters/prod: 'charts' is clusters/prod/charts, not the source root's charts; the error says
    where it looked and the rule; a symlink out of the source root is refused."""
    manifests = tmp_path / "src" / "clusters" / "prod"
    manifests.mkdir(parents=True)
    shutil.copytree(SAMPLE_REPO / "charts", tmp_path / "src" / "charts")
    with pytest.raises(LocalRepositoryMissing) as raised:
        fetch_local_index(tmp_path / "src", "charts", "contoso-certs", manifest_root=manifests)
    assert "looked for clusters/prod/charts/index.yaml" in str(raised.value)
    assert "relative to the manifests directory (--source joined with --path), without '..'" in str(raised.value)
    assert "manifests directory: clusters/prod" in str(raised.value)
    shutil.copytree(SAMPLE_REPO / "charts", manifests / "charts")
    found = fetch_local_index(tmp_path / "src", "charts", "contoso-certs", manifest_root=manifests)
    assert {v.version for v in found} == {"1.0.0", "1.1.0", "1.2.0-beta.1"}
    (manifests / "outside").symlink_to(tmp_path)
    with pytest.raises(LocalRepositoryMissing, match="points outside the source root"):
        fetch_local_index(tmp_path / "src", "outside", "contoso-certs", manifest_root=manifests)


def test_local_repository_cannot_leave_the_source_root(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "index.yaml").write_text("entries: {}\n", encoding="utf-8")
    with pytest.raises(LocalRepositoryMissing, match="points outside the source root"):
        fetch_local_index(root, "..", "demo")


def test_malformed_local_index_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "charts").mkdir()
    (tmp_path / "charts" / "index.yaml").write_text("entries:\n  demo: [\n", encoding="utf-8")
    with pytest.raises(CatalogIndexInvalid, match=r"^charts/index\.yaml:3:1: malformed index\.yaml"):
        fetch_local_index(tmp_path, "charts", "demo")


def test_archive_outside_the_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "charts").mkdir()
    (tmp_path / "evil.tgz").write_bytes(b"")
    with pytest.raises(CatalogIndexInvalid, match=r"^charts/index\.yaml: demo 1\.0\.0: archive URL '\.\./evil\.tgz' "
                                                  r"contains '\.\.'"):
        local_chart_archive(tmp_path, "charts", ChartVersion(version="1.0.0", urls=("../evil.tgz",)), chart="demo")


def test_a_large_index_reads_the_same_through_libyaml_and_yaml_1_2() -> None:
    """A helm-written index of 500 versions (the fast path) gives what the pure-Python YAML 1.2 reader gives:
    unquoted timestamps as datetimes, ``1.10`` as a number (so ``1.1``), ``on`` as a string, ``0o17`` octal."""
    lines = ["apiVersion: v1", "entries:", "  demo:"]
    for i in range(500):
        lines += [f"  - created: 2026-01-01T00:00:{i % 60:02d}Z", f"    digest: {'0o17' if i == 7 else 'on'}",
                  "    urls:", f"    - demo-{i}.tgz", f"    version: {'1.10' if i == 0 else f'1.{i}.0'}"]
    charts = parse_index("\n".join(lines) + "\n", "index.yaml")
    versions = charts["demo"]
    assert len(versions) == 500
    assert versions[0] == ChartVersion("1.1", ("demo-0.tgz",), "on", "2026-01-01T00:00:00+00:00")
    assert versions[7].digest == "15"
    assert versions[499] == ChartVersion("1.499.0", ("demo-499.tgz",), "on", "2026-01-01T00:00:19+00:00")


def test_an_index_libyaml_declines_or_fails_on_is_still_read_and_errors_are_located() -> None:
    tabbed = "apiVersion: v1\nentries:\n  demo:\n  - version: 1.0.0\n    description: \"a\tb\"\n"
    assert parse_index(tabbed, "index.yaml") == {"demo": [ChartVersion("1.0.0")]}
    with pytest.raises(CatalogIndexInvalid, match=r"^index.yaml:5:1: malformed index.yaml: expected ',' or ']'"):
        parse_index("entries:\n  demo:\n  - version: 1\n    urls: [a, b\n", "index.yaml")
