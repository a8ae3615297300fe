"""Local-directory chart repositories: ``index.yaml`` plus ``.tgz`` files inside the source tree.

Owns: reading such a repository (offline and air-gapped use) given the source root and the
ExtensionType's relative ``repository`` path, and locating a version's archive, confined to the
repository directory (absolute URLs, ``..`` and symlinks out are refused with a located error).
The one rule every command follows (``LOCAL_RULE``): a local repository path is relative to the
manifests directory (``--source`` joined with ``--path``), without ``..`` (validation refuses it; a
symlink that leaves the source root is refused here); a wrong path is reported with that rule and the
directory it resolved to.
Must not: follow a path outside the source root or the repository directory, fetch over the
network, or resolve versions.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from controller.catalog.index import ChartVersion, parse_index
from controller.errors import CatalogIndexInvalid, ChartNotFound, LocalRepositoryMissing

INDEX_FILE = "index.yaml"


LOCAL_RULE = ("a local chart repository path is relative to the manifests directory (--source joined with "
              "--path), without '..'")


def _shown(path: Path, root: Path) -> str:
    """``path`` relative to the source root (``.`` for the root itself), as messages show it."""
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def local_repository_dir(repo_root: Path, repository: str, *, manifest_root: Path | None = None) -> Path:
    """The repository directory: ``repository`` joined to ``manifest_root`` (default: ``repo_root``);
    refuses paths that leave ``repo_root``."""
    root = repo_root.resolve()
    base = (manifest_root or repo_root).resolve()
    directory = (base / repository).resolve()
    if not directory.is_relative_to(root):
        raise LocalRepositoryMissing(
            f"local chart repository {repository!r} points outside the source root ({LOCAL_RULE}; "
            f"manifests directory: {_shown(base, root)})",
            hint="use a path inside the source, without '..' past its root",
        )
    return directory


def fetch_local_index(repo_root: Path, repository: str, chart: str, *,
                      manifest_root: Path | None = None) -> list[ChartVersion]:
    """Every version of ``chart`` listed in ``<manifest_root>/<repository>/index.yaml``."""
    directory = local_repository_dir(repo_root, repository, manifest_root=manifest_root)
    index_path = directory / INDEX_FILE
    root = repo_root.resolve()
    shown = _shown(index_path, root)
    try:
        text = index_path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        base = _shown((manifest_root or repo_root).resolve(), root)
        raise LocalRepositoryMissing(
            f"local chart repository {repository!r} has no {INDEX_FILE}: looked for {shown} ({LOCAL_RULE}; "
            f"manifests directory: {base})",
            hint=f"fix spec.chart.repository, or run 'helm repo index {_shown(directory, root)}' and commit the result",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalRepositoryMissing(f"cannot read {shown}: {exc}") from exc
    charts = parse_index(text, f"{repository.rstrip('/')}/{INDEX_FILE}")
    if chart not in charts:
        known = ", ".join(sorted(charts)) or "none"
        raise ChartNotFound(f"chart {chart!r} is not in local repository {repository!r} (charts: {known})")
    return charts[chart]


def local_chart_archive(repo_root: Path, repository: str, chart_version: ChartVersion, *,
                        chart: str | None = None, manifest_root: Path | None = None) -> Path:
    """The ``.tgz`` of ``chart_version`` inside the local repository: its first index URL (helm's rule),
    or ``<chart>-<version>.tgz`` when the index lists none. A URL that is absolute (a path or a URL with
    a scheme), contains ``..`` or resolves outside the repository directory (symlinks followed) is
    refused with ``CatalogIndexInvalid`` naming the index, chart and version, before anything is read."""
    directory = local_repository_dir(repo_root, repository, manifest_root=manifest_root)
    name = chart or "chart"
    where = f"{repository.rstrip('/')}/{INDEX_FILE}: {name} {chart_version.version}"
    url = chart_version.urls[0] if chart_version.urls else f"{name}-{chart_version.version}.tgz"
    problem = _unsafe_reference(url)
    if problem is None:
        candidate = (directory / url).resolve()
        if not candidate.is_relative_to(directory):
            problem = "resolves outside the repository directory (through a symlink)"
    if problem is not None:
        raise CatalogIndexInvalid(
            f"{where}: archive URL {url!r} {problem}; a local repository may only list archives inside itself",
            hint=f"regenerate the index with 'helm repo index {repository}' (relative file names) and commit it",
        )
    if not candidate.is_file():
        raise ChartNotFound(
            f"{where}: archive {url!r} is not in local repository {repository!r}",
            hint="re-run 'helm package' and 'helm repo index' for this chart and commit the archive",
        )
    return candidate


def _unsafe_reference(url: str) -> str | None:
    """Why ``url`` may not name a file of a local repository, or None."""
    if not url or "\0" in url:
        return "is empty or holds a NUL byte"
    if "://" in url or url.startswith(("/", "\\")) or (len(url) > 1 and url[1] == ":"):
        return "is absolute"
    if ".." in PurePosixPath(url.replace("\\", "/")).parts:
        return "contains '..'"
    return None
