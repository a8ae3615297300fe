"""One HTTP GET for every catalog reader, with the redirect rule for credentials.

Owns: ``http_get`` -- a GET with ``urllib.request`` that sends ``Authorization`` only to the URL it was
chosen for: on a redirect the header is dropped unless the new URL is on the same scheme-agnostic
host and port, and then only what ``reauthorize(new_url)`` allows (for chart repositories: the
credential bound to the new URL, over https or to loopback). HTTP error statuses are returned, not
raised; connection failures are raised as ``OSError`` (``urllib.error.URLError`` is one) for the
caller to word. A response body is read up to ``limit`` bytes.
Must not: choose credentials itself, log, or follow a redirect to a scheme other than http(s).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.client import HTTPMessage
from typing import IO, Any

from controller import __version__
from controller.urls import endpoint

USER_AGENT = f"extctl/{__version__}"
Reauthorize = Callable[[str], str | None]


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str]  # lower-cased names
    url: str  # the final URL, after redirects
    reason: str = ""  # the HTTP reason phrase


def same_host(a: str, b: str) -> bool:
    """Same host and port (the scheme may differ: https -> http on one host is checked by the caller)."""
    try:
        _, host_a, port_a = endpoint(a)
        _, host_b, port_b = endpoint(b)
    except ValueError:
        return False
    return (host_a, port_a) == (host_b, port_b)


class _RedirectPolicy(urllib.request.HTTPRedirectHandler):
    """Re-decides ``Authorization`` for every redirect hop; another host never gets one."""

    def __init__(self, reauthorize: Reauthorize | None) -> None:
        self.reauthorize = reauthorize

    def redirect_request(  # noqa: PLR0917 - urllib's signature, called positionally by urllib
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: HTTPMessage, newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        # urllib copies only redirectable headers; Authorization is always added unredirected.
        new.unredirected_hdrs.pop("Authorization", None)
        new.headers.pop("Authorization", None)
        if self.reauthorize is not None and same_host(req.full_url, new.full_url):
            authorization = self.reauthorize(new.full_url)
            if authorization:
                new.add_unredirected_header("Authorization", authorization)
        return new


def http_get(url: str, *, authorization: str | None, timeout: float, limit: int,
             headers: Mapping[str, str] | None = None, reauthorize: Reauthorize | None = None) -> Response:
    """GET ``url`` (http or https only), following redirects under the credential rule above."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})  # noqa: S310 - callers pass http(s) URLs only; the scheme is checked there
    if authorization:
        request.add_unredirected_header("Authorization", authorization)
    opener = urllib.request.build_opener(_RedirectPolicy(reauthorize))
    try:
        with opener.open(request, timeout=timeout) as response:
            body: bytes = response.read(limit + 1)
            return Response(int(response.status), body, _lower(response.headers.items()), response.url,
                            str(response.reason or ""))
    except urllib.error.HTTPError as exc:
        reason = exc.reason if isinstance(exc.reason, str) else ""
        return Response(exc.code, b"", _lower(exc.headers.items()) if exc.headers else {}, exc.url or url, reason)


def _lower(items: Any) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in items}
