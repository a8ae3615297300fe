"""The catalog: the one package that reads chart repositories (what versions of a chart exist).

Owns: ``CatalogService`` (``catalog.service``: the TTL cache and stale fallback every caller --
engine, previews, commands -- goes through, answering ``CatalogLookup``) and the uncached
``fetch_versions``, which dispatches on the ExtensionType's ``spec.chart.repository``:
``http(s)://`` -> ``catalog.http`` (index.yaml, conditional GET), ``oci://`` -> ``catalog.oci``
(registry tags list), anything else -> ``catalog.local`` (a directory relative to the source root).
``catalog.download`` fetches chart archives (HTTP with the index digest, OCI manifest + blob) into the
chart cache; ``catalog.credentials``/``credentials_file`` bind credentials to hosts (docs/credentials.md).
Re-exports ``ChartVersion``, ``RepoCredentials``, ``CredentialStore``, ``load_credentials``,
``ChartDownloader``, ``IndexCache``, ``repository_kind`` and ``sanitize_url``.
Must not: resolve versions (``controller.models.resolution`` does), spawn helm, or log credentials.
"""

from __future__ import annotations

from pathlib import Path

from controller.catalog.credentials import CredentialStore, RepoCredentials
from controller.catalog.credentials_file import load_credentials
from controller.catalog.download import ChartDownloader
from controller.catalog.http import IndexCache, fetch_http_versions
from controller.catalog.index import ChartVersion
from controller.catalog.local import fetch_local_index
from controller.catalog.oci import fetch_oci_versions
from controller.catalog.service import CatalogLookup, CatalogService, repository_kind
from controller.urls import sanitize_url

__all__ = [
    "CatalogLookup",
    "CatalogService",
    "ChartDownloader",
    "ChartVersion",
    "CredentialStore",
    "IndexCache",
    "RepoCredentials",
    "fetch_versions",
    "load_credentials",
    "repository_kind",
    "sanitize_url",
]


def fetch_versions(
    repository: str,
    chart: str,
    *,
    repo_root: Path,
    manifest_root: Path | None = None,
    credentials: CredentialStore | None = None,
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
    return fetch_local_index(repo_root, repository, chart, manifest_root=manifest_root)
