"""HTTP(S) Helm chart repositories: fetch ``index.yaml`` with conditional GET and a TTL cache.

Owns: GET ``<repository>/index.yaml`` with ``urllib.request`` (no third-party HTTP client), the
conditional GET (``If-None-Match`` / ``If-Modified-Since`` from the cached ETag / Last-Modified), the
in-memory ``IndexCache`` (TTL; its clock is injected), sending the basic or bearer credential bound to
the index URL (``CredentialStore.for_url``; never one written into the URL: that is refused), and
mapping every failure to ``CatalogError`` (down, 5xx), ``CatalogAuthError`` (401/403),
``CatalogRepositoryNotFound`` (404), ``ChartNotFound`` (chart not in the index) or
``CatalogIndexInvalid`` (malformed index).
Must not: spawn helm, put credentials into logs, errors or the cache key in clear (URLs are shown
only through ``sanitize_url``), forward credentials to another host on a redirect, or serve stale data when
the repository fails (a failure is raised; falling back to the last good copy is
``controller.catalog.service``'s decision).
"""

from __future__ import annotations

import socket
import threading
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, replace

import structlog

from controller.catalog.credentials import DOCS, CredentialStore, RepoCredentials
from controller.catalog.index import ChartVersion, parse_index
from controller.catalog.transport import Reauthorize, http_get
from controller.errors import (
    CatalogAuthError,
    CatalogError,
    CatalogIndexInvalid,
    CatalogRepositoryNotFound,
    ChartNotFound,
)
from controller.logs import redact_text
from controller.urls import has_userinfo, join_url_path, sanitize_url

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT_SECONDS = 15.0
DEFAULT_TTL_SECONDS = 300.0
MAX_INDEX_BYTES = 64 * 1024 * 1024
CREDENTIALS_HINT = (
    "bind credentials to this host in the credentials file (--repo-credentials FILE) or with EXTCTL_REPO_HOST plus "
    f"EXTCTL_REPO_USERNAME and EXTCTL_REPO_PASSWORD_FILE, or EXTCTL_REPO_TOKEN_FILE ({DOCS})"
)


@dataclass(frozen=True)
class CachedIndex:
    """One repository's index as last seen, with the validators needed for a conditional GET."""

    url: str
    text: str
    etag: str | None
    last_modified: str | None
    validated_at: float


class IndexCache:
    """Thread-safe in-memory cache of index.yaml texts, fresh for ``ttl_seconds`` after validation.

    ``clock`` returns seconds (monotonic in production: ``time.monotonic``; a fake in tests). An
    entry past its TTL is not thrown away: it supplies the ETag / Last-Modified for the next
    conditional GET, and a 304 answer makes it fresh again.
    """

    def __init__(self, *, clock: Callable[[], float], ttl_seconds: float = DEFAULT_TTL_SECONDS) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must be >= 0")
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[tuple[str, str], CachedIndex] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock()

    def get(self, key: tuple[str, str]) -> CachedIndex | None:
        with self._lock:
            return self._entries.get(key)

    def is_fresh(self, entry: CachedIndex) -> bool:
        return self._clock() - entry.validated_at < self.ttl_seconds

    def put(self, key: tuple[str, str], entry: CachedIndex) -> None:
        with self._lock:
            self._entries[key] = entry

    def invalidate(self, key: tuple[str, str] | None = None) -> None:
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def index_url(repository: str) -> str:
    """``<repository>/index.yaml``."""
    return join_url_path(repository, "index.yaml")


def refuse_userinfo(repository: str) -> None:
    """Credentials written into a repository URL are never used: they belong in the credentials file."""
    if has_userinfo(repository):
        raise CatalogAuthError(
            f"chart repository {sanitize_url(repository)} is written with credentials in its URL (user:password@); "
            "extctl does not use credentials from URLs",
            hint=f"remove them from spec.chart.repository and bind them to the host instead ({DOCS})",
        )


def _request_target(
    repository: str, credentials: CredentialStore | None
) -> tuple[str, RepoCredentials | None, tuple[str, str]]:
    """The index URL, the credential bound to it (if any) and the cache key."""
    refuse_userinfo(repository)
    url = index_url(repository)
    bound = credentials.for_url(url, what=f"chart repository {sanitize_url(repository)}") if credentials else None
    return url, bound, (url, bound.fingerprint() if bound else "")


def index_cache_key(repository: str, credentials: CredentialStore | None = None) -> tuple[str, str]:
    """The ``IndexCache`` key ``fetch_index_text`` uses for ``repository`` (no credentials in clear)."""
    return _request_target(repository, credentials)[2]


def fetch_index_text(
    repository: str,
    *,
    credentials: CredentialStore | None = None,
    cache: IndexCache | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> str:
    """The repository's index.yaml text, from the cache while fresh, else by (conditional) GET. Only
    the credential bound to the index URL is sent, and on a redirect only to the same host."""
    url, bound, key = _request_target(repository, credentials)
    safe = sanitize_url(repository)
    secrets = bound.secrets() if bound else ()

    cached = cache.get(key) if cache else None
    if cache and cached and cache.is_fresh(cached):
        log.debug("catalog.index.cache_hit", repository=safe)
        return cached.text

    headers = {"Accept": "application/x-yaml, */*"}
    if cached and cached.etag:
        headers["If-None-Match"] = cached.etag
    if cached and cached.last_modified:
        headers["If-Modified-Since"] = cached.last_modified
    try:
        response = http_get(url, authorization=bound.authorization() if bound else None, timeout=timeout,
                            limit=MAX_INDEX_BYTES, headers=headers, reauthorize=_reauthorize(credentials))
    except TimeoutError as exc:
        raise _timeout_error(safe, timeout) from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise _timeout_error(safe, timeout) from exc
        detail = redact_text(str(getattr(reason, "strerror", None) or reason), secrets)
        raise CatalogError(
            f"chart repository {safe} is unreachable: {detail}",
            hint="check spec.chart.repository and that the repository is up; extctl retries with backoff",
        ) from exc
    except OSError as exc:
        detail = redact_text(str(exc.strerror or exc), secrets)
        raise CatalogError(
            f"reading index.yaml from chart repository {safe} failed: {detail}",
            hint="extctl retries with backoff; check the repository if this persists",
        ) from exc
    if response.status == 304 and cache is not None and cached is not None:
        cache.put(key, replace(cached, validated_at=cache.now()))
        log.debug("catalog.index.not_modified", repository=safe)
        return cached.text
    if response.status != 200:
        raise _http_error(response.status, response.reason, safe, bound)
    body = response.body
    if len(body) > MAX_INDEX_BYTES:
        raise CatalogIndexInvalid(
            f"index.yaml of chart repository {safe} is larger than {MAX_INDEX_BYTES // (1024 * 1024)} MiB",
            hint="point spec.chart.repository at a smaller repository or a mirror",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogIndexInvalid(
            f"index.yaml of chart repository {safe} is not UTF-8 text (byte {exc.start})",
            hint="check that the URL points at a Helm repository and not at another kind of server",
        ) from exc
    if cache is not None:
        cache.put(
            key,
            CachedIndex(
                url=url,
                text=text,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                validated_at=cache.now(),
            ),
        )
    log.debug("catalog.index.fetched", repository=safe, status=response.status, bytes=len(body))
    return text


def _reauthorize(credentials: CredentialStore | None) -> Reauthorize | None:
    """On a same-host redirect: the credential bound to the new URL, if it may travel there."""
    if credentials is None:
        return None

    def authorization(url: str) -> str | None:
        bound = credentials.allowed_for_url(url)
        return bound.authorization() if bound else None

    return authorization


def fetch_http_versions(
    repository: str,
    chart: str,
    *,
    credentials: CredentialStore | None = None,
    cache: IndexCache | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> list[ChartVersion]:
    """All versions of ``chart`` listed in the repository's index.yaml."""
    safe = sanitize_url(repository)
    text = fetch_index_text(repository, credentials=credentials, cache=cache, timeout=timeout)
    return select_chart(parse_repository_index(text, safe), chart, safe)


def parse_repository_index(text: str, safe_repository: str) -> dict[str, list[ChartVersion]]:
    """Chart name -> versions of a fetched index.yaml; a broken index says how to regenerate it."""
    try:
        return parse_index(text, f"{safe_repository}/index.yaml")
    except CatalogIndexInvalid as exc:
        raise CatalogIndexInvalid(
            exc.message,
            hint=exc.hint or "the repository serves a broken index.yaml; regenerate it with 'helm repo index'",
        ) from exc


def select_chart(charts: dict[str, list[ChartVersion]], chart: str, safe_repository: str) -> list[ChartVersion]:
    """Pick ``chart``'s versions out of a parsed index; a missing chart names the ones that exist."""
    if chart not in charts:
        known = ", ".join(sorted(charts)) or "none"
        raise ChartNotFound(
            f"chart {chart!r} is not in chart repository {safe_repository} (charts: {known})",
            hint="check spec.chart.name of the ExtensionType",
        )
    return charts[chart]


def _timeout_error(safe: str, timeout: float) -> CatalogError:
    return CatalogError(
        f"chart repository {safe} did not answer within {timeout:g}s",
        hint="extctl retries with backoff; check the repository's availability if this persists",
    )


def _http_error(code: int, reason: object, safe: str, credentials: RepoCredentials | None) -> CatalogError:
    status = f"HTTP {code}" + (f" {reason}" if isinstance(reason, str) and reason else "")
    if code in (401, 403):
        if credentials is None:
            return CatalogAuthError(
                f"chart repository {safe} requires credentials ({status}) and none were given",
                hint=CREDENTIALS_HINT,
            )
        return CatalogAuthError(
            f"chart repository {safe} rejected {credentials.describe()} ({status})",
            hint="check the username/password or token bound to this host (credentials file or EXTCTL_REPO_*)",
        )
    if code in (404, 410):
        return CatalogRepositoryNotFound(
            f"chart repository {safe} has no index.yaml ({status})",
            hint="spec.chart.repository must be the URL of the directory that holds index.yaml",
        )
    return CatalogError(
        f"chart repository {safe} answered {status} for index.yaml",
        hint="extctl retries with backoff; check the repository's health if this persists",
    )
