"""The catalog service: the one way the controller, previews and commands learn a chart's versions.

Owns: ``CatalogService`` and its ``CatalogLookup`` answers -- the TTL cache and the stale fallback
for remote repositories, and nothing else does either. http(s) indexes go through one ``IndexCache``
(fresh for the TTL, then revalidated with a conditional GET; one index serves every chart of its
repository, parsed once per change); OCI tag lists are cached per chart for the same TTL. When a
remote repository fails, the last good versions of that chart are served as *stale* with their age
and the error; with no good copy the lookup is *unavailable*. ``credentials`` is the host-bound
``CredentialStore``: every request gets only the credential bound to its own URL. Local-directory repositories come with
the source revision: they are re-read on every lookup and never cached or served stale. The clock is
injected (``time.monotonic`` in production).
Must not: resolve versions, log warnings (callers decide what a stale or unavailable catalog means
and say so), serve stale versions of a chart the repository answered it does not list
(``ChartNotFound``: that is news, not an outage), or show credentials (errors come from the readers,
which only show sanitised URLs).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from controller.catalog.credentials import CredentialStore
from controller.catalog.http import (
    IndexCache,
    fetch_index_text,
    index_cache_key,
    parse_repository_index,
    select_chart,
)
from controller.catalog.index import ChartVersion
from controller.catalog.local import fetch_local_index
from controller.catalog.oci import fetch_oci_versions
from controller.errors import CatalogError, ChartNotFound
from controller.urls import sanitize_url

DEFAULT_TTL_SECONDS = 300.0
MAX_PARALLEL_REPOSITORIES = 8


@dataclass(frozen=True)
class CatalogLookup:
    """What a lookup found: fresh versions, stale ones (last good copy + the error), or only an error."""

    versions: tuple[ChartVersion, ...] = ()  # empty when unavailable
    error: CatalogError | None = None  # the fetch error: set when stale and when unavailable
    stale_age_s: float | None = None  # seconds since the stale copy was last confirmed by the repository

    @property
    def available(self) -> bool:
        """The versions are usable (fresh, or stale after an error)."""
        return self.error is None or self.stale_age_s is not None

    @property
    def stale(self) -> bool:
        return self.stale_age_s is not None

    def require(self) -> tuple[ChartVersion, ...]:
        """The usable versions; raises the ``CatalogError`` when there are none (unavailable)."""
        if self.error is not None and not self.available:
            raise self.error
        return self.versions


@dataclass(frozen=True)
class _Good:
    """A chart's versions as last read without error, and when the repository last confirmed them."""

    versions: tuple[ChartVersion, ...]
    confirmed_at: float


class CatalogService:
    """Chart versions per ``(repository, chart)``, cached for ``ttl_s`` and kept as a stale fallback.

    One instance per process role (the controller's engine, a preview, a command); thread-safe, so
    lookups may run in worker threads (``asyncio.to_thread``) side by side.
    """

    def __init__(
        self,
        *,
        credentials: CredentialStore | None,
        clock: Callable[[], float],
        ttl_s: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        if ttl_s < 0:
            raise ValueError("ttl_s must be >= 0")
        self.credentials = credentials
        self.ttl_s = ttl_s
        self._clock = clock
        self._indexes = IndexCache(clock=clock, ttl_seconds=ttl_s)
        self._parsed: dict[tuple[str, str], tuple[str, dict[str, list[ChartVersion]]]] = {}
        self._good: dict[tuple[str, str], _Good] = {}
        self._fetch_locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------ API
    def lookup(self, repository: str, chart: str, *, repo_root: Path,
               manifest_root: Path | None = None) -> CatalogLookup:
        """Never raises ``CatalogError``: fresh (within the TTL, or revalidated), stale (the last good
        copy + the error), or unavailable (the error). A local repository is ``manifest_root`` joined
        with its path, confined to ``repo_root`` (``catalog.local.LOCAL_RULE``)."""
        kind = repository_kind(repository)
        if kind == "local":
            try:
                found = fetch_local_index(repo_root, repository, chart, manifest_root=manifest_root)
                return CatalogLookup(tuple(found))
            except CatalogError as exc:
                return CatalogLookup(error=exc)
        key = (repository, chart)
        # One fetch at a time per index (http) or tags list (oci): a second caller finds it fresh.
        lock_key = ("http", index_cache_key(repository, self.credentials)) if kind == "http" else ("oci", key)
        with self._fetch_lock(lock_key):
            try:
                good = self._fetch_http(repository, chart) if kind == "http" else self._fetch_oci(key)
            except ChartNotFound as exc:
                self._forget(key)
                return CatalogLookup(error=exc)
            except CatalogError as exc:
                return self._stale_or_unavailable(key, exc)
        with self._lock:
            self._good[key] = good
        return CatalogLookup(good.versions)

    def versions(self, repository: str, chart: str, *, repo_root: Path,
                 manifest_root: Path | None = None) -> list[ChartVersion]:
        """For one-shot commands: the versions (stale ones too); raises the ``CatalogError`` when
        nothing, not even a stale copy, is available."""
        return list(self.lookup(repository, chart, repo_root=repo_root, manifest_root=manifest_root).require())

    def lookup_many(
        self, charts: Iterable[tuple[str, str]], *, repo_root: Path, manifest_root: Path | None = None
    ) -> dict[tuple[str, str], CatalogLookup]:
        """``lookup`` for several ``(repository, chart)`` pairs: repositories side by side, the charts
        of one repository one after another (so its index is fetched once per TTL)."""
        groups: dict[str, list[str]] = {}
        for repository, chart in dict.fromkeys(charts):
            groups.setdefault(repository, []).append(chart)

        def one_repository(repository: str) -> dict[tuple[str, str], CatalogLookup]:
            return {(repository, c): self.lookup(repository, c, repo_root=repo_root, manifest_root=manifest_root)
                    for c in groups[repository]}

        found: dict[tuple[str, str], CatalogLookup] = {}
        if len(groups) <= 1:
            for repository in groups:
                found.update(one_repository(repository))
            return found
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_REPOSITORIES, len(groups))) as pool:
            # Each worker runs in a copy of the caller's context, so log lines keep their bound fields.
            futures = [pool.submit(contextvars.copy_context().run, one_repository, r) for r in groups]
            for future in futures:
                found.update(future.result())
        return found

    # ------------------------------------------------------------------------------------ fetching
    def _fetch_http(self, repository: str, chart: str) -> _Good:
        key = index_cache_key(repository, self.credentials)
        text = fetch_index_text(repository, credentials=self.credentials, cache=self._indexes)
        entry = self._indexes.get(key)
        confirmed_at = entry.validated_at if entry is not None else self._clock()
        safe = sanitize_url(repository)
        with self._lock:
            memo = self._parsed.get(key)
        if memo is not None and memo[0] is text:  # the cached index, unchanged: no second parse
            charts = memo[1]
        else:
            charts = parse_repository_index(text, safe)
            with self._lock:
                self._parsed[key] = (text, charts)
        return _Good(tuple(select_chart(charts, chart, safe)), confirmed_at)

    def _fetch_oci(self, key: tuple[str, str]) -> _Good:
        with self._lock:
            cached = self._good.get(key)
        if cached is not None and self._clock() - cached.confirmed_at < self.ttl_s:
            return cached
        repository, chart = key
        return _Good(tuple(fetch_oci_versions(repository, chart, credentials=self.credentials)), self._clock())

    def index_ages(self) -> dict[str, float]:
        """Seconds since each remote repository (URL without credentials) last confirmed a chart's versions;
        the oldest chart of a repository counts (for ``extctl_catalog_index_age_seconds``)."""
        now = self._clock()
        with self._lock:
            good = list(self._good.items())
        ages: dict[str, float] = {}
        for (repository, _chart), entry in good:
            safe = sanitize_url(repository)
            ages[safe] = max(ages.get(safe, 0.0), 0.0, now - entry.confirmed_at)
        return ages

    # ------------------------------------------------------------------------------------ state
    def _stale_or_unavailable(self, key: tuple[str, str], error: CatalogError) -> CatalogLookup:
        with self._lock:
            good = self._good.get(key)
        if good is None:
            return CatalogLookup(error=error)
        return CatalogLookup(good.versions, error=error, stale_age_s=max(0.0, self._clock() - good.confirmed_at))

    def _forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._good.pop(key, None)

    def _fetch_lock(self, key: Hashable) -> threading.Lock:
        with self._lock:
            return self._fetch_locks.setdefault(key, threading.Lock())


def repository_kind(repository: str) -> str:
    """``http``, ``oci`` or ``local`` for a ``spec.chart.repository`` value."""
    lowered = repository.lower()
    if lowered.startswith(("http://", "https://")):
        return "http"
    if lowered.startswith("oci://"):
        return "oci"
    return "local"
