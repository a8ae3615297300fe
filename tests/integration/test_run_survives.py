"""``extctl run`` never dies (issue 9): each failure that used to end the process is a pass outcome,
logged with a typed reason, and the controller reconciles the next good revision. Every test checks the
process is still running, printed no traceback, and stops cleanly on SIGTERM (exit 0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.extctl import extension, extension_type
from tests.support.git_remote import GitRemote
from tests.support.sandbox import SandboxHandle
from tests.support.scenario import Scenario

pytestmark = pytest.mark.integration


@pytest.fixture
def scenario(sandbox: SandboxHandle, git_remote: GitRemote, chart_repo_factory: Any, unique_name: str,
             tmp_path: Path) -> Scenario:
    charts = chart_repo_factory(versions=("1.0.0",))
    git_remote.commit({"catalog/agent.yaml": extension_type("demo.agent", charts.url, namespace=unique_name)},
                      message="extension type")
    return Scenario(sandbox, git_remote, charts, unique_name, tmp_path / "cache")


BAD_BYTES = {
    "not UTF-8": b"# G\xe9r\xe9\n",
    "NUL byte": b"# a NUL \x00 here\n",
}


@pytest.mark.parametrize("case", sorted(BAD_BYTES))
def test_a_manifest_with_bad_bytes_rejects_the_revision_and_run_goes_on(
    scenario: Scenario, tmp_path: Path, case: str
) -> None:
    s = scenario
    good = extension("agent", "demo.agent", s.ns)
    first = s.remote.commit({"extensions/agent.yaml": good}, message="good")
    with s.start_run("--interval", "1s", log_dir=tmp_path / "run") as run:
        run.wait_for_event("reconcile.summary", outcome="applied", revision=f"main@sha1:{first}")
        bad = s.remote.commit({"extensions/agent.yaml": BAD_BYTES[case] + good.encode()}, message="bad bytes")
        rejected = run.wait_for_event("reconcile.summary", outcome="rejected", revision=f"main@sha1:{bad}")
        assert rejected["last_good_revision"] == f"main@sha1:{first}"
        invalid = run.wait_for_event("manifest.invalid")
        assert invalid["file"] == "extensions/agent.yaml" and invalid["line"] == 1, invalid
        fixed = s.remote.commit({"extensions/agent.yaml": extension("agent", "demo.agent", s.ns,
                                                                     settings={"logLevel": "debug"})}, message="fix")
        run.wait_for_event("reconcile.summary", outcome="applied", revision=f"main@sha1:{fixed}", timeout=60)
        assert run.process.poll() is None, "the controller is still running"
        result = run.terminate()
    assert result.returncode == 0 and "Traceback" not in result.stderr + result.stdout
    assert s.values("agent") == {"logLevel": "debug"}


def test_a_cache_dir_that_is_a_file_is_a_source_error_not_a_crash(scenario: Scenario, tmp_path: Path) -> None:
    s = scenario
    s.remote.commit({"extensions/agent.yaml": extension("agent", "demo.agent", s.ns)}, message="good")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache should be\n")
    s.cache = blocker
    with s.start_run("--interval", "1s", log_dir=tmp_path / "run") as run:
        first = run.wait_for_event("reconcile.summary", outcome="source-error")
        assert str(blocker) in first["error"], first
        run.wait_for_event("controller.backoff")
        later = run.wait_for_event("reconcile.summary", after=len(run.events("reconcile.summary")),
                                   outcome="source-error", timeout=60)
        assert later["reason"] == first["reason"]
        assert run.process.poll() is None
        result = run.terminate()
    assert result.returncode == 0 and "Traceback" not in result.stderr + result.stdout
    assert s.releases() == {}, "nothing was installed or uninstalled"


def test_a_forbidden_secret_blocks_only_its_extension_and_run_goes_on(scenario: Scenario, tmp_path: Path) -> None:
    """RBAC 403 while reading protected settings (the emulator answers 403 for Secrets named ``forbidden-*``)."""
    s = scenario
    s.remote.commit({
        "extensions/agent.yaml": extension("agent", "demo.agent", s.ns),
        "extensions/locked-out.yaml": extension("locked-out", "demo.agent", s.ns,
                                                protected=[{"secretName": "forbidden-creds", "key": "token"}]),
    }, message="one extension whose Secret extctl may not read")
    with s.start_run("--interval", "1s", log_dir=tmp_path / "run") as run:
        summary = run.wait_for_event("reconcile.summary", outcome="applied")
        assert (summary["installed"], summary["failed"]) == (1, 1), summary
        second = run.wait_for_event("reconcile.summary", after=1, outcome="applied")
        assert second["unchanged"] == 1
        result = run.terminate()
    assert result.returncode == 0 and "Traceback" not in result.stderr + result.stdout
    blocked = [a for a in result.actions() if a["extension"] == "locked-out"]
    assert blocked and all((a["action"], a["state"], a["error_reason"]) == ("fail", "blocked", "Blocked")
                           for a in blocked), blocked
    assert "forbids reading Secret" in blocked[0]["error"] and "kubectl auth can-i" in blocked[0]["error"]
    assert set(s.releases()) == {"agent"}
