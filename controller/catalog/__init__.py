"""The catalog: the one package that reads chart repositories (what versions of a chart exist).

Owns: ``fetch_versions``, which dispatches on the ExtensionType's ``spec.chart.repository``:
``http(s)://`` -> ``catalog.http`` (index.yaml, conditional GET, TTL cache), ``oci://`` ->
``catalog.oci`` (registry tags list), anything else -> ``catalog.local`` (a directory relative to the
source root). Re-exports ``ChartVersion``, ``RepoCredentials``, ``IndexCache`` and ``sanitize_url``.
Must not: resolve versions (``controller.models.resolution`` does), spawn helm, or log credentials.
"""

from __future__ import annotations

from pathlib import Path

from controller.catalog.credentials import RepoCredentials
from controller.catalog.http import IndexCache, fetch_http_versions
from controller.catalog.index import ChartVersion
from controller.catalog.local import fetch_local_index
from controller.catalog.oci import fetch_oci_versions
from controller.urls import sanitize_url

__all__ = ["ChartVersion", "IndexCache", "RepoCredentials", "fetch_versions", "repository_kind", "sanitize_url"]


def repository_kind(repository: str) -> str:
    """``http``, ``oci`` or ``local`` for a ``spec.chart.repository`` value."""
    lowered = repository.lower()
    if lowered.startswith(("http://", "https://")):
        return "http"
    if lowered.startswith("oci://"):
        return "oci"
    return "local"


def fetch_versions(
    repository: str,
    chart: str,
    *,
    repo_root: Path,
    credentials: RepoCredentials | None = None,
    cache: IndexCache | None = None,
) -> list[ChartVersion]:
    """Every published version of ``chart`` in ``repository`` (unordered for HTTP/local indexes).

    Raises ``CatalogError`` or a subclass (``CatalogAuthError``, ``CatalogIndexInvalid``,
    ``CatalogRepositoryNotFound``, ``ChartNotFound``, ``LocalRepositoryMissing``); messages show
    the repository without credentials.
    """
    kind = repository_kind(repository)
    if kind == "http":
        return fetch_http_versions(repository, chart, credentials=credentials, cache=cache)
    if kind == "oci":
        return fetch_oci_versions(repository, chart, credentials=credentials)
    return fetch_local_index(repo_root, repository, chart)
