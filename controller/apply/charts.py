"""Where helm gets a chart: always a local ``.tgz``, found in the source tree or downloaded by extctl.

Owns: ``chart_locator`` (pure description: a local repository's archive, confined to that repository
directory, or a remote chart with its index entry for the download) and ``ChartDownloads``, the
``ChartFetcher`` that turns a remote locator into a local, digest-verified archive through
``catalog.ChartDownloader`` (in a worker thread), shared by the executor's helm client and previews.
Without a chart cache directory it downloads into a private temp directory that ``close()`` removes.
Must not: spawn helm, choose credentials (the downloader's ``CredentialStore`` binds them to hosts), or
hand helm anything but a local path.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from controller.catalog import ChartDownloader, ChartVersion, CredentialStore, repository_kind
from controller.catalog.local import local_chart_archive
from controller.helm import ChartLocator
from controller.models.manifests import ChartRef


def chart_locator(chart: ChartRef, version: str, *, repo_root: Path, manifest_root: Path | None = None,
                  chart_versions: Sequence[ChartVersion] = ()) -> ChartLocator:
    """A local repository's archive (refused with a located error when its index URL leaves the
    repository), or a remote chart that ``ChartDownloads`` fetches before helm runs."""
    listed = next((v for v in chart_versions if v.version == version), None)
    if repository_kind(chart.repository) == "local":
        archive = local_chart_archive(repo_root, chart.repository, listed or ChartVersion(version), chart=chart.name,
                                      manifest_root=manifest_root)
        return ChartLocator(ref=str(archive), version=version)
    return ChartLocator(ref=chart.name, version=version, repository=chart.repository,
                        urls=listed.urls if listed is not None else (),
                        digest=listed.digest if listed is not None else None)


class ChartDownloads:
    """``ChartFetcher`` for ``HelmClient``: remote locators become verified archives in the chart cache."""

    def __init__(self, credentials: CredentialStore | None, cache_dir: Path | None = None) -> None:
        self._temp: Path | None = None
        if cache_dir is None:
            self._temp = Path(tempfile.mkdtemp(prefix="extctl-charts-"))
        self.downloader = ChartDownloader(credentials, cache_dir if cache_dir is not None else self._temp or Path())

    async def __call__(self, chart: ChartLocator) -> ChartLocator:
        if not chart.remote:
            return chart
        assert chart.repository is not None  # noqa: S101 - remote means a repository is set
        listed = ChartVersion(chart.version, urls=chart.urls, digest=chart.digest) if chart.urls else None
        archive = await asyncio.to_thread(self.downloader.fetch, chart.repository, chart.ref, chart.version, listed)
        return ChartLocator(ref=str(archive), version=chart.version)

    def close(self) -> None:
        """Remove the temp directory (when no cache directory was given)."""
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    def __enter__(self) -> ChartDownloads:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
