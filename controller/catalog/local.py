"""Local-directory chart repositories: ``index.yaml`` plus ``.tgz`` files inside the source tree.

Owns: reading such a repository (offline and air-gapped use) given the source root and the
ExtensionType's relative ``repository`` path, and locating a version's archive. Must not: follow a
path outside the source root, fetch over the network, or resolve versions.
"""

from __future__ import annotations

from pathlib import Path

from controller.catalog.index import ChartVersion, parse_index
from controller.errors import ChartNotFound, LocalRepositoryMissing

INDEX_FILE = "index.yaml"


def local_repository_dir(repo_root: Path, repository: str) -> Path:
    """The repository directory; refuses paths that leave ``repo_root``."""
    root = repo_root.resolve()
    directory = (root / repository).resolve()
    if not directory.is_relative_to(root):
        raise LocalRepositoryMissing(
            f"local chart repository {repository!r} points outside the source root",
            hint="use a path relative to the repository root without '..'",
        )
    return directory


def fetch_local_index(repo_root: Path, repository: str, chart: str) -> list[ChartVersion]:
    """Every version of ``chart`` listed in ``<repo_root>/<repository>/index.yaml``."""
    directory = local_repository_dir(repo_root, repository)
    index_path = directory / INDEX_FILE
    try:
        text = index_path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise LocalRepositoryMissing(
            f"local chart repository {repository!r} has no {INDEX_FILE}",
            hint=f"run 'helm repo index {repository}' and commit the result",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalRepositoryMissing(f"cannot read {repository}/{INDEX_FILE}: {exc}") from exc
    charts = parse_index(text, f"{repository.rstrip('/')}/{INDEX_FILE}")
    if chart not in charts:
        known = ", ".join(sorted(charts)) or "none"
        raise ChartNotFound(f"chart {chart!r} is not in local repository {repository!r} (charts: {known})")
    return charts[chart]


def local_chart_archive(repo_root: Path, repository: str, chart_version: ChartVersion) -> Path:
    """The ``.tgz`` of ``chart_version`` inside the local repository (its first relative URL)."""
    directory = local_repository_dir(repo_root, repository)
    for url in chart_version.urls:
        if "://" not in url:
            archive = (directory / url).resolve()
            if archive.is_relative_to(directory) and archive.is_file():
                return archive
    raise ChartNotFound(
        f"version {chart_version.version} has no archive inside local repository {repository!r}",
        hint="re-run 'helm package' and 'helm repo index' for this chart",
    )
