"""The sticky comment is ours only if it carries the marker *and* the token's login wrote it; the
target (repository, pull request, token, API URL, author) is resolved from flags and the Actions env."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.errors import PreviewPostError
from controller.github import StickyMatch, resolve_target, select_sticky
from controller.logs import redact_text

MARKER = "<!-- extctl-preview -->"


def comment(comment_id: Any, body: str, login: str | None) -> dict[str, Any]:
    return {"id": comment_id, "body": body, **({"user": {"login": login, "type": "User"}} if login else {})}


def test_a_marker_planted_by_someone_else_is_ignored() -> None:
    found = select_sticky([comment(1, "hi", "alice"), comment(2, f"{MARKER}\nfake: nothing changes", "mallory")],
                          marker=MARKER, author="extctl-bot")
    assert found == StickyMatch(None, ((2, "mallory"),))


def test_our_own_marked_comment_is_found() -> None:
    found = select_sticky([comment(1, "lgtm", "extctl-bot"), comment(2, f"{MARKER}\nreport", "extctl-bot")],
                          marker=MARKER, author="extctl-bot")
    assert found == StickyMatch(2)


@pytest.mark.parametrize("planted_first", [True, False])
def test_ours_wins_over_a_planted_one_wherever_it_is(planted_first: bool) -> None:
    planted, ours = comment(7, f"x {MARKER}", "mallory"), comment(9, f"{MARKER}\nreport", "github-actions[bot]")
    found = select_sticky([planted, ours] if planted_first else [ours, planted], marker=MARKER,
                          author="github-actions[bot]")
    assert found.comment_id == 9 and found.ignored == ((7, "mallory"),)


def test_logins_compare_case_insensitively_and_the_oldest_of_ours_wins() -> None:
    found = select_sticky([comment(3, MARKER, "Extctl-Bot"), comment(4, MARKER, "extctl-bot")],
                          marker=MARKER, author="EXTCTL-bot")
    assert found == StickyMatch(3)


def test_comments_without_an_author_or_id_never_match() -> None:
    found = select_sticky([comment(5, MARKER, None), comment("x", MARKER, "extctl-bot"), "not a comment",
                           {"body": MARKER, "user": {"login": "extctl-bot"}}, comment(6, "no marker", "extctl-bot"),
                           {"id": 8, "body": MARKER, "user": "extctl-bot"}],
                          marker=MARKER, author="extctl-bot")
    assert found == StickyMatch(None, ((5, "<unknown>"), (8, "<unknown>")))


# ---------------------------------------------------------------------------------------------- target
ENV = {"GITHUB_REPOSITORY": "octo/fleet", "GITHUB_TOKEN": "ghs_unit-token-abc"}


def test_the_target_comes_from_the_actions_environment(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 12}}))
    target = resolve_target(environ={**ENV, "GITHUB_EVENT_PATH": str(event)})
    assert (target.repository, target.pull_request, target.api_url) == ("octo/fleet", 12, "https://api.github.com")
    assert target.comment_author is None
    assert "ghs_unit-token-abc" not in repr(target)
    assert redact_text("token ghs_unit-token-abc") == "token ***"


def test_the_comment_author_flag_is_kept_and_an_empty_one_refused() -> None:
    target = resolve_target(pull_request=1, comment_author=" my-app[bot] ", environ=ENV)
    assert target.comment_author == "my-app[bot]"
    with pytest.raises(PreviewPostError, match="--github-comment-author is empty"):
        resolve_target(pull_request=1, comment_author="  ", environ=ENV)


@pytest.mark.parametrize("url", ["https://github.example/api/v3", "http://127.0.0.1:8080", "http://localhost:1",
                                 "http://[::1]:9"])
def test_api_urls_that_keep_the_token_off_the_wire_in_clear(url: str) -> None:
    assert resolve_target(pull_request=1, api_url=url, environ=ENV).api_url == url


@pytest.mark.parametrize("url", ["http://github.example/api/v3", "ftp://127.0.0.1/", "file:///etc/passwd",
                                 "https://", "api.github.com"])
def test_an_api_url_that_would_send_the_token_in_clear_is_refused(url: str) -> None:
    with pytest.raises(PreviewPostError, match="must be https://") as caught:
        resolve_target(pull_request=1, api_url=url, environ=ENV)
    assert caught.value.hint and "--github-api-url" in caught.value.hint


def test_a_missing_token_names_the_variable() -> None:
    with pytest.raises(PreviewPostError, match=r"needs a token in \$MY_TOKEN"):
        resolve_target(pull_request=1, token_env="MY_TOKEN", environ=ENV)
