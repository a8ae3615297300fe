"""Post a preview as one sticky pull-request comment on GitHub (REST API, urllib only).

Owns: finding where to post (flags, else the GitHub Actions environment: ``GITHUB_REPOSITORY``,
``GITHUB_EVENT_PATH`` → ``pull_request.number``, ``GITHUB_TOKEN``, ``GITHUB_API_URL``), learning who
the token posts as (``--github-comment-author``, else ``GET /user``; an installation token such as
Actions' ``GITHUB_TOKEN`` answers 403 there and posts as ``github-actions[bot]``), finding the sticky
comment — the hidden marker *and* that author (``GET /repos/{repo}/issues/{pr}/comments``, every
page; a marker in anybody else's comment is ignored and logged) — and updating it
(``PATCH /repos/{repo}/issues/comments/{id}``) or creating it (``POST …/comments``).
Must not: put the token anywhere but the ``Authorization`` header (it is registered with the log
redactor), send it over plain http to anything but a loopback address, follow redirects with it,
edit a comment somebody else wrote, or retry a failed write.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from controller import __version__
from controller.errors import PreviewPostError
from controller.logs import get_logger, redact_text, register_secret
from controller.urls import is_loopback_host, sanitize_url

DEFAULT_API_URL = "https://api.github.com"
# Who an installation token (GitHub Actions' GITHUB_TOKEN) posts as; GET /user answers 403 for it.
ACTIONS_BOT = "github-actions[bot]"
PER_PAGE = 100
MAX_PAGES = 50
TIMEOUT = 30.0


@dataclass(frozen=True)
class GitHubTarget:
    repository: str  # owner/name
    pull_request: int
    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    comment_author: str | None = None  # --github-comment-author: the login the token posts as


@dataclass(frozen=True)
class StickyMatch:
    """The comment to update (None: create one) and the marked comments of anybody else."""

    comment_id: int | None
    ignored: tuple[tuple[int, str], ...] = ()  # (comment id, author login)


def _login(comment: Mapping[str, Any]) -> str:
    user = comment.get("user")
    login = user.get("login") if isinstance(user, Mapping) else None
    return login if isinstance(login, str) else ""


def select_sticky(comments: Iterable[Any], *, marker: str, author: str) -> StickyMatch:
    """The first comment that carries ``marker`` *and* was written by ``author`` (logins compare
    case-insensitively, as GitHub's do). A marker anyone can type into their own comment proves nothing."""
    found: int | None = None
    ignored: list[tuple[int, str]] = []
    for comment in comments:
        if not isinstance(comment, Mapping) or marker not in str(comment.get("body") or ""):
            continue
        try:
            comment_id = int(comment["id"])
        except (KeyError, TypeError, ValueError):
            continue
        login = _login(comment)
        if login and login.lower() == author.lower():
            if found is None:
                found = comment_id
        else:
            ignored.append((comment_id, login or "<unknown>"))
    return StickyMatch(found, tuple(ignored))


def resolve_target(*, repository: str | None = None, pull_request: int | None = None,
                   token_env: str = "GITHUB_TOKEN",  # noqa: S107 - the name of a variable
                   api_url: str | None = None, comment_author: str | None = None,
                   environ: Mapping[str, str] | None = None) -> GitHubTarget:
    """Flags first, then the standard GitHub Actions variables; ``PreviewPostError`` when something is missing."""
    env = os.environ if environ is None else environ
    repository = repository or env.get("GITHUB_REPOSITORY")
    if not repository or repository.count("/") != 1:
        raise PreviewPostError("--post github needs the repository as owner/name",
                               hint="pass --github-repository or run inside GitHub Actions (GITHUB_REPOSITORY)")
    if pull_request is None:
        pull_request = _pull_request_from_event(env.get("GITHUB_EVENT_PATH"))
    if comment_author is not None and not comment_author.strip():
        raise PreviewPostError("--github-comment-author is empty",
                               hint="pass the login the token posts as, e.g. github-actions[bot], or leave it out")
    url = api_url or env.get("GITHUB_API_URL") or DEFAULT_API_URL
    _check_api_url(url)
    token = env.get(token_env)
    if not token:
        raise PreviewPostError(f"--post github needs a token in ${token_env}",
                               hint="in a workflow: env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}")
    register_secret(token)
    return GitHubTarget(repository, pull_request, token, url,
                        comment_author.strip() if comment_author is not None else None)


def _check_api_url(url: str) -> None:
    """https, or http to a loopback address (a local GitHub stand-in): the token is not sent in clear."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if parts.hostname and (scheme == "https" or (scheme == "http" and is_loopback_host(parts.hostname))):
        return
    raise PreviewPostError(f"GitHub API URL {sanitize_url(url)} must be https:// (http:// only for a loopback address)",
                           hint="fix --github-api-url or $GITHUB_API_URL; the token is never sent in clear")


def _pull_request_from_event(event_path: str | None) -> int:
    if not event_path:
        raise PreviewPostError("--post github needs the pull request number",
                               hint="pass --github-pr or run on a pull_request event (GITHUB_EVENT_PATH)")
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PreviewPostError(f"cannot read the GitHub event file {event_path}: {type(exc).__name__}") from exc
    for key in ("pull_request", "issue"):
        number = (event.get(key) or {}).get("number") if isinstance(event, dict) else None
        if isinstance(number, int):
            return number
    raise PreviewPostError("the GitHub event is not about a pull request",
                           hint="run the workflow on: pull_request, or pass --github-pr")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the token to wherever it points: refuse (the 3xx becomes an error)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class GitHubClient:
    def __init__(self, target: GitHubTarget, *, marker: str) -> None:
        self.marker = marker  # the HTML comment that identifies the sticky comment
        self.target = target
        self.log = get_logger(component="github", repository=target.repository, pull_request=target.pull_request)

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None, *,
                 tolerate: frozenset[int] = frozenset()) -> tuple[int, Any]:
        """(status, JSON body); an HTTP error whose status is in ``tolerate`` is returned, not raised."""
        url = self.target.api_url.rstrip("/") + path
        _check_api_url(url)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={  # noqa: S310 - scheme checked above
            "Authorization": f"Bearer {self.target.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"extctl/{__version__}",
            **({"Content-Type": "application/json"} if data is not None else {}),
        })
        try:
            with _OPENER.open(request, timeout=TIMEOUT) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            detail = redact_text(exc.read(2000).decode("utf-8", "replace"), [self.target.token])
            if exc.code in tolerate:
                return exc.code, detail
            raise PreviewPostError(f"GitHub {method} {sanitize_url(url)} answered {exc.code}: {detail.strip()}",
                                   hint="the token needs 'pull-requests: write' (or issues: write)") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise PreviewPostError(f"GitHub {method} {sanitize_url(url)} failed: {type(exc).__name__}") from exc
        try:
            return status, json.loads(raw) if raw else None
        except ValueError as exc:
            raise PreviewPostError(f"GitHub {method} {sanitize_url(url)} answered {status} with a body that is "
                                   "not JSON", hint="check --github-api-url points at the GitHub REST API") from exc

    def author(self) -> str:
        """The login the token's comments carry: the flag, else ``GET /user``, else (403: an installation
        token, e.g. Actions' ``GITHUB_TOKEN``) ``github-actions[bot]``."""
        if self.target.comment_author:
            self.log.info("preview.comment_author", author=self.target.comment_author, source="flag")
            return self.target.comment_author
        status, user = self._request("GET", "/user", tolerate=frozenset({403}))
        if status == 403:
            self.log.info("preview.comment_author", author=ACTIONS_BOT, source="installation token (GET /user: 403)")
            return ACTIONS_BOT
        login = user.get("login") if isinstance(user, dict) else None
        if not isinstance(login, str) or not login:
            raise PreviewPostError("GitHub GET /user answered without a login, so the sticky comment cannot be "
                                   "told apart from comments by others",
                                   hint="pass --github-comment-author LOGIN (the account the token posts as)")
        self.log.info("preview.comment_author", author=login, source="GET /user")
        return login

    def find_comment(self, author: str) -> int | None:
        """The id of the comment carrying the marker and written by ``author`` (None: there is none)."""
        repo, number = self.target.repository, self.target.pull_request
        for page in range(1, MAX_PAGES + 1):
            _status, comments = self._request(
                "GET", f"/repos/{repo}/issues/{number}/comments?per_page={PER_PAGE}&page={page}")
            if not isinstance(comments, list):
                return None
            match = select_sticky(comments, marker=self.marker, author=author)
            for comment_id, login in match.ignored:
                self.log.warning("preview.marker_ignored", comment_id=comment_id, comment_author=login,
                                 expected_author=author)
            if match.comment_id is not None:
                return match.comment_id
            if len(comments) < PER_PAGE:
                return None
        return None

    def upsert(self, body: str) -> tuple[str, int]:
        """Update our marked comment or create one; returns (``"updated"``|``"created"``, comment id)."""
        if self.marker not in body:
            body = self.marker + "\n" + body
        existing = self.find_comment(self.author())
        repo = self.target.repository
        if existing is not None:
            self._request("PATCH", f"/repos/{repo}/issues/comments/{existing}", {"body": body})
            self.log.info("preview.comment_updated", comment_id=existing)
            return "updated", existing
        _status, created = self._request("POST", f"/repos/{repo}/issues/{self.target.pull_request}/comments",
                                         {"body": body})
        comment_id = int(created["id"]) if isinstance(created, dict) and "id" in created else 0
        self.log.info("preview.comment_created", comment_id=comment_id)
        return "created", comment_id
