"""Post a preview as one sticky pull-request comment on GitHub (REST API, urllib only).

Owns: finding where to post (flags, else the GitHub Actions environment: ``GITHUB_REPOSITORY``,
``GITHUB_EVENT_PATH`` → ``pull_request.number``, ``GITHUB_TOKEN``, ``GITHUB_API_URL``), finding the
comment that carries the hidden marker (``GET /repos/{repo}/issues/{pr}/comments``, every page) and
updating it (``PATCH /repos/{repo}/issues/comments/{id}``) or creating it (``POST …/comments``).
Must not: put the token anywhere but the ``Authorization`` header (it is registered with the log
redactor), follow redirects to other hosts with it, or retry a failed write.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller import __version__
from controller.errors import PreviewPostError
from controller.logs import get_logger, redact_text, register_secret
from controller.urls import sanitize_url

DEFAULT_API_URL = "https://api.github.com"
PER_PAGE = 100
MAX_PAGES = 50
TIMEOUT = 30.0


@dataclass(frozen=True)
class GitHubTarget:
    repository: str  # owner/name
    pull_request: int
    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL


def resolve_target(*, repository: str | None = None, pull_request: int | None = None,
                   token_env: str = "GITHUB_TOKEN",  # noqa: S107 - the name of a variable
                   api_url: str | None = None,
                   environ: Mapping[str, str] | None = None) -> GitHubTarget:
    """Flags first, then the standard GitHub Actions variables; ``PreviewPostError`` when something is missing."""
    env = os.environ if environ is None else environ
    repository = repository or env.get("GITHUB_REPOSITORY")
    if not repository or repository.count("/") != 1:
        raise PreviewPostError("--post github needs the repository as owner/name",
                               hint="pass --github-repository or run inside GitHub Actions (GITHUB_REPOSITORY)")
    if pull_request is None:
        pull_request = _pull_request_from_event(env.get("GITHUB_EVENT_PATH"))
    token = env.get(token_env)
    if not token:
        raise PreviewPostError(f"--post github needs a token in ${token_env}",
                               hint="in a workflow: env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}")
    register_secret(token)
    return GitHubTarget(repository, pull_request, token, (api_url or env.get("GITHUB_API_URL") or DEFAULT_API_URL))


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

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        url = self.target.api_url.rstrip("/") + path
        if not url.lower().startswith(("https://", "http://")):
            raise PreviewPostError(f"GitHub API URL must be http(s): {sanitize_url(url)}")
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
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = redact_text(exc.read(2000).decode("utf-8", "replace"), [self.target.token])
            raise PreviewPostError(f"GitHub {method} {sanitize_url(url)} answered {exc.code}: {detail.strip()}",
                                   hint="the token needs 'pull-requests: write' (or issues: write)") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise PreviewPostError(f"GitHub {method} {sanitize_url(url)} failed: {type(exc).__name__}") from exc
        return json.loads(raw) if raw else None

    def find_comment(self) -> int | None:
        repo, number = self.target.repository, self.target.pull_request
        for page in range(1, MAX_PAGES + 1):
            comments = self._request("GET", f"/repos/{repo}/issues/{number}/comments?per_page={PER_PAGE}&page={page}")
            if not isinstance(comments, list):
                return None
            for comment in comments:
                if isinstance(comment, dict) and self.marker in str(comment.get("body") or ""):
                    return int(comment["id"])
            if len(comments) < PER_PAGE:
                return None
        return None

    def upsert(self, body: str) -> tuple[str, int]:
        """Update the marked comment or create it; returns (``"updated"``|``"created"``, comment id)."""
        if self.marker not in body:
            body = self.marker + "\n" + body
        existing = self.find_comment()
        repo = self.target.repository
        if existing is not None:
            self._request("PATCH", f"/repos/{repo}/issues/comments/{existing}", {"body": body})
            self.log.info("preview.comment_updated", comment_id=existing)
            return "updated", existing
        created = self._request("POST", f"/repos/{repo}/issues/{self.target.pull_request}/comments", {"body": body})
        comment_id = int(created["id"]) if isinstance(created, dict) and "id" in created else 0
        self.log.info("preview.comment_created", comment_id=comment_id)
        return "created", comment_id
