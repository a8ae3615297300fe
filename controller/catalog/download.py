"""Chart archives from remote repositories, downloaded by extctl itself into the chart cache.

Owns: ``ChartDownloader.fetch`` -- the one way a remote chart reaches helm (as a local, verified
``.tgz``): from an http(s) repository, the version's first index URL resolved against the index URL,
fetched with the credential bound to that URL when it is on the index's host (another host gets no
credential) and checked against the index's sha256 digest (an index without one is refused); from an
OCI registry, the version's manifest and its Helm chart layer through ``oci.RegistrySession`` (the
registry token flow), checked against the layer digest. Archives are written 0600 through a scratch
file and renamed into ``<cache>/<key>/``, keyed by repository, chart, version and digest (OCI: by
tag, with the layer digest kept beside the archive), and re-verified on every cache hit, so a
settings change still applies while the repository is down.
Must not: spawn helm, use credentials written into URLs, send a credential to another host, or leave
partial files behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import tempfile
import urllib.error
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from controller.catalog.credentials import CredentialStore
from controller.catalog.http import (
    DEFAULT_TIMEOUT_SECONDS,
    IndexCache,
    fetch_index_text,
    index_url,
    parse_repository_index,
    refuse_userinfo,
    select_chart,
)
from controller.catalog.index import ChartVersion
from controller.catalog.oci import RegistrySession, oci_repository
from controller.catalog.service import repository_kind
from controller.catalog.transport import http_get, same_host
from controller.errors import (
    CatalogAuthError,
    CatalogIndexInvalid,
    ChartDigestMismatch,
    ChartDownloadFailed,
    ChartNotFound,
)
from controller.logs import redact_text
from controller.urls import has_userinfo, sanitize_url

MAX_CHART_BYTES = 64 * 1024 * 1024
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_SHA256 = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ChartDownloader:
    """Fetches remote charts into ``cache_dir`` (created 0700 when missing) with host-bound credentials."""

    def __init__(self, credentials: CredentialStore | None, cache_dir: Path, *,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS, index_cache: IndexCache | None = None) -> None:
        self.credentials = credentials
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout
        self.index_cache = index_cache

    def fetch(self, repository: str, chart: str, version: str, listed: ChartVersion | None = None) -> Path:
        """The verified archive of ``chart`` ``version``; ``listed`` is its index entry when the caller
        has one (http), else the index is read. Raises ``CatalogError`` subclasses."""
        kind = repository_kind(repository)
        if kind == "http":
            return self._fetch_http(repository, chart, version, listed)
        if kind == "oci":
            return self._fetch_oci(repository, chart, version)
        raise ValueError(f"not a remote repository: {repository!r}")

    # ------------------------------------------------------------------------------------- http
    def _fetch_http(self, repository: str, chart: str, version: str, listed: ChartVersion | None) -> Path:
        refuse_userinfo(repository)
        safe = sanitize_url(repository)
        if listed is None or listed.version != version or not listed.urls:
            listed = self._listed(repository, chart, version)
        where = f"{safe}/index.yaml: {chart} {version}"
        match = _SHA256.match((listed.digest or "").lower())
        if match is None:
            raise CatalogIndexInvalid(f"{where}: the index lists no sha256 digest for this archive",
                                      hint="regenerate the index with 'helm repo index'; extctl only installs "
                                           "archives it can verify")
        digest = match.group(1)
        target = self._slot(repository, chart, version, digest)
        if target.is_file() and sha256_of(target) == digest:
            return target
        base = index_url(repository)
        url = urljoin(base, listed.urls[0])
        if urlsplit(url).scheme.lower() not in ("http", "https") or has_userinfo(url):
            raise CatalogIndexInvalid(f"{where}: archive URL {sanitize_url(url)!r} is not a plain http(s) URL",
                                      hint="regenerate the index with 'helm repo index'")
        what = f"chart {chart} {version} at {sanitize_url(url)}"
        bound = (self.credentials.for_url(url, what=what) if self.credentials and same_host(base, url) else None)
        secrets = bound.secrets() if bound else ()
        store = self.credentials

        def reauthorize(new_url: str) -> str | None:
            found = store.allowed_for_url(new_url) if store and same_host(base, new_url) else None
            return found.authorization() if found else None

        try:
            response = http_get(url, authorization=bound.authorization() if bound else None, timeout=self.timeout,
                                limit=MAX_CHART_BYTES, headers={"Accept": "application/gzip, */*"},
                                reauthorize=reauthorize)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            detail = "timed out" if isinstance(reason, (TimeoutError, socket.timeout)) else redact_text(
                str(getattr(reason, "strerror", None) or reason), secrets)
            raise ChartDownloadFailed(f"downloading {what} failed: {detail}",
                                      hint="extctl retries with backoff; check the repository") from exc
        if response.status in (401, 403):
            who = bound.describe() if bound else "no credentials"
            raise CatalogAuthError(f"downloading {what} was refused (HTTP {response.status}) with {who}",
                                   hint="bind credentials to this host (docs/credentials.md)")
        if response.status != 200:
            raise ChartDownloadFailed(f"downloading {what} failed: HTTP {response.status} {response.reason}".rstrip(),
                                      hint="check that the repository still serves the archive its index lists")
        return self._store(response.body, target, digest, what)

    def _listed(self, repository: str, chart: str, version: str) -> ChartVersion:
        safe = sanitize_url(repository)
        text = fetch_index_text(repository, credentials=self.credentials, cache=self.index_cache,
                                timeout=self.timeout)
        for entry in select_chart(parse_repository_index(text, safe), chart, safe):
            if entry.version == version and entry.urls:
                return entry
        raise ChartDownloadFailed(f"chart {chart} {version} is not listed in the index of {safe}",
                                  hint="the version was withdrawn; extctl retries and re-resolves")

    # ------------------------------------------------------------------------------------- oci
    def _fetch_oci(self, repository: str, chart: str, version: str) -> Path:
        target_repo = oci_repository(repository, chart)
        target = self._slot(repository, chart, version, "")
        recorded = target.with_suffix(".sha256")
        if target.is_file() and recorded.is_file():
            with contextlib.suppress(OSError):
                if sha256_of(target) == recorded.read_text().strip():
                    return target
        session = RegistrySession(target_repo, self.credentials, self.timeout)
        tag = version.replace("+", "_")
        what = f"chart {chart} {version} from {target_repo.display}"
        base = f"{target_repo.base_url}/v2/{target_repo.name}"
        try:
            raw, _ = session.get(f"{base}/manifests/{tag}", OCI_MANIFEST, MAX_CHART_BYTES,
                                 what=f"manifest for version {version}")
            digest = _chart_layer(raw, what)
            blob, _ = session.get(f"{base}/blobs/sha256:{digest}", "application/octet-stream", MAX_CHART_BYTES,
                                  what=f"chart layer of version {version}")
        except ChartNotFound as exc:
            raise ChartDownloadFailed(exc.message, hint=exc.hint) from exc
        path = self._store(blob, target, digest, what)
        _write_private(recorded, digest.encode())
        return path

    # ------------------------------------------------------------------------------------- cache
    def _slot(self, repository: str, chart: str, version: str, digest: str) -> Path:
        key = hashlib.sha256("\0".join((sanitize_url(repository).rstrip("/"), chart, version, digest)).encode())
        return self.cache_dir / key.hexdigest()[:32] / f"{chart}-{version}.tgz"

    def _store(self, body: bytes, target: Path, digest: str, what: str) -> Path:
        if len(body) > MAX_CHART_BYTES:
            raise ChartDownloadFailed(f"{what} is larger than {MAX_CHART_BYTES // (1024 * 1024)} MiB")
        actual = hashlib.sha256(body).hexdigest()
        if actual != digest:
            raise ChartDigestMismatch(f"{what} does not match the digest its repository lists (sha256:{digest[:12]}… "
                                      f"expected, sha256:{actual[:12]}… received); refusing to install it",
                                      hint="the archive was replaced without re-indexing, or tampered with")
        _write_private(target, body)
        return target


def _chart_layer(raw: bytes, what: str) -> str:
    try:
        manifest = json.loads(raw)
        layers = manifest.get("layers") if isinstance(manifest, dict) else None
        digests = [layer.get("digest") for layer in layers or []
                   if isinstance(layer, dict) and layer.get("mediaType") == HELM_CHART_LAYER]
    except (ValueError, RecursionError) as exc:
        raise CatalogIndexInvalid(f"{what}: the registry answered with a manifest that is not JSON") from exc
    match = _SHA256.match(str(digests[0])) if len(digests) == 1 else None
    if match is None:
        raise CatalogIndexInvalid(f"{what}: the manifest has no single Helm chart layer with a sha256 digest",
                                  hint="push the chart with 'helm push'")
    return match.group(1)


def _write_private(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` (0600) through a scratch file in the same directory, renamed atomically."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, scratch = tempfile.mkstemp(prefix=".download-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(scratch, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)
