"""Reliability and safety (issue 6), proven by fault injection on the real harness.

Every test drives ``extctl`` as a subprocess (``reconcile --once``, ``plan``, ``run``) against the sandbox
and asserts what a user sees: exit codes and JSON log lines, ``helm list``/``history``/``get``, and
objects in the Kubernetes API. Faults are injected from outside: the sandbox's ``delay-seconds`` and
``reject`` annotations (via the demo chart's ``configurationSettings.annotations``), SIGKILL of helm or
of extctl's whole process group, stopped Git/chart servers, a deleted branch, a rewritten history, a
corrupted cache, missing Secrets and a kubeconfig pointing at a closed port. See docs/reliability.md.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.extctl import ExtctlRun, extension, extension_type
from tests.support.git_remote import GitRemote
from tests.support.localnet import wait_for
from tests.support.proctree import files_containing
from tests.support.sandbox import SandboxHandle
from tests.support.scenario import Scenario, helm_processes

pytestmark = pytest.mark.integration

TYPE_FILE = "catalog/agent.yaml"
REJECT = {"sandbox.extctl.dev/reject": "denied by policy"}
FAST_RETRY = ("--remediation-retries", "1", "--remediation-backoff", "300ms")


@pytest.fixture
def scenario(sandbox: SandboxHandle, git_remote: GitRemote, chart_repo_factory: Any, unique_name: str,
             tmp_path: Path) -> Scenario:
    """An ExtensionType ``demo.agent`` over a fresh chart repository (demo-agent 1.0.0) in a Git remote."""
    charts = chart_repo_factory(versions=("1.0.0",))
    git_remote.commit({TYPE_FILE: extension_type("demo.agent", charts.url, namespace=unique_name)},
                      message="extension type")
    temp = tmp_path / "tmp"
    temp.mkdir()
    return Scenario(sandbox, git_remote, charts, unique_name, tmp_path / "cache", env_extra={"TMPDIR": str(temp)})


def ext(scenario: Scenario, name: str, **kwargs: Any) -> str:
    return extension(name, "demo.agent", scenario.ns, **kwargs)


def events(run: ExtctlRun, event: str) -> list[dict[str, Any]]:
    return [e for e in run.events if e.get("event") == event]


def action(run: ExtctlRun, extension_name: str) -> dict[str, Any]:
    found = [a for a in run.actions() if a["extension"] == extension_name]
    assert len(found) == 1, run.stdout + run.stderr
    return found[0]


def commit_extensions(scenario: Scenario, message: str = "update", **manifests: str | None) -> str:
    return scenario.remote.commit({f"extensions/{name}.yaml": text for name, text in manifests.items()},
                                  message=message)


# --------------------------------------------------------------------------------------------- remediation
def test_rejected_install_is_uninstalled_failed_permanently_reset_and_fixed(scenario: Scenario) -> None:
    s = scenario
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "info", "annotations": REJECT}))

    first = s.reconcile(*FAST_RETRY)
    assert first.returncode == 1, first.stdout + first.stderr
    assert first.changes() == [("agent", "install", "failed")]
    line = action(first, "agent")
    assert "denied by policy" in line["error"]
    assert (line["error_reason"], line["transient"]) == ("ValidationFailed", False)
    assert [e["strategy"] for e in events(first, "remediation.uninstalled")] == ["uninstall"]
    assert "agent" not in s.releases(), "a failed install is removed so the next attempt starts clean"
    assert s.state()["agent"]["failure"]["permanent"] is True

    # A permanent failure is not retried: the same input would fail the same way. helm is not run.
    second = s.reconcile(*FAST_RETRY)
    assert second.returncode == 1
    line = action(second, "agent")
    assert (line["action"], line["state"], line["error_reason"]) == ("fail", "failed-permanently", "FailedPermanently")
    assert "--reset" in line["error"] and second.summary()["helm_calls"] == 1, "only helm list"
    assert not events(second, "remediation.uninstalled")

    # --reset NAME clears the record by hand: helm runs again (and fails again: the cause is still in Git).
    reset = s.reconcile(*FAST_RETRY, "--reset", "agent")
    assert [e["extension"] for e in events(reset, "remediation.reset")] == ["agent"]
    assert action(reset, "agent")["outcome"] == "failed"
    assert events(reset, "remediation.uninstalled")
    assert s.state()["agent"]["failure"]["failures"] == 1

    # Fixing the settings in Git changes the fingerprint: the failure record no longer applies.
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "debug"}))
    fixed = s.reconcile(*FAST_RETRY)
    assert fixed.returncode == 0, fixed.stdout
    assert fixed.changes() == [("agent", "install", "succeeded")]
    assert s.statuses()["agent"] == (1, "deployed")
    assert s.settings_configmap("agent")["value.logLevel"] == "debug"
    assert "agent" not in s.state(), "a success clears the failure record"


def test_transient_install_failure_backs_off_retries_exhausts_and_recovers(scenario: Scenario) -> None:
    s = scenario
    archive = s.charts.root / "demo-agent-1.0.0.tgz"
    kept = archive.read_bytes()
    archive.unlink()  # still listed in index.yaml: helm's download fails (ChartUnavailable, transient)
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "info"}))

    first = s.reconcile(*FAST_RETRY)
    assert first.returncode == 1, first.stdout + first.stderr
    line = action(first, "agent")
    assert (line["action"], line["outcome"], line["error_reason"], line["transient"]) == \
        ("install", "failed", "ChartUnavailable", True)
    assert s.state()["agent"]["failure"]["failures"] == 1 and not s.state()["agent"]["failure"]["permanent"]

    # The retry waits for the backoff (300ms here), then runs helm again: "retry 1 of 1".
    def retried() -> ExtctlRun | None:
        run = s.reconcile(*FAST_RETRY)
        line = action(run, "agent")
        assert line["outcome"] == "failed" or line["state"] == "backing-off", line
        return run if line["outcome"] == "failed" else None

    second = wait_for(retried, timeout=60, what="the retry after the backoff")
    assert "retry 1 of 1" in action(second, "agent")["reason"]
    exhausted_state = s.state()["agent"]["failure"]
    assert exhausted_state["failures"] == 2

    # Retries exhausted: Failed, and helm is not run again (the failure record does not move).
    third = s.reconcile(*FAST_RETRY)
    assert third.returncode == 1
    line = action(third, "agent")
    assert (line["outcome"], line["error_reason"]) == ("failed", "RetriesExhausted")
    assert "retries exhausted" in line["error"] and "--reset" in line["error"]
    assert s.state()["agent"]["failure"] == exhausted_state

    # The repository serves the chart again; --reset starts the retries over and the install succeeds.
    archive.write_bytes(kept)
    recovered = s.reconcile(*FAST_RETRY, "--reset", "agent")
    assert recovered.returncode == 0, recovered.stdout
    assert recovered.changes() == [("agent", "install", "succeeded")]
    assert "agent" not in s.state()


def test_failed_upgrade_is_rolled_back_and_strategy_none_keeps_the_failed_release(scenario: Scenario) -> None:
    s = scenario
    keep_policy = {"install": {"strategy": "none"}, "upgrade": {"strategy": "none"}}
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "info"}),
                      keep=ext(s, "keep", settings={"logLevel": "info"}, remediation=keep_policy))
    assert s.reconcile().returncode == 0

    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "debug", "annotations": REJECT}),
                      keep=ext(s, "keep", settings={"logLevel": "debug", "annotations": REJECT},
                               remediation=keep_policy))
    failed = s.reconcile()
    assert failed.returncode == 1
    assert sorted(failed.changes()) == [("agent", "upgrade", "failed"), ("keep", "upgrade", "failed")]
    rolled = events(failed, "remediation.rolled_back")
    assert [(e["extension"], e["to_revision"]) for e in rolled] == [("agent", 1)]
    assert "remediation: rolled back to revision 1" in action(failed, "agent")["reason"]

    history = s.history("agent")
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "failed"), (3, "deployed")]
    assert history[-1]["description"] == "Rollback to 1"
    assert s.values("agent") == {"logLevel": "info"}
    assert s.settings_configmap("agent")["value.logLevel"] == "info"
    # strategy: none leaves the failed release as it is, for a human to inspect.
    assert s.statuses()["keep"] == (2, "failed")
    assert not [e for e in failed.events if e.get("event", "").startswith("remediation.") and
                e.get("extension") == "keep"]

    # A later fixed commit recovers both (a new fingerprint: no backoff).
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "debug"}),
                      keep=ext(s, "keep", settings={"logLevel": "debug"}, remediation=keep_policy))
    fixed = s.reconcile()
    assert fixed.returncode == 0, fixed.stdout
    assert sorted(fixed.changes()) == [("agent", "upgrade", "succeeded"), ("keep", "upgrade", "succeeded")]
    assert s.statuses() == {"agent": (4, "deployed"), "keep": (3, "deployed")}
    assert s.values("keep") == {"logLevel": "debug"}
    assert s.state() == {}


# --------------------------------------------------------------------------------------------- stuck releases
def _slow(level: str, seconds: int) -> dict[str, Any]:
    return {"logLevel": level, "annotations": {"sandbox.extctl.dev/delay-seconds": str(seconds)}}


def _assert_sane_history(history: list[dict[str, Any]], *, interrupted: int) -> None:
    """The last revision is the one deployed; the interrupted revision is followed by ``Rollback to N``.

    helm has no way to change an old revision's record, so the interrupted one keeps the status it had
    when its process died (``pending-upgrade``); helm only ever checks the latest revision for a lock."""
    rows = [(h["revision"], h["status"], h["description"]) for h in history]
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), rows
    assert rows[-1][1] == "deployed" and [r[1] for r in rows].count("deployed") == 1, rows
    unfinished = [r[0] for r in rows if r[1].startswith("pending") or r[1] == "uninstalling"]
    assert unfinished in ([], [interrupted]), rows
    assert rows[interrupted][2].startswith("Rollback to "), rows


def test_sigkill_helm_mid_upgrade_is_recovered_by_the_running_controller(scenario: Scenario, tmp_path: Path) -> None:
    s = scenario
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "info"}))
    assert s.reconcile().returncode == 0
    commit_extensions(s, agent=ext(s, "agent", settings=_slow("debug", 3)))

    with s.start_run("--interval", "1s", "--lock-timeout", "1s", "--remediation-backoff", "300ms",
                     log_dir=tmp_path / "run") as run:
        wait_for(lambda: s.statuses().get("agent") == (2, "pending-upgrade"), timeout=60, what="upgrade in flight")
        pids = wait_for(lambda: helm_processes("upgrade", "agent"), timeout=30, what="the helm upgrade process")
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: s.statuses()["agent"][1] == "deployed" and s.values("agent")["logLevel"] == "debug",
                 timeout=90, what="recovery to a deployed release with the new values")
        result = run.terminate()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    upgrades = [(a["outcome"], a.get("error_reason")) for a in result.actions() if a["action"] == "upgrade"]
    assert upgrades[0][0] == "failed" and upgrades[-1] == ("succeeded", None), upgrades
    # The killed helm fails the action; remediation rolls the locked release back at once (helm's own
    # rollback accepts a pending-upgrade release), and the next pass upgrades it again.
    rolled = events(result, "remediation.rolled_back")
    assert [(e["extension"], e["to_revision"]) for e in rolled] == [("agent", 1)], result.stdout
    assert "helm was killed by SIGKILL" in rolled[0]["error"]
    _assert_sane_history(s.history("agent"), interrupted=2)
    assert s.settings_configmap("agent")["value.logLevel"] == "debug"


def _lock_age(scenario: Scenario, name: str) -> float:
    """Seconds since helm last updated the release (``helm list``'s ``updated``)."""
    import datetime

    updated = scenario.releases()[name]["updated"]  # e.g. "2026-11-24 01:38:02.213926339 +0000 UTC"
    date, clock, offset = updated.split(" ")[:3]
    stamp = datetime.datetime.strptime(f"{date} {clock.split('.')[0]} {offset}", "%Y-%m-%d %H:%M:%S %z")
    return datetime.datetime.now(tz=datetime.UTC).timestamp() - stamp.timestamp()


def test_young_lock_is_skipped_then_sigkilled_extctl_is_recovered_by_the_next_reconcile(
    scenario: Scenario, tmp_path: Path
) -> None:
    s = scenario
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "info"}))
    assert s.reconcile().returncode == 0
    commit_extensions(s, agent=ext(s, "agent", settings=_slow("debug", 5)))

    with s.start_run("--interval", "1h", log_dir=tmp_path / "run") as run:
        wait_for(lambda: s.statuses().get("agent") == (2, "pending-upgrade"), timeout=60, what="upgrade in flight")
        # Another pass while the upgrade runs: the lock is young, so the release is skipped, not touched.
        overlapping = s.reconcile()
        line = action(overlapping, "agent")
        assert line["action"] == "skip" and "locked" in line["reason"], line
        assert not events(overlapping, "release.unlocked")
        assert s.statuses()["agent"] == (2, "pending-upgrade")
        assert helm_processes("upgrade", "agent"), "the first upgrade is still running"
        # Now the node dies: extctl and its helm child are killed together.
        run.kill_group()
    assert not helm_processes("upgrade", "agent")
    assert s.statuses()["agent"] == (2, "pending-upgrade"), "the kill left the release locked"

    wait_for(lambda: _lock_age(s, "agent") > 1.5, timeout=30, what="the lock to age past --lock-timeout")
    recovered = s.reconcile("--lock-timeout", "1s")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    unlocked = events(recovered, "release.unlocked")
    assert [(e["release"], e["status"]) for e in unlocked] == [("agent", "pending-upgrade")]
    assert "rolled back to revision 1" in unlocked[0]["recovery"]
    # The stale lock is its own planned action (unlock); a follow-up pass in the same process upgrades.
    assert recovered.changes() == [("agent", "unlock", "succeeded"), ("agent", "upgrade", "succeeded")]
    assert len(events(recovered, "reconcile.summary")) == 2
    history = s.history("agent")
    _assert_sane_history(history, interrupted=2)
    assert [h["description"] for h in history].count("Rollback to 1") == 1
    assert s.values("agent")["logLevel"] == "debug"
    assert s.settings_configmap("agent")["value.logLevel"] == "debug"


# --------------------------------------------------------------------------------------------- protected settings
def test_protected_settings_pending_then_applied_rotated_and_never_leaked(
    sandbox: SandboxHandle, git_remote: GitRemote, chart_repo_factory: Any, unique_name: str, tmp_path: Path
) -> None:
    import json
    import uuid

    planted = f"planted-{uuid.uuid4().hex}"
    rotated = f"rotated-{uuid.uuid4().hex}"
    repo_password = f"repo-pw-{uuid.uuid4().hex}"
    charts = chart_repo_factory(versions=("1.0.0",), auth=("extctl", repo_password))
    git_remote.commit({TYPE_FILE: extension_type("demo.agent", charts.url, namespace=unique_name)})
    temp = tmp_path / "tmp"
    temp.mkdir()
    s = Scenario(sandbox, git_remote, charts, unique_name, tmp_path / "cache", env_extra={
        "TMPDIR": str(temp), "EXTCTL_REPO_HOST": f"127.0.0.1:{charts.port}", "EXTCTL_REPO_USERNAME": "extctl",
        "EXTCTL_REPO_PASSWORD": repo_password})
    ref = {"secretName": "agent-creds", "key": "apiKey", "targetPath": "credentials.apiKey"}
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "info"}, protected=[ref]))

    # No Secret yet: Pending (not failed), exit 1, and the message names the Secret and the key.
    pending = s.reconcile()
    assert pending.returncode == 1
    line = action(pending, "agent")
    assert (line["action"], line["state"], line["outcome"]) == ("skip", "pending", "pending"), line
    assert f"Secret {s.ns}/agent-creds" in line["reason"] and "apiKey" in line["reason"], line
    assert pending.summary()["pending"] == 1
    assert "agent" not in s.releases()

    # Pending longer than --pending-timeout: Failed with PendingTimeout (the timer survives processes).
    def timed_out() -> dict[str, Any] | None:
        found = action(s.reconcile("--pending-timeout", "1s"), "agent")
        return found if found["outcome"] == "failed" else None

    expired = wait_for(timed_out, timeout=30, what="the pending timeout")
    assert expired["error_reason"] == "PendingTimeout" and "agent-creds" in expired["error"], expired

    # The Secret appears (without the key first: still pending, naming the key).
    s.put_secret("agent-creds", {"other": "x"})
    line = action(s.reconcile(), "agent")
    assert line["outcome"] == "pending" and "key 'apiKey' not found" in line["reason"], line
    s.put_secret("agent-creds", {"apiKey": planted})
    installed = s.reconcile()
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert installed.changes() == [("agent", "install", "succeeded")]
    assert json.loads(s.settings_configmap("agent")["values.json"])["credentials"] == {"apiKey": planted}
    digest = s.metadata("agent")["labels"]["extctl.dev/values-digest"]
    assert s.state() == {}, "success clears the pending timer"

    # Rotating the Secret upgrades the release (the HMAC-based digest changes, the value is not in it).
    assert s.reconcile().changes() == []
    s.put_secret("agent-creds", {"apiKey": rotated})
    why = "settings changed: credentials.apiKey (protected)"  # the key is named, its value never
    assert [a["reasons"] for a in s.plan().document("plan")["actions"]] == [[why]]
    upgraded = s.reconcile()
    assert upgraded.changes() == [("agent", "upgrade", "succeeded")]
    assert action(upgraded, "agent")["reason"] == why
    new_digest = s.metadata("agent")["labels"]["extctl.dev/values-digest"]
    assert new_digest != digest
    assert json.loads(s.settings_configmap("agent")["values.json"])["credentials"] == {"apiKey": rotated}

    # Every other way a user looks at it: plan (text and JSON), and the controller loop.
    assert s.extctl("plan", *s.source_args()).returncode == 0
    assert s.plan().returncode == 0
    with s.start_run("--interval", "1h", log_dir=tmp_path / "run") as run:
        run.wait_for_event("reconcile.summary", timeout=60)
        ran = run.terminate()
    assert ran.returncode == 0 and action(ran, "agent")["action"] == "noop"

    # The scan: no planted value in any output, in helm's release metadata and history, in the state
    # ConfigMap, in leftover temp files, in the Git cache or in helm's cache.
    needles = [planted, rotated, repo_password]
    for run_output in [*s.runs, ran]:
        for needle in needles:
            assert needle not in run_output.stdout and needle not in run_output.stderr
    release_record = json.dumps([s.metadata("agent"), s.history("agent"), s.releases()])
    assert not [n for n in needles if n in release_record]
    assert digest not in (planted, rotated) and not [n for n in needles if n in new_digest]
    state_cm = sandbox.core_v1().read_namespaced_config_map(f"extctl-state-{s.ns}", "extctl-system")
    assert not [n for n in needles if n in json.dumps(state_cm.data or {})]
    assert not list(temp.glob("extctl-values-*")), "values files are always removed"
    assert not files_containing(temp, needles)
    assert not files_containing(s.cache, needles)
    assert not files_containing(Path(sandbox.env["HELM_CACHE_HOME"]), needles)


# --------------------------------------------------------------------------------------------- bad input
def test_invalid_revision_is_rejected_whole_and_touches_nothing(scenario: Scenario) -> None:
    s = scenario
    commit_extensions(s, a=ext(s, "a"), b=ext(s, "b"), c=ext(s, "c"))
    good = s.reconcile()
    assert good.returncode == 0
    before = s.statuses()

    # Head breaks two files in two ways (and drops a third, which alone would uninstall it).
    commit_extensions(
        s, a="apiVersion: extctl.dev/v1alpha1\nkind: Extension\nmetadata:\n  name: a\nspec: [unclosed\n",
        b=ext(s, "b", extra="  replicas: 3\n"), c=None)
    rejected = s.reconcile()
    assert rejected.returncode == 1
    errors = events(rejected, "manifest.invalid")
    assert {e["file"] for e in errors} == {"extensions/a.yaml", "extensions/b.yaml"}, errors
    assert all(isinstance(e["line"], int) and isinstance(e["column"], int) for e in errors), errors
    schema_error = next(e for e in errors if e["file"] == "extensions/b.yaml")
    assert (schema_error["field"], schema_error["line"]) == ("spec.replicas", 10), schema_error
    summary = rejected.summary()
    assert summary["outcome"] == "rejected"
    assert "nothing applied, nothing uninstalled" in summary["error"]
    # A fresh --once process still names the revision the cluster runs (from the state store).
    assert summary["last_good_revision"] == good.summary()["revision"]
    assert rejected.actions() == []
    assert s.statuses() == before, "no release was upgraded or uninstalled"

    # Fixing the files (c stays deleted) is applied as usual.
    commit_extensions(s, a=ext(s, "a"), b=ext(s, "b"))
    fixed = s.reconcile()
    assert fixed.returncode == 0
    assert fixed.changes() == [("c", "uninstall", "succeeded")]


def test_prune_guard_refuses_mass_uninstall_until_allowed(scenario: Scenario) -> None:
    s = scenario
    commit_extensions(s, a=ext(s, "a"), b=ext(s, "b"), c=ext(s, "c"))
    assert s.reconcile().returncode == 0

    # 2 of 3 managed releases gone from Git (67% > 50%): refused, every release stays.
    commit_extensions(s, b=None, c=None)
    refused = s.reconcile()
    assert refused.returncode == 1, "a refused revision needs a human: not a success"
    assert refused.summary()["prune_refused"] == 2
    assert refused.summary()["uninstalled"] == 0
    guard = events(refused, "prune.refused")
    assert [sorted(e["would_uninstall"]) for e in guard] == [[f"{s.ns}/b", f"{s.ns}/c"]]
    assert "--allow-mass-prune" in guard[0]["reason"] and ".extctl/allow-mass-prune" in guard[0]["reason"]
    assert {(a["extension"], a["action"]) for a in refused.actions()} == {("a", "noop"), ("b", "skip"),
                                                                          ("c", "skip")}
    assert set(s.releases()) == {"a", "b", "c"}

    # plan says it once, in its own section, and counts the refused uninstalls.
    text = s.extctl("plan", *s.source_args())
    assert text.returncode == 1, text.stdout + text.stderr
    assert text.stdout.count("prune guard: would uninstall 2 of 3 managed releases") == 1, text.stdout
    section = text.stdout.split("uninstalls refused by the prune guard (2):\n", 1)[1]
    assert [line.split()[0] for line in section.splitlines()[1:3]] == [f"{s.ns}/b", f"{s.ns}/c"], text.stdout
    assert text.stdout.rstrip().endswith("0 change(s) planned, 2 uninstall(s) refused by the prune guard")
    planned = s.plan().document("plan")
    assert [a["extension"] for a in planned["actions"]] == ["a"]
    assert planned["prune_refused"]["count"] == planned["summary"]["prune_refused"] == 2
    assert "--allow-mass-prune" in planned["prune_refused"]["reason"]
    assert [(r["release"], r["reasons"]) for r in planned["prune_refused"]["releases"]] == [
        ("b", ["owned release no longer in Git"]), ("c", ["owned release no longer in Git"])]

    # A committed .extctl/allow-mass-prune lifts the guard for the repository.
    s.remote.commit({".extctl/allow-mass-prune": ""}, message="allow the prune")
    allowed = s.reconcile()
    assert allowed.returncode == 0
    assert sorted(allowed.changes()) == [("b", "uninstall", "succeeded"), ("c", "uninstall", "succeeded")]
    assert set(s.releases()) == {"a"}

    # A revision with no extensions at all (a wiped or mis-pointed repository) is always refused.
    s.remote.commit({".extctl/allow-mass-prune": None, "extensions/a.yaml": None}, message="wipe")
    wiped = s.reconcile()
    assert wiped.returncode == 1
    assert wiped.summary()["prune_refused"] == 1
    assert "holds no extensions" in events(wiped, "prune.refused")[0]["reason"]
    assert set(s.releases()) == {"a"}

    # --allow-mass-prune accepts it for this run.
    forced = s.reconcile("--allow-mass-prune")
    assert forced.returncode == 0
    assert forced.changes() == [("a", "uninstall", "succeeded")]
    assert s.releases() == {}


# --------------------------------------------------------------------------------------------- source faults
def _assert_source_error(run: ExtctlRun, reason: str, *phrases: str) -> dict[str, Any]:
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    summary = run.summary()
    assert (summary["outcome"], summary["reason"]) == ("source-error", reason), summary
    assert "hint:" in summary["error"], summary  # every source error says what to do
    for phrase in phrases:
        assert phrase in summary["error"], summary
    assert run.actions() == []
    return summary


def test_git_faults_leave_releases_untouched_and_recover(
    sandbox: SandboxHandle, git_remote_factory: Any, chart_repo_factory: Any, unique_name: str, tmp_path: Path
) -> None:
    import shutil

    from tests.support.git_remote import run_git

    password = "git-pw-correct"
    remote = git_remote_factory(auth=("extctl", password))
    charts = chart_repo_factory(versions=("1.0.0",))
    base = remote.commit({TYPE_FILE: extension_type("demo.agent", charts.url, namespace=unique_name)})
    s = Scenario(sandbox, remote, charts, unique_name, tmp_path / "cache",
                 env_extra={"EXTCTL_GIT_USERNAME": "extctl", "EXTCTL_GIT_PASSWORD": password})
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "info"}))
    assert s.reconcile().returncode == 0
    before = s.statuses()

    # Authentication failure: names the credential variables, never echoes the wrong password.
    wrong = s.reconcile(env={"EXTCTL_GIT_PASSWORD": "wrong-pw-8d1f"})
    _assert_source_error(wrong, "SourceAuthFailed", "authentication", "EXTCTL_GIT_PASSWORD")
    assert "wrong-pw-8d1f" not in wrong.stdout + wrong.stderr

    # Branch deleted on the remote: the last good revision stays applied.
    head = remote.head()
    run_git(["update-ref", "-d", "refs/heads/main"], env=remote.env, cwd=remote.bare)
    deleted = s.reconcile()
    _assert_source_error(deleted, "BranchNotFound", "'main'", "keeping the last good revision")
    run_git(["update-ref", "refs/heads/main", head], env=remote.env, cwd=remote.bare)

    # Unreachable remote (server down).
    remote.http.stop()
    down = s.reconcile()
    _assert_source_error(down, "SourceUnreachable", "cannot reach", "keeping the last good revision")
    remote.http.start()
    assert s.statuses() == before, "no source fault changed any release"

    # Force-push: history rewritten to a new head with other settings; followed, logged, applied.
    run_git(["update-ref", "refs/heads/main", base], env=remote.env, cwd=remote.bare)
    rewritten = commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "debug"}), message="rewrite")
    assert head not in remote.log()
    forced = s.reconcile()
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert [e["previous_commit"] for e in forced.events if "history rewritten" in e["event"]] == [head]
    assert forced.summary()["revision"] == f"main@sha1:{rewritten}"
    assert forced.changes() == [("agent", "upgrade", "succeeded")]

    # Corrupted cache: detected, deleted, cloned again, and the new head is applied.
    (checkout,) = [p for p in s.cache.iterdir() if (p / ".git").is_dir()]
    for obj in (checkout / ".git" / "objects").rglob("*"):
        if obj.is_file() and obj.parent.name != "info":
            obj.chmod(0o600)
            obj.write_bytes(b"garbage, not a git object\n")
    shutil.rmtree(checkout / ".git" / "refs", ignore_errors=True)
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "warn"}))
    recloned = s.reconcile()
    assert recloned.returncode == 0, recloned.stdout + recloned.stderr
    assert [e for e in recloned.events if "cloning again" in e["event"]], recloned.stdout
    assert recloned.changes() == [("agent", "upgrade", "succeeded")]
    assert s.settings_configmap("agent")["value.logLevel"] == "warn"


def test_run_backs_off_while_git_is_unreachable_and_recovers(scenario: Scenario, tmp_path: Path) -> None:
    s = scenario
    commit_extensions(s, agent=ext(s, "agent"))
    with s.start_run("--interval", "2s", log_dir=tmp_path / "run") as run:
        first = run.wait_for_event("reconcile.summary", outcome="applied")
        s.remote.http.stop()
        backoff = run.wait_for_event("controller.backoff", timeout=60)
        assert backoff["last_good_revision"] == first["revision"]
        failed = run.wait_for_event("reconcile.summary", outcome="source-error")
        assert failed["reason"] == "SourceUnreachable" and failed["last_good_revision"] == first["revision"]
        s.remote.http.start()
        applied_before = len(run.events("reconcile.summary"))
        run.wait_for_event("reconcile.summary", after=applied_before, outcome="applied", timeout=60)
        result = run.terminate()
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert s.statuses() == {"agent": (1, "deployed")}
    assert [a["action"] for a in result.actions()] == ["install"] + ["noop"] * (len(result.actions()) - 1)


# --------------------------------------------------------------------------------------------- dependency faults
def test_chart_repository_down_uses_the_stale_index_in_run_and_blocks_a_cold_reconcile(
    scenario: Scenario, tmp_path: Path
) -> None:
    s = scenario
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "info"}))
    # --catalog-ttl 0: every pass asks the repository again (default 5m), so the outage is noticed at once.
    with s.start_run("--interval", "1s", "--catalog-ttl", "0", log_dir=tmp_path / "run") as run:
        run.wait_for_event("reconcile.summary", outcome="applied")
        assert s.statuses() == {"agent": (1, "deployed")}
        s.charts.stop()
        commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "debug"}))
        # The last fetched versions are reused (with their age), so a settings change still applies.
        stale = run.wait_for_event("catalog.stale", timeout=60)
        assert stale["extension_type"] == "demo.agent" and isinstance(stale["age_s"], int), stale
        wait_for(lambda: s.statuses()["agent"] == (2, "deployed"), timeout=60, what="the settings change")
        result = run.terminate()
    assert result.returncode == 0
    # helm installs from extctl's chart archive cache: no failed attempt, no remediation on the way.
    assert [a["outcome"] for a in result.actions() if a["action"] == "upgrade"] == ["succeeded"], result.stdout
    assert s.settings_configmap("agent")["value.logLevel"] == "debug"

    # A fresh process has no index at all: the extension is blocked where it is, nothing is uninstalled.
    commit_extensions(s, agent=ext(s, "agent", settings={"logLevel": "warn"}))
    cold = s.reconcile()
    assert cold.returncode == 1
    line = action(cold, "agent")
    assert (line["action"], line["state"], line["outcome"]) == ("fail", "blocked", "failed"), line
    assert "chart repository unavailable" in line["reason"], line
    assert [e["extension_type"] for e in events(cold, "catalog.unavailable")] == ["demo.agent"]
    assert s.statuses() == {"agent": (2, "deployed")}
    assert s.settings_configmap("agent")["value.logLevel"] == "debug"


def test_chart_download_failure_leaves_the_deployed_release_untouched(scenario: Scenario) -> None:
    s = scenario
    commit_extensions(s, agent=ext(s, "agent", version="1.0.0"))
    assert s.reconcile().returncode == 0
    # 1.1.0 is listed in the index but its archive is gone (a half-published or withdrawn version).
    s.charts.publish("1.1.0").unlink()
    commit_extensions(s, agent=ext(s, "agent", version="1.1.0"))
    failed = s.reconcile()
    assert failed.returncode == 1
    line = action(failed, "agent")
    assert (line["action"], line["outcome"], line["error_reason"]) == ("upgrade", "failed", "ChartUnavailable"), line
    # helm never recorded a revision: nothing to roll back, and no rollback revision churns the history.
    assert not events(failed, "remediation.rolled_back")
    assert [e["to_revision"] for e in events(failed, "remediation.nothing_to_do")] == [1]
    assert [(h["revision"], h["status"]) for h in s.history("agent")] == [(1, "deployed")]


def _closed_port_kubeconfig(sandbox: SandboxHandle, path: Path) -> Path:
    """A copy of the sandbox kubeconfig whose server is a loopback port nothing listens on."""
    import re

    from tests.support.localnet import free_port

    text = Path(sandbox.env["KUBECONFIG"]).read_text()
    path.write_text(re.sub(r"(server:\s*https?://)[^\s/]+", rf"\g<1>127.0.0.1:{free_port()}", text))
    return path


def test_kubernetes_api_unreachable_is_a_cluster_error_and_run_backs_off(scenario: Scenario, tmp_path: Path) -> None:
    s = scenario
    commit_extensions(s, agent=ext(s, "agent"))
    assert s.reconcile().returncode == 0
    broken = {"KUBECONFIG": str(_closed_port_kubeconfig(s.sandbox, tmp_path / "kubeconfig"))}

    once = s.reconcile(env=broken)
    assert once.returncode == 1
    assert "Traceback" not in once.stderr
    summary = once.summary()
    assert summary["outcome"] == "cluster-error" and summary["uninstalled"] == 0, summary
    assert "unreachable" in summary["error"].lower(), summary
    assert once.actions() == []

    with s.start_run("--interval", "1h", log_dir=tmp_path / "run", env=broken) as run:
        first = run.wait_for_event("controller.backoff")
        assert first["consecutive_errors"] == 1 and first["retry_in_s"] == 5.0, first
        run.wait_for_event("controller.backoff", after=1, consecutive_errors=2, timeout=30)  # it retried
        assert run.process.poll() is None, "never crash-loops: the process keeps running"
        result = run.terminate()
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert {e["outcome"] for e in result.events if e["event"] == "reconcile.summary"} == {"cluster-error"}
    assert s.statuses() == {"agent": (1, "deployed")}
