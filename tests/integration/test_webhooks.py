"""Webhooks on ``extctl run --http-addr`` (issue 13): a signed push triggers a pass at once (the controller
polls only hourly here), a burst of pushes is one pass, pushes during a pass give exactly one more pass,
forged or foreign-branch deliveries trigger nothing, and the curl example of docs/operations.md works.
Everything goes through real HTTP, real git and the real helm binary against the sandbox."""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from controller.models.webhooks import sign
from tests.support.extctl import extension
from tests.support.git_remote import GitRemote
from tests.support.localnet import wait_for
from tests.support.sandbox import SandboxHandle
from tests.support.scenario import BackgroundExtctl, Scenario, helm_processes
from tests.support.webhooks import SECRET, agent_scenario, github_push, post

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@pytest.fixture
def scenario(sandbox: SandboxHandle, git_remote: GitRemote, chart_repo_factory: Any, unique_name: str,
             tmp_path: Path) -> Scenario:
    return agent_scenario(sandbox, git_remote, chart_repo_factory, unique_name, tmp_path)


def settings(level: str, delay: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = {"logLevel": level}
    if delay:
        found["annotations"] = {"sandbox.extctl.dev/delay-seconds": str(delay)}
    return found


def commit(s: Scenario, level: str, delay: int = 0) -> str:
    return s.remote.commit({"extensions/agent.yaml": extension("agent", "demo.agent", s.ns,
                                                               settings=settings(level, delay))}, message=level)


def start(s: Scenario, tmp_path: Path) -> tuple[BackgroundExtctl, str]:
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    run = s.start_run("--interval", "1h", "--http-addr", "127.0.0.1:0", "--webhook-secret-file", str(secret_file),
                      "--trigger-quiet", "300ms", "--wait", "false", log_dir=tmp_path / "run")
    base = f"http://127.0.0.1:{run.wait_for_event('http.listening')['port']}"
    run.wait_for_event("reconcile.summary", outcome="applied", timeout=120)
    return run, base


def test_pushes_trigger_coalesced_passes_and_forged_ones_nothing(scenario: Scenario, tmp_path: Path) -> None:
    s = scenario
    run, base = start(s, tmp_path)
    with run:
        assert s.values("agent") == {"logLevel": "info"}
        # A forged delivery, a push to another branch and a ping trigger nothing.
        head = commit(s, "debug")
        assert github_push(base, head, secret="guess")[0] == 403
        assert github_push(base, head, branch="dev") == (200, "ignored: branch dev (extctl follows main)\n")
        assert post(f"{base}/hooks/github", b"{}", {"X-GitHub-Event": "ping",
                                                   "X-Hub-Signature-256": sign(SECRET.encode(), b"{}")})[0] == 200
        # A burst of five deliveries of that push: one pass covers them all.
        with ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(lambda _: github_push(base, head), range(5)))
        assert [a[0] for a in answers] == [202] * 5, answers
        woke = run.wait_for_event("controller.triggered", timeout=30)
        assert woke["triggers"] == 5, "the burst was coalesced into one pass"
        second = run.wait_for_event("reconcile.summary", after=1, timeout=60)
        assert (second["revision"], second["upgraded"]) == (f"main@sha1:{head}", 1), second
        assert s.values("agent") == {"logLevel": "debug"}

        # A slow upgrade; three pushes while it runs give exactly one more pass, right after it.
        slow = commit(s, "warning", delay=3)
        assert github_push(base, slow)[0] == 202
        wait_for(lambda: helm_processes("upgrade", "agent"), timeout=60, what="the slow upgrade in flight")
        last = ""
        for level in ("error", "info", "debug"):
            last = commit(s, level)
            assert github_push(base, last)[0] == 202
        during = run.wait_for_event("controller.triggered", after=2, timeout=60)
        assert during["triggers"] == 3, during
        fourth = run.wait_for_event("reconcile.summary", after=3, timeout=60)
        assert fourth["revision"] == f"main@sha1:{last}" and fourth["upgraded"] == 1, fourth
        assert s.values("agent") == {"logLevel": "debug"}

        # docs/operations.md's curl example (the generic hook) is accepted and triggers a pass.
        example = docs_example()
        env = {**os.environ, "EXTCTL_URL": base, "SECRET_FILE": str(tmp_path / "webhook-secret")}
        shown = subprocess.run(["bash", "-euo", "pipefail", "-c", example], env=env, capture_output=True,
                               text=True, timeout=30, check=False)
        assert (shown.returncode, shown.stdout) == (0, "accepted: a pass will fetch the branch\n"), shown.stderr
        run.wait_for_event("reconcile.summary", after=4, timeout=60)
        result = run.terminate()
    assert result.returncode == 0 and "Traceback" not in result.stderr
    summaries = [e for e in result.events if e.get("event") == "reconcile.summary"]
    assert len(summaries) == 5, "first pass, the burst's, the slow one, the one after it, the docs example's"
    triggered = [e["triggers"] for e in result.events if e.get("event") == "controller.triggered"]
    assert triggered == [5, 1, 3, 1]
    assert [h["description"] for h in s.history("agent")].count("Upgrade complete") == 3
    received = [(e["provider"], e["status"]) for e in result.events if e.get("event", "").startswith("webhook.")]
    assert received.count(("github", 202)) == 9 and ("github", 403) in received and ("generic", 202) in received
    assert SECRET not in result.stdout + result.stderr


def docs_example() -> str:
    text = DOCS.read_text()
    found = re.search(r"<!-- doctest: tested-by tests/integration/test_webhooks.py -->\n```bash\n(.*?)```", text, re.S)
    assert found, "the tested curl example is missing from docs/operations.md"
    return found.group(1)


def test_a_local_directory_source_accepts_a_push_as_a_no_op(sandbox: SandboxHandle, tmp_path: Path,
                                                            unique_name: str) -> None:
    repo = tmp_path / "repo"
    (repo / "extensions").mkdir(parents=True)
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    args = ["run", "--source", str(repo), "--cache-dir", str(tmp_path / "cache"), "--instance", unique_name,
            "--interval", "1h", "--http-addr", "127.0.0.1:0", "--log-format", "json",
            "--webhook-secret-file", str(secret_file)]
    with BackgroundExtctl.start(sandbox, args, log_dir=tmp_path / "run") as run:
        base = f"http://127.0.0.1:{run.wait_for_event('http.listening')['port']}"
        run.wait_for_event("reconcile.summary", timeout=60)
        status, text = github_push(base, "a" * 40)
        assert status == 202 and "no-op" in text, text
        assert github_push(base, "a" * 40, secret="guess")[0] == 403
        result = run.terminate()
    assert result.returncode == 0
    assert not [e for e in result.events if e.get("event") == "controller.triggered"]
