"""Driving ``extctl run``'s HTTP endpoints from tests: plain GET/POST on 127.0.0.1, a signed GitHub push, and
the one-extension scenario (``demo.agent`` over a chart repository) the webhook and leader tests share.

Owns: the helpers above. Must not: import controller internals beyond the pure signature helper, or sleep.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from controller.models.webhooks import sign
from tests.support.extctl import extension, extension_type
from tests.support.git_remote import GitRemote
from tests.support.sandbox import SandboxHandle
from tests.support.scenario import Scenario

SECRET = "webhook-test-secret-7f3a"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a loopback URL the test built
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a loopback URL
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def github_push(base: str, commit: str, *, branch: str = "main", secret: str = SECRET) -> tuple[int, str]:
    """What GitHub sends for a push of ``commit`` to ``branch``, signed with ``secret``."""
    body = json.dumps({"ref": f"refs/heads/{branch}", "after": commit, "repository": {"name": "config"}}).encode()
    return post(f"{base}/hooks/github", body, {"Content-Type": "application/json", "X-GitHub-Event": "push",
                                               "X-Hub-Signature-256": sign(secret.encode(), body)})


def agent_scenario(sandbox: SandboxHandle, git_remote: GitRemote, chart_repo_factory: Any, unique_name: str,
                   tmp_path: Path) -> Scenario:
    """A repository with one extension, ``agent`` (``logLevel: info``), of a one-version chart."""
    charts = chart_repo_factory(versions=("1.0.0",))
    git_remote.commit({"catalog/agent.yaml": extension_type("demo.agent", charts.url, namespace=unique_name),
                       "extensions/agent.yaml": extension("agent", "demo.agent", unique_name,
                                                          settings={"logLevel": "info"})}, message="agent")
    return Scenario(sandbox, git_remote, charts, unique_name, tmp_path / "cache")
