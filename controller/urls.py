"""URL helpers shared by every edge that shows or contacts a URL (catalog, source, helm).

Owns: ``sanitize_url`` (the only form in which a repository URL may appear in logs, errors and
output: no userinfo, secret-looking query values masked), ``split_userinfo`` (pull ``user:pass@``
out of a URL), ``has_userinfo``, ``join_url_path``, ``endpoint`` (a URL's scheme, lower-cased host and
effective port: what "the same host" means for credentials and redirects) and the loopback check.
Must not: do I/O, log, keep any state, or raise anything but ``ValueError`` on unparsable input.
"""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_QUERY_KEYS = frozenset(
    {
        "token", "access_token", "auth", "password", "passwd", "secret", "key", "apikey", "api_key",
        "sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "code",
    }
)


def _netloc_without_userinfo(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host


def sanitize_url(url: str) -> str:
    """``url`` without ``user:password@`` and with secret-looking query values masked.

    Anything that does not parse as a URL with a host is returned unchanged except for a
    best-effort removal of a userinfo part, so callers can use this on any repository string.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _strip_userinfo_fallback(url)
    if not parts.netloc:
        return url
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, _netloc_without_userinfo(parts), parts.path, query, ""))


def _strip_userinfo_fallback(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path}"


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """Split ``scheme://user:pass@host/path`` into (URL without userinfo, user, password)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    bare = urlunsplit((parts.scheme, _netloc_without_userinfo(parts), parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return bare, user, password


def join_url_path(base: str, *segments: str) -> str:
    """Append path segments to ``base``'s path (one slash between each), keeping its query string."""
    parts = urlsplit(base)
    path = parts.path.rstrip("/")
    for segment in segments:
        path += "/" + quote(segment.strip("/"), safe="/:@")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is this machine (registries there speak plain HTTP by default)."""
    try:
        return is_loopback_host(urlsplit(url).hostname or "")
    except ValueError:
        return False


DEFAULT_PORTS = {"http": 80, "https": 443}


def has_userinfo(url: str) -> bool:
    """True when ``url`` (scheme://...) carries ``user[:password]@`` before its host."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return False
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return "@" in authority


def endpoint(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``: scheme and host lower-cased, IPv6 without brackets, the port
    explicit or the scheme's default (None when neither). Raises ``ValueError`` for a URL without a
    host or with an invalid port."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("the URL has no host")
    port = parts.port  # raises ValueError for a port that is not a number in 0..65535
    scheme = parts.scheme.lower()
    return scheme, host, port if port is not None else DEFAULT_PORTS.get(scheme)


def is_loopback_host(host: str) -> bool:
    """True for this machine's names and addresses (127.0.0.0/8, ::1, localhost)."""
    host = host.lower().strip("[]")
    if host in LOOPBACK_HOSTS:
        return True
    octets = host.split(".")
    return len(octets) == 4 and octets[0] == "127" and all(o.isdigit() and int(o) < 256 for o in octets)
