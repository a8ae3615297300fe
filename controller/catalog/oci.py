"""OCI registries as chart repositories: chart versions from the distribution tags API.

Owns: ``GET /v2/<name>/tags/list`` (with ``Link`` pagination) for ``oci://HOST[:PORT]/PATH`` plus a
chart name, the registry auth flows (a ``Bearer`` challenge answered by fetching a token from the
challenge's realm, with basic credentials when given; a ``Basic`` challenge answered with basic
credentials; a ready bearer token sent as is), mapping helm's ``_`` in tags back to ``+``, and
dropping tags that are not SemVer (helm never pushes those; the resolver would ignore them).
Plain HTTP is used for loopback registries (127.0.0.1, localhost, ::1) unless told otherwise.
Must not: spawn helm (chart metadata comes from ``controller/helm``'s ``helm show chart``), put
credentials or tokens into logs or errors, or send credentials to a token realm that is not http(s).
"""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit

import semver
import structlog

from controller import __version__
from controller.catalog.credentials import RepoCredentials
from controller.catalog.index import ChartVersion
from controller.errors import CatalogAuthError, CatalogError, CatalogIndexInvalid, ChartNotFound
from controller.logs import redact_text
from controller.urls import LOOPBACK_HOSTS, sanitize_url, split_userinfo

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT_SECONDS = 15.0
PAGE_SIZE = 1000
MAX_PAGES = 100
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
USER_AGENT = f"extctl/{__version__}"
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class OciRepository:
    """Where a chart's tags live: ``base_url`` (scheme://host[:port]) and ``name`` (``path/chart``)."""

    base_url: str
    name: str
    display: str  # oci://host/path/chart, never with credentials

    def tags_url(self, page_size: int = PAGE_SIZE) -> str:
        return f"{self.base_url}/v2/{self.name}/tags/list?n={page_size}"


def oci_repository(repository: str, chart: str, *, plain_http: bool | None = None) -> OciRepository:
    """Parse ``oci://host[:port]/path`` + ``chart`` (userinfo is dropped; pass credentials instead)."""
    if not repository.startswith("oci://"):
        raise ValueError(f"not an oci:// reference: {sanitize_url(repository)}")
    bare, _user, _password = split_userinfo(repository)
    parts = urlsplit(bare)
    host = parts.hostname or ""
    if not host:
        raise CatalogError(
            f"OCI reference {sanitize_url(repository)} has no registry host",
            hint="write spec.chart.repository as oci://REGISTRY/PATH",
        )
    path = parts.path.strip("/")
    if path.rsplit("/", 1)[-1] == chart:  # tolerate the chart name written into the repository too
        path = path.rsplit("/", 1)[0] if "/" in path else ""
    name = f"{path}/{chart}" if path else chart
    use_http = plain_http if plain_http is not None else host in LOOPBACK_HOSTS
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return OciRepository(
        base_url=f"{'http' if use_http else 'https'}://{netloc}", name=name, display=f"oci://{netloc}/{name}"
    )


def tag_to_version(tag: str) -> str:
    """Helm stores ``+`` (SemVer build metadata) as ``_`` in OCI tags; map it back."""
    return tag.replace("_", "+")


def versions_from_tags(tags: list[str]) -> list[ChartVersion]:
    """Chart versions for the SemVer tags among ``tags`` (others dropped), in SemVer order."""
    parsed: list[tuple[semver.Version, str]] = []
    for tag in tags:
        version = tag_to_version(tag)
        try:
            parsed.append((semver.Version.parse(version), version))
        except ValueError:
            log.debug("catalog.oci.tag_ignored", tag=tag, reason="not SemVer")
    parsed.sort(key=lambda item: item[0])
    return [ChartVersion(version=version) for _, version in parsed]


def fetch_oci_versions(
    repository: str,
    chart: str,
    *,
    credentials: RepoCredentials | None = None,
    plain_http: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> list[ChartVersion]:
    """All SemVer versions of ``chart`` pushed under the ``oci://`` ``repository``."""
    return versions_from_tags(
        list_tags(repository, chart, credentials=credentials, plain_http=plain_http, timeout=timeout)
    )


def list_tags(
    repository: str,
    chart: str,
    *,
    credentials: RepoCredentials | None = None,
    plain_http: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    page_size: int = PAGE_SIZE,
) -> list[str]:
    """Every tag of the chart's OCI repository, following ``Link: <...>; rel="next"`` pagination."""
    _, url_user, url_password = split_userinfo(repository)
    if credentials is None and url_user is not None:
        credentials = RepoCredentials(username=url_user, password=url_password)
    target = oci_repository(repository, chart, plain_http=plain_http)
    session = _RegistrySession(target, credentials, timeout)
    tags: list[str] = []
    url: str | None = target.tags_url(page_size)
    pages = 0
    while url is not None:
        pages += 1
        if pages > MAX_PAGES:
            raise CatalogIndexInvalid(
                f"OCI repository {target.display} lists more than {MAX_PAGES * page_size} tags",
                hint="prune old tags or use a repository with fewer versions",
            )
        body, headers = session.get(url)
        try:
            document = json.loads(body)
            page = document.get("tags") or []
            if not isinstance(page, list):
                raise TypeError("'tags' is not a list")
        except (ValueError, TypeError, AttributeError) as exc:
            raise CatalogIndexInvalid(
                f"OCI registry answered the tags list of {target.display} with something that is not a tags list",
                hint="check that spec.chart.repository points at an OCI registry",
            ) from exc
        tags.extend(str(tag) for tag in page)
        url = _next_link(headers, url)
    log.debug("catalog.oci.tags_listed", repository=target.display, tags=len(tags), pages=pages)
    return tags


def _next_link(headers: Mapping[str, str], current: str) -> str | None:
    match = _LINK_NEXT.search(headers.get("link", ""))
    return urljoin(current, match.group(1)) if match else None


def _lower_keys(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Response headers keyed by lower-case name (HTTP header names are case-insensitive)."""
    return {name.lower(): value for name, value in items}


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


class _RegistrySession:
    """Requests to one registry repository, answering auth challenges once and reusing the result."""

    def __init__(self, target: OciRepository, credentials: RepoCredentials | None, timeout: float) -> None:
        self.target = target
        self.credentials = credentials
        self.timeout = timeout
        self.secrets = credentials.secrets() if credentials else ()
        self.authorization: str | None = f"Bearer {credentials.token}" if credentials and credentials.token else None

    def get(self, url: str) -> tuple[bytes, Mapping[str, str]]:
        status, body, headers = self._request(url, self.authorization)
        if status == 401:
            self.authorization = self._answer_challenge(headers.get("www-authenticate", ""))
            status, body, headers = self._request(url, self.authorization)
        if status == 200:
            return body, headers
        raise self._status_error(status)

    def _request(self, url: str, authorization: str | None) -> tuple[int, bytes, Mapping[str, str]]:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})  # noqa: S310 - URL built from oci:// as http(s) only
        if authorization:
            request.add_unredirected_header("Authorization", authorization)
        return self._open(request, self.target.display)

    def _open(self, request: urllib.request.Request, what: str) -> tuple[int, bytes, Mapping[str, str]]:
        """Status, body and lower-cased headers; HTTP error statuses are returned, not raised."""
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - http(s) only
                return int(response.status), response.read(MAX_RESPONSE_BYTES), _lower_keys(response.headers.items())
        except urllib.error.HTTPError as exc:
            return exc.code, b"", _lower_keys(exc.headers.items())
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise self._timeout(what) from exc
            detail = redact_text(str(getattr(reason, "strerror", None) or reason), self.secrets)
            raise CatalogError(
                f"OCI registry for {what} is unreachable: {detail}",
                hint="check spec.chart.repository and that the registry is up; extctl retries with backoff",
            ) from exc
        except TimeoutError as exc:
            raise self._timeout(what) from exc
        except OSError as exc:
            detail = redact_text(str(exc.strerror or exc), self.secrets)
            raise CatalogError(f"reading from the OCI registry for {what} failed: {detail}") from exc

    def _timeout(self, what: str) -> CatalogError:
        return CatalogError(
            f"OCI registry for {what} did not answer within {self.timeout:g}s",
            hint="extctl retries with backoff; check the registry's availability if this persists",
        )

    def _answer_challenge(self, header: str) -> str:
        scheme, params = parse_challenge(header)
        creds = self.credentials
        if scheme == "basic":
            if creds is None or not creds.has_basic:
                raise self._auth_error(None)
            return str(creds.basic_header())
        if scheme != "bearer" or not params.get("realm"):
            raise CatalogAuthError(
                f"OCI registry for {self.target.display} asks for an unsupported authentication scheme {scheme!r}",
                hint="extctl supports the registry token flow and basic auth",
            )
        return "Bearer " + self._fetch_token(params)

    def _fetch_token(self, params: dict[str, str]) -> str:
        realm = params["realm"]
        if urlsplit(realm).scheme not in ("http", "https"):
            raise CatalogAuthError(
                f"OCI registry for {self.target.display} names a token realm that is not http(s)",
                hint="check the registry's auth configuration",
            )
        query = {
            "service": params.get("service", ""),
            "scope": params.get("scope") or f"repository:{self.target.name}:pull",
        }
        url = realm + ("&" if "?" in realm else "?") + urlencode({k: v for k, v in query.items() if v})
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})  # noqa: S310 - scheme checked above
        creds = self.credentials
        if creds is not None and creds.has_basic:
            request.add_unredirected_header("Authorization", str(creds.basic_header()))
        status, body, _ = self._open(request, f"{self.target.display} (token service {sanitize_url(realm)})")
        if status in (401, 403):
            raise self._auth_error(creds)
        service = f"token service {sanitize_url(realm)} of the OCI registry for {self.target.display}"
        if status != 200:
            raise CatalogError(
                f"{service} answered HTTP {status}",
                hint="extctl retries with backoff; check the registry's token service if this persists",
            )
        try:
            document = json.loads(body)
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError) as exc:
            raise CatalogError(f"{service} sent no token") from exc
        if not isinstance(token, str) or not token:
            raise CatalogError(f"{service} sent no token")
        return token

    def _auth_error(self, creds: RepoCredentials | None) -> CatalogAuthError:
        if creds is None:
            return CatalogAuthError(
                f"OCI registry for {self.target.display} requires credentials and none were given",
                hint="give the controller EXTCTL_REPO_USERNAME and EXTCTL_REPO_PASSWORD (or the *_FILE variants)",
            )
        return CatalogAuthError(
            f"OCI registry for {self.target.display} rejected {creds.describe()}",
            hint="check the username/password or token the controller is given (EXTCTL_REPO_*)",
        )

    def _status_error(self, status: int) -> CatalogError:
        if status in (401, 403):
            return self._auth_error(self.credentials)
        if status == 404:
            return ChartNotFound(
                f"OCI repository {self.target.display} does not exist (HTTP 404): no chart was pushed there",
                hint="check spec.chart.repository and spec.chart.name (helm push CHART.tgz oci://REGISTRY/PATH)",
            )
        return CatalogError(
            f"OCI registry answered HTTP {status} for the tags of {self.target.display}",
            hint="extctl retries with backoff; check the registry's health if this persists",
        )
