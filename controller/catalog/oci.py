"""OCI registries as chart repositories: chart versions from the distribution tags API.

Owns: ``GET /v2/<name>/tags/list`` (with ``Link`` pagination) for ``oci://HOST[:PORT]/PATH`` plus a
chart name, ``RegistrySession`` (also used by ``catalog.download`` for manifests and blobs) with the
registry auth flows (a ``Bearer`` challenge answered by fetching a token from the challenge's realm,
with the bound basic credential only when the realm is on the registry's host; a ``Basic`` challenge
answered with the bound basic credential; a bound bearer token sent as is), mapping helm's ``_`` in
tags back to ``+``, and dropping tags that are not SemVer (helm never pushes those; the resolver would
ignore them). Plain HTTP is used for loopback registries (127.0.0.0/8, localhost, ::1) unless told
otherwise. The credential is the one the ``CredentialStore`` binds to the registry host and the
repository name; credentials written into the reference are refused.
Must not: spawn helm, put credentials or tokens into logs or errors, or send a credential to a token
realm on another host, over plain http (except loopback or an ``insecure`` binding) or not http(s).
"""

from __future__ import annotations

import json
import re
import socket
import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit

import semver
import structlog

from controller.catalog.credentials import DOCS, CredentialStore, RepoCredentials
from controller.catalog.index import ChartVersion
from controller.catalog.transport import Reauthorize, http_get, same_host
from controller.errors import CatalogAuthError, CatalogError, CatalogIndexInvalid, ChartNotFound
from controller.logs import redact_text
from controller.urls import endpoint, has_userinfo, is_loopback_host, sanitize_url, split_userinfo

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT_SECONDS = 15.0
PAGE_SIZE = 1000
MAX_PAGES = 100
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
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
    if has_userinfo(repository):
        raise CatalogAuthError(
            f"OCI reference {sanitize_url(repository)} is written with credentials in it (user:password@); "
            "extctl does not use credentials from URLs",
            hint=f"remove them from spec.chart.repository and bind them to the registry host instead ({DOCS})",
        )
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
    use_http = plain_http if plain_http is not None else is_loopback_host(host)
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
    credentials: CredentialStore | None = None,
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
    credentials: CredentialStore | None = None,
    plain_http: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    page_size: int = PAGE_SIZE,
) -> list[str]:
    """Every tag of the chart's OCI repository, following ``Link: <...>; rel="next"`` pagination."""
    target = oci_repository(repository, chart, plain_http=plain_http)
    session = RegistrySession(target, credentials, timeout)
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
        body, headers = session.get(url, "application/json", MAX_RESPONSE_BYTES, what="the tags")
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


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


class RegistrySession:
    """Requests to one registry repository with the credential bound to it, answering an auth
    challenge once and reusing the result. The registry's credential goes to a token realm only on
    the same host and port (over https, or plain http to loopback or an ``insecure`` binding); a
    realm elsewhere gets only a credential bound to the realm's own host, or none."""

    def __init__(self, target: OciRepository, credentials: CredentialStore | None, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self.store = credentials
        scheme, host, port = endpoint(target.base_url)
        self.binding = credentials.binding(host, port, "/" + target.name) if credentials else None
        self.credentials: RepoCredentials | None = credentials.for_endpoint(
            scheme, host, port, "/" + target.name, what=f"OCI registry for {target.display}") if credentials else None
        self.secrets = self.credentials.secrets() if self.credentials else ()
        token = self.credentials.token if self.credentials else None
        self.authorization: str | None = f"Bearer {token}" if token else None

    def get(self, url: str, accept: str, limit: int, *, what: str) -> tuple[bytes, Mapping[str, str]]:
        """The body (at most ``limit`` + 1 bytes) and lower-cased headers of a 200 answer."""
        status, body, headers = self._request(url, self.authorization, accept, limit)
        if status == 401:
            self.authorization = self._answer_challenge(headers.get("www-authenticate", ""))
            status, body, headers = self._request(url, self.authorization, accept, limit)
        if status == 200:
            return body, headers
        raise self._status_error(status, what)

    def _request(self, url: str, authorization: str | None, accept: str,
                 limit: int) -> tuple[int, bytes, Mapping[str, str]]:
        def reauthorize(new_url: str) -> str | None:
            # A same-host redirect (e.g. to blob storage on the registry itself) keeps the registry's answer;
            # another host never gets it (transport.http_get does not even ask).
            return authorization if same_host(url, new_url) and urlsplit(new_url).scheme == urlsplit(url).scheme \
                else None

        return self._open(url, authorization, accept, limit, what=self.target.display, reauthorize=reauthorize)

    def _open(self, url: str, authorization: str | None, accept: str, limit: int, *, what: str,
              reauthorize: Reauthorize | None = None) -> tuple[int, bytes, Mapping[str, str]]:
        """Status, body and lower-cased headers; HTTP error statuses are returned, not raised."""
        try:
            response = http_get(url, authorization=authorization, timeout=self.timeout, limit=limit,
                                headers={"Accept": accept},
                                reauthorize=reauthorize)
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
        return response.status, response.body, response.headers

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

    def realm_credentials(self, realm: str) -> RepoCredentials | None:
        """What the token service at ``realm`` may receive: the registry's credential when the realm is
        on the registry's host and port and the transport allows it, else only a credential bound to
        the realm's own host (``CredentialStore.for_url``), else none."""
        try:
            realm_scheme, realm_host, realm_port = endpoint(realm)
        except ValueError:
            return None
        binding = self.binding
        if binding is not None and binding.matches_host(realm_host, realm_port):
            if not binding.allows(realm_scheme, realm_host):
                raise CatalogAuthError(
                    f"OCI registry for {self.target.display} names a plain-http token service "
                    f"({sanitize_url(realm)}); the credentials for {binding.label} ({binding.origin}) are only "
                    "sent over https",
                    hint=f"mark the entry 'insecure: true' if the network is trusted ({DOCS})",
                )
            return binding.credentials
        return self.store.allowed_for_url(realm) if self.store else None

    def _fetch_token(self, params: dict[str, str]) -> str:
        realm = params["realm"]
        if urlsplit(realm).scheme not in ("http", "https") or has_userinfo(realm):
            raise CatalogAuthError(
                f"OCI registry for {self.target.display} names a token realm that is not a plain http(s) URL",
                hint="check the registry's auth configuration",
            )
        query = {
            "service": params.get("service", ""),
            "scope": params.get("scope") or f"repository:{self.target.name}:pull",
        }
        url = realm + ("&" if "?" in realm else "?") + urlencode({k: v for k, v in query.items() if v})
        creds = self.realm_credentials(realm)
        basic = creds.basic_header() if creds is not None and creds.has_basic else None
        status, body, _ = self._open(url, basic, "application/json", MAX_RESPONSE_BYTES,
                                     what=f"{self.target.display} (token service {sanitize_url(realm)})")
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
                hint=f"bind credentials to the registry host (credentials file or EXTCTL_REPO_HOST, {DOCS})",
            )
        return CatalogAuthError(
            f"OCI registry for {self.target.display} rejected {creds.describe()}",
            hint="check the username/password or token bound to this registry (credentials file or EXTCTL_REPO_*)",
        )

    def _status_error(self, status: int, what: str) -> CatalogError:
        if status in (401, 403):
            return self._auth_error(self.credentials)
        if status == 404:
            missing = "does not exist" if what == "the tags" else f"has no {what}"
            return ChartNotFound(
                f"OCI repository {self.target.display} {missing} (HTTP 404): no chart was pushed there",
                hint="check spec.chart.repository and spec.chart.name (helm push CHART.tgz oci://REGISTRY/PATH)",
            )
        return CatalogError(
            f"OCI registry answered HTTP {status} for {what} of {self.target.display}",
            hint="extctl retries with backoff; check the registry's health if this persists",
        )
