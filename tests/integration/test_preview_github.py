"""The sticky preview comment on the GitHub stand-in (tests/support/github_stub.py, real HTTP on 127.0.0.1).

A marker is text anybody can type into a comment of their own: extctl updates only a marked comment
written by the login its token posts as (``GET /user``; ``github-actions[bot]`` for an installation
token, which GitHub answers 403 there; or ``--github-comment-author``). Marked comments by anybody
else are left alone and logged as ``preview.marker_ignored``. The token goes only into the
``Authorization`` header of requests to the API URL: never through a redirect, never into a log.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from controller.errors import PreviewPostError
from controller.github import GitHubClient, GitHubTarget
from controller.logs import configure
from controller.preview import MARKER
from tests.support.chart_repo import ChartRepo
from tests.support.charts import REPO_ROOT, helm_bin, helm_env
from tests.support.extctl import extension, extension_type
from tests.support.git_branches import branch
from tests.support.git_remote import GitRemote
from tests.support.github_stub import ACTIONS_BOT, GitHubStub
from tests.support.localnet import BackgroundHTTPServer

pytestmark = pytest.mark.integration
REPO, PR = "octo/fleet", 7
TOKEN = "ghp_sticky-token-4711"
PLANTED = f"{MARKER}\n### extctl preview: no changes\n(planted by mallory)"


@pytest.fixture
def github() -> Iterator[GitHubStub]:
    stub = GitHubStub(token=TOKEN, login="extctl-preview")
    yield stub
    stub.close()


def post(stub: GitHubStub, body: str, *, author: str | None = None, api_url: str | None = None
         ) -> tuple[tuple[str, int], list[dict[str, Any]]]:
    """``upsert`` in this process; returns its result and the JSON log lines it wrote."""
    stream = io.StringIO()
    configure("json", "info", stream=stream)
    target = GitHubTarget(REPO, PR, stub.token, api_url or stub.url, comment_author=author)
    result = GitHubClient(target, marker=MARKER).upsert(body)
    logs = stream.getvalue()
    assert stub.token not in logs
    return result, [json.loads(line) for line in logs.splitlines()]


def writes(stub: GitHubStub) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in stub.requests if r.method in ("POST", "PATCH")]


def test_a_planted_marker_is_left_alone_and_a_new_comment_is_created(github: GitHubStub) -> None:
    planted = github.add_comment(REPO, PR, PLANTED, author="mallory")
    (what, new_id), logs = post(github, f"{MARKER}\nreal report")
    assert what == "created" and new_id != planted
    assert writes(github) == [("POST", f"/repos/{REPO}/issues/{PR}/comments")]
    assert github.comment(planted)["body"] == PLANTED
    assert github.comment(new_id)["user"]["login"] == "extctl-preview"
    ignored = [line for line in logs if line["event"] == "preview.marker_ignored"]
    assert len(ignored) == 1 and ignored[0]["comment_id"] == planted
    assert ignored[0]["comment_author"] == "mallory" and ignored[0]["expected_author"] == "extctl-preview"
    assert any(line["event"] == "preview.comment_author" and line["source"] == "GET /user" for line in logs)

    # The next push updates our comment, still without touching mallory's.
    github.requests.clear()
    (what, updated), _logs = post(github, f"{MARKER}\nsecond report")
    assert (what, updated) == ("updated", new_id)
    assert writes(github) == [("PATCH", f"/repos/{REPO}/issues/comments/{new_id}")]
    assert github.comment(planted)["body"] == PLANTED and "second report" in github.comment(new_id)["body"]


def test_our_earlier_comment_is_updated(github: GitHubStub) -> None:
    ours = github.add_comment(REPO, PR, f"{MARKER}\nold report", author="extctl-preview")
    (what, comment_id), logs = post(github, "new report")  # the marker is added when missing
    assert (what, comment_id) == ("updated", ours)
    assert writes(github) == [("PATCH", f"/repos/{REPO}/issues/comments/{ours}")]
    assert github.comment(ours)["body"] == f"{MARKER}\nnew report"
    assert not any(line["event"] == "preview.marker_ignored" for line in logs)
    assert [r.path for r in github.requests if r.method == "GET"] == [
        "/user", f"/repos/{REPO}/issues/{PR}/comments?per_page=100&page=1"]


def test_with_both_present_ours_is_updated_even_behind_a_page_of_plants(github: GitHubStub) -> None:
    planted = [github.add_comment(REPO, PR, PLANTED, author=f"mallory{i}") for i in range(101)]
    ours = github.add_comment(REPO, PR, f"{MARKER}\nold report", author="extctl-preview")
    (what, comment_id), logs = post(github, f"{MARKER}\nnew report")
    assert (what, comment_id) == ("updated", ours)
    assert writes(github) == [("PATCH", f"/repos/{REPO}/issues/comments/{ours}")]
    assert all(github.comment(i)["body"] == PLANTED for i in planted)
    assert len([line for line in logs if line["event"] == "preview.marker_ignored"]) == 101


def test_an_installation_token_posts_as_github_actions_bot() -> None:
    """GitHub answers 403 on GET /user for Actions' GITHUB_TOKEN: its comments are github-actions[bot]'s."""
    stub = GitHubStub(token="ghs_installation-token-1", login=ACTIONS_BOT, installation=True)
    try:
        planted = stub.add_comment(REPO, PR, PLANTED, author="mallory")
        ours = stub.add_comment(REPO, PR, f"{MARKER}\nold", author=ACTIONS_BOT)
        (what, comment_id), logs = post(stub, f"{MARKER}\nnew")
        assert (what, comment_id) == ("updated", ours)
        assert stub.comment(planted)["body"] == PLANTED
        author = next(line for line in logs if line["event"] == "preview.comment_author")
        assert author["author"] == ACTIONS_BOT and "403" in author["source"]
    finally:
        stub.close()


def test_the_author_flag_names_a_github_app_and_skips_get_user() -> None:
    stub = GitHubStub(token="ghs_app-token-2", login="fleet-previews[bot]", installation=True)
    try:
        by_actions = stub.add_comment(REPO, PR, f"{MARKER}\nfrom another workflow", author=ACTIONS_BOT)
        ours = stub.add_comment(REPO, PR, f"{MARKER}\nold", author="fleet-previews[bot]")
        (what, comment_id), logs = post(stub, f"{MARKER}\nnew", author="fleet-previews[bot]")
        assert (what, comment_id) == ("updated", ours)
        assert "/user" not in [r.path for r in stub.requests]
        assert stub.comment(by_actions)["body"].endswith("from another workflow")
        assert [line["comment_author"] for line in logs if line["event"] == "preview.marker_ignored"] == [ACTIONS_BOT]
    finally:
        stub.close()


class _Redirector(BaseHTTPRequestHandler):
    target = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.send_response(307)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_redirect_is_refused_and_the_token_goes_nowhere_else(github: GitHubStub) -> None:
    elsewhere = GitHubStub(token="other-token")
    handler = type("Redirector", (_Redirector,), {"target": elsewhere.url})
    redirector = BackgroundHTTPServer(handler)
    try:
        with pytest.raises(PreviewPostError, match="answered 307") as caught:
            post(github, "report", api_url=f"http://127.0.0.1:{redirector.port}")
        assert elsewhere.requests == [] and github.token not in str(caught.value)
    finally:
        redirector.close()
        elsewhere.close()


# ---------------------------------------------------------------------------------------------- CLI
def test_preview_post_github_ignores_a_planted_marker_end_to_end(git_remote: GitRemote, chart_repo_factory: Any,
                                                                 tmp_path: Path, github: GitHubStub) -> None:
    charts: ChartRepo = chart_repo_factory(versions=("1.0.0",))
    git_remote.commit({"catalog/agent.yaml": extension_type("demo.agent", charts.url, namespace="demo"),
                       "extensions/agent.yaml": extension("agent", "demo.agent", "demo",
                                                          settings={"logLevel": "info"})})
    branch(git_remote, "feature", {"extensions/agent.yaml": extension("agent", "demo.agent", "demo",
                                                                     settings={"logLevel": "debug"})})
    planted = github.add_comment(REPO, 9, PLANTED, author="mallory")
    env = helm_env(tmp_path / "helm-home")
    for name in ("EXTCTL_REPO_USERNAME", "EXTCTL_REPO_PASSWORD", "EXTCTL_REPO_TOKEN"):
        env.pop(name, None)
    env.update({"HELM_BIN": helm_bin(), "GITHUB_TOKEN": github.token, "GITHUB_API_URL": github.url})
    proc = subprocess.run(
        [sys.executable, "-m", "controller", "preview", "--source", git_remote.file_url, "--base", "main",
         "--head", "feature", "--cache-dir", str(tmp_path / "git"), "--log-format", "json", "--post", "github",
         "--github-repository", REPO, "--github-pr", "9"],
        env=env, capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT)
    assert proc.returncode == 2, proc.stderr
    assert github.comment(planted)["body"] == PLANTED
    assert writes(github) == [("POST", f"/repos/{REPO}/issues/9/comments")]
    assert f"preview comment created (id {planted + 1})" in proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    ignored = [e for e in events if e["event"] == "preview.marker_ignored"]
    assert [(e["comment_id"], e["comment_author"]) for e in ignored] == [(planted, "mallory")]
    assert github.token not in proc.stdout + proc.stderr
