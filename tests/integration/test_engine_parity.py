"""``plan`` shows exactly what ``reconcile`` does (issue 9): for each scenario, on the same revision and
the same cluster, ``extctl plan --output json`` and then ``extctl reconcile --once`` are run and the
action per extension must match one to one — install, upgrade, downgrade, reinstall, uninstall, skip
(suspended, pending, backing off, dependency not ready), fail (conflict, blocked) and noop. The plan's
exit code follows helmfile's ``--detailed-exitcode``: 0 no change, 2 changes, 1 errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.extctl import ExtctlRun, extension, extension_type
from tests.support.git_remote import GitRemote
from tests.support.sandbox import SandboxHandle
from tests.support.scenario import Scenario

pytestmark = pytest.mark.integration

REJECT = {"sandbox.extctl.dev/reject": "denied by policy"}
SLOW_RETRY = ("--remediation-retries", "2", "--remediation-backoff", "1h")


@pytest.fixture
def scenario(sandbox: SandboxHandle, git_remote: GitRemote, chart_repo_factory: Any, unique_name: str,
             tmp_path: Path) -> Scenario:
    charts = chart_repo_factory(versions=("1.0.0", "1.1.0", "1.2.0"))
    git_remote.commit({"catalog/agent.yaml": extension_type("demo.agent", charts.url, namespace=unique_name)},
                      message="extension type")
    return Scenario(sandbox, git_remote, charts, unique_name, tmp_path / "cache")


def ext(s: Scenario, name: str, **kwargs: Any) -> str:
    return extension(name, "demo.agent", s.ns, **kwargs)


def planned(run: ExtctlRun) -> dict[str, tuple[str, str]]:
    import json

    data = json.loads(run.stdout)
    return {a["extension"]: (a["action"], a["state"]) for a in data["actions"]}


def performed(run: ExtctlRun) -> dict[str, tuple[str, str]]:
    return {a["extension"]: (a["action"], a["state"]) for a in run.actions()}


def parity(s: Scenario, *extra: str, expect_exit: int) -> tuple[dict[str, tuple[str, str]], ExtctlRun]:
    """Plan, then reconcile the same revision; the actions must match one to one."""
    plan = s.plan(*extra)
    assert plan.returncode == expect_exit, plan.stdout + plan.stderr
    run = s.reconcile(*extra)
    assert "Traceback" not in plan.stderr + run.stderr
    assert planned(plan) == performed(run), f"plan:\n{plan.stdout}\nreconcile:\n{run.stdout}"
    return planned(plan), run


def test_plan_and_reconcile_take_the_same_action_in_every_scenario(scenario: Scenario) -> None:
    s = scenario
    # A release that something else installed under an extension's name: Conflict, never touched.
    s.sandbox.core_v1().create_namespace({"metadata": {"name": s.ns}})
    s.sandbox.helm("install", "clash", str(s.charts.root / "demo-agent-1.0.0.tgz"), "-n", s.ns,
                   "--server-side=false", "--disable-openapi-validation")
    s.remote.commit({
        "extensions/base.yaml": ext(s, "base", version="1.1.0"),
        "extensions/app.yaml": ext(s, "app", depends_on=["base"]),
        "extensions/clash.yaml": ext(s, "clash"),
        "extensions/needs-clash.yaml": ext(s, "needs-clash", depends_on=["clash"]),
        "extensions/paused.yaml": ext(s, "paused", extra="  suspend: true\n"),
        "extensions/secretive.yaml": ext(s, "secretive", protected=[{"secretName": "nope", "key": "token"}]),
    }, message="first revision")

    actions, _ = parity(s, *SLOW_RETRY, expect_exit=1)
    assert actions == {
        "base": ("install", "absent"), "app": ("install", "absent"),
        "clash": ("fail", "foreign"), "needs-clash": ("skip", "dependency-not-ready"),
        "paused": ("skip", "suspended"), "secretive": ("skip", "pending"),
    }

    # Everything that can be installed is: the second plan shows no change but the same blocked ones.
    actions, _ = parity(s, *SLOW_RETRY, expect_exit=1)
    assert actions["base"] == ("noop", "in-sync") and actions["app"] == ("noop", "in-sync")

    # A pin moved down is a downgrade, a settings change an upgrade; both in plan and in reconcile.
    s.remote.commit({
        "extensions/base.yaml": ext(s, "base", version="1.0.0"),
        "extensions/app.yaml": ext(s, "app", depends_on=["base"], settings={"logLevel": "debug"}),
        "extensions/clash.yaml": None, "extensions/needs-clash.yaml": None, "extensions/secretive.yaml": None,
    }, message="downgrade base, configure app")
    actions, run = parity(s, *SLOW_RETRY, expect_exit=2)
    assert actions == {"base": ("downgrade", "out-of-sync"), "app": ("upgrade", "out-of-sync"),
                       "paused": ("skip", "suspended")}
    assert run.summary()["downgraded"] == 1 and run.summary()["upgraded"] == 1
    assert s.releases()["clash"]["chart"] == "demo-agent-1.0.0", "a foreign release is never touched"

    # A first install the API server rejects (422: a permanent error) is kept (strategy none) and is then
    # Failed until its input changes: no retries. The plan says so, reconcile agrees.
    keep = {"install": {"strategy": "none"}}
    s.remote.commit({"extensions/flaky.yaml": ext(s, "flaky", settings={"annotations": REJECT}, remediation=keep)},
                    message="flaky")
    actions, run = parity(s, *SLOW_RETRY, expect_exit=2)
    assert actions["flaky"] == ("install", "absent")
    assert [(a["extension"], a["outcome"]) for a in run.actions() if a["outcome"] == "failed"] == [("flaky", "failed")]
    assert run.actions()[-1]["transient"] is False or any(
        a.get("transient") is False for a in run.actions() if a["extension"] == "flaky")
    actions, run = parity(s, *SLOW_RETRY, expect_exit=1)
    assert actions["flaky"] == ("fail", "failed-permanently")
    assert [a["error_reason"] for a in run.actions() if a["extension"] == "flaky"] == ["FailedPermanently"]

    # Fixed in Git: a new fingerprint, and a failed first install is reinstalled (uninstall, then install).
    s.remote.commit({"extensions/flaky.yaml": ext(s, "flaky", remediation=keep)}, message="fix flaky")
    actions, run = parity(s, *SLOW_RETRY, expect_exit=2)
    assert actions["flaky"] == ("reinstall", "failed-first-install")
    assert run.summary()["reinstalled"] == 1 and s.statuses()["flaky"][1] == "deployed"

    # Removed from Git: uninstalled (dependents first), as planned.
    s.remote.commit({"extensions/app.yaml": None}, message="drop app")
    actions, _ = parity(s, *SLOW_RETRY, expect_exit=2)
    assert actions["app"] == ("uninstall", "orphaned")
    actions, _ = parity(s, *SLOW_RETRY, expect_exit=0)
    assert set(actions.values()) <= {("noop", "in-sync"), ("skip", "suspended")}


def test_plan_and_reconcile_agree_on_adoption_readiness_and_drift(scenario: Scenario) -> None:
    s = scenario
    s.sandbox.core_v1().create_namespace({"metadata": {"name": s.ns}})
    s.sandbox.helm("install", "legacy", str(s.charts.root / "demo-agent-1.0.0.tgz"), "-n", s.ns,
                   "--server-side=false", "--disable-openapi-validation")
    s.remote.commit({
        "extensions/legacy.yaml": ext(s, "legacy", version="1.0.0", extra="  takeOwnership: true\n"),
        "extensions/steady.yaml": ext(s, "steady"),
        "extensions/broken.yaml": ext(s, "broken", settings={"image": {"tag": "crashloop"}}, extra="  timeout: 2s\n"),
    }, message="adopt one, install two")
    # The plan cannot know that broken never becomes ready: it plans the install, which then fails (NotReady).
    actions, run = parity(s, *SLOW_RETRY, expect_exit=2)
    assert actions == {"legacy": ("upgrade", "unowned"), "steady": ("install", "absent"),
                       "broken": ("install", "absent")}
    assert {a["extension"]: a.get("error_reason") for a in run.actions()} == {
        "legacy": None, "steady": None, "broken": "NotReady"}

    # Scaled by hand: reported under warn (the default), corrected under enabled; the same in plan and reconcile.
    from kubernetes import client

    client.AppsV1Api(s.sandbox.api_client()).patch_namespaced_deployment("steady", s.ns, {"spec": {"replicas": 2}})
    actions, _ = parity(s, *SLOW_RETRY, "--drift-interval", "0", expect_exit=0)
    assert actions == {"legacy": ("noop", "in-sync"), "steady": ("noop", "drift-reported"),
                       "broken": ("skip", "backing-off")}
    actions, run = parity(s, *SLOW_RETRY, "--drift-interval", "0", "--drift-detection", "enabled", expect_exit=2)
    assert actions["steady"] == ("upgrade", "drifted") and run.summary()["drifted"] == 1
