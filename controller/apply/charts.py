"""Where helm gets a chart: a local ``.tgz`` of a repository in the source tree, an ``oci://`` reference,
or a chart name with ``--repo``.

Owns: ``chart_locator``, shared by the executor and previews. Must not: fetch anything or spawn helm.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from controller.catalog import ChartVersion, RepoCredentials, repository_kind
from controller.catalog.local import local_repository_dir
from controller.helm import ChartLocator
from controller.models.manifests import ChartRef
from controller.urls import is_loopback_url, split_userinfo


def chart_locator(chart: ChartRef, version: str, *, repo_root: Path, chart_versions: Sequence[ChartVersion] = (),
                  credentials: RepoCredentials | None = None) -> ChartLocator:
    """How helm fetches ``chart`` at ``version``: a local ``.tgz``, an ``oci://`` ref, or name + ``--repo``."""
    kind = repository_kind(chart.repository)
    if kind == "local":
        directory = local_repository_dir(repo_root, chart.repository)
        match = next((v for v in chart_versions if v.version == version and v.urls), None)
        filename = match.urls[0] if match else f"{chart.name}-{version}.tgz"
        return ChartLocator(ref=str(directory / filename), version=version)
    username = credentials.username if credentials is not None else None
    password = (credentials.password or credentials.token) if credentials is not None else None
    if kind == "oci":
        base, _user, _password = split_userinfo(chart.repository.rstrip("/"))
        return ChartLocator(ref=f"{base}/{chart.name}", version=version, plain_http=is_loopback_url(base),
                            username=username, password=password)
    base, user, url_password = split_userinfo(chart.repository)
    listed = next((v for v in chart_versions if v.version == version), None)
    return ChartLocator(ref=chart.name, version=version, repo_url=base,
                        username=user or username, password=url_password or password,
                        digest=listed.digest if listed is not None else None)
